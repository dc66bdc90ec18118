"""The one vocabulary of outcomes: each :class:`~etlify.Status`, its signal, its counter.

A sync or delete ends in one status per record. The same table says which
signal announces it (and with which ``reason``) and under which key run
statistics count it, for the engine, ``BatchSync`` and the command line.
"""

from __future__ import annotations

from typing import Any

from .. import signals
from ..status import Status

__all__ = ["COUNTER", "announce", "status_of"]

#: The key under which run statistics count each status.
COUNTER = {
    Status.SYNCED: "synced",
    Status.NOT_MODIFIED: "not_modified",
    Status.SKIPPED: "skipped",
    Status.BUFFERED: "buffered",
    Status.ERROR: "errors",
    Status.BUSY: "busy",
    Status.DISABLED: "disabled",
    Status.DELETED: "deleted",
    Status.NOOP: "noop",
}

#: The signal announcing each status, and the ``reason`` it carries if any.
_SIGNAL = {
    Status.SYNCED: (signals.synced, None),
    Status.NOT_MODIFIED: (signals.skipped, "not_modified"),
    Status.SKIPPED: (signals.skipped, "sync_if"),
    Status.DISABLED: (signals.skipped, "disabled"),
    Status.BUFFERED: (signals.buffered, None),
    Status.ERROR: (signals.failed, None),
    Status.DELETED: (signals.deleted, None),
}

_BY_SIGNAL = {(signal, reason): status for status, (signal, reason) in _SIGNAL.items()}


def announce(status: Status, model: type, record: Any, crm_name: str, **details: Any) -> None:
    """Send the signal of ``status`` (none for ``BUSY`` and ``NOOP``).

    ``details`` are the signal's own arguments: ``crm_id``, ``payload``,
    ``digest`` and ``created`` for ``synced``; ``waiting_on`` for
    ``buffered``; ``error`` for ``failed``; ``crm_id`` for ``deleted``.
    """
    if status not in _SIGNAL:
        return
    signal, reason = _SIGNAL[status]
    if reason is not None:
        details["reason"] = reason
    signals.send(signal, model, record=record, crm_name=crm_name, **details)


def status_of(signal: Any, reason: str | None = None) -> Status:
    """The status a signal announces (``reason`` for ``skipped``)."""
    return _BY_SIGNAL[(signal, reason if signal is signals.skipped else None)]
