"""Sync-state writes the database rolls back to break a deadlock run again
(PostgreSQL, MariaDB; SQLite locks the whole database and has none)."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from peewee import OperationalError

from etlify import CrmSynchronisation as Sync
from etlify.state import database_proxy
from etlify.state.deadlocks import DEADLOCK_ATTEMPTS, is_deadlock, retried_on_deadlock

from ..conftest import make_app, open_database


def _rows(count):
    return [
        Sync.create(crm_name="hubspot", resource_type="User", resource_id=str(i), error_count=0)
        for i in range(count)
    ]


@pytest.fixture(params=["postgres", "mysql"])
def server_app(request, tmp_path, adapter):
    """Models on PostgreSQL and MariaDB: SQLite takes one writer at a time, no deadlocks."""
    database = open_database(request.param, tmp_path)
    yield make_app(database, adapter)
    if not database.is_closed():
        database.close()


def _crossing(first, second, barrier, attempts, name):
    """A transaction writing ``first`` then ``second``, meeting the other at the barrier
    on its first attempt: each then waits on the row the other holds."""

    def attempt():
        attempts[name] += 1
        with database_proxy.atomic():
            Sync.update(error_count=Sync.error_count + 1).where(Sync.id == first).execute()
            if attempts[name] == 1:
                barrier.wait(timeout=20)
            Sync.update(error_count=Sync.error_count + 1).where(Sync.id == second).execute()

    return attempt


def _in_threads(*works):
    errors = []

    def run(work):
        try:
            work()
        except Exception as error:  # collected for the assertion
            errors.append(error)
        finally:
            database_proxy.close()

    threads = [threading.Thread(target=run, args=(work,)) for work in works]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return errors


def test_the_victim_of_a_deadlock_runs_again_and_both_writes_land(server_app):
    a, b = _rows(2)
    barrier, attempts = threading.Barrier(2), Counter()

    errors = _in_threads(
        lambda: retried_on_deadlock(_crossing(a.id, b.id, barrier, attempts, "one")),
        lambda: retried_on_deadlock(_crossing(b.id, a.id, barrier, attempts, "two")),
    )

    assert errors == []
    assert sorted(attempts.values()) == [1, 2]  # the victim ran twice
    assert [row.error_count for row in Sync.select().order_by(Sync.id)] == [2, 2]


def test_without_the_retry_the_victim_fails_with_the_databases_deadlock_error(server_app):
    a, b = _rows(2)
    barrier, attempts = threading.Barrier(2), Counter()

    errors = _in_threads(
        _crossing(a.id, b.id, barrier, attempts, "one"),
        _crossing(b.id, a.id, barrier, attempts, "two"),
    )

    assert len(errors) == 1 and is_deadlock(errors[0])


def test_inside_the_callers_transaction_the_work_runs_once(any_app):
    calls = []

    def work():
        calls.append(1)
        raise OperationalError(Exception(1213, "Deadlock found"), 1213, "Deadlock found")

    with pytest.raises(OperationalError), database_proxy.atomic():
        retried_on_deadlock(work)
    assert calls == [1]


def test_a_deadlock_that_keeps_coming_back_is_raised_after_the_last_attempt(any_app):
    calls, undone = [], []

    def work():
        calls.append(1)
        raise OperationalError(Exception(1213, "Deadlock found"), 1213, "Deadlock found")

    with pytest.raises(OperationalError):
        retried_on_deadlock(work, lambda: undone.append(1))
    assert len(calls) == DEADLOCK_ATTEMPTS and len(undone) == DEADLOCK_ATTEMPTS - 1


def test_other_errors_are_not_retried(any_app):
    calls = []

    def work():
        calls.append(1)
        raise OperationalError(Exception(2006, "MySQL server has gone away"), 2006, "gone")

    with pytest.raises(OperationalError):
        retried_on_deadlock(work)
    assert calls == [1]
