"""An adapter that talks to nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from typing import Any

from .base import BatchResult

__all__ = ["NullAdapter"]


class NullAdapter:
    """Accepts every call and sends nothing.

    ``upsert`` returns a stable fake id (derived from the object type and the
    ``id_property`` value, or the given ``crm_id``), so that a CRM can be
    switched off in development without losing the sync bookkeeping.
    """

    def upsert(
        self,
        object_type: str,
        payload: Mapping[str, Any],
        id_property: str | None = None,
        crm_id: str | None = None,
    ) -> str:
        """Return ``crm_id`` or a deterministic stand-in id."""
        if crm_id:
            return str(crm_id)
        identity = payload.get(id_property) if id_property else sorted(payload.items())
        key = f"{object_type}:{identity!r}"
        return "null-" + hashlib.sha256(key.encode()).hexdigest()[:16]

    def delete(self, object_type: str, crm_id: str) -> bool:
        """Pretend the object was deleted."""
        return True

    def batch_upsert(
        self, object_type: str, records: Iterable[Mapping[str, Any]], id_property: str
    ) -> BatchResult:
        """Return a stand-in id for each record, keyed by its ``id_property`` value."""
        return BatchResult(
            {
                str(record[id_property]): self.upsert(object_type, record, id_property)
                for record in records
            }
        )

    def batch_update(
        self, object_type: str, updates: Mapping[str, Mapping[str, Any]]
    ) -> BatchResult:
        """Confirm every update."""
        return BatchResult({str(crm_id): str(crm_id) for crm_id in updates})

    def batch_delete(self, object_type: str, crm_ids: Iterable[str]) -> None:
        """Pretend the objects were deleted."""

    def __repr__(self) -> str:
        return "NullAdapter()"
