"""BatchSync: every stale record brought up to date, batch by batch."""

from __future__ import annotations

import io
import logging
import sqlite3
import sys

import pytest
from playhouse.test_utils import count_queries

import etlify
from etlify import BatchSync, Finder, signals
from etlify.adapters import HubspotV3Adapter
from etlify.errors import ValidationFailed
from etlify.progress import ProgressBar
from etlify.state import recent_runs
from etlify.testing import InMemoryAdapter
from etlify.testing.hubspot import FakeHubSpot

from ..conftest import make_app


def users(app, count, **fields):
    rows = [
        {"email": f"user{i}@example.com", "first_name": f"U{i}", **fields} for i in range(count)
    ]
    with app.db.atomic():
        for start in range(0, count, 500):
            app.User.insert_many(rows[start : start + 500]).execute()


def stale_ids(model, crm_name="hubspot"):
    return [pk for (pk,) in Finder.call([model], crm_name)[model][crm_name].tuples()]


def test_inline_run_reports_every_outcome(database, adapter):
    app = make_app(database, adapter, sync_if=lambda user: user.first_name != "U3")
    users(app, 10)
    BatchSync.call(models=[app.User], async_=False)
    app.User.update(first_name="Changed", updated_at=etlify.config.now()).where(
        app.User.id <= 2
    ).execute()
    app.User.update(updated_at=etlify.config.now()).where(app.User.id.between(5, 7)).execute()
    stats = BatchSync.call(models=[app.User], async_=False)
    run_ids = stats.pop("run_ids")
    assert stats.pop("run_id") == run_ids["hubspot"]
    assert stats == {
        "total": 5,
        "per_model": {"User": 5},
        "errors": 0,
        "synced": 2,
        "not_modified": 3,
        "skipped": 0,
        "buffered": 0,
    }


def test_a_synced_record_is_no_longer_stale(app, adapter):
    users(app, 30)
    assert len(stale_ids(app.User)) == 30
    BatchSync.call(async_=False)
    assert stale_ids(app.User) == []


def test_records_are_walked_in_keyset_batches_without_offset(app, adapter, caplog):
    users(app, 25)
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        stats = BatchSync.call(models=[app.User], async_=False, batch_size=10)
    selects = [r.getMessage() for r in caplog.records if "ORDER BY" in r.getMessage()]
    assert stats["total"] == 25
    assert not any("OFFSET" in sql for sql in selects)
    assert [len(call[2]) for call in adapter.calls if call[0] == "batch_upsert"] == [10, 10, 5]


def test_20000_stale_records_sync_with_a_constant_number_of_queries_per_batch(app, adapter):
    users(app, 20_000)
    with count_queries() as counter:
        stats = BatchSync.call(models=[app.User], async_=False, batch_size=1000)
    assert stats["synced"] == 20_000
    # Per batch of 1000: a handful of reads and claims, and one write per 100 rows.
    per_batch = 10 + 1000 // 100
    assert counter.count <= 20 * per_batch + 5


def test_one_batch_request_per_100_records(app, adapter):
    users(app, 1000)
    BatchSync.call(models=[app.User], async_=False, batch_size=1000)
    assert len([c for c in adapter.calls if c[0] == "batch_upsert"]) == 10


def test_progress_callback_gets_done_and_total(app, adapter):
    users(app, 25)
    seen = []
    BatchSync.call(
        async_=False, batch_size=10, progress=lambda done, total: seen.append((done, total))
    )
    assert seen[0] == (0, 25)
    assert seen[-1] == (25, 25)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_progress_moves_with_each_request_not_each_batch(app, adapter):
    users(app, 300)
    seen = []

    BatchSync.call(async_=False, progress=lambda done, total: seen.append(done))

    assert seen == [0, 100, 200, 300, 300]  # three batch upserts of 100, then the batch's end


def test_progress_bar_draws_on_its_stream():
    stream = io.StringIO()
    bar = ProgressBar(stream)
    bar(0, 4)
    bar(4, 4)
    assert stream.getvalue().endswith("] 4/4 100%\n")


def test_async_run_dispatches_one_job_per_batch_to_the_pool(app, adapter):
    users(app, 250)
    stats = BatchSync.call(async_=True, batch_size=100)
    assert etlify.jobs.wait(timeout=30)
    assert stats["total"] == 250
    assert adapter.count("contacts") == 250
    assert stale_ids(app.User) == []


def test_async_run_hands_batches_to_a_job_class_with_perform_batch_later(database, adapter):
    class BatchJobs:
        batches: list = []

        @classmethod
        def perform_later(cls, model_name, record_id, crm_name):
            raise AssertionError("one job per record")

        @classmethod
        def perform_batch_later(cls, model_name, record_ids, crm_name):
            cls.batches.append((model_name, list(record_ids), crm_name))

    etlify.register("hubspot", adapter=adapter, job_class=BatchJobs)
    app = make_app(database, adapter)
    etlify.register("hubspot", adapter=adapter, job_class=BatchJobs)
    users(app, 150)
    BatchSync.call(models=[app.User], batch_size=100)
    assert [(m, len(ids), c) for m, ids, c in BatchJobs.batches] == [
        ("User", 100, "hubspot"),
        ("User", 50, "hubspot"),
    ]
    for model_name, ids, crm_name in BatchJobs.batches:
        etlify.jobs.perform_batch(model_name, ids, crm_name)
    assert adapter.count("contacts") == 150


def test_a_disabled_crm_is_left_alone(database, adapter):
    app = make_app(database, adapter)
    etlify.register("hubspot", adapter=adapter, enabled=False)
    users(app, 5)
    stats = BatchSync.call(async_=False)
    assert stats["total"] == 0
    assert adapter.calls == []


def test_batch_finished_announces_the_stats(app, adapter):
    users(app, 3)
    received = []

    @signals.batch_finished.connect_via(BatchSync)
    def remember(sender, crm_name, stats):
        received.append((crm_name, stats["synced"]))

    try:
        BatchSync.call(crm_name="hubspot", async_=False)
    finally:
        signals.batch_finished.disconnect(remember, sender=BatchSync)
    assert received == [("hubspot", 3)]


def test_dry_run_plans_each_record_and_sends_nothing(app, adapter):
    users(app, 3)
    stats = BatchSync.call(async_=False, dry_run=True)
    assert adapter.calls == []
    assert etlify.CrmSynchronisation.select().count() == 0
    assert [entry["action"] for entry in stats["plan"]] == ["create"] * 3
    assert stats["plan"][0]["payload"]["email"] == "user0@example.com"


def test_dependencies_are_synced_before_their_dependants(database, adapter):
    app = make_app(database, adapter, sync_dependencies=["company"])
    company = app.Company.create(name="Acme", domain="acme.example")
    users(app, 3, company=company.id)
    stats = BatchSync.call(async_=False)
    assert stats["buffered"] == 0
    assert stats["synced"] == 4
    assert [c[1] for c in adapter.calls] == ["companies", "contacts"]


def test_removing_a_has_many_child_makes_its_owner_stale(database, adapter):
    app = make_app(database, adapter, dependencies=["investments"])
    users(app, 2)
    first = app.User.get_by_id(1)
    app.Investment.create(user=first, amount=10)
    doomed = app.Investment.create(user=first, amount=20)
    BatchSync.call(async_=False)
    assert stale_ids(app.User) == []
    doomed.delete_instance()
    assert stale_ids(app.User) == [1]
    BatchSync.call(async_=False)
    assert stale_ids(app.User) == []


def test_records_over_the_error_budget_are_left_out_until_reset(database):
    class Refusing(InMemoryAdapter):
        def batch_upsert(self, object_type, records, id_property):
            raise ValidationFailed("refused", status=400)

    app = make_app(database, Refusing())
    users(app, 1)
    for _ in range(etlify.config.max_sync_errors):
        assert BatchSync.call(async_=False)["errors"] == 1
    assert BatchSync.call(async_=False)["total"] == 0
    etlify.CrmSynchronisation.reset_error_count()
    assert BatchSync.call(async_=False)["total"] == 1


def test_a_model_without_the_crm_is_never_synced_to_another(database, adapter):
    app = make_app(database, adapter)
    other = InMemoryAdapter()
    etlify.register("salesforce", adapter=other)
    app.Company.etlified_with(
        "salesforce", serializer=app.CompanySerializer, crm_object_type="Account"
    )
    users(app, 2)
    app.Company.create(name="Acme")
    stats = BatchSync.call(models=[app.User], crm_name="salesforce", async_=False)
    assert stats["total"] == 0
    assert other.calls == [] and adapter.calls == []


def test_an_inline_run_leaves_its_row_in_the_history(app, adapter):
    users(app, 4)

    stats = BatchSync.call(async_=False)

    [run] = recent_runs()
    assert (run.id, run.crm_name, run.source) == (stats["run_id"], "hubspot", "python")
    assert run.models == "Company,User"  # the models etlified for hubspot
    assert (run.total, run.synced, run.errors) == (4, 4, 0)
    assert run.finished_at is not None


def test_a_run_stopped_by_the_breaker_says_why_in_its_history_row(app, adapter):
    users(app, 4)
    adapter.fail_next(etlify.Unauthorized("HTTP 401: token revoked", status=401))

    BatchSync.call(async_=False)

    [run] = recent_runs()
    assert run.stopped.startswith("Unauthorized: HTTP 401: token revoked")
    assert run.failure_counts["auth"]["count"] == run.errors == 4


def test_a_run_over_http_counts_its_requests_and_429s(database):
    with FakeHubSpot() as hubspot:
        client = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url)
        app = make_app(database, client)
        users(app, 250)
        hubspot.fail_next(status=429, headers={"Retry-After": "1"})

        BatchSync.call(async_=False)

    [run] = recent_runs()
    assert (run.requests, run.rate_limited) == (4, 1)  # 3 batch upserts, one sent twice


def test_an_async_run_leaves_no_history_row(app, adapter):
    users(app, 3)

    BatchSync.call(async_=True)
    assert etlify.jobs.wait(timeout=30)

    assert recent_runs() == []


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Connection.setlimit is Python 3.11+")
def test_a_batch_of_new_records_past_sqlites_parameter_limit_syncs(app, adapter):
    # SQLite as built by default: 32,766 placeholders per statement; 5,000 new
    # sync rows of 9 columns hold 45,000 values.
    app.db.connection().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 32_766)
    users(app, 5000)
    stats = BatchSync.call(models=[app.User], async_=False, batch_size=5000)
    assert stats["synced"] == 5000
    linked = etlify.CrmSynchronisation.crm_id.is_null(False)
    assert etlify.CrmSynchronisation.select().where(linked).count() == 5000


def test_an_inline_run_reads_each_batchs_records_with_their_sync_rows(app, adapter, caplog):
    users(app, 25)
    with caplog.at_level(logging.DEBUG, logger="peewee"):
        stats = BatchSync.call(models=[app.User], async_=False, batch_size=10)
    reads = [
        r.getMessage()
        for r in caplog.records
        if r.getMessage().startswith("('SELECT") and 'FROM "user"' in r.getMessage()
    ]
    assert stats["synced"] == 25
    assert len(reads) == 3  # one query per batch: the records, their rows, staleness
    assert all('"crm_synchronisations"' in sql for sql in reads)
