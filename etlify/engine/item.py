"""One record on its way through the engine."""

from __future__ import annotations

from dataclasses import dataclass, field
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
    #: ``{association path: {target CRM id}}``: the links the record should have.
    links: dict[str, frozenset[str]] = field(default_factory=dict)
    #: The links Etlify last wrote for the record.
    stored_links: dict[str, frozenset[str]] = field(default_factory=dict)
