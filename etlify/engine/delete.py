"""Deleting records from a CRM: one record or many alike, and forgetting a record.

Deleting one record is a batch of one that waits for its claim. Objects go
100 a request through the adapter's ``batch_delete`` when it has one and
there is more than one object (else one ``delete`` each); the CRM ids and
digests of the deleted ones are cleared in bulk. Rate limits follow the one
rule of :func:`~etlify.adapters.limited.call_adapter`.
"""

from __future__ import annotations

from collections import Counter
from itertools import groupby
from typing import Any

from .. import registry
from ..adapters.limited import call_adapter
from ..declarations import SyncConfig, crm_names_for, resource_type, sync_config
from ..state import database_proxy, rows, tables_required
from ..state.links import LinkState
from ..state.rows import Lease, Row, Scope
from ..status import Status
from .failures import failure_fields, report_failure
from .outcomes import COUNTER, announce

__all__ = ["delete_record", "delete_batch", "forget_record"]

#: Objects deleted by one request.
REQUEST_SIZE = 100


def delete_record(model: type, pk: Any, crm_name: str, record: Any = None) -> Status:
    """Delete record ``pk`` of ``model`` from ``crm_name`` and clear its CRM id and digest.

    Waits while another worker holds the record's row. A record deleted
    from the database (``record`` is the deleted instance) still has its CRM
    object deleted: the instance remembers the link its sync row had.
    """
    config_ = sync_config(model, crm_name)
    entry = registry.crm(crm_name)
    if not entry.enabled:
        announce(Status.DISABLED, model, record, crm_name)
        return Status.DISABLED
    scope = Scope.of(config_)
    with tables_required():
        row = scope.row(str(pk))
    if row is None or not row.crm_id:
        forgotten = getattr(record, "_etlify_forgotten", {}).get(crm_name)
        if forgotten is None:
            return Status.NOOP
        return _delete_forgotten(model, pk, entry, record, *forgotten)
    lease = rows.acquire(row.id)
    if lease is None:
        return Status.NOOP
    try:
        claimed = scope.linked_rows([str(pk)])
        counts = _delete_claimed(config_, list(claimed.values()), lease, record)
    finally:
        lease.release()
    for status in (Status.DELETED, Status.ERROR):
        if counts[COUNTER[status]]:
            return status
    return Status.NOOP


def delete_batch(config_: SyncConfig, pks: list[Any]) -> Counter:
    """Delete the records ``pks`` of ``config_.model`` from ``config_.crm_name``.

    Rows are claimed in one UPDATE. Returns counts by outcome: ``deleted``,
    ``noop`` (no CRM id), ``busy`` (held by a worker syncing it now: try
    again), ``errors``, or ``disabled``. The ``deleted`` and ``failed``
    signals carry ``record=None``: no record is loaded.
    """
    if not registry.crm(config_.crm_name).enabled:
        return Counter({COUNTER[Status.DISABLED]: len(pks)})
    lease = Lease()
    with tables_required():
        try:
            won, busy = Scope.of(config_).claim_linked(lease, [str(pk) for pk in pks])
            counts = _delete_claimed(config_, won, lease, None)
        finally:
            lease.release()
    counts[COUNTER[Status.BUSY]] += busy
    counts[COUNTER[Status.NOOP]] += len(pks) - len(won) - busy
    return counts


def _delete_claimed(config_: SyncConfig, claimed: list[Row], lease: Lease, record: Any) -> Counter:
    """Delete the CRM objects of the rows ``lease`` holds; write and announce the outcomes."""
    entry = registry.crm(config_.crm_name)
    adapter = entry.adapter
    deleted: list[Row] = []
    failed: list[tuple[Row, BaseException]] = []

    def object_type(row: Row) -> str:
        return row.crm_object_type or config_.crm_object_type

    batch_delete = getattr(adapter, "batch_delete", None)
    for kind, group in groupby(sorted(claimed, key=object_type), key=object_type):
        group = list(group)
        if batch_delete is None or len(group) == 1:
            calls = [([row], adapter.delete, row.crm_id) for row in group]
        else:
            calls = [
                (chunk, batch_delete, [row.crm_id for row in chunk])
                for chunk in (
                    group[start : start + REQUEST_SIZE]
                    for start in range(0, len(group), REQUEST_SIZE)
                )
            ]
        for chunk, call, argument in calls:
            try:
                call_adapter(adapter, call, kind, argument)
            except Exception as error:
                failed.extend((row, error) for row in chunk)
            else:
                deleted.extend(chunk)
    scope = Scope.of(config_)
    with database_proxy.atomic():
        scope.unlink(lease, [row.id for row in deleted])
        if config_.associations:  # an archived object takes its associations with it
            LinkState(config_.crm_name, config_.resource_type).forget(
                row.resource_id for row in deleted
            )
        scope.fail(
            lease,
            {row.id: failure_fields(row.error_count, error, adapter) for row, error in failed},
        )
    for row in deleted:
        announce(Status.DELETED, config_.model, record, entry.name, crm_id=row.crm_id)
    for row, error in failed:
        report_failure("delete", config_.model, row.resource_id, entry, record, error)
    return Counter({COUNTER[Status.DELETED]: len(deleted), COUNTER[Status.ERROR]: len(failed)})


def _delete_forgotten(
    model: type, pk: Any, entry: Any, record: Any, object_type: str, crm_id: str
) -> Status:
    """Delete the CRM object of a record whose sync state was forgotten with it."""
    try:
        call_adapter(entry.adapter, entry.adapter.delete, object_type, crm_id)
    except Exception as error:
        report_failure("delete", model, pk, entry, record, error)
        return Status.ERROR
    del record._etlify_forgotten[entry.name]
    announce(Status.DELETED, model, record, entry.name, crm_id=crm_id)
    return Status.DELETED


def forget_record(model: type, pk: Any) -> dict[str, tuple[str, str]]:
    """Drop the sync state of record ``pk`` of ``model`` in every CRM.

    For a record deleted from the database: its sync rows and pending syncs
    go, so that a record created later with the same primary key is new to
    the CRM. Returns ``{crm_name: (object type, crm id)}`` of the CRM objects
    the record was linked to, which are left in the CRM.
    """
    crm_names = crm_names_for(model)
    if not crm_names:
        return {}
    for crm_name in crm_names:
        if sync_config(model, crm_name).associations:
            LinkState(crm_name, resource_type(model)).forget([str(pk)])
    return rows.forget(resource_type(model), str(pk))
