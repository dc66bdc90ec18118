"""CRM adapters: ``HubspotV3Adapter``, ``NullAdapter``, and the protocol they follow."""

from __future__ import annotations

from .base import Adapter, AssociationAdapter, BatchAdapter, BatchResult
from .hubspot import HubspotV3Adapter
from .null import NullAdapter

__all__ = [
    "Adapter",
    "AssociationAdapter",
    "BatchAdapter",
    "BatchResult",
    "HubspotV3Adapter",
    "NullAdapter",
]
