"""An adapter that talks to nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

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

    def __repr__(self) -> str:
        return "NullAdapter()"
