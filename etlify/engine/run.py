"""The engine: syncing records of one model to one CRM, one record or a batch alike.

Syncing one record is a batch of one; both go through the same steps:

1. claim: a single sync waits for the record's sync row; a batch claims,
   in one UPDATE, the rows of the records it will send and leaves those
   another worker holds (``busy``);
2. read the records (one query) and their sync rows;
3. ``sync_if``, then ``sync_dependencies`` and the records associations
   reach: one with no CRM id is synced first; a record whose dependency still
   has none is buffered;
4. serialise and digest; an unchanged digest (and unchanged associations)
   needs no CRM call;
5. send (:mod:`~etlify.engine.send`), under a lease renewed while it lasts,
   then the associations that changed (:mod:`~etlify.engine.linking`);
6. write only the confirmed outcomes, in one short transaction;
7. announce each outcome on its signal, and release the records that were
   waiting on the synced ones.

The stored digest only ever describes what the CRM confirmed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable

from peewee import prefetch

from .. import lease, registry
from ..config import config, digest_of
from ..declarations import SyncConfig, has_dependants, model_for, sync_config
from ..errors import CREATE_UNCERTAIN_KINDS, AdapterError, SerializerError, ValidationFailed
from ..ratelimit import BACKFILL, working_as
from ..serializers import build_payload
from ..sql import by_primary_key, in_list
from ..stale import Finder
from ..state import database_proxy, read_moment, tables_required
from ..state.deadlocks import retried_on_deadlock
from ..state.rows import Lease, Row, Scope
from ..status import Status
from .failures import describe_error, failure_fields, long_key_error, report_failure
from .item import Item
from .keys import crm_key, overwritten, refuse_shared_keys
from .linking import Linker
from .outcomes import COUNTER, announce
from .report import RunReport
from .rollback import keep_links, keep_outcomes
from .send import Sender

__all__ = ["Dispatch", "BatchOutcome", "sync_record", "sync_batch", "release_waiting"]

logger = logging.getLogger("etlify")

#: How the job layer starts an async sync: ``dispatch(sync_config, record_id)``.
Dispatch = Callable[[SyncConfig, Any], Any]

_local = threading.local()


def _in_progress() -> set:
    """The records this thread is syncing further up its call chain."""
    keys = getattr(_local, "keys", None)
    if keys is None:
        keys = _local.keys = set()
    return keys


@dataclass
class BatchOutcome:
    """What one run of the engine did.

    ``statuses`` holds each record's :class:`~etlify.Status` and ``counts``
    their totals (under the keys of :data:`~etlify.engine.outcomes.COUNTER`).
    ``plan`` is the dry run's plan. ``stopped`` is the failure that ended
    this CRM's part of the run (it opened the CRM's circuit breaker, or found
    it open: a refused token, an unreachable host, a daily limit or a
    ``Retry-After`` too long to wait): the records not sent are left stale,
    with no budget spent.
    """

    counts: Counter = field(default_factory=Counter)
    plan: list[dict[str, Any]] = field(default_factory=list)
    stopped: AdapterError | None = None
    statuses: dict[str, Status] = field(default_factory=dict)


def sync_record(
    model: type,
    pk: Any,
    crm_name: str,
    *,
    dispatch: Dispatch | None = None,
    record: Any = None,
) -> Status:
    """Sync record ``pk`` of ``model`` to ``crm_name`` now and return the outcome.

    The engine run on one record, waiting for its claim. Records released by
    this sync (those waiting on it through ``sync_dependencies``) are synced
    now, or handed to ``dispatch`` when given. The record is always read
    afresh from the database; ``record`` is only what signals carry when
    nothing is read (a disabled CRM).

    :raises ConfigurationError: unknown CRM, or model not configured for it.
    """
    config_ = sync_config(model, crm_name)
    if not registry.crm(crm_name).enabled:
        announce(Status.DISABLED, model, record, crm_name)
        return Status.DISABLED
    outcome = _Run(config_, dispatch=dispatch, wait=True).run([pk])
    return outcome.statuses.get(str(pk), Status.NOOP)


def sync_batch(
    config_: SyncConfig,
    pks: list[Any],
    *,
    dry_run: bool = False,
    dispatch: Dispatch | None = None,
    rows: dict[str, Row] | None = None,
    report: RunReport | None = None,
    on_sent: Callable[[int], Any] | None = None,
    records: dict[str, Any] | None = None,
    read_at: dt.datetime | None = None,
) -> BatchOutcome:
    """Sync the records ``pks`` of ``config_.model`` to ``config_.crm_name``.

    With ``dry_run`` nothing is sent or written; the outcome's ``plan`` says
    per record what would happen and with which payload. ``rows`` are the
    records' sync rows (``{str(pk): Row}``) when the caller has just read
    them; otherwise they are read here. So are ``records`` (``{str(pk):
    record}``), read with the rows at ``read_at`` (see
    :func:`~etlify.state.read_moment`, taken before the read); a model whose
    sync reads dependency signatures or prefetches must not be given them.
    Failures are counted in ``report``,
    the report of the run this batch belongs to, when given. ``on_sent(n)``
    is called as requests go out, with the number of records sent so far.
    """
    if records is not None and read_at is None:
        raise ValueError("sync_batch() takes records with the moment they were read")
    given = None if records is None else (records, read_at)
    run = _Run(
        config_, dry_run=dry_run, dispatch=dispatch, report=report, on_sent=on_sent, given=given
    )
    with working_as(BACKFILL):  # rate budgets leave single syncs their share
        return run.run(pks, rows)


class _Run:
    def __init__(
        self,
        config_: SyncConfig,
        *,
        dry_run: bool = False,
        dispatch: Dispatch | None = None,
        wait: bool = False,
        report: RunReport | None = None,
        on_sent: Callable[[int], Any] | None = None,
        given: tuple[dict[str, Any], dt.datetime] | None = None,
    ) -> None:
        self.config = config_
        self.on_sent = on_sent
        self.report = RunReport() if report is None else report
        self.entry = registry.crm(config_.crm_name)
        self.adapter = self.entry.adapter
        self.dry_run = dry_run
        self.dispatch = dispatch
        self.wait = wait
        self.scope = Scope.of(config_)
        self.linker = Linker(config_, self.adapter) if config_.associations else None
        self.lease = Lease()
        self.outcome = BatchOutcome()
        self.synced: dict[str, tuple[Item, str, bool]] = {}
        self.failed: dict[str, tuple[Item, BaseException]] = {}
        self.unchanged: list[Item] = []
        self.skipped: list[Item] = []
        self.waiting: dict[str, list[tuple[Any, SyncConfig]]] = {}
        self.buffered: list[Item] = []
        self.sent_at: dt.datetime | None = None  # when sending began
        #: ``(records, read_at)`` the caller read with the rows (see ``sync_batch``).
        self.given = given

    def run(self, pks: list[Any], rows: dict[str, Row] | None = None) -> BatchOutcome:
        keys = {str(pk): (self.config.resource_type, str(pk), self.config.crm_name) for pk in pks}
        busy_here = _in_progress()
        mine = {rid: key for rid, key in keys.items() if key not in busy_here}
        busy_here.update(mine.values())
        try:
            with tables_required():
                self._run([pk for pk in pks if str(pk) in mine], rows)
        finally:
            busy_here.difference_update(mine.values())
        statuses = self.outcome.statuses
        for rid in keys:
            statuses.setdefault(rid, Status.NOOP)
        if not self.dry_run:
            self.outcome.counts.update(
                COUNTER[status] for status in statuses.values() if status is not Status.NOOP
            )
        return self.outcome

    def _run(self, pks: list[Any], rows: dict[str, Row] | None) -> None:
        pks = self._refuse_long_keys(pks)
        if not pks:
            return
        try:
            items = self._read(pks, rows)
            to_send = self._prepare(items)
            if self.dry_run:
                self._plan_all(to_send)
                return
            to_send = self._claim(to_send)
            for item in to_send:
                if item.row.crm_id and item.row.last_digest == item.digest:
                    item.payload = {}  # the CRM has this payload: only links to write
            self.sent_at = config.now()
            sender = Sender(
                self.config, self.adapter, self.lease.renew, self.entry.breaker, self.on_sent
            )
            linked_to = {item.resource_id: item.row.crm_id for item in to_send}
            with lease.renewing(self.lease.renew):
                sender.send(to_send)
                for item in to_send:
                    answer = sender.answers.get(item.resource_id)
                    if isinstance(answer, BaseException):
                        self.failed[item.resource_id] = (item, answer)
                    elif answer is not None:
                        self.synced[item.resource_id] = (item, answer, not item.row.crm_id)
                    # no answer: not sent (the run was stopped); left stale, free
                if self.linker is not None:
                    self.linker.write(
                        [
                            (item, crm_id, crm_id != linked_to[rid])
                            for rid, (item, crm_id, _) in self.synced.items()
                        ],
                        sender.call,
                    )
            self.outcome.stopped = sender.stopped
            kept = {
                rid: (crm_id, item.digest, item.key)
                for rid, (item, crm_id, _) in self.synced.items()
            }
            self._write_all()
            keep_outcomes(self.config, {rid: kept[rid] for rid in kept if rid not in self.failed})
            if self.linker is not None:
                keep_links(self.config, self.linker.written)
        finally:
            self.lease.release()
        self._announce()
        if (
            self.synced
            and has_dependants(self.config.model, self.config.crm_name)
            and self.scope.anyone_waiting()
        ):
            for resource_id in self.synced:
                release_waiting(self.config, resource_id, self.dispatch)

    def _refuse_long_keys(self, pks: list[Any]) -> list[Any]:
        """The ``pks`` the sync rows can hold; the others fail here, before any write.

        A refused record counts as an error (a dry run plans it as one) and
        gets no sync row, claim or pending sync: nothing is cut or left behind.
        """
        refused = {str(pk): long_key_error(self.config.model, str(pk)) for pk in pks}
        refused = {rid: error for rid, error in refused.items() if error is not None}
        if not refused:
            return pks
        model = self.config.model
        query = model.select().where(
            in_list(model._meta.primary_key, [pk for pk in pks if str(pk) in refused])
        )
        for record in query:
            rid = str(record._pk)
            self.outcome.statuses[rid] = Status.ERROR
            if not self.dry_run:
                report_failure("sync", model, rid, self.entry, record, refused[rid], self.report)
                continue
            self.outcome.counts[COUNTER[Status.ERROR]] += 1
            self.outcome.plan.append(
                {
                    "model": self.config.resource_type,
                    "id": record._pk,
                    "crm_name": self.config.crm_name,
                    "action": "error",
                    "payload": None,
                    "error": describe_error(refused[rid], self.adapter),
                }
            )
        return [pk for pk in pks if str(pk) not in refused]

    # -- reading -------------------------------------------------------------

    def _read(self, pks: list[Any], rows: dict[str, Row] | None) -> list[Item]:
        resource_ids = self.order = [str(pk) for pk in pks]
        if self.wait:
            rows = {}
            for rid in sorted(resource_ids):
                row = self.scope.claim_waiting(self.lease, rid)
                if row is None:
                    logger.info(
                        "etlify: %s #%s was deleted while its sync waited",
                        self.config.model.__name__,
                        rid,
                    )
                else:
                    rows[rid] = row
        model = self.config.model
        if self.given is not None:
            records, self.read_at = self.given
            self.signatures = {}
        else:
            # Read after the claim and before the records: a change racing this
            # read errs towards one more sync.
            self.read_at = read_moment(model)
            self.signatures = Finder.dependency_signatures(self.config, pks)
            if rows is None:
                rows = self.scope.rows_or_blank(resource_ids)
            records = self._records(pks)
            for rid in resource_ids:
                if rid in rows and rid not in records:
                    logger.info(
                        "etlify: %s #%s no longer exists; nothing to sync", model.__name__, rid
                    )
        return [
            Item(rid, records[rid], rows[rid])
            for rid in resource_ids
            if rid in records and rid in rows
        ]

    def _records(self, pks: list[Any]) -> dict[str, Any]:
        """``{str(pk): record}`` of those of ``pks`` that exist, read now."""
        model = self.config.model
        if len(pks) == 1 and not self.config.prefetch:  # a single sync: its SQL compiled once
            record = by_primary_key(model, pks[0])
            return {} if record is None else {str(record._pk): record}
        query = model.select().where(in_list(model._meta.primary_key, pks))
        if self.config.prefetch:
            query = prefetch(query, *self.config.prefetched_models())
        return {str(record._pk): record for record in query}

    def _prepare(self, items: list[Item]) -> list[Item]:
        """Answer what needs no CRM call; return the items to send."""
        ready = []
        for item in items:
            try:
                if self.config.sync_if is not None and not self._sync_if(item.record):
                    self.skipped.append(item)
                    continue
            except Exception as error:
                self.failed[item.resource_id] = (item, error)
                continue
            ready.append(item)
        reach = self.linker.reached(ready) if self.linker is not None else {}
        self.waiting = self._unsynced_dependencies(ready, reach)
        if self.linker is not None:
            self.linker.wanted(
                [i for i in ready if i.resource_id not in self.waiting | self.failed.keys()], reach
            )
        to_send = []
        for item in ready:
            if item.resource_id in self.failed:
                continue
            if item.resource_id in self.waiting:
                self.buffered.append(item)
                continue
            try:
                item.payload = build_payload(self.config.serializer, item.record)
                if self.config.external_id_property:
                    key = self.config.external_id(item.resource_id)
                    item.payload = {**item.payload, self.config.external_id_property: key}
                item.digest = digest_of(item.payload)
                same_payload = bool(item.row.crm_id) and item.row.last_digest == item.digest
                # The payload the CRM holds has the key its row stored.
                stored = item.row.crm_key if same_payload else None
                item.key = stored or crm_key(self.config, self.adapter, item.payload)
            except Exception as error:
                self.failed[item.resource_id] = (item, error)
                continue
            unchanged = same_payload and item.links == item.stored_links
            (self.unchanged if unchanged else to_send).append(item)
        refused = refuse_shared_keys(self.config, self.scope, to_send, self.unchanged)
        for item in to_send:
            if item.resource_id in refused:
                self.failed[item.resource_id] = (item, refused[item.resource_id])
        return [item for item in to_send if item.resource_id not in refused]

    def _sync_if(self, record: Any) -> bool:
        try:
            return bool(self.config.sync_if(record))
        except Exception as error:
            raise SerializerError(
                f"sync_if of {self.config.model.__name__} raised {type(error).__name__}: {error}"
            ) from error

    def _unsynced_dependencies(
        self, items: list[Item], reach: dict[str, dict[str, set[str]]]
    ) -> dict[str, list]:
        """``{resource_id: [(dependency, its config)]}`` for dependencies still without CRM id.

        The dependencies are the records of ``sync_dependencies`` and those
        the associations reach (``reach``: ``{path: {resource_id: {target
        id}}}``). Those without a CRM id are synced first (not in a dry run);
        one this thread is syncing further up its call chain (a cycle) is not
        waited for.
        """
        waiting: dict[str, list] = {}
        for name in self.config.sync_dependencies:
            dep_config = sync_config(
                self.config.model._meta.fields[name].rel_model, self.config.crm_name
            )
            pointing = {
                item.resource_id: {str(item.record.__data__[name])}
                for item in items
                if item.record.__data__.get(name) is not None
            }

            def load(item: Item, _value: str, name: str = name) -> Any:
                return getattr(item.record, name)

            self._wait_on(dep_config, items, pointing, load, waiting)
        for target in self.linker.targets if self.linker is not None else ():
            model = target.config.model

            def load_target(_item: Item, value: str, model: Any = model) -> Any:
                return model.get_by_id(model._meta.primary_key.python_value(value))

            self._wait_on(target.config, items, reach[target.path], load_target, waiting)
        return waiting

    def _wait_on(
        self,
        dep_config: SyncConfig,
        items: list[Item],
        pointing: dict[str, set[str]],
        load: Callable[[Item, str], Any],
        waiting: dict[str, list],
    ) -> None:
        """Add to ``waiting`` the items whose dependencies (``pointing``: ``{resource_id:
        {dependency id}}``) have no CRM id, even once synced first; ``load`` reads one."""
        dep_scope = Scope.of(dep_config)
        values = {value for found in pointing.values() for value in found}
        linked = dep_scope.linked(values) if values else set()
        unlinked: dict[str, list[Item]] = {}
        for item in items:
            for value in sorted(pointing.get(item.resource_id, ())):
                if value not in linked:
                    unlinked.setdefault(value, []).append(item)
        if not unlinked:
            return
        in_chain = {
            value
            for value in unlinked
            if (dep_config.resource_type, value, dep_config.crm_name) in _in_progress()
        }
        for value in in_chain:
            logger.info(
                "etlify: dependency cycle through %s #%s; not waiting",
                dep_config.resource_type,
                value,
            )
        if not self.dry_run:
            self._sync_first(dep_config, [v for v in unlinked if v not in in_chain])
            linked = dep_scope.linked(unlinked)
        for value, dependants in unlinked.items():
            if value in linked or value in in_chain:
                continue
            too_long = long_key_error(dep_config.model, value)
            for item in dependants:
                if too_long is not None:  # it could never be buffered
                    self.failed[item.resource_id] = (
                        item,
                        ValidationFailed(
                            f"{self.config.model.__name__} #{item.resource_id} waits on a "
                            f"record the sync state cannot hold: {too_long}"
                        ),
                    )
                    continue
                try:
                    dependency = load(item, value)
                except Exception as error:  # e.g. a foreign key to a deleted row
                    self.failed[item.resource_id] = (item, error)
                    continue
                waiting.setdefault(item.resource_id, []).append((dependency, dep_config))

    def _sync_first(self, dep_config: SyncConfig, values: list[str]) -> None:
        """Sync the dependencies ``values`` (their keys as text) before their dependants."""
        if not values:
            return
        model = dep_config.model
        field_ = model._meta.primary_key
        pks = [field_.python_value(value) for value in values]
        if self.wait:
            for pk in pks:
                sync_record(model, pk, dep_config.crm_name, dispatch=self.dispatch)
        else:
            sync_batch(dep_config, pks, dispatch=self.dispatch)

    def _claim(self, items: list[Item]) -> list[Item]:
        """Claim the rows of the records to send, and read them back.

        Only records that go to the CRM are claimed: a new record's row is
        inserted claimed, the others are claimed in one UPDATE. A record
        another worker holds is left out (``busy``); one whose fresh row
        shows the CRM already has this payload joins the unchanged ones. A
        single sync claimed its row before reading.
        """
        unsent = [*self.skipped, *(item for item, _ in self.failed.values())]
        added = self.scope.add_missing([item.resource_id for item in unsent if item.row.id is None])
        for item in unsent:
            if item.row.id is None:
                item.row = added[item.resource_id]
        if self.wait:
            return items
        new = self.scope.claim_new(
            self.lease, [item.resource_id for item in items if item.row.id is None]
        )
        fresh = self.scope.claim(
            self.lease, [item.row.id for item in items if item.row.id is not None]
        )
        if self.linker is not None:
            # Read again under the claim: a worker that synced a record since
            # this batch read it has stored its links by now.
            stored = self.linker.state.of(item.resource_id for item in items)
            for item in items:
                item.stored_links = stored.get(item.resource_id, {})
        claimed = []
        for item in items:
            row = fresh.get(item.row.id) if item.row.id else new.get(item.resource_id)
            if row is None or (row.last_synced_at and row.last_synced_at >= self.read_at):
                # Held by another worker, or synced by one since this batch read
                # the record: its payload may be newer than ours. Left for later.
                self.outcome.statuses[item.resource_id] = Status.BUSY
                continue
            item.row = row
            if row.crm_id and row.last_digest == item.digest and item.links == item.stored_links:
                self.unchanged.append(item)
            else:
                claimed.append(item)
        return claimed

    # -- writing -------------------------------------------------------------

    def _counted(self, item: Item) -> dict[str, Any]:
        """The ``dependency_signature`` to store for ``item`` (``{}`` when not tracked)."""
        signature = self.signatures.get(item.resource_id)
        return {} if signature is None else {"dependency_signature": signature}

    def _failure(self, item: Item, error: BaseException) -> dict[str, Any]:
        """The fields recording ``error``; a create that may have made its object
        remembers since when (see ``Sender``), until a sync confirms one."""
        fields = failure_fields(item.row.error_count, error, self.adapter)
        uncertain = fields["last_error_kind"] in CREATE_UNCERTAIN_KINDS
        maybe_created = uncertain and not item.row.crm_id and self.sent_at is not None
        since = item.row.create_sent_at
        fields["create_sent_at"] = (since or self.sent_at) if maybe_created else since
        return fields

    def _write_all(self) -> None:
        """:meth:`_write`, in :meth:`_writing`, again from the same outcomes when the
        database rolled it back to break a deadlock with another worker's writes."""
        synced, failed, held = dict(self.synced), dict(self.failed), list(self.lease.row_ids)

        def undo() -> None:
            self.synced, self.failed, self.lease.row_ids = dict(synced), dict(failed), list(held)

        def write() -> None:
            with self._writing():
                self._write()

        retried_on_deadlock(write, undo)

    def _writing(self) -> Any:
        """One short transaction for all the writes (no CRM call happens in it); none
        when the only write is the one UPDATE confirming a single record."""
        others = self.failed or self.unchanged or self.skipped or self.waiting
        if len(self.synced) == 1 and not others and self.linker is None:
            return contextlib.nullcontext()
        return database_proxy.atomic()

    def _write(self) -> None:
        """Store every outcome and release every claim, in bulk."""
        refused = self.scope.confirm(
            self.lease,
            {
                item.row.id: {
                    "crm_id": crm_id,
                    "crm_key": item.key,
                    "last_digest": item.digest,
                    **self._counted(item),
                }
                for item, crm_id, _ in self.synced.values()
            },
            self.read_at,
            updates_only=all(item.row.crm_id == crm_id for item, crm_id, _ in self.synced.values()),
        )
        by_row = {item.row.id: (item, crm_id) for item, crm_id, _ in self.synced.values()}
        for row_id in refused:
            item, crm_id = by_row[row_id]
            del self.synced[item.resource_id]
            holder = self.scope.mark_overwritten(crm_id, item.key)
            self.failed[item.resource_id] = (item, overwritten(self.config, item, crm_id, holder))
        unlinked = self._links_written()
        self.scope.fail(
            self.lease,
            {
                item.row.id: {**self._failure(item, error), **unlinked.get(item.resource_id, {})}
                for item, error in self.failed.values()
            },
        )
        self.scope.stamp(
            self.lease,
            {item.row.id: self._counted(item) for item in self.unchanged},
            self.read_at,
            unchanged={item.row.id: item.digest for item in self.unchanged},
        )
        self.scope.remember_keys(
            {
                item.row.id: (item.key, item.digest)
                for item in self.unchanged
                if item.key is not None and item.row.crm_key != item.key
            }
        )
        self.scope.stamp(
            self.lease, {item.row.id: self._counted(item) for item in self.skipped}, self.read_at
        )
        self.scope.buffer(
            [
                (rid, dep_config.resource_type, str(dependency._pk))
                for rid, dependencies in self.waiting.items()
                if rid not in self.failed
                for dependency, dep_config in dependencies
            ]
        )

    def _links_written(self) -> dict[str, dict[str, Any]]:
        """Store the links the CRM confirmed; a record some of whose links it refused
        fails, its payload confirmed: ``{resource_id: fields}`` that keep it stale."""
        if self.linker is None:
            return {}
        self.linker.state.store(
            {rid: links for rid, links in self.linker.written.items() if rid in self.synced}
        )
        unlinked = {}
        for rid, error in self.linker.refused.items():
            if rid in self.synced:
                item, _, _ = self.synced.pop(rid)
                self.failed[rid] = (item, error)
                unlinked[rid] = {"last_synced_at": None, "create_sent_at": None}
        return unlinked

    # -- after the writes ----------------------------------------------------

    def _announce(self) -> None:
        model, crm_name = self.config.model, self.config.crm_name
        statuses = self.outcome.statuses
        for item, crm_id, created in self.synced.values():
            statuses[item.resource_id] = Status.SYNCED
            announce(
                Status.SYNCED,
                model,
                item.record,
                crm_name,
                crm_id=crm_id,
                payload=item.payload,
                digest=item.digest,
                created=created,
            )
        for item in self.unchanged:
            statuses[item.resource_id] = Status.NOT_MODIFIED
            announce(Status.NOT_MODIFIED, model, item.record, crm_name)
        for item in self.skipped:
            statuses[item.resource_id] = Status.SKIPPED
            announce(Status.SKIPPED, model, item.record, crm_name)
        for item, error in self.failed.values():
            statuses[item.resource_id] = Status.ERROR
            report_failure(
                "sync", model, item.resource_id, self.entry, item.record, error, self.report
            )
        for item in self.buffered:
            statuses[item.resource_id] = Status.BUFFERED
            announce(
                Status.BUFFERED,
                model,
                item.record,
                crm_name,
                waiting_on=[dependency for dependency, _ in self.waiting[item.resource_id]],
            )

    def _plan_all(self, to_send: list[Item]) -> None:
        """The dry run's plan: per record, in order, what would happen, with its payload."""
        steps = [
            *((item, "update" if item.row.crm_id else "create", Status.SYNCED) for item in to_send),
            *((item, "not_modified", Status.NOT_MODIFIED) for item in self.unchanged),
            *((item, "skipped", Status.SKIPPED) for item in self.skipped),
            *((item, "buffered", Status.BUFFERED) for item in self.buffered),
            *((item, "error", Status.ERROR) for item, _ in self.failed.values()),
        ]
        order = {rid: position for position, rid in enumerate(self.order)}
        for item, action, status in sorted(steps, key=lambda step: order[step[0].resource_id]):
            self.outcome.counts[COUNTER[status]] += 1
            entry = {
                "model": self.config.resource_type,
                "id": item.record._pk,
                "crm_name": self.config.crm_name,
                "action": action,
                "payload": item.payload,
            }
            if self.linker is not None and status is Status.SYNCED:
                entry["associations"] = {p: sorted(ids) for p, ids in item.links.items()}
            if status is Status.ERROR:
                entry["error"] = describe_error(self.failed[item.resource_id][1], self.adapter)
            self.outcome.plan.append(entry)


def release_waiting(config_: SyncConfig, pk: Any, dispatch: Dispatch | None) -> None:
    """Sync now (no ``dispatch``) or dispatch the records that were waiting on this one."""
    if not has_dependants(config_.model, config_.crm_name):
        return
    scope = Scope.of(config_)
    for waiting_type, resource_id in scope.waiting_on(str(pk)):
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
        scope.stop_waiting(str(pk), waiting_type, resource_id)
