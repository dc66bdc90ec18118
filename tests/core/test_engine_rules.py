"""The rules both paths (a single sync and BatchSync) share, against FakeHubSpot."""

from __future__ import annotations

import threading
import time

import pytest

import etlify
from etlify import BatchSync, Status
from etlify.adapters import HubspotV3Adapter
from etlify.declarations import sync_config
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
