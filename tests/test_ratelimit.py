"""The request limiter: budget, windows, HubSpot's headers, pauses, configuration."""

from __future__ import annotations

import threading
import time

import pytest

from etlify.errors import ConfigurationError, RateLimited
from etlify.ratelimit import BACKFILL, RateLimiter, as_rate_limiter, working_as


class FakeTime:
    """A clock that only moves when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def limiter(max_requests=3, period=10.0, **kwargs):
    fake = FakeTime()
    return RateLimiter(max_requests, period, clock=fake.clock, sleep=fake.sleep, **kwargs), fake


def test_never_sleeps_while_budget_is_available():
    rl, fake = limiter(3, 10.0)
    for _ in range(3):
        rl.acquire()
    assert fake.sleeps == []
    assert rl.acquired == 3
    assert rl.waited == 0.0


def test_blocks_until_the_oldest_grant_leaves_the_window():
    rl, fake = limiter(3, 10.0)
    for _ in range(3):
        rl.release(rl.acquire())  # answered at once
        fake.now += 1.0
    rl.acquire()  # the first grant, at t=1000, frees its slot at t=1010
    assert fake.now == pytest.approx(1010.0)
    assert rl.waited == pytest.approx(7.0)


def test_no_window_of_one_period_holds_more_than_max_requests():
    rl, fake = limiter(5, 2.0)
    grants = []
    for _ in range(40):
        rl.acquire()
        grants.append(fake.now)
        fake.now += 0.05
    for start in grants:
        assert sum(start <= t < start + 2.0 for t in grants) <= 5


def test_a_released_slot_counts_from_the_answer():
    rl, fake = limiter(1, 10.0)
    ticket = rl.acquire()
    fake.now += 4.0  # the request took 4 seconds to be answered
    rl.release(ticket)
    rl.acquire()
    assert fake.now == pytest.approx(1014.0)


def test_search_has_its_own_tighter_budget():
    rl, fake = limiter(100, 10.0, search_per_second=2)
    rl.release(rl.acquire("search"))
    rl.release(rl.acquire("search"))
    rl.acquire()  # the main budget is untouched
    assert fake.sleeps == []
    rl.acquire("search")
    assert fake.now == pytest.approx(1001.0)


def test_unknown_kind_is_refused():
    rl, _ = limiter()
    with pytest.raises(ValueError, match="kind"):
        rl.acquire("bulk")


def test_pause_holds_every_request():
    rl, fake = limiter(10, 10.0)
    rl.pause(2.5)
    rl.acquire()
    assert fake.now == pytest.approx(1002.5)
    assert rl.pauses == 1
    assert rl.waited == pytest.approx(2.5)


def test_a_shorter_pause_does_not_shorten_a_longer_one():
    rl, fake = limiter(10, 10.0)
    rl.pause(5.0)
    rl.pause(1.0)
    rl.acquire()
    assert fake.now == pytest.approx(1005.0)


def hubspot_headers(remaining, limit=100, interval=10000):
    return {
        "X-HubSpot-RateLimit-Max": str(limit),
        "X-HubSpot-RateLimit-Remaining": str(remaining),
        "X-HubSpot-RateLimit-Interval-Milliseconds": str(interval),
    }


def test_low_remaining_paces_requests_at_hubspot_sustained_rate():
    rl, fake = limiter(1000, 10.0)
    rl.observe(hubspot_headers(remaining=4, limit=100))  # 10 s / 100 = 0.1 s apart
    for _ in range(3):
        rl.acquire()
    assert fake.now == pytest.approx(1000.3)


def test_healthy_remaining_stops_pacing():
    rl, fake = limiter(1000, 10.0)
    rl.observe(hubspot_headers(remaining=2))
    rl.observe(hubspot_headers(remaining=80))
    rl.acquire()
    rl.acquire()
    assert fake.sleeps == []


def test_headers_are_read_case_insensitively_and_missing_ones_ignored():
    rl, fake = limiter(1000, 10.0)
    rl.observe({})  # search answers carry no rate-limit headers
    rl.observe({"x-hubspot-ratelimit-max": "100", "x-hubspot-ratelimit-remaining": "junk"})
    rl.acquire()
    rl.acquire()
    assert fake.sleeps == []
    rl.observe({k.lower(): v for k, v in hubspot_headers(remaining=0).items()})
    rl.acquire()
    assert fake.now == pytest.approx(1000.1, abs=0.01)


def test_a_lower_hubspot_max_for_the_same_window_becomes_the_budget():
    rl, fake = limiter(10, 10.0)
    rl.observe(hubspot_headers(remaining=99, limit=2, interval=10000))
    rl.observe(hubspot_headers(remaining=99, limit=50, interval=10000))  # never raised again
    rl.release(rl.acquire())
    rl.release(rl.acquire())
    assert fake.sleeps == []
    rl.acquire()
    assert fake.now == pytest.approx(1010.0)


def test_a_hubspot_max_for_another_window_length_is_not_adopted():
    rl, fake = limiter(10, 10.0)
    rl.observe(hubspot_headers(remaining=99, limit=2, interval=1000))
    for _ in range(10):
        rl.acquire()
    assert fake.sleeps == []


def test_pacing_does_not_hold_search():
    rl, fake = limiter(1000, 10.0)
    rl.observe(hubspot_headers(remaining=0))
    rl.acquire("search")
    assert fake.sleeps == []


def test_threads_share_one_budget():
    rl = RateLimiter(10, 0.5)
    grants = []
    lock = threading.Lock()

    def work():
        for _ in range(3):
            rl.release(rl.acquire())
            with lock:
                grants.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(grants) == 24
    assert rl.acquired == 24
    grants.sort()
    for i, start in enumerate(grants):
        assert sum(1 for t in grants[i:] if t < start + 0.5) <= 10
    assert rl.waited > 0


def test_from_config_builds_a_limiter():
    rl = RateLimiter.from_config({"max_requests": 100, "period": 10, "search_per_second": 5})
    assert (rl.max_requests, rl.period, rl.search_per_second) == (100, 10.0, 5)


@pytest.mark.parametrize(
    ("config", "named"),
    [
        ({"period": 10}, "max_requests"),
        ({"max_requests": 100}, "period"),
        ({"max_requests": 0, "period": 10}, "max_requests"),
        ({"max_requests": 100, "period": -1}, "period"),
        ({"max_requests": 100, "period": float("inf")}, "period"),
        ({"max_requests": 2.5, "period": 10}, "max_requests"),
        ({"max_requests": True, "period": 10}, "max_requests"),
        ({"max_requests": "100", "period": 10}, "max_requests"),
        ({"max_requests": 100, "period": 10, "burst": 3}, "burst"),
        ([("max_requests", 100)], "rate_limit"),
    ],
)
def test_bad_configuration_names_the_option(config, named):
    with pytest.raises(ConfigurationError, match=named):
        RateLimiter.from_config(config)


def test_as_rate_limiter_accepts_none_limiters_and_dicts():
    rl = RateLimiter(5, 1.0)
    assert as_rate_limiter(None) is None
    assert as_rate_limiter(rl) is rl
    assert as_rate_limiter({"max_requests": 5, "period": 1}).max_requests == 5
    with pytest.raises(ConfigurationError):
        as_rate_limiter(5)


def test_repr_shows_the_configuration():
    assert repr(RateLimiter(5, 1.0)) == (
        "RateLimiter(max_requests=5, period=1.0, search_per_second=4, store=LocalStore())"
    )


def test_a_request_slower_than_the_window_keeps_its_slot_until_answered():
    rl, fake = limiter(1, 10.0)
    ticket = rl.acquire()
    fake.now += 25.0  # still in flight, long after one period
    rl.release(ticket)
    rl.acquire()
    assert fake.now == pytest.approx(1035.0)


def test_a_grant_never_answered_frees_its_slot_after_in_flight_and_a_period():
    rl, fake = limiter(1, 10.0, in_flight=30.0)
    rl.acquire()  # its process died mid-request
    rl.acquire()
    assert fake.now == pytest.approx(1040.0)


def test_a_wait_behind_a_request_in_flight_looks_again_after_one_period():
    rl, fake = limiter(1, 10.0, in_flight=30.0)
    rl.acquire()  # in flight: it may be answered any moment
    rl.acquire()
    assert fake.sleeps[0] == pytest.approx(10.0)


def test_a_backfill_leaves_single_syncs_their_share_while_they_ask():
    rl, fake = limiter(10, 10.0, interactive_share=0.2)
    rl.release(rl.acquire())  # a single sync: interactive work is active
    with working_as(BACKFILL):
        for _ in range(8):
            rl.release(rl.acquire())
        assert fake.sleeps == []
        rl.acquire()  # the backfill holds 8 of 10: the rest is kept for single syncs
    assert fake.sleeps != []


def test_single_syncs_beyond_their_share_leave_the_backfill_the_rest():
    rl, fake = limiter(10, 10.0, interactive_share=0.2)
    for _ in range(5):
        rl.release(rl.acquire())
    with working_as(BACKFILL):
        for _ in range(5):
            rl.release(rl.acquire())
    assert fake.sleeps == []
    assert rl.acquired == 10


def test_a_single_sync_finds_a_slot_while_the_backfill_waits():
    rl, fake = limiter(10, 10.0, interactive_share=0.2)
    rl.release(rl.acquire())
    with working_as(BACKFILL):
        for _ in range(8):
            rl.release(rl.acquire())
    rl.release(rl.acquire())
    assert fake.sleeps == []


def test_a_backfill_takes_the_whole_window_while_single_syncs_are_idle():
    rl, fake = limiter(10, 10.0, interactive_share=0.2)
    with working_as(BACKFILL):
        for _ in range(10):
            rl.release(rl.acquire())
    assert fake.sleeps == []


def daily_headers(limit, remaining):
    return {
        "X-HubSpot-RateLimit-Daily": str(limit),
        "X-HubSpot-RateLimit-Daily-Remaining": str(remaining),
    }


def test_a_backfill_stops_at_the_daily_reserve():
    rl, _ = limiter(100, 10.0, daily_reserve=0.05)
    rl.observe(daily_headers(1000, 50))
    with working_as(BACKFILL), pytest.raises(RateLimited, match="daily_reserve"):
        rl.acquire()


def test_single_syncs_may_spend_the_daily_reserve():
    rl, fake = limiter(100, 10.0, daily_reserve=0.05)
    rl.observe(daily_headers(1000, 50))
    rl.release(rl.acquire())
    assert rl.acquired == 1


def test_each_grant_counts_against_the_day_until_the_next_answer_says():
    rl, _ = limiter(100, 10.0, daily_reserve=0.05)
    rl.observe(daily_headers(1000, 52))
    with working_as(BACKFILL):
        rl.release(rl.acquire())
        rl.release(rl.acquire())
        with pytest.raises(RateLimited):
            rl.acquire()


def test_requests_hubspot_counts_but_this_budget_did_not_grant_take_slots():
    rl, fake = limiter(10, 10.0)
    rl.observe(hubspot_headers(remaining=2, limit=10))  # another client sent 8
    rl.release(rl.acquire())
    rl.release(rl.acquire())
    assert fake.sleeps == []
    rl.acquire()  # the eight, spread over HubSpot's window, free one by one
    assert fake.now == pytest.approx(1001.25)


@pytest.mark.parametrize("option", ["interactive_share", "daily_reserve"])
@pytest.mark.parametrize("value", [1, 1.5, -0.1, "0.1", True])
def test_a_share_outside_zero_to_one_names_the_option(option, value):
    with pytest.raises(ConfigurationError, match=option):
        RateLimiter(10, 1.0, **{option: value})


def test_an_unknown_shared_store_is_refused_naming_the_option():
    with pytest.raises(ConfigurationError, match="'shared'"):
        RateLimiter(10, 1.0, shared="memcached://x")
