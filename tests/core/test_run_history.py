"""The run history (``etlify_runs``) on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt

import pytest
from playhouse.migrate import SchemaMigrator, migrate

import etlify
from etlify import ConfigurationError
from etlify.migrate import upgrade_tables
from etlify.state import (
    SyncRun,
    finish_run,
    last_run_per_crm,
    prune_runs,
    recent_runs,
    start_run,
    tables_required,
)

from ..clock import Clock

#: Whole seconds: MariaDB's DATETIME keeps no fraction.
START = dt.datetime(2026, 12, 6, 21, 0, 0)




@pytest.fixture
def db(any_database):
    """A database holding the sync-state tables; the suite's ``reset()`` unbinds it."""
    etlify.configure(database=any_database)
    etlify.create_tables()
    return any_database


@pytest.fixture
def clock(db):
    """Etlify's clock at :data:`START` (the suite's ``reset()`` restores the real one)."""
    moving = Clock(START)
    etlify.configure(now=moving)
    return moving


def run_of(run_id: int) -> SyncRun:
    return SyncRun.get_by_id(run_id)


def test_start_run_stores_the_crm_source_and_start(clock):
    run = run_of(start_run("hubspot", ["Person"], source="cli"))

    assert (run.crm_name, run.source, run.started_at) == ("hubspot", "cli", START)


def test_start_run_defaults_to_the_python_source(clock):
    assert run_of(start_run("hubspot", ["Person"])).source == "python"


def test_start_run_stores_the_models_sorted_and_comma_separated(clock):
    run = run_of(start_run("hubspot", ["Person", "Company", "Deal"]))

    assert run.models == "Company,Deal,Person"


def test_a_started_run_has_no_end_and_zero_counts(clock):
    run = run_of(start_run("hubspot", ["Person"]))

    assert run.finished_at is None
    assert run.duration is None
    assert [run.total, run.synced, run.errors, run.busy] == [0, 0, 0, 0]


def test_finish_run_stores_the_end_and_the_counts(clock):
    run_id = start_run("hubspot", ["Person"])
    clock.advance(seconds=12)
    counts = {
        "total": 10,
        "synced": 4,
        "not_modified": 2,
        "skipped": 1,
        "buffered": 1,
        "errors": 1,
        "busy": 1,
    }

    finish_run(run_id, counts)

    run = run_of(run_id)
    assert run.finished_at == START + dt.timedelta(seconds=12)
    assert {name: getattr(run, name) for name in counts} == counts


def test_finish_run_leaves_missing_counts_at_zero(clock):
    run_id = start_run("hubspot", ["Person"])

    finish_run(run_id, {"total": 3, "synced": 3})

    run = run_of(run_id)
    assert [run.not_modified, run.skipped, run.buffered, run.errors, run.busy] == [0] * 5


def test_finish_run_ignores_unknown_count_keys(clock):
    run_id = start_run("hubspot", ["Person"])

    finish_run(run_id, {"total": 2, "deleted": 7, "id": 99})

    run = run_of(run_id)
    assert (run.id, run.total) == (run_id, 2)


def test_finish_run_stores_requests_rate_limited_and_the_stop_message(clock):
    run_id = start_run("hubspot", ["Person"])
    message = "CircuitOpen: hubspot failed 3 times in a row\nTransportError: timed out"

    finish_run(run_id, {}, requests=42, rate_limited=3, stopped=message)

    run = run_of(run_id)
    assert (run.requests, run.rate_limited, run.stopped) == (42, 3, message)


def test_requests_and_rate_limited_stay_none_when_not_counted(clock):
    run_id = start_run("hubspot", ["Person"])

    finish_run(run_id, {"total": 1})

    run = run_of(run_id)
    assert (run.requests, run.rate_limited, run.stopped) == (None, None, None)


def test_failures_round_trip_as_json(clock):
    run_id = start_run("hubspot", ["Person"])
    failures = {
        "validation": {"count": 2, "example": "Person #3: email is invalid"},
        "transport": {"count": 1, "example": "Person #9: timed out"},
    }

    finish_run(run_id, {"errors": 3}, failures=failures)

    assert run_of(run_id).failure_counts == failures


def test_failure_counts_is_empty_without_failures(clock):
    run_id = start_run("hubspot", ["Person"])

    finish_run(run_id, {"total": 1})

    assert run_of(run_id).failure_counts == {}


def test_duration_is_the_time_from_start_to_finish(clock):
    run_id = start_run("hubspot", ["Person"])
    clock.advance(minutes=2, seconds=3)
    finish_run(run_id, {})

    assert run_of(run_id).duration == dt.timedelta(minutes=2, seconds=3)


def test_recent_runs_are_newest_first(clock):
    ids = [start_run("hubspot", ["Person"]) for _ in range(3)]

    assert [run.id for run in recent_runs()] == ids[::-1]


def test_recent_runs_stop_at_the_limit(clock):
    ids = [start_run("hubspot", ["Person"]) for _ in range(5)]

    assert [run.id for run in recent_runs(limit=2)] == [ids[4], ids[3]]


def test_recent_runs_of_one_crm_leave_the_others_out(clock):
    hubspot = start_run("hubspot", ["Person"])
    start_run("salesforce", ["Person"])

    assert [run.id for run in recent_runs(crm_name="hubspot")] == [hubspot]


def test_last_run_per_crm_is_the_newest_run_of_each_crm(clock):
    start_run("hubspot", ["Person"])
    salesforce = start_run("salesforce", ["Person"])
    hubspot = start_run("hubspot", ["Company"])

    last = last_run_per_crm()

    assert {name: run.id for name, run in last.items()} == {
        "hubspot": hubspot,
        "salesforce": salesforce,
    }


def test_last_run_per_crm_is_empty_without_runs(db):
    assert last_run_per_crm() == {}


def test_prune_runs_deletes_the_runs_older_than_the_retention(clock):
    etlify.configure(run_retention_days=30)
    start_run("hubspot", ["Person"])
    clock.advance(days=20)
    recent = start_run("hubspot", ["Person"])
    clock.advance(days=11)

    assert prune_runs() == 1
    assert [run.id for run in recent_runs()] == [recent]


def test_start_run_prunes_the_runs_older_than_the_retention(clock):
    start_run("hubspot", ["Person"])
    clock.advance(days=91)  # the default retention: 90 days

    new = start_run("hubspot", ["Person"])

    assert [run.id for run in recent_runs()] == [new]


def test_a_retention_of_none_keeps_every_run(clock):
    etlify.configure(run_retention_days=None)
    start_run("hubspot", ["Person"])
    clock.advance(days=3650)
    start_run("hubspot", ["Person"])

    assert prune_runs() == 0
    assert len(recent_runs()) == 2


def test_create_tables_creates_the_runs_table(any_database):
    etlify.configure(database=any_database)

    changes = etlify.create_tables()

    assert "etlify_runs: created" in changes
    assert "etlify_runs" in any_database.get_tables()


def test_create_tables_indexes_the_runs_by_crm(db):
    indexed = [tuple(index.columns) for index in db.get_indexes("etlify_runs")]

    assert ("crm_name", "id") in indexed


def test_upgrade_tables_adds_a_missing_column_to_the_runs_table(db):
    migrate(SchemaMigrator.from_database(db).drop_column("etlify_runs", "rate_limited"))

    changes = upgrade_tables(db)

    assert "etlify_runs: added column rate_limited" in changes
    assert "rate_limited" in {column.name for column in db.get_columns("etlify_runs")}


def test_upgrade_tables_keeps_the_runs_of_an_upgraded_table(clock, db):
    run_id = start_run("hubspot", ["Person"])
    finish_run(run_id, {"total": 5})
    migrate(SchemaMigrator.from_database(db).drop_column("etlify_runs", "failures"))

    upgrade_tables(db)

    assert (run_of(run_id).total, run_of(run_id).failures) == (5, None)


def test_a_missing_runs_table_raises_a_configuration_error_naming_it(db):
    db.drop_tables([SyncRun])

    with pytest.raises(ConfigurationError, match="'etlify_runs' does not exist.*create-tables"):
        with tables_required():
            recent_runs()
