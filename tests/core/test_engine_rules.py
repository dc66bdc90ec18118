"""The rules both paths (a single sync and BatchSync) share, against FakeHubSpot."""

from __future__ import annotations

import threading
import time

import pytest

import etlify
from etlify import BatchSync, Status
from etlify.adapters import HubspotV3Adapter
from etlify.declarations import sync_config
from etlify.engine import COUNTER, sync_batch
from etlify.errors import RateLimited
from etlify.testing import InMemoryAdapter
from etlify.testing.hubspot import FakeHubSpot

from ..conftest import make_app


@pytest.fixture
def hubspot():
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def hubspot_app(database, hubspot):
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=3)
    return make_app(database, adapter)


def test_a_single_sync_renews_its_claim_while_a_slow_429_is_waited_out(
    hubspot_app, hubspot, database
):
    etlify.configure(claim_timeout=2)
    acme = hubspot_app.Company.create(name="Acme")
    hubspot.fail_next(n=2, status=429, headers={"Retry-After": "1.5"})
    first: list = []

    def sync_in_a_worker() -> None:
        with database.connection_context():
            first.append(acme.sync(async_=False))

    worker = threading.Thread(target=sync_in_a_worker)
    worker.start()
    time.sleep(2.3)  # past the first worker's original lease
    second = acme.sync(async_=False)
    worker.join(30)

    assert first == [Status.SYNCED]
    assert second == Status.NOT_MODIFIED
    assert hubspot.object_count("companies") == 1


def test_a_new_record_with_an_id_property_costs_one_request(hubspot_app, hubspot):
    user = hubspot_app.User.create(email="ada@example.com", first_name="Ada")
    before = len(hubspot.requests)

    assert user.sync(async_=False) == Status.SYNCED

    assert len(hubspot.requests) - before == 1


def test_a_changed_record_with_a_crm_id_costs_one_request(hubspot_app, hubspot):
    user = hubspot_app.User.create(email="ada@example.com", first_name="Ada")
    user.sync(async_=False)
    user.first_name = "Augusta"
    user.updated_at = etlify.config.now()
    user.save()
    before = len(hubspot.requests)

    assert user.sync(async_=False) == Status.SYNCED

    assert len(hubspot.requests) - before == 1


@pytest.mark.parametrize(
    "body, headers",
    [
        (None, {"Retry-After": "3600"}),
        ({"status": "error", "policyName": "DAILY", "message": "daily limit"}, {}),
    ],
    ids=["long-retry-after", "daily"],
)
def test_a_rate_limit_too_long_to_wait_ends_the_run_for_that_crm_without_sleeping(
    hubspot_app, hubspot, body, headers
):
    with hubspot_app.db.atomic():
        for i in range(250):
            hubspot_app.User.create(email=f"user{i}@example.com")
    hubspot.fail_next(n=1, status=429, body=body, headers=headers)
    started = time.monotonic()

    stats = BatchSync.call(crm_name="hubspot", async_=False, batch_size=100)

    assert time.monotonic() - started < 10
    assert "hubspot" in stats["stopped"]
    assert len(hubspot.requests) == 1
    rows = list(etlify.CrmSynchronisation.select())
    assert {row.last_error_kind for row in rows} == {"rate_limited"}
    assert {row.error_count for row in rows} == {0}
    assert etlify.Finder.query(sync_config(hubspot_app.User, "hubspot")).count() == 250


def test_an_object_archived_in_the_crm_is_created_again_by_batch_sync(hubspot_app, hubspot):
    user = hubspot_app.User.create(email="ada@example.com", first_name="Ada")
    BatchSync.call(async_=False)
    old_id = user.crm_synchronisation("hubspot").crm_id
    etlify.registry.crm("hubspot").adapter.delete("contacts", old_id)
    user.first_name = "Augusta"
    user.updated_at = etlify.config.now()
    user.save()

    stats = BatchSync.call(async_=False)

    assert stats["synced"] == 1 and stats["errors"] == 0
    new_id = user.crm_synchronisation("hubspot").crm_id
    assert new_id != old_id
    assert hubspot.get("contacts", new_id)["properties"]["firstname"] == "Augusta"


class ShortlyLimited(InMemoryAdapter):
    """A custom adapter whose CRM answers 429 with a short Retry-After once."""

    def __init__(self, retry_after):
        super().__init__()
        self.fail_next(RateLimited("slow down", status=429, retry_after=retry_after))


@pytest.mark.parametrize("path", ["single", "batch"])
def test_a_custom_adapters_short_429_is_waited_out_on_both_paths(database, path):
    adapter = ShortlyLimited(retry_after=0.05)
    app = make_app(database, adapter)
    user = app.User.create(email="ada@example.com")

    if path == "single":
        assert user.sync(async_=False) == Status.SYNCED
    else:
        assert BatchSync.call(async_=False)["synced"] == 1
    assert len(adapter.objects["contacts"]) == 1
    assert user.crm_synchronisation("hubspot").crm_id is not None


@pytest.mark.parametrize("path", ["single", "batch"])
def test_a_custom_adapters_daily_429_fails_free_on_both_paths(database, path):
    adapter = ShortlyLimited(retry_after=None)
    app = make_app(database, adapter)
    user = app.User.create(email="ada@example.com")

    if path == "single":
        assert user.sync(async_=False) == Status.ERROR
    else:
        assert BatchSync.call(async_=False)["errors"] == 1
    row = user.crm_synchronisation("hubspot")
    assert (row.last_error_kind, row.error_count) == ("rate_limited", 0)


def sync_on(path, record):
    """Sync ``record`` alone, through a single sync or through ``BatchSync``; its status."""
    if path == "single":
        return record.sync(async_=False)
    stats = BatchSync.call(async_=False)
    [status] = [status for status, name in COUNTER.items() if stats.get(name)]
    return status


@pytest.mark.parametrize("path", ["single", "batch"])
def test_an_object_archived_in_the_crm_is_created_again_on_both_paths(hubspot_app, hubspot, path):
    user = hubspot_app.User.create(email="ada@example.com", first_name="Ada")
    user.sync(async_=False)
    old_id = user.crm_synchronisation("hubspot").crm_id
    etlify.registry.crm("hubspot").adapter.delete("contacts", old_id)
    user.first_name = "Augusta"
    user.updated_at = etlify.config.now()
    user.save()

    assert sync_on(path, user) == Status.SYNCED

    new_id = user.crm_synchronisation("hubspot").crm_id
    assert hubspot.get("contacts", new_id)["properties"]["firstname"] == "Augusta"
    assert hubspot.object_count("contacts") == 1


@pytest.mark.parametrize("path", ["single", "batch"])
def test_a_raising_sync_if_fails_the_record_as_a_serializer_error_on_both_paths(database, path):
    app = make_app(database, InMemoryAdapter(), sync_if=lambda user: 1 / 0)
    user = app.User.create(email="ada@example.com")

    assert sync_on(path, user) == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert (row.last_error_kind, row.error_count) == ("serializer", 1)
    assert "sync_if of User raised ZeroDivisionError" in row.last_error


class Blank(InMemoryAdapter):
    """A custom adapter that answers without a CRM id."""

    batch_upsert = None

    def upsert(self, object_type, payload, id_property=None, crm_id=None):
        return ""


@pytest.mark.parametrize("path", ["single", "batch"])
def test_an_answer_without_a_crm_id_fails_the_record_on_both_paths(database, path):
    app = make_app(database, Blank())
    user = app.User.create(email="ada@example.com")

    assert sync_on(path, user) == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert row.crm_id is None and "returned no CRM id" in row.last_error


@pytest.mark.parametrize("path", ["single", "batch"])
def test_a_crm_object_linked_to_another_record_is_refused_on_both_paths(database, path):
    adapter = InMemoryAdapter()
    app = make_app(database, adapter)
    ada = app.User.create(email="ada@example.com")
    ada.sync(async_=False)
    eve = app.User.create(email="eve@example.com")
    app.User.update(email="ada@example.com").where(app.User.id == eve.id).execute()

    assert sync_on(path, eve) == Status.ERROR

    row = eve.crm_synchronisation("hubspot")
    assert row.crm_id is None and row.last_error_kind == "validation"
    assert f"linked to User #{ada.id}" in row.last_error
    assert ada.crm_synchronisation("hubspot").crm_id is not None


@pytest.mark.parametrize("path", ["single", "batch"])
def test_a_dependency_without_crm_id_is_synced_before_its_dependant_on_both_paths(
    database, path
):
    adapter = InMemoryAdapter()
    app = make_app(database, adapter, sync_dependencies=["company"])
    company = app.Company.create(name="Acme", domain="acme.test")
    user = app.User.create(email="ada@example.com", company=company)
    app.Company.update(updated_at=etlify.config.now().replace(year=2000)).execute()
    etlify.CrmSynchronisation.delete().execute()

    if path == "single":
        assert user.sync(async_=False) == Status.SYNCED
    else:
        sync_batch(sync_config(app.User, "hubspot"), [user.id])

    assert [kind for _, kind, _ in adapter.calls] == ["companies", "contacts"]
    assert user.crm_synchronisation("hubspot").crm_id is not None
