"""Syncing a batch of records of one model to one CRM.

Per batch: claim the sync rows in one ``UPDATE``, load the records in one
query, answer ``sync_if`` and unchanged digests locally, send the rest
through the adapter's batch endpoints (100 inputs a request), isolate the
records a rejected request refused by splitting it in halves, and write
the outcome back in a few bulk ``UPDATE``\\ s. The stored digest only ever
describes what the CRM confirmed.
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from collections import Counter, namedtuple
from dataclasses import dataclass, field
from typing import Any, Callable

from peewee import IntegrityError, prefetch

from . import lease, registry, signals
from .adapters.limited import call_adapter
from .claims import Lease, unclaimed
from .config import config, digest_of
from .declarations import SyncConfig, sync_config
from .errors import ApiError, NotFound, RateLimited, SerializerError, ValidationFailed
from .serializers import build_payload
from .sql import case_of, execute_in, in_list, in_pairs
from .stale import Finder
from .state import CrmSynchronisation as Sync
from .state import PendingSync, database_proxy, read_moment, savepoint
from .sync import (
    Dispatch,
    describe_error,
    failure_fields,
    release_waiting,
    report_failure,
    send_one,
    sync_record,
)

__all__ = ["sync_batch", "BatchOutcome"]

logger = logging.getLogger("etlify")

#: Rows written by one bulk UPDATE (keeps SQLite under its parameter limit).
WRITE_CHUNK = 100


@dataclass
class BatchOutcome:
    """What one batch did: counters by outcome, and the dry-run plan.

    ``stopped`` is the rate limit that ended this CRM's part of the run (a
    daily limit, or a ``Retry-After`` too long to wait): the records not sent
    are left stale, with no budget spent.
    """

    counts: Counter = field(default_factory=Counter)
    plan: list[dict[str, Any]] = field(default_factory=list)
    stopped: RateLimited | None = None


#: The sync-row columns a batch works with, read as :class:`Row` tuples.
ROW_FIELDS = (
    Sync.id,
    Sync.resource_id,
    Sync.crm_id,
    Sync.last_digest,
    Sync.error_count,
    Sync.last_synced_at,
)
Row = namedtuple("Row", "id resource_id crm_id last_digest error_count last_synced_at")


@dataclass
class _Item:
    resource_id: str
    record: Any
    row: Any
    payload: dict[str, Any] | None = None
    digest: str | None = None


def sync_batch(
    config_: SyncConfig,
    pks: list[Any],
    *,
    dry_run: bool = False,
    dispatch: Dispatch | None = None,
    rows: dict[str, Row] | None = None,
) -> BatchOutcome:
    """Sync the records ``pks`` of ``config_.model`` to ``config_.crm_name``.

    With ``dry_run`` nothing is sent or written; the outcome's ``plan`` says
    per record what would happen and with which payload. ``rows`` are the
    records' sync rows (``{str(pk): Row}``) when the caller has just read
    them; otherwise they are read here.
    """
    return _Batch(config_, dry_run, dispatch).run(pks, rows)


class _Batch:
    def __init__(self, config_: SyncConfig, dry_run: bool, dispatch: Dispatch | None) -> None:
        self.config = config_
        self.entry = registry.crm(config_.crm_name)
        self.adapter = self.entry.adapter
        self.dry_run = dry_run
        self.dispatch = dispatch
        self.outcome = BatchOutcome()
        self.synced: dict[str, tuple[_Item, str, bool]] = {}
        self.failed: dict[str, tuple[_Item, BaseException]] = {}
        self.unchanged: list[_Item] = []
        self.skipped: list[_Item] = []
        self.waiting: dict[str, list[tuple[Any, SyncConfig]]] = {}
        self.buffered: list[_Item] = []
        self.lease = Lease(uuid.uuid4().hex, [], dt.datetime.min)

    # -- reading -------------------------------------------------------------

    def run(self, pks: list[Any], rows: dict[str, Row] | None) -> BatchOutcome:
        resource_ids = [str(pk) for pk in pks]
        model = self.config.model
        self.read_at = read_moment(model)
        self.dependency_counts = self._dependency_counts(pks)
        if rows is None:
            rows = self._read_rows(resource_ids)
        query = model.select().where(in_list(model._meta.primary_key, pks))
        if self.config.prefetch:
            query = prefetch(query, *self.config.prefetched_models())
        records = {str(record._pk): record for record in query}
        items = [_Item(rid, records[rid], rows[rid]) for rid in resource_ids if rid in records]
        to_send = self._prepare(items)
        if self.dry_run:
            for item in to_send:
                self._plan(item, "update" if item.row.crm_id else "create")
            for item, error in self.failed.values():
                self._plan(item, "error", describe_error(error, self.adapter))
            return self.outcome
        self._add_missing_rows([*to_send, *self.skipped, *(i for i, _ in self.failed.values())])
        to_send = self._claim(to_send)
        try:
            with lease.renewing(self.lease.renew):
                self._send(to_send)
        finally:
            # One short transaction for all the writes: no CRM call happens in it.
            with database_proxy.atomic():
                self._write()
            self._release_leftovers()
        self._announce()
        self._follow_up()
        return self.outcome

    @property
    def _where(self) -> Any:
        return (Sync.crm_name == self.config.crm_name) & (
            Sync.resource_type == self.config.resource_type
        )

    def _select_rows(self, condition: Any) -> dict[str, Row]:
        query = Sync.select(*ROW_FIELDS).where(self._where & condition).tuples()
        return {row.resource_id: row for row in map(Row._make, query)}

    def _read_rows(self, resource_ids: list[str]) -> dict[str, Row]:
        """The rows of these records as they are now; a blank one for each record without."""
        rows = self._select_rows(in_list(Sync.resource_id, resource_ids))
        for rid in resource_ids:
            rows.setdefault(rid, Row(None, rid, None, None, 0, None))
        return rows

    def _add_missing_rows(self, items: list[_Item]) -> None:
        """Insert the sync rows these items lack, and read them back."""
        missing = [item for item in items if item.row.id is None]
        if not missing:
            return
        now = config.now()
        Sync.insert_many(
            [
                {
                    "crm_name": self.config.crm_name,
                    "resource_type": self.config.resource_type,
                    "resource_id": item.resource_id,
                    "crm_object_type": self.config.crm_object_type,
                    "error_count": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for item in missing
            ]
        ).on_conflict_ignore().execute()
        rows = self._select_rows(in_list(Sync.resource_id, [item.resource_id for item in missing]))
        for item in missing:
            item.row = rows[item.resource_id]

    def _claim(self, items: list[_Item]) -> list[_Item]:
        """Claim the rows of the records to send, in one UPDATE, and read them back.

        Only records that go to the CRM are claimed. A record another worker
        holds is left out (counted ``busy``); one whose fresh row shows the
        CRM already has this payload joins the unchanged ones.
        """
        if not items:
            return []
        now = config.now()
        ids = [item.row.id for item in items]
        self.lease.until = now + dt.timedelta(seconds=config.claim_timeout)
        Sync.update(claim_token=self.lease.token, claimed_until=self.lease.until).where(
            in_list(Sync.id, ids) & unclaimed(now)
        ).execute()
        mine = in_list(Sync.id, ids) & (Sync.claim_token == self.lease.token)
        fresh = {row.id: row for row in self._select_rows(mine).values()}
        self.lease.row_ids = list(fresh)
        claimed = []
        for item in items:
            row = fresh.get(item.row.id)
            if row is None or (row.last_synced_at and row.last_synced_at >= self.read_at):
                # Held by another worker, or synced by one since this batch read
                # the record: its payload may be newer than ours. Left for later.
                self.outcome.counts["busy"] += 1
                continue
            item.row = row
            if row.crm_id and row.last_digest == item.digest:
                self.unchanged.append(item)
            else:
                claimed.append(item)
        return claimed

    def _release_leftovers(self) -> None:
        """Release whatever this batch still holds (a failure midway, a row left out)."""
        if self.lease.row_ids:
            Sync.update(claim_token=None, claimed_until=None).where(
                in_list(Sync.id, self.lease.row_ids) & (Sync.claim_token == self.lease.token)
            ).execute()

    def _dependency_counts(self, pks: list[Any]) -> dict[str, int]:
        return Finder.dependency_counts(self.config, pks)

    def _prepare(self, items: list[_Item]) -> list[_Item]:
        """Answer what needs no CRM call; return the items to send."""
        to_send = []
        ready = []
        for item in items:
            try:
                if self.config.sync_if is not None and not self._sync_if(item.record):
                    self.skipped.append(item)
                    self._plan(item, "skipped")
                    continue
            except Exception as error:
                self.failed[item.resource_id] = (item, error)
                continue
            ready.append(item)
        waiting = self._unsynced_dependencies(ready)
        for item in ready:
            if item.resource_id in self.failed:
                continue
            if item.resource_id in waiting:
                self.waiting[item.resource_id] = waiting[item.resource_id]
                self.buffered.append(item)
                self._plan(item, "buffered")
                continue
            try:
                item.payload = build_payload(self.config.serializer, item.record)
                item.digest = digest_of(item.payload)
            except Exception as error:
                self.failed[item.resource_id] = (item, error)
                continue
            if item.row.crm_id and item.row.last_digest == item.digest:
                self.unchanged.append(item)
                self._plan(item, "not_modified")
            else:
                to_send.append(item)
        return to_send

    def _sync_if(self, record: Any) -> bool:
        try:
            return bool(self.config.sync_if(record))
        except Exception as error:
            raise SerializerError(
                f"sync_if of {self.config.model.__name__} raised {type(error).__name__}: {error}"
            ) from error

    def _unsynced_dependencies(self, items: list[_Item]) -> dict[str, list]:
        """``{resource_id: [(dependency record, its config)]}`` for dependencies with no CRM id."""
        waiting: dict[str, list] = {}
        for name in self.config.sync_dependencies:
            fk = self.config.model._meta.fields[name]
            dep_config = sync_config(fk.rel_model, self.config.crm_name)
            values = {
                str(item.record.__data__[name])
                for item in items
                if item.record.__data__.get(name) is not None
            }
            if not values:
                continue
            linked = set(
                Sync.select(Sync.resource_id)
                .where(
                    (Sync.crm_name == self.config.crm_name)
                    & (Sync.resource_type == dep_config.resource_type)
                    & in_list(Sync.resource_id, list(values))
                    & Sync.crm_id.is_null(False)
                )
                .tuples()
                .iterator()
            )
            linked = {value for (value,) in linked}
            for item in items:
                value = item.record.__data__.get(name)
                if value is None or str(value) in linked:
                    continue
                try:
                    dependency = getattr(item.record, name)
                except Exception as error:  # e.g. a foreign key to a deleted row
                    self.failed[item.resource_id] = (item, error)
                    continue
                waiting.setdefault(item.resource_id, []).append((dependency, dep_config))
        return waiting

    def _plan(self, item: _Item, action: str, error: str | None = None) -> None:
        self.outcome.counts[_COUNTER[action]] += 1
        if self.dry_run:
            entry = {
                "model": self.config.resource_type,
                "id": item.record._pk,
                "crm_name": self.config.crm_name,
                "action": action,
                "payload": item.payload,
            }
            if error is not None:
                entry["error"] = error
            self.outcome.plan.append(entry)

    # -- sending -------------------------------------------------------------

    def _send(self, items: list[_Item]) -> None:
        batch_update = getattr(self.adapter, "batch_update", None)
        linked = [item for item in items if item.row.crm_id and batch_update]
        size = int(getattr(self.adapter, "batch_size", 100) or 100)
        for start in range(0, len(linked), size):
            self._bisect(linked[start : start + size], self._call_batch_update)
        # An update answered "not found" (archived or merged away in the CRM)
        # is matched on its id_property, else created, as a new record is.
        gone = [
            item
            for item in linked
            if isinstance(self.failed.get(item.resource_id, (None, None))[1], NotFound)
        ]
        for item in gone:
            del self.failed[item.resource_id]
            item.row = item.row._replace(crm_id=None)
        rest = [item for item in items if not (item.row.crm_id and batch_update)]
        self._send_new([*gone, *(item for item in rest if not item.row.crm_id)])
        for item in rest:
            if item.row.crm_id:
                self._upsert_one(item)

    def _send_new(self, items: list[_Item]) -> None:
        """Send records with no CRM id: batch-upserted on their key when they can be."""
        id_property = self.config.id_property
        batch_upsert = getattr(self.adapter, "batch_upsert", None) if id_property else None
        new, one_by_one, seen = [], [], set()
        for item in items:
            key = item.payload.get(id_property) if id_property else None
            if batch_upsert is None or key is None or str(key) in seen:
                one_by_one.append(item)
            else:
                seen.add(str(key))
                new.append(item)
        size = int(getattr(self.adapter, "batch_size", 100) or 100)
        for start in range(0, len(new), size):
            self._bisect(new[start : start + size], self._call_batch_upsert)
        for item in one_by_one:
            self._upsert_one(item)

    def _call_batch_upsert(self, chunk: list[_Item]) -> dict[str, Any]:
        id_property = self.config.id_property
        keyed = {str(item.payload[id_property]): item for item in chunk}
        result = self.adapter.batch_upsert(
            self.config.crm_object_type, [item.payload for item in chunk], id_property
        )
        return self._match(keyed, result)

    def _call_batch_update(self, chunk: list[_Item]) -> dict[str, Any]:
        keyed = {str(item.row.crm_id): item for item in chunk}
        result = self.adapter.batch_update(
            self.config.crm_object_type, {key: item.payload for key, item in keyed.items()}
        )
        return self._match(keyed, result)

    def _match(self, keyed: dict[str, _Item], result: Any) -> dict[str, Any]:
        """``{resource_id: crm id or error}`` from a batch answer keyed like ``keyed``."""
        errors = getattr(result, "errors", {}) or {}
        matched: dict[str, Any] = {}
        for key, item in keyed.items():
            if result.get(key):
                matched[item.resource_id] = str(result[key])
            elif key in errors:
                matched[item.resource_id] = errors[key]
            else:
                matched[item.resource_id] = ApiError(
                    f"the CRM's batch answer has no id for input {key!r}"
                )
        return matched

    def _bisect(
        self,
        chunk: list[_Item],
        call: Callable[[list[_Item]], dict[str, Any]],
        refused: ValidationFailed | None = None,
    ) -> bool:
        """Send ``chunk``; when the CRM refuses it whole, isolate the refused records.

        The chunk is split in halves. When the left half goes through, the
        right half is known to hold a refused record (``refused``, the error
        that says so), so it is split at once rather than sent whole: one
        refused record among n costs about 1.5·log2(n) extra requests. A
        record isolated that way keeps the error that refused its batch.
        Returns whether the CRM took ``chunk`` as it was sent.
        """
        if refused is None:
            try:
                matched = self._call(call, chunk)
            except ValidationFailed as error:
                refused = error
            except Exception as error:
                for item in chunk:
                    self.failed[item.resource_id] = (item, error)
                return False
            else:
                for item in chunk:
                    answer = matched[item.resource_id]
                    if isinstance(answer, BaseException):
                        self.failed[item.resource_id] = (item, answer)
                    else:
                        self.synced[item.resource_id] = (item, answer, not item.row.crm_id)
                return True
        if len(chunk) == 1:
            self.failed[chunk[0].resource_id] = (chunk[0], refused)
            return False
        middle = len(chunk) // 2
        left_clean = self._bisect(chunk[:middle], call)
        self._bisect(chunk[middle:], call, refused if left_clean else None)
        return False

    def _upsert_one(self, item: _Item) -> None:
        try:
            crm_id = self._call(
                lambda _: send_one(self.config, self.adapter, item.payload, item.row.crm_id), [item]
            )
        except Exception as error:
            self.failed[item.resource_id] = (item, error)
            return
        self.synced[item.resource_id] = (item, crm_id, not item.row.crm_id)

    def _call(self, call: Callable[[list[_Item]], Any], chunk: list[_Item]) -> Any:
        """``call(chunk)`` under the one 429 rule; once a rate limit ended this
        CRM's part of the run, raise it again without sending."""
        if self.outcome.stopped is not None:
            raise self.outcome.stopped
        self.lease.renew()
        try:
            return call_adapter(self.adapter, call, chunk)
        except RateLimited as error:
            self.outcome.stopped = error
            raise

    # -- writing -------------------------------------------------------------

    def _write(self) -> None:
        """Store every outcome and release every claim, in bulk.

        A CRM answer is written only to rows this batch still holds; other
        writes touch only rows that are free or held by this batch, and the
        stamps of unchanged and skipped records never move ``last_synced_at``
        back.
        """
        now = config.now()
        mine = Sync.claim_token == self.lease.token
        guard = unclaimed(now) | mine
        released = {"claim_token": None, "claimed_until": None, "updated_at": now}
        cleared = {"error_count": 0, "last_error": None, "last_error_kind": None}
        synced = list(self.synced.values())
        for start in range(0, len(synced), WRITE_CHUNK):
            self._write_synced(synced[start : start + WRITE_CHUNK], {**released, **cleared}, mine)
        failed = list(self.failed.values())
        for start in range(0, len(failed), WRITE_CHUNK):
            chunk = failed[start : start + WRITE_CHUNK]
            fields = {
                item.row.id: failure_fields(item.row, error, self.adapter) for item, error in chunk
            }
            _update_cases(fields, released, guard)
        newer = guard & (Sync.last_synced_at.is_null() | (Sync.last_synced_at < self.read_at))
        # Unchanged only where the CRM still holds the payload compared against:
        # a sync elsewhere since the rows were read may have changed it.
        self._stamp(
            self.unchanged,
            {"last_synced_at": self.read_at, **cleared, **released},
            newer,
            with_digest=True,
        )
        self._stamp(self.skipped, {"last_synced_at": self.read_at, **released}, newer)
        if self.waiting:
            self._buffer()

    def _write_synced(
        self, chunk: list[tuple[_Item, str, bool]], common: dict[str, Any], guard: Any
    ) -> None:
        counted = self._counted([item for item, _, _ in chunk])
        fields = {
            item.row.id: {"crm_id": crm_id, "last_digest": item.digest, **counted[item.row.id]}
            for item, crm_id, _ in chunk
        }
        common = {
            **common,
            "last_synced_at": self.read_at,
            "crm_object_type": self.config.crm_object_type,
        }
        try:
            with savepoint():
                _update_cases(fields, common, guard)
        except IntegrityError:
            for item, crm_id, _ in chunk:
                try:
                    with savepoint():
                        _update_cases({item.row.id: fields[item.row.id]}, common, guard)
                except IntegrityError:
                    error = ValidationFailed(
                        f"CRM object {crm_id} is already linked to another "
                        f"{self.config.model.__name__} record"
                    )
                    del self.synced[item.resource_id]
                    self.failed[item.resource_id] = (item, error)
                    release = {k: common[k] for k in ("claim_token", "claimed_until", "updated_at")}
                    _update_cases(
                        {item.row.id: failure_fields(item.row, error, self.adapter)},
                        release,
                        guard,
                    )

    def _stamp(
        self,
        items: list[_Item],
        values: dict[str, Any],
        guard: Any,
        with_digest: bool = False,
    ) -> None:
        """Write ``values`` to the rows of ``items`` (with dependency counts if tracked).

        ``with_digest`` limits it to rows whose digest is still the item's.
        """
        fields = (Sync.id, Sync.last_digest) if with_digest else (Sync.id,)
        keys = [(item.row.id, item.digest)[: len(fields)] for item in items]
        if not self.dependency_counts:
            for start in range(0, len(keys), 500):
                execute_in(Sync.update(values).where(guard), fields, keys[start : start + 500])
            return
        for start in range(0, len(items), WRITE_CHUNK):
            chunk = keys[start : start + WRITE_CHUNK]
            same = (
                in_pairs(*fields, chunk)
                if with_digest
                else in_list(Sync.id, [key[0] for key in chunk])
            )
            _update_cases(self._counted(items[start : start + WRITE_CHUNK]), values, guard & same)

    def _counted(self, items: list[_Item]) -> dict[int, dict[str, Any]]:
        """Per row id, the ``dependency_count`` to store (``{}`` when not tracked)."""
        counts = self.dependency_counts
        return {
            item.row.id: (
                {"dependency_count": counts[item.resource_id]} if item.resource_id in counts else {}
            )
            for item in items
        }

    def _buffer(self) -> None:
        now = config.now()
        rows = [
            {
                "crm_name": self.config.crm_name,
                "resource_type": self.config.resource_type,
                "resource_id": rid,
                "dependency_type": dep_config.resource_type,
                "dependency_id": str(dependency._pk),
                "created_at": now,
            }
            for rid, dependencies in self.waiting.items()
            for dependency, dep_config in dependencies
        ]
        for start in range(0, len(rows), 100):
            PendingSync.insert_many(rows[start : start + 100]).on_conflict_ignore().execute()

    # -- after the writes ----------------------------------------------------

    def _announce(self) -> None:
        counts = self.outcome.counts
        counts["synced"] += len(self.synced)
        counts["errors"] += len(self.failed)
        model, crm_name = self.config.model, self.config.crm_name
        for item, crm_id, created in self.synced.values():
            signals.send(
                signals.synced,
                model,
                record=item.record,
                crm_name=crm_name,
                crm_id=crm_id,
                payload=item.payload,
                digest=item.digest,
                created=created,
            )
        for item in self.unchanged:
            signals.send(
                signals.skipped, model, record=item.record, crm_name=crm_name, reason="not_modified"
            )
        for item in self.skipped:
            signals.send(
                signals.skipped, model, record=item.record, crm_name=crm_name, reason="sync_if"
            )
        for item, error in self.failed.values():
            report_failure("sync", model, item.resource_id, self.entry, item.record, error)
        for item in self.buffered:
            signals.send(
                signals.buffered,
                model,
                record=item.record,
                crm_name=crm_name,
                waiting_on=[dependency for dependency, _ in self.waiting[item.resource_id]],
            )

    def _follow_up(self) -> None:
        """Release records waiting on synced ones; start the syncs buffered ones wait for."""
        if (
            self.synced
            and PendingSync.select()
            .where(
                (PendingSync.crm_name == self.config.crm_name)
                & (PendingSync.dependency_type == self.config.resource_type)
            )
            .exists()
        ):
            for resource_id in self.synced:
                release_waiting(self.config, resource_id, self.dispatch)
        dependencies = {
            (dep_config.resource_type, str(dependency._pk)): (dependency, dep_config)
            for waiting_on in self.waiting.values()
            for dependency, dep_config in waiting_on
        }
        for dependency, dep_config in self._not_failing(dependencies).values():
            if self.dispatch is None:
                sync_record(type(dependency), dependency._pk, self.config.crm_name)
            else:
                self.dispatch(dep_config, dependency._pk)

    def _not_failing(self, dependencies: dict[tuple, Any]) -> dict[tuple, Any]:
        """``dependencies`` less those whose last sync failed: the next run retries them."""
        failing = set()
        for resource_type in {key[0] for key in dependencies}:
            ids = [key[1] for key in dependencies if key[0] == resource_type]
            failing.update(
                (resource_type, resource_id)
                for (resource_id,) in Sync.select(Sync.resource_id)
                .where(
                    (Sync.crm_name == self.config.crm_name)
                    & (Sync.resource_type == resource_type)
                    & in_list(Sync.resource_id, ids)
                    & Sync.last_error.is_null(False)
                )
                .tuples()
            )
        return {key: value for key, value in dependencies.items() if key not in failing}


def _update_cases(per_row: dict[int, dict[str, Any]], common: dict[str, Any], guard: Any) -> None:
    """One UPDATE setting per-row values with CASE, and ``common`` values for all rows."""
    if not per_row:
        return
    columns = {name for values in per_row.values() for name in values}
    assignments: dict[Any, Any] = {getattr(Sync, name): value for name, value in common.items()}
    for name in columns:
        column = getattr(Sync, name)
        assignments[column] = case_of(
            Sync.id, {row_id: column.db_value(values[name]) for row_id, values in per_row.items()}
        )
    Sync.update(assignments).where(in_list(Sync.id, per_row) & guard).execute()


_COUNTER = {
    "create": "synced",
    "update": "synced",
    "not_modified": "not_modified",
    "skipped": "skipped",
    "buffered": "buffered",
    "error": "errors",
}
