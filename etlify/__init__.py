"""Etlify: keep Peewee records mirrored in a CRM, idempotently.

Declare which models are CRM-backed (``Model.etlified_with``), serialise
each record into a CRM payload, and sync it: the digest of the last payload
the CRM confirmed is stored beside the CRM id, so an unchanged record costs
no API call and a retry is always safe.
"""

from __future__ import annotations

import logging

from . import digest, jobs, signals
from .config import Config, config, configure
from .declarations import SyncConfig, etlified_models, model_for
from .errors import (
    AdapterError,
    ApiError,
    ConfigurationError,
    EtlifyError,
    NotFound,
    RateLimited,
    SerializerError,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from .mixin import EtlifyMixin, etlified_with
from .registry import crm_names, is_enabled, register
from .relations import GenericDependency
from .serializers import BaseSerializer
from .state import CrmSynchronisation, PendingSync, create_tables
from .status import Status

__version__ = "0.1.0"

__all__ = [
    "AdapterError",
    "ApiError",
    "BaseSerializer",
    "Config",
    "ConfigurationError",
    "CrmSynchronisation",
    "EtlifyError",
    "EtlifyMixin",
    "GenericDependency",
    "NotFound",
    "PendingSync",
    "RateLimited",
    "SerializerError",
    "Status",
    "SyncConfig",
    "TransportError",
    "Unauthorized",
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
