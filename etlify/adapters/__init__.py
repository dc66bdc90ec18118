"""CRM adapters: ``HubspotV3Adapter``, ``NullAdapter``, and the protocol they follow."""

from __future__ import annotations

from .base import Adapter, BatchAdapter, BatchResult
from .hubspot import HubspotV3Adapter
from .null import NullAdapter

__all__ = ["Adapter", "BatchAdapter", "BatchResult", "HubspotV3Adapter", "NullAdapter"]

