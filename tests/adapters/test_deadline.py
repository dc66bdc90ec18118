"""A request ends within its deadlines, however slowly the server answers.

A socket read timeout restarts with every byte: a server that drips its answer
keeps a read going for as long as it likes. The transport bounds each attempt
(``attempt_deadline``) and all attempts of a request with their waits
(``deadline``). Everything here goes over real HTTP to FakeHubSpot's drip fault.
"""

from __future__ import annotations

import time

import pytest

from etlify.adapters.http import AnswerLost, RetryPolicy, Transport
from etlify.adapters.hubspot import HubspotV3Adapter
from etlify.errors import (
    ApiError,
    ConfigurationError,
    RateLimited,
    TransportError,
    error_kind,
)

from .conftest import FAST

#: Scheduling and connection set-up on a loaded test machine.
SLACK = 0.5


def make(hs, **options):
    options.setdefault("timeout", 1.0)
    options.setdefault("retries", FAST)
    return HubspotV3Adapter(access_token=hs.token, base_url=hs.url, **options)


def timed(call):
    """``(seconds, exception)`` of ``call()``; the exception is None if it returned."""
    started = time.monotonic()
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - the tests check its type
        return time.monotonic() - started, exc
    return time.monotonic() - started, None


def test_the_upsert_of_the_issue_ends_within_the_deadline_and_is_transient(hs):
    # 8 bytes every 0.5 s: each read waits less than the 1 s timeout, so no
    # read timeout fires; before the fix, this upsert went on for about 30 s.
    hs.drip_next(100, interval=0.5, step=8)
    adapter = make(hs, retries=5)  # the default backoff: 0.5, 1, 2, 4, 8 s

    elapsed, error = timed(
        lambda: adapter.upsert("contacts", {"email": "ada@example.com"}, id_property="email")
    )

    # The documented bound: deadline (6 x timeout by default) plus one read timeout at most.
    assert elapsed < 6.0 + SLACK
    assert isinstance(error, TransportError) and error_kind(error) == "transient"
    assert "deadline" in str(error)
    adapter.close()


@pytest.mark.parametrize("head", [False, True], ids=["body-drips", "headers-drip"])
def test_one_attempt_ends_at_its_attempt_deadline(hs, head):
    hs.drip_next(1, interval=0.1, status=200, body="x" * 200, head=head)  # 20 s in all
    adapter = make(hs, retries=0, attempt_deadline=1.5)

    elapsed, error = timed(lambda: adapter.delete("contacts", "1"))

    assert 1.5 <= elapsed < 1.5 + SLACK
    assert isinstance(error, AnswerLost)
    assert "deadline of 1.50 s" in str(error)
    assert len(hs.requests) == 1


def test_no_backoff_that_would_pass_the_deadline_across_retries_is_slept(hs):
    # Every attempt gets a whole 502 within its own deadline, slowly (~0.6 s):
    # only the deadline across retries stops the 20 retries. After the second
    # answer (at ~1.2 s), the 0.5 s backoff would end past the 2 s deadline.
    hs.drip_next(50, interval=0.05, status=502, body="x" * 12)
    adapter = make(
        hs,
        retries=RetryPolicy(total=20, backoff_factor=0.5, backoff_max=0.5, backoff_jitter=0.0),
        deadline=2.0,
    )

    elapsed, error = timed(lambda: adapter.delete("contacts", "1"))

    assert elapsed < 2.0
    assert type(error) is ApiError and error.status == 502  # the last answer, as it was
    assert [r.status for r in hs.requests] == [502, 502]


def test_an_attempt_is_cut_short_at_the_deadline_across_retries(hs):
    hs.drip_next(10, interval=0.1, status=200, body="x" * 200)
    adapter = make(hs, retries=RetryPolicy(total=10, backoff_factor=0.01, backoff_jitter=0.0),
                   attempt_deadline=1.0, deadline=1.6)

    elapsed, error = timed(lambda: adapter.delete("contacts", "1"))

    assert 1.6 <= elapsed < 1.6 + SLACK
    assert isinstance(error, AnswerLost) and "deadline" in str(error)
    assert len(hs.requests) == 2  # the second attempt had 0.6 s, not 1 s


def test_a_retry_after_that_would_pass_the_deadline_is_not_waited(hs):
    hs.fail_next(3, status=429, headers={"Retry-After": "3"})
    adapter = make(hs, deadline=2.0, rate_limit={"max_requests": 100, "period": 10.0})

    elapsed, error = timed(lambda: adapter.delete("contacts", "1"))

    assert elapsed < SLACK
    assert isinstance(error, RateLimited) and error.retry_after == 3.0
    assert len(hs.requests) == 1
    assert adapter.rate_limiter.pauses == 0  # nor imposed on the other threads


def test_a_retry_after_within_the_deadline_is_still_waited(hs):
    hs.fail_next(1, status=429, headers={"Retry-After": "0.3"})
    adapter = make(hs, deadline=2.0)

    started = time.monotonic()
    crm_id = adapter.upsert("contacts", {"email": "ada@example.com"})
    assert time.monotonic() - started >= 0.3
    assert hs.get("contacts", crm_id) is not None
    assert [r.status for r in hs.requests] == [429, 201]


def test_a_slow_answer_within_the_deadlines_is_read_whole(hs):
    hs.drip_next(1, interval=0.02, step=16)  # the create's real answer, in ~0.5 s
    adapter = make(hs, attempt_deadline=2.0)

    crm_id = adapter.upsert("contacts", {"email": "ada@example.com"})
    assert hs.get("contacts", crm_id)["properties"]["email"] == "ada@example.com"
    # The kept-alive connection reads normally afterwards.
    assert adapter.upsert("contacts", {"email": "ada@example.com"}, crm_id=crm_id) == crm_id
    assert adapter.upsert("contacts", {"email": "bob@example.com"}) != crm_id


def test_a_create_cut_by_its_deadline_is_looked_up_not_duplicated(hs):
    hs.drip_next(1, interval=0.1, step=4)  # the create is carried out; its answer drips
    adapter = make(hs, attempt_deadline=1.0)

    crm_id = adapter.upsert("contacts", {"email": "ada@example.com"})

    assert hs.object_count("contacts") == 1 and hs.get("contacts", crm_id) is not None
    assert [r.method for r in hs.requests] == ["POST", "GET", "PATCH"]


def test_the_rate_limiters_first_wait_does_not_count_against_the_deadline(hs):
    adapter = make(hs, deadline=1.0, rate_limit={"max_requests": 1, "period": 1.5})
    adapter.upsert("contacts", {"email": "ada@example.com"})

    started = time.monotonic()
    assert adapter.upsert("contacts", {"email": "bob@example.com"})  # queued ~1.5 s first
    assert time.monotonic() - started >= 1.0


def test_a_deadline_error_holds_no_token_in_its_tracebacks(hs):
    hs.drip_next(1, interval=0.1, status=200, body="x" * 100)
    adapter = make(hs, retries=0, attempt_deadline=0.5)

    _, error = timed(lambda: adapter.delete("contacts", "1"))

    seen, todo = [], [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    for exc in seen:
        assert hs.token not in f"{exc} {exc!r}"
        tb = exc.__traceback__
        while tb is not None:
            assert all(hs.token not in repr(v) for v in tb.tb_frame.f_locals.values())
            tb = tb.tb_next


def test_the_deadlines_default_to_multiples_of_the_timeout():
    transport = Transport("t", "http://127.0.0.1:9", timeout=1.5, retries=FAST, pool_maxsize=1)
    assert (transport.attempt_deadline, transport.deadline) == (3.0, 9.0)
    transport = Transport("t", "http://127.0.0.1:9", timeout=1.5, retries=FAST, pool_maxsize=1,
                          attempt_deadline=0.5, deadline=float("inf"))
    assert (transport.attempt_deadline, transport.deadline) == (0.5, float("inf"))


@pytest.mark.parametrize("option", ["attempt_deadline", "deadline"])
@pytest.mark.parametrize("value", [0, -1.0, True, "5", float("nan")])
def test_a_deadline_must_be_a_positive_number(option, value):
    with pytest.raises(ConfigurationError, match=option):
        HubspotV3Adapter(access_token="t", base_url="http://127.0.0.1:9", **{option: value})
