"""Deleting many records from a CRM, through its batch endpoint when it has one."""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from itertools import groupby
from typing import Any

from . import registry, signals
from .adapters.limited import call_adapter
from .claims import unclaimed
from .config import config
from .declarations import SyncConfig
from .sql import in_list
from .state import CrmSynchronisation as Sync
from .state import database_proxy
from .sync import failure_fields, report_failure

__all__ = ["delete_batch"]

#: Objects deleted by one request.
REQUEST_SIZE = 100


def delete_batch(config_: SyncConfig, pks: list[Any]) -> Counter:
    """Delete the records ``pks`` of ``config_.model`` from ``config_.crm_name``.

    Rows are claimed in one UPDATE; objects go 100 a request through the
    adapter's ``batch_delete`` when it has one (else one ``delete`` each);
    the CRM ids and digests of the deleted ones are cleared in bulk. Returns
    counts by outcome: ``deleted``, ``noop`` (no CRM id), ``busy`` (held by a
    worker syncing it now: try again), ``errors``, or ``disabled``.
    The ``deleted`` and ``failed`` signals carry ``record=None``: no record
    is loaded.
    """
    entry = registry.crm(config_.crm_name)
    if not entry.enabled:
        return Counter(disabled=len(pks))
    token = uuid.uuid4().hex
    now = config.now()
    mine = (Sync.crm_name == config_.crm_name) & (Sync.resource_type == config_.resource_type)
    linked = mine & in_list(Sync.resource_id, [str(pk) for pk in pks]) & Sync.crm_id.is_null(False)
    Sync.update(
        claim_token=token, claimed_until=now + dt.timedelta(seconds=config.claim_timeout)
    ).where(linked & unclaimed(now)).execute()
    rows = list(Sync.select().where(linked & (Sync.claim_token == token)))
    busy = Sync.select().where(linked & (Sync.claim_token != token)).count()
    counts = Counter(noop=len(pks) - len(rows) - busy, busy=busy)
    deleted, failed = [], []

    def object_type(row: Any) -> str:
        return row.crm_object_type or config_.crm_object_type

    batch_delete = getattr(entry.adapter, "batch_delete", None)
    for kind, group in groupby(sorted(rows, key=object_type), key=object_type):
        group = list(group)
        if batch_delete is None:
            chunks = [([row], entry.adapter.delete, row.crm_id) for row in group]
        else:
            chunks = [
                (chunk, batch_delete, [row.crm_id for row in chunk])
                for chunk in (
                    group[start : start + REQUEST_SIZE]
                    for start in range(0, len(group), REQUEST_SIZE)
                )
            ]
        for chunk, call, argument in chunks:
            try:
                call_adapter(entry.adapter, call, kind, argument)
            except Exception as error:
                failed.extend((row, error) for row in chunk)
            else:
                deleted.extend(chunk)
    released = {"claim_token": None, "claimed_until": None, "updated_at": config.now()}
    with database_proxy.atomic():
        for start in range(0, len(deleted), 500):
            ids = [row.id for row in deleted[start : start + 500]]
            Sync.update(
                crm_id=None,
                last_digest=None,
                error_count=0,
                last_error=None,
                last_error_kind=None,
                **released,
            ).where(in_list(Sync.id, ids)).execute()
        for row, error in failed:
            Sync.update(**failure_fields(row, error, entry.adapter), **released).where(
                Sync.id == row.id
            ).execute()
    model = config_.model
    for row in deleted:
        signals.send(signals.deleted, model, record=None, crm_name=entry.name, crm_id=row.crm_id)
    for row, error in failed:
        report_failure("delete", model, row.resource_id, entry, None, error)
    counts.update(deleted=len(deleted), errors=len(failed))
    return counts
