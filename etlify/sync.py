"""Syncing and deleting one record.

The single-record path: claim the record's sync row, read the record, build
its payload and digest, call the adapter only when the digest changed, and
write the outcome. Failures of the serializer, the adapter or the CRM are
recorded on the row and announced; they never raise.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from peewee import IntegrityError

from . import claims, lease, registry, signals
from .adapters.limited import call_adapter
from .config import config, digest_of
from .declarations import (
    SyncConfig,
    crm_names_for,
    has_dependants,
    model_for,
    resource_type,
    sync_config,
)
from .errors import (
    FREE_ERROR_KINDS,
    ApiError,
    ConfigurationError,
    SerializerError,
    ValidationFailed,
    error_kind,
)
from .serializers import build_payload
from .stale import Finder
from .state import CrmSynchronisation as Sync
from .state import PendingSync, read_moment, savepoint
from .status import Status

__all__ = [
    "Dispatch",
    "sync_record",
    "delete_record",
    "forget_record",
    "failure_fields",
    "describe_error",
    "report_failure",
    "send_one",
]

logger = logging.getLogger("etlify")

#: How the job layer starts an async sync: ``dispatch(sync_config, record_id)``.
Dispatch = Callable[[SyncConfig, Any], Any]

_local = threading.local()
MAX_ERROR_LENGTH = 2000


def _in_progress() -> set:
    keys = getattr(_local, "keys", None)
    if keys is None:
        keys = _local.keys = set()
    return keys


def sync_record(
    model: type,
    pk: Any,
    crm_name: str,
    *,
    dispatch: Dispatch | None = None,
    record: Any = None,
) -> Status:
    """Sync record ``pk`` of ``model`` to ``crm_name`` now and return the outcome.

    Records released by this sync (those waiting on it through
    ``sync_dependencies``) are synced now, or handed to ``dispatch``
    (``dispatch(sync_config, record_id)``, what the job layer passes) when given.
    The record is always read afresh from the database; ``record`` is only
    what signals carry when nothing is read (a disabled CRM).

    :raises ConfigurationError: unknown CRM, or model not configured for it.
    """
    config_ = sync_config(model, crm_name)
    entry = registry.crm(crm_name)
    if not entry.enabled:
        signals.send(signals.skipped, model, record=record, crm_name=crm_name, reason="disabled")
        return Status.DISABLED
    key = (config_.resource_type, str(pk), crm_name)
    if key in _in_progress():
        return Status.NOOP
    row, token = claims.claim_row(crm_name, config_.resource_type, str(pk), config_.crm_object_type)
    if token is None:
        logger.info("etlify: %s #%s was deleted while its sync waited", model.__name__, pk)
        return Status.NOOP
    _in_progress().add(key)
    try:
        return _sync_claimed(config_, entry, pk, row, token, dispatch)
    except BaseException:
        # A database error before the outcome was written, say: the claim must
        # not outlive this call (a no-op if it was released already).
        claims.release(row.id, token)
        raise
    finally:
        _in_progress().discard(key)


def _sync_claimed(
    config_: SyncConfig, entry: Any, pk: Any, row: Any, token: str, dispatch: Dispatch | None
) -> Status:
    model = config_.model
    row_id = row.id
    claimed_at = row.claimed_until
    read_at = read_moment(model)
    seen = {"dependency_count": _dependency_count(config_, pk)}
    record = model.get_or_none(model._meta.primary_key == pk)
    if record is None:
        claims.release(row_id, token)
        logger.info("etlify: %s #%s no longer exists; nothing to sync", model.__name__, pk)
        return Status.NOOP
    try:
        if config_.sync_if is not None and not _ask_sync_if(config_, record):
            claims.finish(row_id, token, last_synced_at=read_at, **seen)
            signals.send(
                signals.skipped, model, record=record, crm_name=entry.name, reason="sync_if"
            )
            return Status.SKIPPED
        waiting_on = _unsynced_dependencies(config_, record, dispatch)
        if waiting_on:
            _buffer(config_, pk, waiting_on)
            claims.release(row_id, token)
            signals.send(
                signals.buffered,
                model,
                record=record,
                crm_name=entry.name,
                waiting_on=[dependency for dependency, _ in waiting_on],
            )
            return Status.BUFFERED
        payload = build_payload(config_.serializer, record)
        digest = digest_of(payload)
        if row.crm_id and row.last_digest == digest:
            claims.finish(
                row_id,
                token,
                last_synced_at=read_at,
                **seen,
                error_count=0,
                last_error=None,
                last_error_kind=None,
            )
            signals.send(
                signals.skipped, model, record=record, crm_name=entry.name, reason="not_modified"
            )
            return Status.NOT_MODIFIED
        claim = claims.Lease(token, [row_id], claimed_at)
        with lease.renewing(claim.renew):
            crm_id = call_adapter(
                entry.adapter, send_one, config_, entry.adapter, payload, row.crm_id
            )
        try:
            with savepoint():
                claims.finish(
                    row_id,
                    token,
                    crm_id=str(crm_id),
                    crm_object_type=config_.crm_object_type,
                    **seen,
                    last_digest=digest,
                    last_synced_at=read_at,
                    error_count=0,
                    last_error=None,
                    last_error_kind=None,
                )
        except IntegrityError:
            raise ValidationFailed(
                f"CRM object {crm_id} is already linked to another {model.__name__} record"
            ) from None
    except ConfigurationError:
        claims.release(row_id, token)
        raise
    except Exception as error:
        claims.finish(row_id, token, **failure_fields(row, error, entry.adapter))
        report_failure("sync", model, pk, entry, record, error)
        return Status.ERROR
    signals.send(
        signals.synced,
        model,
        record=record,
        crm_name=entry.name,
        crm_id=str(crm_id),
        payload=payload,
        digest=digest,
        created=row.crm_id is None,
    )
    release_waiting(config_, pk, dispatch)
    return Status.SYNCED


def send_one(config_: SyncConfig, adapter: Any, payload: dict[str, Any], crm_id: Any) -> str:
    """Send one payload and return the CRM id, in as few requests as the adapter allows.

    A new record with an ``id_property`` value goes through ``batch_upsert``
    when the adapter has it: one request that matches or creates. Anything
    else goes through ``upsert``. Rate limits follow the one rule of
    :func:`~etlify.adapters.limited.call_adapter`.
    """
    id_property = config_.id_property
    key = payload.get(id_property) if id_property else None
    batch_upsert = getattr(adapter, "batch_upsert", None)
    if not crm_id and key is not None and batch_upsert is not None:
        result = batch_upsert(config_.crm_object_type, [payload], id_property)
        found = result.get(str(key))
        if not found:
            errors = getattr(result, "errors", {}) or {}
            if str(key) in errors:
                raise errors[str(key)]
    else:
        found = adapter.upsert(
            config_.crm_object_type, payload, id_property=id_property, crm_id=crm_id
        )
    if not found:
        raise ApiError(f"{type(adapter).__name__} returned no CRM id")
    return str(found)


def _dependency_count(config_: SyncConfig, pk: Any) -> int | None:
    """How many has-many / many-to-many rows the record reaches (None: not tracked)."""
    return Finder.dependency_counts(config_, [pk]).get(str(pk))


def _ask_sync_if(config_: SyncConfig, record: Any) -> bool:
    try:
        return bool(config_.sync_if(record))
    except Exception as error:
        raise SerializerError(
            f"sync_if of {config_.model.__name__} raised {type(error).__name__}: {error}"
        ) from error


def report_failure(
    action: str, model: type, pk: Any, entry: Any, record: Any, error: BaseException
) -> None:
    """Log a failed sync or delete (token masked) and send the ``failed`` signal."""
    logger.warning(
        "etlify: %s of %s #%s with %s failed: %s",
        action,
        model.__name__,
        pk,
        entry.name,
        describe_error(error, entry.adapter),
    )
    signals.send(signals.failed, model, record=record, crm_name=entry.name, error=error)


def describe_error(error: BaseException, adapter: Any = None) -> str:
    """``"Type: message"`` for ``error``, with the adapter's token masked, bounded in length."""
    text = f"{type(error).__name__}: {error}"
    token = getattr(adapter, "access_token", None) or getattr(
        getattr(adapter, "adapter", None), "access_token", None
    )
    if isinstance(token, str) and token:
        text = text.replace(token, "[token]")
    return text[:MAX_ERROR_LENGTH]


def failure_fields(row: Any, error: BaseException, adapter: Any = None) -> dict[str, Any]:
    """The sync-row fields recording ``error``.

    Rate-limit, transient and auth failures are recorded but do not spend the
    record's error budget: they are not the record's fault.
    """
    kind = error_kind(error)
    count = row.error_count if kind in FREE_ERROR_KINDS else row.error_count + 1
    return {
        "last_error": describe_error(error, adapter),
        "last_error_kind": kind,
        "error_count": count,
    }


def _unsynced_dependencies(
    config_: SyncConfig, record: Any, dispatch: Dispatch | None
) -> list:
    """The ``sync_dependencies`` records of ``record`` that still have no CRM id.

    Each one is synced first, in this thread; one that is itself being synced
    further up this thread's call chain (a cycle) is not waited for.
    """
    waiting = []
    for name in config_.sync_dependencies:
        field = config_.model._meta.fields[name]
        if record.__data__.get(field.name) is None:
            continue
        dependency = getattr(record, name)
        dep_config = sync_config(type(dependency), config_.crm_name)
        dep_key = (dep_config.resource_type, str(dependency._pk), config_.crm_name)
        if dep_key in _in_progress():
            logger.info("etlify: dependency cycle through %s #%s; not waiting", *dep_key[:2])
            continue
        if _crm_id_of(dep_config, dependency._pk) is None:
            sync_record(type(dependency), dependency._pk, config_.crm_name, dispatch=dispatch)
            if _crm_id_of(dep_config, dependency._pk) is None:
                waiting.append((dependency, dep_config))
    return waiting


def _crm_id_of(config_: SyncConfig, pk: Any) -> str | None:
    return (
        Sync.select(Sync.crm_id)
        .where(
            (Sync.crm_name == config_.crm_name)
            & (Sync.resource_type == config_.resource_type)
            & (Sync.resource_id == str(pk))
        )
        .scalar()
    )


def _buffer(config_: SyncConfig, pk: Any, waiting_on: list) -> None:
    rows = [
        {
            "crm_name": config_.crm_name,
            "resource_type": config_.resource_type,
            "resource_id": str(pk),
            "dependency_type": dep_config.resource_type,
            "dependency_id": str(dependency._pk),
            "created_at": config.now(),
        }
        for dependency, dep_config in waiting_on
    ]
    PendingSync.insert_many(rows).on_conflict_ignore().execute()


def release_waiting(config_: SyncConfig, pk: Any, dispatch: Dispatch | None) -> None:
    """Sync now (no ``dispatch``) or dispatch the records that were waiting on this one."""
    if not has_dependants(config_.model, config_.crm_name):
        return
    where = (
        (PendingSync.crm_name == config_.crm_name)
        & (PendingSync.dependency_type == config_.resource_type)
        & (PendingSync.dependency_id == str(pk))
    )
    waiting = list(
        PendingSync.select(PendingSync.resource_type, PendingSync.resource_id).where(where).tuples()
    )
    if not waiting:
        return
    for waiting_type, resource_id in waiting:
        if (waiting_type, resource_id, config_.crm_name) not in _in_progress():
            model = model_for(waiting_type)
            try:
                if dispatch is None:
                    sync_record(model, resource_id, config_.crm_name)
                else:
                    dispatch(sync_config(model, config_.crm_name), resource_id)
            except Exception:
                # The dependency itself synced; the waiting record stays buffered
                # (and stale) for the next run rather than failing this sync.
                logger.exception(
                    "etlify: could not start the sync of %s #%s", waiting_type, resource_id
                )
                continue
        PendingSync.delete().where(
            where
            & (PendingSync.resource_type == waiting_type)
            & (PendingSync.resource_id == resource_id)
        ).execute()


def delete_record(model: type, pk: Any, crm_name: str, record: Any = None) -> Status:
    """Delete record ``pk`` of ``model`` from ``crm_name`` and clear its CRM id and digest."""
    config_ = sync_config(model, crm_name)
    entry = registry.crm(crm_name)
    if not entry.enabled:
        signals.send(signals.skipped, model, record=record, crm_name=crm_name, reason="disabled")
        return Status.DISABLED
    row = Sync.get_or_none(
        (Sync.crm_name == crm_name)
        & (Sync.resource_type == config_.resource_type)
        & (Sync.resource_id == str(pk))
    )
    if row is None or not row.crm_id:
        forgotten = getattr(record, "_etlify_forgotten", {}).get(crm_name)
        if forgotten is None:
            return Status.NOOP
        return _delete_forgotten(model, pk, entry, record, *forgotten)
    token = claims.acquire(row.id)
    if token is None:
        return Status.NOOP
    row = Sync.get_by_id(row.id)
    if not row.crm_id:
        claims.release(row.id, token)
        return Status.NOOP
    try:
        call_adapter(
            entry.adapter,
            entry.adapter.delete,
            row.crm_object_type or config_.crm_object_type,
            row.crm_id,
        )
    except Exception as error:
        claims.finish(row.id, token, **failure_fields(row, error, entry.adapter))
        report_failure("delete", model, pk, entry, record, error)
        return Status.ERROR
    claims.finish(
        row.id,
        token,
        crm_id=None,
        last_digest=None,
        error_count=0,
        last_error=None,
        last_error_kind=None,
    )
    signals.send(signals.deleted, model, record=record, crm_name=crm_name, crm_id=row.crm_id)
    return Status.DELETED


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
    signals.send(signals.deleted, model, record=record, crm_name=entry.name, crm_id=crm_id)
    return Status.DELETED


def forget_record(model: type, pk: Any) -> dict[str, tuple[str, str]]:
    """Drop the sync state of record ``pk`` of ``model`` in every CRM.

    For a record deleted from the database: its sync rows and pending syncs
    go, so that a record created later with the same primary key is new to
    the CRM. Returns ``{crm_name: (object type, crm id)}`` of the CRM objects
    the record was linked to, which are left in the CRM.
    """
    if not crm_names_for(model):
        return {}
    name = resource_type(model)
    mine = (Sync.resource_type == name) & (Sync.resource_id == str(pk))
    for (row_id,) in Sync.select(Sync.id).where(mine).tuples():
        claims.acquire(row_id)  # let a sync in flight finish and store its CRM id
    links = {
        crm_name: (object_type, crm_id)
        for crm_name, object_type, crm_id in Sync.select(
            Sync.crm_name, Sync.crm_object_type, Sync.crm_id
        )
        .where(mine & Sync.crm_id.is_null(False))
        .tuples()
    }
    PendingSync.delete().where(
        (PendingSync.resource_type == name) & (PendingSync.resource_id == str(pk))
    ).execute()
    Sync.delete().where(mine).execute()
    return links
