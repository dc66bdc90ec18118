"""Bad days: a run stops when no record can pass, says why once, and leaves the rest stale.

A refused token, an unreachable host or a daily rate limit is not a record's
fault: the CRM's circuit breaker opens, the run sends nothing more to that
CRM, no retry budget is spent, and the log holds a few lines and one summary
instead of one line per record. Over real HTTP: FakeHubSpot, and a local port
where nothing listens.
"""

from __future__ import annotations

import logging
import socket
import time

import pytest

import etlify
from etlify import BatchSync, CircuitOpen, Status
from etlify.adapters import HubspotV3Adapter
from etlify.state import CrmSynchronisation
from etlify.testing import InMemoryAdapter
from etlify.testing.hubspot import FakeHubSpot
from etlify.testing.hubspot.errors import rate_limited

from ..models import define_models


@pytest.fixture
def hubspot():
    with FakeHubSpot() as fake:
        yield fake


def closed_port_url():
    """The URL of a local port where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def users_app(database, adapter, count):
    """``count`` new users, etlified for "hubspot" through ``adapter``."""
    etlify.register("hubspot", adapter=adapter)
    app = define_models(database)
    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="contacts", id_property="email"
    )
    etlify.create_tables()
    with database.atomic():
        for start in range(0, count, 500):
            app.User.insert_many(
                [{"email": f"user{n}@example.com"} for n in range(start, min(count, start + 500))]
            ).execute()
    return app


def warnings_of(caplog):
    return [r for r in caplog.records if r.name == "etlify" and r.levelno >= logging.WARNING]


def spent_budget():
    """How many sync rows spent any of their retry budget."""
    return CrmSynchronisation.select().where(CrmSynchronisation.error_count > 0).count()


# -- a refused token -----------------------------------------------------------


@pytest.fixture
def wrong_token(database, hubspot):
    adapter = HubspotV3Adapter(access_token="pat-na1-revoked", base_url=hubspot.url)
    yield users_app(database, adapter, 1000)
    adapter.close()


def test_a_refused_token_stops_a_1000_record_run_within_3_requests(wrong_token, hubspot):
    stats = BatchSync.call(async_=False)

    assert len(hubspot.requests) <= 3
    assert "Unauthorized" in stats["stopped"]["hubspot"]


def test_a_refused_token_writes_at_most_5_warning_lines(wrong_token, caplog):
    caplog.set_level(logging.DEBUG, logger="etlify")

    BatchSync.call(async_=False)

    assert len(warnings_of(caplog)) <= 5


def test_a_refused_token_spends_no_budget(wrong_token):
    BatchSync.call(async_=False)

    assert spent_budget() == 0


def test_the_summary_names_the_kind_an_example_and_why_the_run_stopped(wrong_token, caplog):
    caplog.set_level(logging.INFO, logger="etlify")

    BatchSync.call(async_=False)

    [summary] = [r.getMessage() for r in caplog.records if "BatchSync to hubspot" in r.getMessage()]
    assert "failed (auth " in summary
    assert "e.g. User #1: Unauthorized" in summary
    assert "stopped, the rest left stale: " in summary


def test_no_log_line_stats_or_row_of_a_refused_run_holds_the_token(wrong_token, caplog):
    caplog.set_level(logging.DEBUG)

    stats = BatchSync.call(async_=False)

    assert "revoked" not in " ".join(record.getMessage() for record in caplog.records)
    assert "revoked" not in repr(stats)
    assert not [row for row in CrmSynchronisation.select() if "revoked" in row.last_error]


def test_the_stats_group_the_failures_by_kind_with_one_example(wrong_token):
    stats = BatchSync.call(async_=False)

    [(kind, entry)] = stats["failures"]["hubspot"].items()
    assert kind == "auth"
    assert entry["count"] == stats["errors"]
    assert entry["example"].startswith("User #1: Unauthorized")


def test_single_syncs_while_the_breaker_is_open_send_nothing(wrong_token, hubspot, caplog):
    BatchSync.call(async_=False)
    sent = len(hubspot.requests)
    caplog.clear()
    caplog.set_level(logging.DEBUG, logger="etlify")

    statuses = [user.sync(async_=False) for user in wrong_token.User.select().limit(50)]

    assert set(statuses) == {Status.ERROR}
    assert len(hubspot.requests) == sent
    assert warnings_of(caplog) == []


def test_a_sync_refused_by_the_open_breaker_records_its_reason(wrong_token):
    BatchSync.call(async_=False)
    user = wrong_token.User.select().order_by(wrong_token.User.id.desc()).get()

    user.sync(async_=False)

    row = user.crm_synchronisation("hubspot")
    assert row.last_error.startswith("CircuitOpen: not sent: the circuit to hubspot is open")
    assert (row.last_error_kind, row.error_count) == ("auth", 0)


def test_after_the_cool_down_one_call_is_tried_again(database, hubspot):
    etlify.configure(breaker_cooldown=0.2)
    adapter = HubspotV3Adapter(access_token="pat-na1-revoked", base_url=hubspot.url, retries=0)
    app = users_app(database, adapter, 3)
    BatchSync.call(async_=False)
    sent = len(hubspot.requests)
    time.sleep(0.3)

    app.User.get_by_id(3).sync(async_=False)

    assert len(hubspot.requests) == sent + 1


def test_an_answer_after_the_cool_down_closes_the_breaker(database, hubspot):
    etlify.configure(breaker_cooldown=0.2)
    adapter = HubspotV3Adapter(access_token="pat-na1-revoked", base_url=hubspot.url, retries=0)
    app = users_app(database, adapter, 3)
    BatchSync.call(async_=False)
    time.sleep(0.3)
    fixed = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    etlify.registry.crm("hubspot").adapter = fixed  # the token is renewed in place

    assert [user.sync(async_=False) for user in app.User.select()] == [Status.SYNCED] * 3
    assert not etlify.registry.crm("hubspot").breaker.is_open


def test_registering_again_gives_a_closed_breaker(wrong_token, hubspot):
    BatchSync.call(async_=False)
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url)
    etlify.register("hubspot", adapter=adapter)

    stats = BatchSync.call(async_=False)

    assert (stats["synced"], stats["errors"]) == (1000, 0)


def test_the_other_crms_go_on(database, hubspot):
    adapter = HubspotV3Adapter(access_token="pat-na1-revoked", base_url=hubspot.url)
    app = users_app(database, adapter, 20)
    etlify.register("backup", adapter=InMemoryAdapter())
    app.User.etlified_with(
        "backup", serializer=app.UserSerializer, crm_object_type="contacts", id_property="email"
    )

    stats = BatchSync.call(async_=False)

    assert list(stats["stopped"]) == ["hubspot"]
    assert stats["synced"] == 20


def test_a_circuit_open_error_has_the_kind_of_its_reason():
    reason = etlify.Unauthorized("HTTP 401", status=401)

    assert etlify.errors.error_kind(CircuitOpen("not sent", reason=reason)) == "auth"


# -- an unreachable host -------------------------------------------------------


def test_a_10000_record_run_against_a_closed_port_ends_in_30_seconds(database):
    adapter = HubspotV3Adapter(access_token="pat-na1-test", base_url=closed_port_url())
    users_app(database, adapter, 10_000)
    started = time.monotonic()

    stats = BatchSync.call(async_=False)

    assert time.monotonic() - started < 30  # one request's retries (about 16 s), then none
    assert "TransportError" in stats["stopped"]["hubspot"]
    assert spent_budget() == 0


def test_transport_failures_in_a_row_open_the_breaker(database, hubspot):
    etlify.configure(breaker_failures=2)
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    app = users_app(database, adapter, 5)
    hubspot.fail_next(5, status="drop")

    statuses = [user.sync(async_=False) for user in app.User.select()]

    assert statuses == [Status.ERROR] * 5
    assert len(hubspot.requests) == 2
    assert etlify.registry.crm("hubspot").breaker.is_open


def test_an_answer_between_transport_failures_starts_the_count_again(database, hubspot):
    etlify.configure(breaker_failures=2)
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    app = users_app(database, adapter, 3)
    users = list(app.User.select())
    hubspot.fail_next(status="drop")
    users[0].sync(async_=False)
    users[1].sync(async_=False)  # answered
    hubspot.fail_next(status="drop")

    users[2].sync(async_=False)

    assert not etlify.registry.crm("hubspot").breaker.is_open


# -- a daily rate limit ----------------------------------------------------------


def test_a_daily_rate_limit_ends_the_run_without_sleeping(database, hubspot, monkeypatch):
    slept = []
    monkeypatch.setattr(time, "sleep", lambda seconds: slept.append(seconds))
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url)
    users_app(database, adapter, 300)
    daily = rate_limited("DAILY")
    hubspot.fail_next(status=429, body=daily.body, headers=daily.headers)

    stats = BatchSync.call(async_=False)

    assert "RateLimited" in stats["stopped"]["hubspot"]
    assert len(hubspot.requests) == 1
    assert [seconds for seconds in slept if seconds >= 1] == []
