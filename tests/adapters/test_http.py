"""The retry policy and the path escaping of the HubSpot transport."""

from __future__ import annotations

import pytest

from etlify.adapters.http import RetryPolicy, segment


def test_increment_returns_a_new_policy():
    policy = RetryPolicy(total=1)
    spent = policy.increment("GET /x: HTTP 503")
    assert policy.total == 1 and policy.history == ()
    assert spent.total == 0 and spent.history == ("GET /x: HTTP 503",)
    assert not spent.is_exhausted()
    assert spent.increment("again").is_exhausted()
    with pytest.raises(AttributeError):
        policy.total = 3


def test_backoff_is_exponential_capped_and_jittered():
    policy = RetryPolicy(total=10, backoff_factor=0.5, backoff_max=3.0, backoff_jitter=0.0)
    assert policy.get_backoff_time() == 0.0
    waits = []
    for _ in range(5):
        policy = policy.increment("x")
        waits.append(policy.get_backoff_time())
    assert waits == [0.5, 1.0, 2.0, 3.0, 3.0]
    jittered = RetryPolicy(backoff_factor=0.5, backoff_jitter=0.2).increment("x")
    samples = {jittered.get_backoff_time() for _ in range(50)}
    assert all(0.5 <= s <= 0.7 for s in samples)
    assert len(samples) > 1


def test_from_value():
    policy = RetryPolicy(total=2)
    assert RetryPolicy.from_value(policy) is policy
    assert RetryPolicy.from_value(3).total == 3
    assert RetryPolicy.from_value(False).total == 0
    assert RetryPolicy.from_value(None) == RetryPolicy()
    with pytest.raises(ValueError):
        RetryPolicy.from_value(-1)
    with pytest.raises(ValueError):
        RetryPolicy.from_value("5")


@pytest.mark.parametrize(
    ("value", "escaped"),
    [
        ("contacts", "contacts"),
        ("../owners", "..%2Fowners"),
        ("..", "%2E%2E"),
        (".", "%2E"),
        ("a b?c=d#e", "a%20b%3Fc%3Dd%23e"),
        ("a+b@x.com", "a%2Bb%40x.com"),
        (123, "123"),
    ],
)
def test_segment_escapes_everything_that_could_change_the_route(value, escaped):
    assert segment(value) == escaped


def test_segment_refuses_an_empty_value():
    with pytest.raises(ValueError, match="empty"):
        segment("")
