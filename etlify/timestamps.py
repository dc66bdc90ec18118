"""``Timestamped``: keep ``updated_at`` moving, so the stale finder sees changes."""

from __future__ import annotations

from typing import Any

from .config import config

__all__ = ["Timestamped"]


class Timestamped:
    """Opt-in mixin for Peewee models: ``save()`` stamps ``updated_at``.

    ``class User(Timestamped, EtlifyMixin, BaseModel): ...``

    Every ``save()`` sets ``updated_at`` (when the model has that field) to
    ``etlify.config.now()``, and ``created_at`` (when present) if it is still
    empty. ``save(only=[...])`` writes ``updated_at`` too.

    Only ``save()`` is covered. Bulk queries (``Model.update(...)``,
    ``insert_many``, raw SQL) bypass it and leave the finder blind to their
    changes; stamp them yourself, e.g.
    ``Model.update(active=False, updated_at=etlify.config.now()).where(...)``.
    """

    def save(self, force_insert: bool = False, only: Any = None) -> Any:
        """Stamp the timestamps, then save as Peewee does."""
        fields = self._meta.fields
        now = config.now()
        if "created_at" in fields and self.created_at is None:
            self.created_at = now
        if "updated_at" in fields:
            self.updated_at = now
            if only is not None:
                only = [*only, fields["updated_at"]]
        return super().save(force_insert=force_insert, only=only)
