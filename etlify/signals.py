"""Blinker signals announcing every outcome.

The sender is always the model class (``etlify.BatchSync`` for
``batch_finished``), so ``synced.connect_via(User)`` listens to one model.
Receivers run in the thread that did the work; one that raises is logged and
never changes the outcome.
"""

from __future__ import annotations

import logging
from typing import Any

from blinker import Namespace, Signal

__all__ = ["namespace", "synced", "skipped", "buffered", "failed", "deleted", "batch_finished"]

logger = logging.getLogger("etlify")

namespace = Namespace()

synced = namespace.signal(
    "synced",
    doc="The CRM accepted a create or update. "
    "kwargs: record, crm_name, crm_id, payload, digest, created",
)
skipped = namespace.signal(
    "skipped",
    doc="No remote call was needed or allowed. kwargs: record, crm_name, reason "
    '("not_modified", "sync_if", "disabled")',
)
buffered = namespace.signal(
    "buffered",
    doc="The record waits for a sync_dependencies record. kwargs: record, crm_name, waiting_on",
)
failed = namespace.signal(
    "failed",
    doc="The serializer, the adapter or the CRM failed. kwargs: record, crm_name, error",
)
deleted = namespace.signal(
    "deleted",
    doc="The CRM confirmed a delete. kwargs: record, crm_name, crm_id",
)
batch_finished = namespace.signal(
    "batch_finished",
    doc="A BatchSync run ended. Sender: etlify.BatchSync. kwargs: crm_name, stats",
)


def send(signal: Signal, sender: Any, **kwargs: Any) -> None:
    """Send ``signal`` to each receiver, logging (not raising) a receiver's error."""
    if not signal.receivers:
        return
    for receiver in signal.receivers_for(sender):
        try:
            receiver(sender, **kwargs)
        except Exception:
            logger.exception("etlify: a receiver of %r raised; ignored", signal.name)
