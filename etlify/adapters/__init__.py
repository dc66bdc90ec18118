"""CRM adapters: ``HubspotV3Adapter``, ``NullAdapter``, and the protocol they follow."""

from __future__ import annotations

from typing import Any

from .base import Adapter, BatchAdapter, BatchResult
from .null import NullAdapter

__all__ = ["Adapter", "BatchAdapter", "BatchResult", "HubspotV3Adapter", "NullAdapter"]


def __getattr__(name: str) -> Any:
    # Imported on first use so that ``import etlify`` does not load urllib3.
    if name == "HubspotV3Adapter":
        from .hubspot import HubspotV3Adapter

        return HubspotV3Adapter
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
