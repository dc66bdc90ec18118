"""One record on its way through the engine."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..state.rows import Row

__all__ = ["Item"]


@dataclass
class Item:
    """A record, its sync row as last read, and the payload built for it."""

    resource_id: str
    record: Any
    row: Row
    payload: dict[str, Any] | None = None
    digest: str | None = None
    #: The payload's unique key as the CRM compares it (``crm_key``), if it has one.
    key: str | None = None
