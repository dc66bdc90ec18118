"""The outcome of a sync or delete."""

from __future__ import annotations

from enum import Enum

__all__ = ["Status"]


class Status(str, Enum):
    """What a sync or delete did. A ``str`` enum: ``Status.SYNCED == "synced"``."""

    SYNCED = "synced"
    NOT_MODIFIED = "not_modified"
    SKIPPED = "skipped"
    BUFFERED = "buffered"
    ERROR = "error"
    DISABLED = "disabled"
    DELETED = "deleted"
    NOOP = "noop"
    #: Held by another worker syncing or deleting it right now: try again.
    BUSY = "busy"

    def __str__(self) -> str:
        return self.value
