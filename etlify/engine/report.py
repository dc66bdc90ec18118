"""What a run tells its operator: failures grouped by kind, and a log that summarises.

A run that fails a thousand records the same way (a revoked token, an
unreachable host) writes a few WARNING lines, not a thousand: the first
:data:`LOGGED_PER_KIND` failures of each kind and CRM at WARNING, the rest at
DEBUG; a failure refused by an open circuit breaker is always at DEBUG (the
breaker logged why it opened). At the end, one line per CRM sums it up.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["LOGGED_PER_KIND", "RunReport"]

#: Failures of one kind logged at WARNING per run and CRM; the rest go to DEBUG.
LOGGED_PER_KIND = 3

#: The outcome counters of a summary line, in the order it names them.
_SHOWN = (
    ("synced", "synced"),
    ("not_modified", "not modified"),
    ("skipped", "skipped"),
    ("buffered", "buffered"),
    ("busy", "busy"),
)


class RunReport:
    """The failures of one run, by CRM and kind, each kind with its first example."""

    def __init__(self) -> None:
        #: ``{crm_name: {kind: {"count": n, "example": "Model #id: message"}}}``
        self.failures: dict[str, dict[str, dict[str, Any]]] = {}

    def failed(self, crm_name: str, kind: str, example: str, level: int) -> int:
        """Count one failure; return the level to log it at (``level`` at most)."""
        kinds = self.failures.setdefault(crm_name, {})
        entry = kinds.setdefault(kind, {"count": 0, "example": example})
        entry["count"] += 1
        return level if entry["count"] <= LOGGED_PER_KIND else min(level, logging.DEBUG)

    def summary(self, crm_name: str, counts: Mapping[str, int], stopped: str | None) -> str:
        """One line: the records of ``crm_name``'s part of the run, by outcome and kind."""
        total = sum(counts.get(key, 0) for key, _ in _SHOWN) + counts.get("errors", 0)
        parts = [f"{counts.get(key, 0)} {label}" for key, label in _SHOWN if counts.get(key)]
        kinds = self.failures.get(crm_name, {})
        if counts.get("errors"):
            grouped = "; ".join(
                f"{kind} {entry['count']}, e.g. {entry['example']}"
                for kind, entry in sorted(kinds.items(), key=lambda item: -item[1]["count"])
            )
            parts.append(f"{counts['errors']} failed" + (f" ({grouped})" if grouped else ""))
        line = f"{crm_name}: {total} record{'' if total == 1 else 's'}: "
        line += ", ".join(parts) if parts else "nothing to do"
        if stopped:
            line += f"; stopped, the rest left stale: {stopped}"
        return line
