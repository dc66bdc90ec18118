"""Faults: a HubSpot that fails, drops, throttles and lags (from a fixed seed) still ends
up holding exactly the database's payloads, once each, after a few batch-sync rounds;
every failure is on its sync row while it lasts.
"""

from __future__ import annotations

import time

import pytest

import etlify
from etlify import BatchSync, Finder, signals
from etlify import CrmSynchronisation as Sync
from etlify.adapters.http import RetryPolicy
from etlify.adapters.wire import encode_properties
from etlify.declarations import sync_config
from etlify.jobs import ThreadPoolJobs
from etlify.testing.hubspot import FakeHubSpot

from ._app import create_people, database_for, setup
from .conftest import assert_secret_absent, database_url

MAX_ROUNDS = 5
#: No retry in the adapter, so that every injected failure reaches the sync rows
#: (batch sync still waits out 429s itself).
NO_RETRY = RetryPolicy(total=0)
FAULTS = dict(
    error_rate=0.10,  # 500, 502 and 503 answers
    drop_rate=0.05,  # connections closed without an answer
    burst_429_rate=0.02,  # TEN_SECONDLY_ROLLING 429s
    retry_after=0.2,
    latency=(0.0, 0.005),
    seed=20240611,
    # Only the seeded faults: the 190-per-10-s window would add 429s of its own
    # (the circuit breaker then stops the pool's syncs for 30 s).
    rate_limit=None,
)


def expected_properties(app, person):
    """The record's payload as the HubSpot adapter puts it on the wire."""
    properties = encode_properties(app.PersonSerializer(person).as_crm_payload())
    properties["email"] = properties["email"].strip().lower()
    return properties


@pytest.fixture
def figures(request):
    """Figures of a run, printed at the end of the test (shown with ``-s`` or on failure)."""
    found: dict = {}
    yield found
    print(f"\n{request.node.name}: {found}")


def test_batch_sync_under_injected_faults_leaves_the_crm_equal_to_the_database(
    tmp_path, soak, etlify_log, figures
):
    count = 20_000 if soak else 3_000
    started = time.monotonic()
    with FakeHubSpot(**FAULTS) as hubspot:
        app = setup(database_for(database_url("sqlite", tmp_path)), hubspot.url, hubspot.token,
                    unique=True, retries=NO_RETRY)
        create_people(app, count)
        # Names that exercise the encoding: accents, scripts, emoji, quotes.
        app.Person.update(first_name="Zoë 'Ω' 🚀").where(app.Person.id % 7 == 0).execute()
        app.Person.update(last_name="").where(app.Person.id % 11 == 0).execute()
        finder_query = Finder.query(sync_config(app.Person, "hubspot"))
        seen_failures = []

        def on_failed(sender, record, crm_name, error):
            row = Sync.get((Sync.resource_type == "Person") & (Sync.resource_id == str(record.id)))
            seen_failures.append((record.id, error, row.last_error, row.last_error_kind))

        rounds = []
        with signals.failed.connected_to(on_failed):
            for _ in range(MAX_ROUNDS):
                stats = BatchSync.call(async_=False, batch_size=1000)
                rounds.append(stats)
                if finder_query.count() == 0:
                    break
        requests = hubspot.requests
        contacts = {contact["id"]: contact for contact in hubspot.objects("contacts")}
        people = {person.id: person for person in app.Person.select()}
        rows = {int(row.resource_id): row for row in Sync.select()}

    figures.update(
        records=count,
        rounds=len(rounds),
        errors_per_round=[stats["errors"] for stats in rounds],
        failures_seen=len(seen_failures),
        requests=len(requests),
        injected=sum(1 for r in requests if r.status is None or r.status >= 429),
        contacts=len(contacts),
        seconds=round(time.monotonic() - started, 1),
    )
    assert finder_query.count() == 0, rounds
    assert len(rounds) <= MAX_ROUNDS
    assert seen_failures, "the injected faults should reach the sync rows"
    # Each failure was on the row when it was announced, named by its type.
    for _, error, last_error, kind in seen_failures:
        assert last_error is not None and type(error).__name__ in last_error
        assert kind in ("transient", "rate_limited")
    # The CRM mirrors the database: one object per record, with the record's payload.
    assert len(contacts) == count
    assert len({c["properties"]["email"] for c in contacts.values()}) == count
    assert len({row.crm_id for row in rows.values()}) == count
    for pk, person in people.items():
        row = rows[pk]
        assert row.last_error is None and row.error_count == 0 and row.claim_token is None
        properties = contacts[row.crm_id]["properties"]
        expected = expected_properties(app, person)
        # "" clears a property: HubSpot then has no value for it.
        assert {name: properties.get(name) or "" for name in expected} == expected
    assert_secret_absent(
        hubspot.token,
        etlify_log.lines,
        [last_error for _, _, last_error, _ in seen_failures],
        [f"{error} {error!r}" for _, error, _, _ in seen_failures],
    )


def test_single_record_syncs_through_the_pool_under_injected_faults_create_each_contact_once(
    tmp_path, soak, etlify_log, figures
):
    count = 2_000 if soak else 300
    started = time.monotonic()
    with FakeHubSpot(**FAULTS) as hubspot:
        app = setup(database_for(database_url("sqlite", tmp_path)), hubspot.url, hubspot.token,
                    unique=True, jobs=ThreadPoolJobs(max_workers=8))
        ids = create_people(app, count)
        finder_query = Finder.query(sync_config(app.Person, "hubspot"))
        rounds = []
        for _ in range(MAX_ROUNDS):
            stale = [pk for (pk,) in finder_query.tuples()]
            rounds.append(len(stale))
            if not stale:
                break
            for pk in stale:
                app.Person(id=pk).sync()
            assert etlify.jobs.wait(timeout=120)
        requests = hubspot.requests
        contacts = hubspot.objects("contacts")
        rows = list(Sync.select())

    figures.update(
        records=count,
        stale_per_round=rounds,
        requests=len(requests),
        injected=sum(1 for r in requests if r.status is None or r.status >= 429),
        contacts=len(contacts),
        seconds=round(time.monotonic() - started, 1),
    )
    assert rounds[-1] == 0
    assert len(contacts) == len(ids)
    assert len({c["properties"]["email"] for c in contacts}) == len(ids)
    assert {row.crm_id for row in rows} == {c["id"] for c in contacts}
    assert [row for row in rows if row.last_error or row.claim_token] == []
    assert_secret_absent(hubspot.token, etlify_log.lines)
