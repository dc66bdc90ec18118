"""An adapter that talks to nothing."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from .base import BatchResult

__all__ = ["NullAdapter"]


class NullAdapter:
    """Accepts every call and sends nothing.

    ``upsert`` returns the given ``crm_id``, or a fake id that is stable for
    an ``id_property`` value (new otherwise), so that a CRM can be switched
    off in development without losing the sync bookkeeping.
    """

    def upsert(
        self,
        object_type: str,
        payload: Mapping[str, Any],
        id_property: str | None = None,
        crm_id: str | None = None,
    ) -> str:
        """Return ``crm_id``, or a stand-in id: derived from the ``id_property``
        value when there is one (the same value, the same id), else new."""
        if crm_id:
            return str(crm_id)
        identity = payload.get(id_property) if id_property else None
        if identity in (None, ""):
            return "null-" + uuid.uuid4().hex[:16]
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
                str(record.get(id_property)): self.upsert(object_type, record, id_property)
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

    def batch_read(
        self,
        object_type: str,
        keys: Iterable[str],
        properties: Iterable[str],
        id_property: str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Find nothing: every object reads as new, with empty values."""
        return {}

    def batch_associate(
        self, from_type: str, to_type: str, pairs: Iterable[Any], association_type: Any = None
    ) -> dict:
        """Pretend the objects were linked."""
        return {}

    def batch_dissociate(
        self, from_type: str, to_type: str, pairs: Iterable[Any], association_type: Any = None
    ) -> dict:
        """Pretend the links were removed."""
        return {}

    def __repr__(self) -> str:
        return "NullAdapter()"
