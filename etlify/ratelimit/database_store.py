"""A rate budget kept in a table of the database, for users without Redis.

One row per budget (``etlify_rate_budgets``) holds the state of its windows
as JSON (on SQLite, in a file of its own beside the sync state's). Every
operation locks that row for a short transaction of its own (``SELECT ...
FOR UPDATE`` on PostgreSQL and MySQL/MariaDB, ``BEGIN IMMEDIATE`` on SQLite)
on a connection of its own, so that it never joins, nor waits for, a
transaction of the application's. The clock is each machine's wall clock:
their clocks must agree (NTP) to well under a second. Slower than Redis (one
transaction per grant and per answer), it suits a few processes on one
database; see the README's "Running on several processes or machines".
"""

from __future__ import annotations

import json
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

from peewee import (
    CharField,
    Database,
    DatabaseError,
    IntegrityError,
    InterfaceError,
    Model,
    OperationalError,
    SqliteDatabase,
    TextField,
)

from ..config import config
from ..errors import ConfigurationError
from ..transactions import unwrap
from . import window
from .stores import StoreUnavailable
from .window import Limits, WindowState

__all__ = ["DatabaseStore", "RateBudget"]

_TABLE = "etlify_rate_budgets"


class RateBudget(Model):
    """The state of one shared rate budget: ``{kind: WindowState}`` as JSON."""

    key = CharField(max_length=191, primary_key=True)
    state = TextField()

    class Meta:
        table_name = _TABLE


class DatabaseStore:
    """The windows of budget ``key`` in a table of ``database``.

    :param key: the budget's name (the row's key).
    :param limits: the limits of each request kind.
    :param database: the peewee database of the table; default: Etlify's
        sync-state database. The store opens connections of its own to it on
        first use, and creates its table then when missing.
    """

    def __init__(
        self, key: str, limits: Mapping[str, Limits], database: Database | None = None
    ) -> None:
        self.key = key
        self.limits = dict(limits)
        self._database = database
        self._model: type[RateBudget] | None = None
        self._lock = threading.Lock()
        _stores.add(self)

    def _table(self) -> type[RateBudget]:
        with self._lock:
            if self._model is None:
                if self._database is None:
                    database = _budget_database(_state_database())
                else:
                    database = _second_connection(self._database)
                meta = type("Meta", (), {"database": database, "table_name": _TABLE})
                model = type("RateBudget", (RateBudget,), {"Meta": meta, "__module__": __name__})
                database.create_tables([model], safe=True)
                self._model = model
            return self._model

    def _update(self, change: Callable[[dict[str, WindowState], float], Any]) -> Any:
        """Apply ``change(states, now)`` to the locked row; its result."""
        try:
            model = self._table()
            database = model._meta.database
            for attempt in range(2):
                try:
                    with _locking_transaction(database):
                        query = model.select().where(model.key == self.key)
                        if not isinstance(database, SqliteDatabase):
                            query = query.for_update()
                        row = query.first()
                        states = _load(row.state if row else "{}", self.limits)
                        result = change(states, time.time())
                        text = json.dumps({kind: s.as_dict() for kind, s in states.items()})
                        if row is None:
                            model.insert(key=self.key, state=text).execute()
                        else:
                            model.update(state=text).where(model.key == self.key).execute()
                        return result
                except IntegrityError:  # another process made the row first
                    if attempt:
                        raise
        except (OperationalError, InterfaceError, DatabaseError) as error:
            raise StoreUnavailable(f"database: {type(error).__name__}: {error}") from error
        raise AssertionError("unreachable")

    def grant(self, kind: str, work: str, grant_id: str) -> float:
        limits = self.limits[kind]

        def change(states: dict[str, WindowState], now: float) -> float:
            states[kind].paused_until = max(
                states[kind].paused_until, states["default"].paused_until
            )
            return window.grant(states[kind], limits, work, grant_id, now)

        return self._update(change)

    def release(self, kind: str, grant_id: str) -> None:
        self._update(
            lambda states, now: window.release(states[kind], self.limits[kind], grant_id, now)
        )

    def pause(self, seconds: float) -> None:
        self._update(lambda states, now: window.pause(states["default"], seconds, now))

    def correct(
        self, used: int | None, interval: float | None, daily: tuple[int, int] | None
    ) -> None:
        self._update(
            lambda states, now: window.correct(
                states["default"], self.limits["default"], used, interval, daily, now
            )
        )

    def lower_limit(self, kind: str, limit: int) -> None:
        self.limits[kind] = window.lowered(self.limits[kind], limit)

    def __repr__(self) -> str:
        return f"DatabaseStore({self.key!r})"


#: Every store, so that a forked child opens connections of its own.
_stores: weakref.WeakSet[DatabaseStore] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    # The parent's connections are left alone, not closed: closing one from
    # here would end the parent's session. The next grant opens new ones.
    for store in list(_stores):
        store._lock = threading.Lock()
        store._model = None


os.register_at_fork(after_in_child=_after_fork_in_child)


def _load(text: str, limits: Mapping[str, Limits]) -> dict[str, WindowState]:
    stored = json.loads(text)
    return {
        kind: WindowState.from_dict(stored[kind]) if kind in stored else WindowState()
        for kind in limits
    }


def _state_database() -> Database:
    database = unwrap(config.database)
    if database is None:
        raise ConfigurationError(
            "rate_limit option shared='database' needs Etlify's sync-state database: "
            "call etlify.configure(database=db) or etlify a model first"
        )
    return database


def _budget_database(state: Database) -> Database:
    """Where ``shared="database"`` keeps the budget: beside the sync state.

    On SQLite, a file of its own next to the database's (``app.db`` →
    ``app.etlify-rate.db``): in the same file, an application's open write
    transaction would hold every grant of the process behind it.
    """
    if not isinstance(state, SqliteDatabase):
        return _second_connection(state)
    path = str(state.database)
    if path in ("", ":memory:") or path.startswith("file::memory:"):
        raise ConfigurationError(
            "rate_limit option shared='database' needs a database that other processes "
            "can open, not an in-memory SQLite database: use a file, or a Redis URL"
        )
    root, _ = os.path.splitext(path)
    return SqliteDatabase(
        f"{root}.etlify-rate.db", pragmas={"journal_mode": "wal"}, timeout=state._timeout
    )


def _second_connection(database: Database) -> Database:
    """Another peewee database on the same server and name: connections of its own."""
    if isinstance(database, SqliteDatabase):
        return type(database)(
            database.database, pragmas=database._pragmas, timeout=database._timeout
        )
    return type(database)(database.database, **database.connect_params)


def _locking_transaction(database: Database) -> Any:
    if isinstance(database, SqliteDatabase):
        return database.atomic("IMMEDIATE")
    return database.atomic()
