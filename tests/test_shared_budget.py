"""One rate budget shared by several limiters, as by several processes.

Each test builds two limiters on the same store and key, standing in for two
processes, and runs on every shared store: Redis (``ETLIFY_TEST_REDIS``) and a
table on SQLite, PostgreSQL and MariaDB (their URLs). The stores' clock is the
real one (Redis's or the machines'), so waits are read from the sleep a
limiter asks for, not slept.
"""

from __future__ import annotations

import logging
import os
import secrets
import threading

import pytest
from peewee import PostgresqlDatabase, SqliteDatabase

import etlify
from etlify.errors import ConfigurationError, RateLimited
from etlify.ratelimit import (
    BACKFILL,
    INTERACTIVE,
    RateLimiter,
    StoreUnavailable,
    fallback,
    working_as,
)
from etlify.testing import InMemoryAdapter

from .conftest import open_database
from .models import define_models

REDIS_URL = os.environ.get("ETLIFY_TEST_REDIS")

HEADERS = {
    "X-HubSpot-RateLimit-Max": "10",
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
}


class Waited(Exception):
    """What the test sleep raises instead of sleeping: the limiter would have waited."""

    def __init__(self, seconds: float) -> None:
        super().__init__(seconds)
        self.seconds = seconds


def refuse_to_sleep(seconds: float) -> None:
    raise Waited(seconds)


@pytest.fixture(params=["redis", "sqlite", "postgres", "mysql"])
def shared(request, tmp_path):
    """The ``shared`` option of a store every limiter of a test reaches."""
    if request.param == "redis":
        if not REDIS_URL:
            pytest.skip("ETLIFY_TEST_REDIS is not set")
        yield REDIS_URL
        return
    db = open_database(request.param, tmp_path)
    yield db
    db.close()


@pytest.fixture
def pair(shared):
    """``make(**options)``: limiters on one shared budget, a fresh key per test."""
    key = f"test-{secrets.token_hex(4)}"

    def make(max_requests: int = 3, period: float = 10.0, **options) -> RateLimiter:
        return RateLimiter(
            max_requests, period, shared=shared, key=key, sleep=refuse_to_sleep, **options
        )

    return make


def take(limiter: RateLimiter, count: int) -> None:
    for _ in range(count):
        limiter.release(limiter.acquire())


def test_two_limiters_of_one_key_draw_from_one_window(pair):
    first, second = pair(3), pair(3)
    take(first, 2)
    take(second, 1)
    with pytest.raises(Waited) as waited:
        first.acquire()
    assert 9 < waited.value.seconds <= 10.5


def test_budgets_of_different_keys_do_not_share(shared):
    first = RateLimiter(2, 10.0, shared=shared, key=f"a-{secrets.token_hex(4)}")
    second = RateLimiter(2, 10.0, shared=shared, key=f"b-{secrets.token_hex(4)}")
    take(first, 2)
    take(second, 2)
    assert (first.acquired, second.acquired) == (2, 2)


def test_a_pause_seen_by_one_holds_the_other(pair):
    first, second = pair(10), pair(10)
    first.pause(5.0)
    with pytest.raises(Waited) as waited:
        second.acquire()
    assert 4 < waited.value.seconds <= 5.5


def test_a_grant_never_answered_keeps_its_slot_past_the_window(pair):
    first, second = pair(1, 0.2, in_flight=30.0), pair(1, 0.2, in_flight=30.0)
    first.acquire()  # in flight, never released
    threading.Event().wait(0.4)  # two windows later
    with pytest.raises(Waited) as waited:  # still held; it may be answered any moment
        second.acquire()
    assert 0 < waited.value.seconds <= 0.2


def test_an_answered_grant_frees_its_slot_one_window_after_the_answer(pair):
    first, second = pair(1, 10.0), pair(1, 10.0)
    ticket = first.acquire()
    threading.Event().wait(0.3)
    first.release(ticket)
    with pytest.raises(Waited) as waited:
        second.acquire()
    assert 9 < waited.value.seconds <= 10.5


def test_backfill_leaves_the_interactive_share_while_single_syncs_ask(pair):
    backfill, interactive = pair(10, interactive_share=0.2), pair(10, interactive_share=0.2)
    with working_as(INTERACTIVE):
        take(interactive, 1)
    with working_as(BACKFILL):
        take(backfill, 8)  # the backfill's cap: 8 of 10
        with pytest.raises(Waited):
            backfill.acquire()
    with working_as(INTERACTIVE):
        take(interactive, 1)
    assert interactive.acquired == 2


def test_single_syncs_beyond_their_share_leave_the_backfill_the_rest(pair):
    backfill, interactive = pair(10, interactive_share=0.2), pair(10, interactive_share=0.2)
    with working_as(INTERACTIVE):
        take(interactive, 5)
    with working_as(BACKFILL):
        take(backfill, 5)
        with pytest.raises(Waited):  # the window is full
            backfill.acquire()


def test_backfill_takes_the_whole_window_when_single_syncs_are_idle(pair):
    backfill = pair(10, interactive_share=0.2)
    with working_as(BACKFILL):
        take(backfill, 10)
    assert backfill.acquired == 10


def test_requests_the_crm_counted_elsewhere_take_shared_slots(pair):
    first, second = pair(10), pair(10)
    first.observe({**HEADERS, "X-HubSpot-RateLimit-Remaining": "2"})
    take(second, 2)
    with pytest.raises(Waited):
        second.acquire()


def test_the_daily_reserve_stops_every_backfill_and_lets_single_syncs_through(pair):
    first, second = pair(10, daily_reserve=0.05), pair(10, daily_reserve=0.05)
    first.observe(
        {"X-HubSpot-RateLimit-Daily": "1000", "X-HubSpot-RateLimit-Daily-Remaining": "50"}
    )
    with working_as(BACKFILL), pytest.raises(RateLimited, match="daily_reserve"):
        second.acquire()
    take(second, 1)  # interactive work is the default
    assert second.acquired == 1


def test_searches_draw_from_their_own_shared_bucket(pair):
    first, second = pair(2, search_per_second=2), pair(2, search_per_second=2)
    take(first, 2)
    first.release(first.acquire("search"))
    second.release(second.acquire("search"))
    with pytest.raises(Waited) as waited:
        second.acquire("search")
    assert waited.value.seconds <= 1.05


def test_a_registered_crm_shares_its_budget_under_its_own_name(shared):
    etlify.register(
        "hubspot",
        adapter=InMemoryAdapter(),
        rate_limit={"max_requests": 5, "period": 10, "shared": shared},
    )
    assert etlify.registry.crm("hubspot").rate_limiter.key == "hubspot"


class Unreachable:
    """A shared store that is down until ``up`` is set."""

    def __init__(self) -> None:
        self.up = False
        self.granted = 0

    def _check(self) -> None:
        if not self.up:
            raise StoreUnavailable("connection refused")

    def grant(self, kind, work, grant_id) -> float:
        self._check()
        self.granted += 1
        return 0.0

    def release(self, kind, grant_id) -> None:
        self._check()

    def pause(self, seconds) -> None:
        self._check()

    def correct(self, used, interval, daily) -> None:
        self._check()

    def lower_limit(self, kind, limit) -> None:
        self._check()


def test_an_unreachable_redis_leaves_each_process_its_share_and_says_so_once(caplog):
    limiter = RateLimiter(8, 0.2, shared="redis://127.0.0.1:1/0", processes=4)
    with caplog.at_level(logging.INFO, logger="etlify"):
        take(limiter, 5)  # 2 per window: the share starts full, so this takes 3 windows
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "1/4" in warnings[0].getMessage()
    assert limiter.acquired == 5 and limiter.waited >= 0.5


def test_an_unreachable_database_falls_back_too(caplog):
    limiter = RateLimiter(
        8, 0.2, shared=PostgresqlDatabase("test", host="127.0.0.1", port=1), processes=4
    )
    with caplog.at_level(logging.WARNING, logger="etlify"):
        take(limiter, 3)
    assert limiter.acquired == 3
    assert [r.levelno for r in caplog.records] == [logging.WARNING]


def test_the_fallback_share_is_one_nth_of_the_budget():
    limiter = RateLimiter(8, 10.0, shared=Unreachable(), processes=4, sleep=refuse_to_sleep)
    with pytest.raises(Waited) as waited:  # the local share starts full
        limiter.acquire()
    assert 9 < waited.value.seconds <= 10
    assert limiter.store.degraded


def test_the_shared_budget_is_used_again_once_it_is_back(monkeypatch, caplog):
    monkeypatch.setattr(fallback, "RETRY_EVERY", 0.05)
    store = Unreachable()
    limiter = RateLimiter(8, 0.1, shared=store, processes=4)
    take(limiter, 1)
    store.up = True
    threading.Event().wait(0.1)
    with caplog.at_level(logging.INFO, logger="etlify"):
        take(limiter, 3)
    assert not limiter.store.degraded
    assert store.granted >= 2
    assert any("back" in r.getMessage() for r in caplog.records)


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def database_store(request, tmp_path):
    db = open_database(request.param, tmp_path)
    yield db
    db.close()


def test_a_forked_child_draws_from_the_database_budget_on_connections_of_its_own(
    database_store,
):
    key = f"fork-{secrets.token_hex(4)}"
    limiter = RateLimiter(1000, 10.0, shared=database_store, key=key)
    take(limiter, 1)  # the parent's connection is open when it forks
    child = os.fork()
    if child == 0:  # pragma: no cover - the child reports by its exit status
        try:
            take(limiter, 50)
            os._exit(1 if limiter.store.degraded else 0)
        except BaseException:
            os._exit(2)
    take(limiter, 50)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert not limiter.store.degraded
    counter = RateLimiter(102, 10.0, shared=database_store, key=key, sleep=refuse_to_sleep)
    take(counter, 1)  # 101 slots held by the parent and the child, and this one
    with pytest.raises(Waited):
        counter.acquire()


def test_a_sync_inside_an_open_sqlite_write_transaction_keeps_the_database_budget(database):
    etlify.register(
        "hubspot",
        adapter=InMemoryAdapter(),
        rate_limit={"max_requests": 10, "period": 10, "shared": "database"},
    )
    app = define_models(database)
    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="contacts", id_property="email"
    )
    etlify.create_tables()
    with database.atomic():  # holds the SQLite file's write lock until the end
        user = app.User.create(email="inside@example.com")
        assert user.sync(async_=False) == "synced"
    limiter = etlify.registry.crm("hubspot").rate_limiter
    assert limiter.acquired == 1 and not limiter.store.degraded


def test_a_database_budget_on_in_memory_sqlite_is_refused_naming_the_option():
    etlify.configure(database=SqliteDatabase(":memory:"))
    limiter = RateLimiter(10, 10.0, shared="database")
    with pytest.raises(ConfigurationError, match="shared='database'.*in-memory"):
        limiter.acquire()


def test_keys_differing_in_case_or_surrounding_spaces_name_one_budget_in_every_store(shared):
    name = f"portal-{secrets.token_hex(4)}"
    first = RateLimiter(2, 10.0, shared=shared, key=name.upper(), sleep=refuse_to_sleep)
    second = RateLimiter(2, 10.0, shared=shared, key=f" {name} ", sleep=refuse_to_sleep)
    take(first, 2)
    with pytest.raises(Waited):
        second.acquire()
