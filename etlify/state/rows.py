"""Every read and write of the sync rows and the pending syncs.

The engine, the deletes and the model methods go through these functions;
no other module builds a query on :class:`CrmSynchronisation` or
:class:`PendingSync` to change them.

A claim is a lease: ``claim_token`` and ``claimed_until`` set by one
conditional ``UPDATE`` that succeeds only when a row is unclaimed or its
lease expired. No transaction is held while the CRM is called, and a claim
left by a crashed worker expires after ``config.claim_timeout`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections import namedtuple
from collections.abc import Iterable
from typing import Any

from peewee import Case, IntegrityError

from ..config import config
from ..sql import (
    case_of,
    converted,
    execute_in,
    fetch_tuples,
    in_list,
    in_pairs,
    insert_ignoring,
    prepared,
    returns_rows,
    unflushed,
    update_returning,
)
from .deadlocks import retried_on_deadlock
from .tables import CrmSynchronisation as Sync
from .tables import PendingSync, savepoint

__all__ = [
    "Row",
    "ROW_FIELDS",
    "Lease",
    "Scope",
    "unclaimed",
    "acquire",
    "try_acquire",
    "forget",
    "failing",
    "reset_errors",
    "count_failing",
    "crm_ids",
]

logger = logging.getLogger("etlify")

#: Rows written by one bulk UPDATE (keeps SQLite under its parameter limit).
WRITE_CHUNK = 100

#: The sync-row columns the engine works with, read as :class:`Row` tuples.
ROW_FIELDS = (
    Sync.id,
    Sync.resource_id,
    Sync.crm_id,
    Sync.last_digest,
    Sync.error_count,
    Sync.last_synced_at,
    Sync.crm_object_type,
    Sync.create_sent_at,
    Sync.crm_key,
)
#: :data:`ROW_FIELDS` and the claim token.
CLAIMED = (*ROW_FIELDS, Sync.claim_token)
Row = namedtuple(
    "Row",
    "id resource_id crm_id last_digest error_count last_synced_at crm_object_type create_sent_at "
    "crm_key",
)


def blank_row(resource_id: str) -> Row:
    """The :class:`Row` of a record that has no sync row yet."""
    return Row(None, resource_id, None, None, 0, None, None, None, None)


def _released() -> dict[str, Any]:
    """Written with every release of a claim."""
    return {"claim_token": None, "claimed_until": None, "updated_at": config.now()}


#: Written with every confirmed outcome: the record's error state is cleared.
CLEARED = {"error_count": 0, "last_error": None, "last_error_kind": None}


def unclaimed(now: dt.datetime) -> Any:
    """The condition of rows no worker holds: never claimed, or whose lease expired."""
    return Sync.claim_token.is_null() | (Sync.claimed_until < now)


def _lease_until() -> dt.datetime:
    return config.now() + dt.timedelta(seconds=config.claim_timeout)


class Lease:
    """The claim one sync or delete holds on its rows, under one token.

    A sync whose CRM call waits out rate limits or backoffs can outlast
    ``config.claim_timeout``; its rows must not become free for another
    worker while a create is still on the way. :meth:`renew` is what the
    engine installs with :func:`etlify.lease.renewing`.
    """

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex
        self.row_ids: list[int] = []
        self.until = dt.datetime.min

    def done(self, row_ids: Iterable[int]) -> None:
        """Forget rows a write has just released."""
        released = set(row_ids)
        self.row_ids = [row_id for row_id in self.row_ids if row_id not in released]

    @property
    def mine(self) -> Any:
        """The condition of rows this lease holds."""
        return Sync.claim_token == self.token

    def renew(self) -> None:
        """Extend the lease by ``claim_timeout`` if half of it has passed."""
        now = config.now()
        span = dt.timedelta(seconds=config.claim_timeout)
        if self.row_ids and now >= self.until - span / 2:
            self.until = now + span
            Sync.update(claimed_until=self.until).where(
                in_list(Sync.id, self.row_ids) & self.mine
            ).execute()

    def release(self) -> None:
        """Release whatever rows this lease still holds."""
        if self.row_ids:
            update = Sync.update(_released()).where(in_list(Sync.id, self.row_ids) & self.mine)
            retried_on_deadlock(update.execute)


class Scope:
    """The sync rows of one model in one CRM: what a sync or delete reads and writes."""

    def __init__(self, crm_name: str, resource_type: str, object_type: str) -> None:
        self.crm_name = crm_name
        self.resource_type = resource_type
        self.object_type = object_type
        self.where = (Sync.crm_name == crm_name) & (Sync.resource_type == resource_type)
        #: What the SQL of this scope's prepared statements depends on.
        self.key = (crm_name, resource_type)

    @classmethod
    def of(cls, sync_config: Any) -> Scope:
        """The scope of a :class:`~etlify.SyncConfig`."""
        return cls(sync_config.crm_name, sync_config.resource_type, sync_config.crm_object_type)

    # -- reading -------------------------------------------------------------

    def rows(self, resource_ids: list[str], condition: Any = True) -> dict[str, Row]:
        """``{resource_id: Row}`` of those records that have a row (and meet ``condition``)."""
        query = Sync.select(*ROW_FIELDS).where(
            self.where & in_list(Sync.resource_id, resource_ids) & condition
        )
        return {row.resource_id: row for row in map(Row._make, fetch_tuples(query, ROW_FIELDS))}

    def rows_or_blank(self, resource_ids: list[str]) -> dict[str, Row]:
        """The rows of these records as they are now; a blank one for each record without."""
        rows = self.rows(resource_ids)
        for rid in resource_ids:
            rows.setdefault(rid, blank_row(rid))
        return rows

    def linked_rows(self, resource_ids: list[str]) -> dict[str, Row]:
        """``{resource_id: Row}`` of those records that have a CRM id."""
        return self.rows(resource_ids, Sync.crm_id.is_null(False))

    def linked(self, resource_ids: Iterable[str]) -> set[str]:
        """Those of ``resource_ids`` that have a CRM id."""
        ids = list(resource_ids)
        if not ids:
            return set()
        query = Sync.select(Sync.resource_id).where(
            self.where & in_list(Sync.resource_id, ids) & Sync.crm_id.is_null(False)
        )
        return {value for (value,) in query.tuples()}

    def key_holders(self, keys: Iterable[str]) -> dict[str, list[tuple[str, str, str]]]:
        """``{crm_key: [(resource_type, resource_id, crm_id)]}``: the records whose CRM
        objects hold these keys, of every model synced to this CRM object type."""
        wanted = sorted(set(keys))
        holders: dict[str, list[tuple[str, str, str]]] = {}
        for start in range(0, len(wanted), 500):
            query = Sync.select(Sync.crm_key, Sync.resource_type, Sync.resource_id, Sync.crm_id)
            # No "crm_id IS NOT NULL" here: given that, SQLite walks the CRM id
            # index, every linked row of the object type, for each batch.
            query = query.where(
                (Sync.crm_name == self.crm_name)
                & (Sync.crm_object_type == self.object_type)
                & in_list(Sync.crm_key, wanted[start : start + 500])
            )
            for key, *holder in query.tuples():
                if holder[2] is not None:
                    holders.setdefault(key, []).append(tuple(holder))
        return holders

    def row(self, resource_id: str) -> Sync | None:
        """The full row of one record, or ``None``."""
        return Sync.get_or_none(self.where & (Sync.resource_id == resource_id))

    # -- claiming ------------------------------------------------------------

    def add_missing(self, resource_ids: list[str]) -> dict[str, Row]:
        """Insert the rows these records lack (unclaimed), and read them back."""
        if not resource_ids:
            return {}
        now = config.now()
        insert_ignoring(Sync, [self._new_row(rid, now) for rid in resource_ids])
        return self.rows(resource_ids)

    def claim_new(self, lease: Lease, resource_ids: list[str]) -> dict[str, Row]:
        """Insert these records' rows claimed by ``lease``; ``{resource_id: Row}`` of those won.

        A row another worker inserted meanwhile is claimed as :meth:`claim`
        does, or left out if it is held.
        """
        if not resource_ids:
            return {}
        return retried_on_deadlock(lambda: self._claim_new(lease, resource_ids))

    def _claim_new(self, lease: Lease, resource_ids: list[str]) -> dict[str, Row]:
        now = config.now()
        lease.until = now + dt.timedelta(seconds=config.claim_timeout)
        held = {"claim_token": lease.token, "claimed_until": lease.until}
        rows = [self._new_row(rid, now, **held) for rid in resource_ids]
        won: dict[str, Row] = {}
        if returns_rows(Sync):
            inserted = insert_ignoring(Sync, rows, returning=(Sync.id, Sync.resource_id))
            for row_id, rid in inserted:
                won[rid] = Row(row_id, rid, None, None, 0, None, self.object_type, None, None)
            lease.row_ids = sorted({*lease.row_ids, *(row.id for row in won.values())})
        else:
            insert_ignoring(Sync, rows)
        existing = self.rows([rid for rid in resource_ids if rid not in won])
        claimed = self.claim(lease, [row.id for row in existing.values()])
        won.update((row.resource_id, row) for row in claimed.values())
        return won

    def _new_row(self, resource_id: str, now: dt.datetime, **claim: Any) -> dict[str, Any]:
        return {
            "crm_name": self.crm_name,
            "resource_type": self.resource_type,
            "resource_id": resource_id,
            "crm_object_type": self.object_type,
            "error_count": 0,
            "created_at": now,
            "updated_at": now,
            **claim,
        }

    def claim(self, lease: Lease, row_ids: list[int]) -> dict[int, Row]:
        """Claim those rows that are free, in one UPDATE; ``{row id: Row}`` of those won.

        Rows this lease holds already count as won (their lease is extended).
        """
        if not row_ids:
            return {}
        now = config.now()
        lease.until = now + dt.timedelta(seconds=config.claim_timeout)
        update = Sync.update(claim_token=lease.token, claimed_until=lease.until).where(
            in_list(Sync.id, row_ids) & (unclaimed(now) | lease.mine)
        )
        if returns_rows(Sync):
            returned = retried_on_deadlock(lambda: update_returning(update, ROW_FIELDS))
            won = list(map(Row._make, converted(returned, ROW_FIELDS)))
        else:
            retried_on_deadlock(update.execute)
            query = Sync.select(*ROW_FIELDS).where(in_list(Sync.id, row_ids) & lease.mine)
            won = list(map(Row._make, fetch_tuples(query, ROW_FIELDS)))
        fresh = {row.id: row for row in won}
        lease.row_ids = sorted({*lease.row_ids, *fresh})
        return fresh

    def claim_waiting(self, lease: Lease, resource_id: str) -> Row | None:
        """Claim one record's row, inserting it claimed if it is new, waiting while held.

        Returns the row as read after the claim; ``None`` when the row was
        deleted while waiting (its record was deleted from the database).
        """
        now = config.now()
        lease.until = _lease_until()
        claim = (lease.token, lease.until, resource_id, now)
        lazily = unflushed(Sync)

        def build(*args: Any) -> Any:
            update = self._claim_one(*args)
            return update if lazily is None else update.where(lazily)

        if returns_rows(Sync):  # the claim reads the row back itself
            key = ("claim_one_returning", *self.key, lazily is None)
            won = prepared(Sync, key, build, claim, returning=CLAIMED).fetchall()
            claimed = len(won)
        else:
            won = []
            claimed = prepared(Sync, ("claim_one", *self.key), build, claim).rowcount
        if not claimed:
            held = {"claim_token": lease.token, "claimed_until": lease.until}
            Sync.insert(self._new_row(resource_id, now, **held)).on_conflict_ignore().execute()
        if not won:
            cursor = prepared(Sync, ("row_of", *self.key), self._row_of, (resource_id,))
            won = [cursor.fetchone()]
        [(*values, token)] = converted(won[:1], CLAIMED)
        row = Row._make(values)
        if token != lease.token:
            if not _wait_for(row.id, lease):
                return None
            row = Row._make(Sync.select(*ROW_FIELDS).where(Sync.id == row.id).tuples().get())
        lease.row_ids = sorted({*lease.row_ids, row.id})
        return row

    def _claim_one(self, token: str, until: Any, resource_id: str, now: Any) -> Any:
        """The UPDATE claiming one record's row (see :func:`~etlify.sql.prepared`)."""
        where = self.where & (Sync.resource_id == resource_id) & unclaimed(now)
        return Sync.update(claim_token=token, claimed_until=until).where(where)

    def _row_of(self, resource_id: str) -> Any:
        """The SELECT of one record's row and its claim token."""
        return Sync.select(*CLAIMED).where(self.where & (Sync.resource_id == resource_id)).limit(1)

    # -- writing -------------------------------------------------------------
    #
    # Each write releases the claim of the rows it touches. A CRM answer is
    # written only to rows the lease still holds; other writes touch rows that
    # are free or held by the lease, and never move ``last_synced_at`` back.

    def confirm(
        self,
        lease: Lease,
        synced: dict[int, dict[str, Any]],
        read_at: dt.datetime,
        updates_only: bool = False,
    ) -> list[int]:
        """Store what the CRM confirmed: per row id ``crm_id``, ``last_digest`` (and more).

        Written even to a row whose claim expired meanwhile (it describes what
        the CRM now holds), though another worker's claim is left alone.
        Returns the row ids refused because their CRM id is already linked to
        another record synced to this object type (nothing is written to those).
        ``updates_only``: every row already held its CRM id, so a confirmation
        lost in a crash costs one repeated update; one row's may then commit
        without waiting for the disk (:func:`~etlify.sql.unflushed`).
        """
        stored = {
            **CLEARED,
            "last_synced_at": read_at,
            "crm_object_type": self.object_type,
            "create_sent_at": None,
        }

        def write(rows: dict[int, dict[str, Any]]) -> None:
            with savepoint():
                if len(rows) == 1:
                    [(row_id, values)] = rows.items()
                    values = {**stored, **_released(), **values}
                    lazily = unflushed(Sync) if updates_only else None
                    if _update_one(row_id, values, lease.token, lazily):
                        return
                elif _update_cases(rows, {**stored, **_released()}, lease.mine) == len(rows):
                    return
                # Some claims expired: the rows not holding what was just written.
                now_held = Sync.select(Sync.id, Sync.crm_id, Sync.last_digest, Sync.claim_token)
                lost = {
                    row_id: rows[row_id]
                    for row_id, *held in now_held.where(in_list(Sync.id, rows)).tuples()
                    if held != [rows[row_id]["crm_id"], rows[row_id]["last_digest"], None]
                }
                _update_cases(lost, stored, True)
                logger.warning(
                    "etlify: the claim on %d %s sync row(s) expired before the sync ended; "
                    "raise etlify.config.claim_timeout",
                    len(lost),
                    self.resource_type,
                )

        refused = []
        items = list(synced.items())
        for start in range(0, len(items), WRITE_CHUNK):
            chunk = dict(items[start : start + WRITE_CHUNK])
            try:
                write(chunk)
            except IntegrityError:
                for row_id, fields in chunk.items():
                    try:
                        write({row_id: fields})
                    except IntegrityError:
                        refused.append(row_id)
        lease.done(set(synced) - set(refused))
        return refused

    def fail(self, lease: Lease, failed: dict[int, dict[str, Any]]) -> None:
        """Store per row id the fields of a failure (see ``engine.failures``)."""
        if not failed:
            return
        guard = unclaimed(config.now()) | lease.mine
        items = list(failed.items())
        for start in range(0, len(items), WRITE_CHUNK):
            _update_cases(dict(items[start : start + WRITE_CHUNK]), _released(), guard)
        lease.done(failed)

    def stamp(
        self,
        lease: Lease,
        rows: dict[int, dict[str, Any]],
        read_at: dt.datetime,
        unchanged: dict[int, str] | None = None,
    ) -> None:
        """Mark rows as read at ``read_at`` with nothing to send (per row: extra fields).

        With ``unchanged`` (``{row id: digest}``) the records' payloads were
        found unchanged: their error state is cleared, but only where the row
        still holds that digest (a sync elsewhere may have changed it).
        """
        if not rows:
            return
        guard = unclaimed(config.now()) | lease.mine
        older = Sync.last_synced_at.is_null() | (Sync.last_synced_at < read_at)
        newest = Case(None, [(older, read_at)], Sync.last_synced_at)
        values = {"last_synced_at": newest, **_released()}
        if unchanged is not None:
            values.update(CLEARED)
        items = list(rows.items())
        for start in range(0, len(items), WRITE_CHUNK):
            chunk = dict(items[start : start + WRITE_CHUNK])
            _update_cases(chunk, values, guard, unchanged)
        lease.done(rows)

    def remember_keys(self, keys: dict[int, tuple[str, str]]) -> None:
        """Store ``{row id: (crm_key, digest)}``: the key the object of a row synced
        before keys were stored holds, where the row still holds that digest."""
        items = list(keys.items())
        for start in range(0, len(items), WRITE_CHUNK):
            chunk = dict(items[start : start + WRITE_CHUNK])
            _update_cases(
                {i: {"crm_key": key} for i, (key, _) in chunk.items()},
                {},
                True,
                {i: digest for i, (_, digest) in chunk.items()},
            )

    def unlink(self, lease: Lease, row_ids: list[int]) -> None:
        """Clear the CRM id and digest of rows whose CRM objects were deleted."""
        for start in range(0, len(row_ids), 500):
            Sync.update(
                crm_id=None, crm_key=None, last_digest=None, **CLEARED, **_released()
            ).where(in_list(Sync.id, row_ids[start : start + 500]) & lease.mine).execute()
        lease.done(row_ids)

    def mark_overwritten(self, crm_id: str, crm_key: str | None) -> tuple[str, str] | None:
        """Make stale the record linked to CRM object ``crm_id``: another record's
        payload was written to it. Its row now remembers that the object holds
        ``crm_key`` (when given). Returns ``(resource_type, resource_id)`` of
        that record, or ``None`` when no record is linked to the object.
        """
        where = (
            (Sync.crm_name == self.crm_name)
            & (Sync.crm_object_type == self.object_type)
            & (Sync.crm_id == crm_id)
        )
        holder = Sync.select(Sync.resource_type, Sync.resource_id).where(where).tuples().first()
        if holder is None:
            return None
        stale = {"last_digest": None, "last_synced_at": None, "updated_at": config.now()}
        if crm_key is not None:
            stale["crm_key"] = crm_key
        Sync.update(stale).where(where).execute()
        return holder

    def restore_links(self, written: dict[str, tuple[str, str, str | None]]) -> list[str]:
        """Where a rolled-back transaction took what a sync wrote, make the record stale
        and linked to its CRM object again.

        ``written`` is ``{resource_id: (crm_id, last_digest, crm_key)}`` as the
        sync wrote it. A row still holding both is left as it is (one read when
        all are). A missing row is added; a row without that CRM id, or with
        it but an older digest, gets the CRM id and key and loses its digest
        and last sync: the CRM holds a payload the database may no longer hold. A row
        linked to another object, or an object linked to another record
        meanwhile, is left alone. Call only outside a transaction.
        Returns the ids made stale.
        """
        rows = self.rows(list(written))
        lost = {
            rid: (crm_id, crm_key)
            for rid, (crm_id, digest, crm_key) in written.items()
            if rid not in rows or (rows[rid].crm_id, rows[rid].last_digest) != (crm_id, digest)
        }
        self.add_missing([rid for rid in lost if rid not in rows])
        restored = []
        now = config.now()
        for rid, (crm_id, crm_key) in lost.items():
            ours = Sync.crm_id.is_null() | (Sync.crm_id == crm_id)
            try:
                # No savepoint: this runs after the transaction ended (Peewee 3
                # still counts it open then), where a failed statement aborts nothing.
                changed = (
                    Sync.update(
                        crm_id=crm_id,
                        crm_key=crm_key,
                        crm_object_type=self.object_type,
                        last_digest=None,
                        last_synced_at=None,
                        updated_at=now,
                    )
                    .where(self.where & (Sync.resource_id == rid) & ours)
                    .execute()
                )
            except IntegrityError:
                changed = 0  # the object is linked to another record meanwhile
            if changed:
                restored.append(rid)
        return restored

    def claim_linked(self, lease: Lease, resource_ids: list[str]) -> tuple[list[Row], int]:
        """Claim the free rows of these records that have a CRM id, in one UPDATE.

        Returns the rows won and how many linked rows another worker holds.
        """
        linked = self.where & in_list(Sync.resource_id, resource_ids) & Sync.crm_id.is_null(False)
        now = config.now()
        lease.until = now + dt.timedelta(seconds=config.claim_timeout)
        Sync.update(claim_token=lease.token, claimed_until=lease.until).where(
            linked & unclaimed(now)
        ).execute()
        won = [
            Row._make(values)
            for values in Sync.select(*ROW_FIELDS).where(linked & lease.mine).tuples()
        ]
        lease.row_ids = sorted({*lease.row_ids, *(row.id for row in won)})
        busy = Sync.select().where(linked & ~lease.mine).count()
        return won, busy

    # -- pending syncs -------------------------------------------------------

    def buffer(self, waiting: list[tuple[str, str, str]]) -> None:
        """Remember that records wait: ``(resource_id, dependency type, dependency id)``."""
        now = config.now()
        rows = [
            {
                "crm_name": self.crm_name,
                "resource_type": self.resource_type,
                "resource_id": rid,
                "dependency_type": dep_type,
                "dependency_id": dep_id,
                "created_at": now,
            }
            for rid, dep_type, dep_id in waiting
        ]
        for start in range(0, len(rows), 100):
            PendingSync.insert_many(rows[start : start + 100]).on_conflict_ignore().execute()

    def anyone_waiting(self) -> bool:
        """Whether any record waits on a record of this model."""
        return (
            PendingSync.select()
            .where(
                (PendingSync.crm_name == self.crm_name)
                & (PendingSync.dependency_type == self.resource_type)
            )
            .exists()
        )

    def _waiting_on(self, resource_id: str) -> Any:
        return (
            (PendingSync.crm_name == self.crm_name)
            & (PendingSync.dependency_type == self.resource_type)
            & (PendingSync.dependency_id == resource_id)
        )

    def waiting_on(self, resource_id: str) -> list[tuple[str, str]]:
        """``(resource type, resource id)`` of the records waiting on this record."""
        query = PendingSync.select(PendingSync.resource_type, PendingSync.resource_id)
        return list(query.where(self._waiting_on(resource_id)).tuples())

    def stop_waiting(self, resource_id: str, waiting_type: str, waiting_id: str) -> None:
        """Drop one record's wait on this record."""
        PendingSync.delete().where(
            self._waiting_on(resource_id)
            & (PendingSync.resource_type == waiting_type)
            & (PendingSync.resource_id == waiting_id)
        ).execute()


def _wait_for(row_id: int, lease: Lease) -> bool:
    """Claim the row for ``lease``, waiting while another worker holds it.

    ``False`` once the row is gone: nothing is left to claim.
    """
    delay = 0.005
    while not try_acquire(row_id, lease):
        if not Sync.select().where(Sync.id == row_id).exists():
            return False
        time.sleep(delay)
        delay = min(delay * 2, 0.25)
    return True


def try_acquire(row_id: int, lease: Lease | None = None) -> Lease | None:
    """Claim the row at once if it is free; the lease holding it, or ``None``."""
    lease = lease or Lease()
    now = config.now()
    lease.until = now + dt.timedelta(seconds=config.claim_timeout)
    claimed = (
        Sync.update(claim_token=lease.token, claimed_until=lease.until)
        .where((Sync.id == row_id) & unclaimed(now))
        .execute()
    )
    if not claimed:
        return None
    lease.row_ids = sorted({*lease.row_ids, row_id})
    return lease


def acquire(row_id: int) -> Lease | None:
    """Claim the row, waiting while another worker holds an unexpired claim.

    Returns ``None`` once the row is gone.
    """
    lease = Lease()
    return lease if _wait_for(row_id, lease) else None


def forget(resource_type: str, resource_id: str) -> dict[str, tuple[str, str]]:
    """Drop the sync rows and pending syncs of one record in every CRM.

    Waits for a sync in flight to finish and store its CRM id first. Returns
    ``{crm_name: (object type, crm id)}`` of the CRM objects it was linked to.
    """
    mine = (Sync.resource_type == resource_type) & (Sync.resource_id == resource_id)
    for (row_id,) in Sync.select(Sync.id).where(mine).tuples():
        acquire(row_id)
    links = {
        crm_name: (object_type, crm_id)
        for crm_name, object_type, crm_id in Sync.select(
            Sync.crm_name, Sync.crm_object_type, Sync.crm_id
        )
        .where(mine & Sync.crm_id.is_null(False))
        .tuples()
    }
    PendingSync.delete().where(
        (PendingSync.resource_type == resource_type) & (PendingSync.resource_id == resource_id)
    ).execute()
    Sync.delete().where(mine).execute()
    return links


def _chosen(
    query: Any,
    resource_types: list[str] | None,
    crm_name: str | None,
    resource_ids: list[str] | None = None,
    kind: str | None = None,
) -> Any:
    if resource_types is not None:
        query = query.where(Sync.resource_type.in_(resource_types))
    if crm_name is not None:
        query = query.where(Sync.crm_name == crm_name)
    if resource_ids:
        query = query.where(Sync.resource_id.in_(resource_ids))
    if kind is not None:
        query = query.where(Sync.last_error_kind == kind)
    return query


def failing(
    resource_types: list[str] | None = None,
    crm_name: str | None = None,
    kind: str | None = None,
) -> Any:
    """The rows whose last attempt failed, newest failure first (optionally narrowed)."""
    return _chosen(Sync.with_error(), resource_types, crm_name, kind=kind)


def reset_errors(
    resource_types: list[str] | None = None,
    crm_name: str | None = None,
    resource_ids: list[str] | None = None,
) -> int:
    """Clear the error count and last error of the failing rows chosen; how many."""
    chosen = Sync.select().where((Sync.error_count > 0) | Sync.last_error.is_null(False))
    return Sync.reset_error_count(_chosen(chosen, resource_types, crm_name, resource_ids))


def count_failing() -> int:
    """How many rows, in every CRM, hold a failure."""
    return Sync.select().where(Sync.last_error.is_null(False)).count()


def crm_ids(object_type: str) -> dict[str, str]:
    """``{resource_id: crm_id}`` of the linked rows of CRM object type ``object_type``."""
    query = Sync.select(Sync.resource_id, Sync.crm_id).where(
        (Sync.crm_object_type == object_type) & Sync.crm_id.is_null(False)
    )
    return dict(query.tuples())


def _update_one(row_id: int, values: dict[str, Any], token: str, also: Any = None) -> int:
    """UPDATE one row held by ``token`` to ``values``, its SQL compiled once per column set
    (see :func:`~etlify.sql.prepared`). Returns the number of rows changed. ``also``:
    :func:`~etlify.sql.unflushed`'s condition, added to the WHERE, or ``None``."""
    names = tuple(sorted(values))
    fields = [getattr(Sync, name) for name in names]
    args = [field.db_value(values[name]) for field, name in zip(fields, names)]

    def build(*args: Any) -> Any:
        *new, row, holder = args
        update = Sync.update(dict(zip(fields, new)))
        held = (Sync.id == row) & (Sync.claim_token == holder)
        return update.where(held if also is None else held & also)

    key = ("update_one", names, also is None)
    return prepared(Sync, key, build, (*args, row_id, token)).rowcount


def _update_cases(
    per_row: dict[int, dict[str, Any]],
    common: dict[str, Any],
    guard: Any,
    digests: dict[int, str] | None = None,
) -> int:
    """One UPDATE setting per-row values with CASE, and ``common`` values for all rows,
    on those of the rows that meet ``guard`` (and hold ``digests``: ``{row id: digest}``).

    Returns the number of rows changed.
    """
    if not per_row:
        return 0
    columns = {name for values in per_row.values() for name in values}
    assignments: dict[Any, Any] = {getattr(Sync, name): value for name, value in common.items()}
    cases: dict[Any, dict[Any, Any]] = {}
    for name in columns:
        column = getattr(Sync, name)
        if all(values[name] is None for values in per_row.values()):
            # A CASE of NULLs only is text to PostgreSQL, whatever the column.
            assignments[column] = None
            continue
        cases[column] = {
            Sync.id.db_value(row_id): column.db_value(values[name])
            for row_id, values in per_row.items()
        }
    if digests is None:
        match, keys = (Sync.id,), [(Sync.id.db_value(row_id),) for row_id in per_row]
    else:
        match = (Sync.id, Sync.last_digest)
        keys = [(Sync.id.db_value(i), Sync.last_digest.db_value(digests[i])) for i in per_row]
    if assignments and guard is not True:
        return execute_in(Sync.update(assignments).where(guard), match, keys, cases)
    for column, by_key in cases.items():
        assignments[column] = case_of(Sync.id, by_key)
    if digests is None:
        rows = in_list(Sync.id, per_row)
    else:
        rows = in_pairs(Sync.id, Sync.last_digest, [(i, digests[i]) for i in per_row])
    return Sync.update(assignments).where(rows & guard).execute()
