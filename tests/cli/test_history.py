"""``etlify history`` and the last-run lines of ``etlify status``, through the real entry point.

The runs are written by the test process (``start_run``/``finish_run``) into
the project's SQLite database; the command runs in a subprocess.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

from peewee import SqliteDatabase

import etlify
from etlify.state import finish_run, start_run

from ..clock import Clock
from .conftest import run

START = dt.datetime(2026, 12, 6, 21, 0, 0)




def add_run(
    project,
    crm="hubspot",
    models=("Person",),
    started=START,
    seconds=12.3,
    counts=None,
    source="cli",
    **finish,
):
    """Write one run into the project's database; ``seconds=None`` leaves it unfinished."""
    db = SqliteDatabase(project / "app.db")
    clock = Clock(started)
    try:
        etlify.configure(database=db, now=clock)
        run_id = start_run(crm, list(models), source=source)
        if seconds is not None:
            clock.now = started + dt.timedelta(seconds=seconds)
            finish_run(run_id, counts or {"total": 1000, "synced": 990, "errors": 10}, **finish)
        return run_id
    finally:
        db.close()


def lines(result):
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def test_history_lists_the_runs_newest_first(people):
    first = add_run(people)
    second = add_run(people)

    _, *rows = lines(run(people, "history"))

    assert [int(row.split()[0]) for row in rows] == [second, first]


def test_history_shows_the_start_duration_and_counts_of_a_run(people):
    add_run(people, models=("Person", "Company"), requests=1012)

    header, row = lines(run(people, "history"))

    assert header.split() == [
        "id",
        "started",
        "duration",
        "crm",
        "source",
        "models",
        "total",
        "synced",
        "errors",
        "requests",
        "stopped",
    ]
    assert row.split() == [
        "1",
        "2026-12-06",
        "21:00:00",
        "12.3",
        "s",
        "hubspot",
        "cli",
        "Company,Person",
        "1000",
        "990",
        "10",
        "1012",
    ]


def test_history_shows_running_for_an_unfinished_run(people):
    add_run(people, seconds=None)

    _, row = lines(run(people, "history"))

    assert row.split()[3] == "running"


def test_history_limit_keeps_the_newest_runs(people):
    ids = [add_run(people) for _ in range(4)]

    _, *rows = lines(run(people, "history", "--limit", "2"))

    assert [int(row.split()[0]) for row in rows] == [ids[3], ids[2]]


def test_history_crm_keeps_the_runs_of_that_crm(people):
    add_run(people, crm="salesforce")
    hubspot = add_run(people, crm="hubspot")

    _, *rows = lines(run(people, "history", "--crm", "hubspot"))

    assert [int(row.split()[0]) for row in rows] == [hubspot]


def test_history_shows_the_first_line_of_the_stop_message_cut_to_60_characters(people):
    first_line = "CircuitOpen: " + "hubspot answered 503 " * 5
    add_run(people, stopped=first_line + "\nTransportError: the second line")

    _, row = lines(run(people, "history"))

    cell = row[row.index("CircuitOpen") :]
    assert cell == first_line[:57] + "..."


def test_history_without_runs_says_so(people):
    assert lines(run(people, "history")) == ["no runs yet"]


def test_history_before_create_tables_explains_what_to_do(project):
    result = run(project, "history")

    assert result.returncode == 2
    assert "'etlify_runs' does not exist" in result.stderr
    assert "etlify create-tables" in result.stderr


def test_history_id_prints_every_field_on_its_own_line(people):
    run_id = add_run(people, requests=1012, rate_limited=None)

    printed = lines(run(people, "history", "--id", str(run_id)))

    assert printed == [
        f"id: {run_id}",
        "crm: hubspot",
        "source: cli",
        "models: Person",
        "started: 2026-12-06 21:00:00",
        "finished: 2026-12-06 21:00:12",
        "duration: 12.3 s",
        "total: 1000",
        "synced: 990",
        "not_modified: 0",
        "skipped: 0",
        "buffered: 0",
        "errors: 10",
        "busy: 0",
        "requests: 1012",
        "rate_limited: not counted",
        "failures: none",
        "stopped: no",
    ]


def test_history_id_prints_the_failures_by_kind_with_their_example(people):
    failures = {
        "transport": {"count": 3, "example": "Person #9: timed out"},
        "validation": {"count": 7, "example": "Person #3: email is invalid"},
    }
    run_id = add_run(people, failures=failures)

    printed = lines(run(people, "history", "--id", str(run_id)))

    start = printed.index("failures:")
    assert printed[start + 1 : start + 3] == [
        "  validation: 7, e.g. Person #3: email is invalid",
        "  transport: 3, e.g. Person #9: timed out",
    ]


def test_history_id_prints_the_whole_stop_message(people):
    message = "CircuitOpen: hubspot failed 3 times in a row\nTransportError: connection refused"
    run_id = add_run(people, stopped=message)

    printed = lines(run(people, "history", "--id", str(run_id)))

    assert printed[-2:] == [
        "stopped: CircuitOpen: hubspot failed 3 times in a row",
        "    TransportError: connection refused",
    ]


def test_history_of_an_unknown_id_exits_with_status_2(people):
    add_run(people)

    result = run(people, "history", "--id", "99")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip() == "etlify history: no run with id 99"


def test_history_has_help(tmp_path):
    result = run(tmp_path, "history", "--help", app=None)

    assert result.returncode == 0
    assert result.stdout.startswith("usage: etlify history")


def test_status_shows_the_last_run_of_each_crm(people):
    add_run(people, started=START - dt.timedelta(hours=1))
    run_id = add_run(people)

    printed = lines(run(people, "status"))

    assert printed[-1] == (
        f"last run of hubspot: #{run_id}, 2026-12-06 21:00:00, 12.3 s, "
        "1000 records, 990 synced, 10 errors"
    )


def test_status_shows_why_the_last_run_stopped(people):
    add_run(people, stopped="CircuitOpen: hubspot failed 3 times in a row\nsecond line")

    printed = lines(run(people, "status"))

    assert printed[-1].endswith(", stopped: CircuitOpen: hubspot failed 3 times in a row")


def test_status_with_crm_shows_only_the_last_run_of_that_crm(people):
    add_run(people, crm="salesforce")
    add_run(people, crm="hubspot")

    printed = lines(run(people, "status", "--crm", "hubspot"))

    last_runs = [line for line in printed if line.startswith("last run of")]
    assert len(last_runs) == 1
    assert last_runs[0].startswith("last run of hubspot: ")


def test_status_without_runs_prints_only_the_counts(people):
    printed = lines(run(people, "status"))

    assert len(printed) == 2  # the header and the row of Person


def test_status_without_the_runs_table_says_how_to_add_it(people):
    with sqlite3.connect(people / "app.db") as connection:
        connection.execute("DROP TABLE etlify_runs")

    printed = lines(run(people, "status"))

    assert "etlify create-tables" in printed[-1]
