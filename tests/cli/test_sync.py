"""sync, status, errors and reset-errors, against a HubSpot emulator."""

from __future__ import annotations

import json

from .conftest import add_people, run


def test_sync_dry_run_lists_each_record_and_sends_nothing(people, hubspot):
    result = run(people, "sync", "--dry-run")

    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    model, pk, action, payload = lines[0].split(" ", 3)
    assert (model, pk, action) == ("Person", "1", "create")
    assert json.loads(payload) == {"email": "ada@example.com", "firstname": "Ada"}
    assert lines[1].startswith("Person 2 create ")
    assert (
        lines[2] == "2 stale records (Person 2): 2 to send, 0 not modified, 0 skipped, "
        "0 buffered, 0 failed; dry run, nothing sent"
    )
    assert hubspot.requests == []


def test_sync_inline_sends_the_stale_records_and_prints_the_stats(people, hubspot):
    result = run(people, "sync", "--inline")

    assert result.returncode == 0, result.stderr
    assert result.stdout == (
        "2 stale records (Person 2): 2 synced, 0 not modified, 0 skipped, 0 buffered, 0 failed\n"
    )
    assert hubspot.object_count("contacts") == 2


def test_sync_through_the_job_pool_waits_for_the_jobs(people, hubspot):
    result = run(people, "sync", "--batch-size", "1")

    assert result.returncode == 0, result.stderr
    assert "2 synced" in result.stdout
    assert hubspot.object_count("contacts") == 2


def test_sync_with_nothing_stale_says_so(people):
    run(people, "sync", "--inline")

    result = run(people, "sync", "--inline")

    assert result.returncode == 0
    assert result.stdout == "nothing to sync: every record is up to date\n"


def test_sync_of_a_disabled_crm_sends_nothing_and_says_so(people, hubspot):
    result = run(people, "sync", "--inline", env={"HUBSPOT_ENABLED": "no"})

    assert result.returncode == 0
    assert result.stderr == "etlify sync: CRM 'hubspot' is disabled; its records are left alone\n"
    assert hubspot.requests == []


def test_sync_exits_1_when_records_failed(people, hubspot):
    add_people(people, "bad@example.com")

    result = run(people, "sync", "--inline")

    assert result.returncode == 1
    assert "2 synced" in result.stdout
    assert "1 failed" in result.stdout
    assert hubspot.object_count("contacts") == 2


def test_status_counts_per_model_and_crm(people):
    add_people(people, "bad@example.com")
    run(people, "sync", "--inline")
    add_people(people, "grace@example.com")

    result = run(people, "status")

    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()[:2]  # then the last run of each CRM
    assert header.split() == [
        "model",
        "crm",
        "total",
        "synced",
        "stale",
        "failing",
        "over",
        "budget",
    ]
    assert row.split() == ["Person", "hubspot", "4", "2", "2", "1", "0"]


def test_errors_lists_failing_records_with_last_error_and_kind(people):
    add_people(people, "bad@example.com")
    run(people, "sync", "--inline")

    result = run(people, "errors")

    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert header.split()[:7] == ["when", "model", "id", "crm", "kind", "errors", "last"]
    assert row.split()[2:7] == ["Person", "3", "hubspot", "serializer", "1"]
    assert "this person cannot be sent" in row


def test_errors_limit_caps_the_rows(people):
    add_people(people, "bad1@example.com", "bad2@example.com")
    run(people, "sync", "--inline")

    result = run(people, "errors", "--limit", "1")

    assert len(result.stdout.splitlines()) == 2


def test_errors_without_failures_says_so(people):
    result = run(people, "errors")

    assert result.returncode == 0
    assert result.stdout == "no failing records\n"


def test_reset_errors_prints_how_many_and_clears_them(people):
    add_people(people, "bad1@example.com", "bad2@example.com")
    run(people, "sync", "--inline")

    result = run(people, "reset-errors")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "reset 2 records\n"
    assert run(people, "errors").stdout == "no failing records\n"


def test_reset_errors_of_chosen_ids_only(people):
    add_people(people, "bad1@example.com", "bad2@example.com")
    run(people, "sync", "--inline")

    result = run(people, "reset-errors", "--model", "Person", "--crm", "hubspot", "--id", "4")

    assert result.stdout == "reset 1 record\n"
    rows = run(people, "errors").stdout.splitlines()[1:]
    assert [row.split()[3] for row in rows] == ["3"]


def test_missing_sync_state_tables_exit_1_with_a_hint(project):
    result = run(project, "errors")

    assert result.returncode == 1
    assert "run `etlify create-tables`" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_sync_ends_with_the_summary_on_stderr_when_records_failed(people, hubspot):
    add_people(people, "bad@example.com")

    result = run(people, "sync", "--inline")

    [summary] = result.stderr.splitlines()
    assert summary.startswith("etlify sync: hubspot: 3 records: 2 synced, 1 failed (serializer 1")
    assert "e.g. Person #3: " in summary


def test_sync_with_a_refused_token_says_why_it_stopped_and_exits_1(people, hubspot):
    add_people(people, *(f"user{n}@example.com" for n in range(250)))

    result = run(people, "sync", "--inline", env={"HUBSPOT_TOKEN": "pat-na1-revoked"})

    assert result.returncode == 1
    summary = [line for line in result.stderr.splitlines() if line.startswith("etlify sync: ")]
    assert len(summary) == 1
    assert "252 failed (auth 252, e.g. Person #1: Unauthorized: " in summary[0]
    assert "; stopped, the rest left stale: Unauthorized: " in summary[0]
    assert len(hubspot.requests) == 1


def test_sync_through_the_job_pool_with_a_refused_token_says_why_and_exits_1(people, hubspot):
    result = run(people, "sync", env={"HUBSPOT_TOKEN": "pat-na1-revoked"})

    assert result.returncode == 1
    assert "stopped, the rest left stale: Unauthorized: " in result.stderr


def test_sync_inline_leaves_a_cli_run_in_the_history(people):
    run(people, "sync", "--inline")

    result = run(people, "history")

    [_, line] = result.stdout.splitlines()
    assert " hubspot " in line and " cli " in line


def test_sync_through_the_job_pool_leaves_a_cli_run_with_its_counts(people):
    run(people, "sync")

    result = run(people, "history", "--id", "1")

    assert "source: cli" in result.stdout
    assert "synced: 2" in result.stdout
