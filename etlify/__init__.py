"""Etlify: keep Peewee records mirrored in a CRM, idempotently.

Declare which models are CRM-backed (``Model.etlified_with``), serialise
each record into a CRM payload, and sync it: the digest of the last payload
the CRM confirmed is stored beside the CRM id, so an unchanged record costs
no API call and a retry is always safe.
"""

from __future__ import annotations

import logging

from . import digest, jobs, signals
from .associations import Associate
from .config import Config, config
from .declarations import SyncConfig, etlified_models, model_for
from .errors import (
    AdapterError,
    ApiError,
    CircuitOpen,
    ConfigurationError,
    DuplicateKey,
    EtlifyError,
    NotFound,
    RateLimited,
    ReserveReached,
    SerializerError,
    TransportError,
    Unauthorized,
    UnconfirmedCreate,
    ValidationFailed,
)
from .migrate import create_tables
from .mixin import EtlifyMixin, etlified_with
from .registry import crm_names, is_enabled
from .relations import GenericDependency
from .serializers import BaseSerializer
from .stale import Finder
from .state import CrmLink, CrmSynchronisation, PendingSync
from .status import Status
from .sync_stale import BatchSync
from .timestamps import Timestamped
from .wiring import configure, register

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "ApiError",
    "Associate",
    "BaseSerializer",
    "BatchSync",
    "CircuitOpen",
    "Config",
    "ConfigurationError",
    "CrmLink",
    "CrmSynchronisation",
    "DuplicateKey",
    "EtlifyError",
    "EtlifyMixin",
    "Finder",
    "GenericDependency",
    "NotFound",
    "PendingSync",
    "RateLimited",
    "ReserveReached",
    "SerializerError",
    "Status",
    "SyncConfig",
    "Timestamped",
    "TransportError",
    "Unauthorized",
    "UnconfirmedCreate",
    "ValidationFailed",
    "config",
    "configure",
    "create_tables",
    "crm_names",
    "digest",
    "etlified_models",
    "etlified_with",
    "is_enabled",
    "jobs",
    "model_for",
    "register",
    "signals",
]

logging.getLogger("etlify").addHandler(logging.NullHandler())
