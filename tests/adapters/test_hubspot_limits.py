"""The rate limit of a shared adapter, counted where HubSpot counts: at the server."""

from __future__ import annotations

import threading

from etlify.adapters.hubspot import HubspotV3Adapter
from etlify.ratelimit import RateLimiter
from etlify.testing.hubspot import FakeHubSpot

from .conftest import FAST


def most_in_any_window(times, period):
    times = sorted(times)
    return max(
        sum(1 for later in times[i:] if later < start + period) for i, start in enumerate(times)
    )


def test_sixteen_threads_never_exceed_the_limit_in_any_window():
    with FakeHubSpot(rate_limit=20, rate_window=1.0) as hs:
        client = HubspotV3Adapter(
            access_token=hs.token, base_url=hs.url, retries=FAST, pool_maxsize=16,
            rate_limit={"max_requests": 20, "period": 1.0},
        )
        failures = []

        def work(worker):
            try:
                for n in range(3):
                    client.upsert("companies", {"name": f"w{worker}-{n}"})
            except Exception as exc:  # collected and asserted below
                failures.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        requests = hs.requests
        assert failures == []
        assert len(requests) == 48
        assert all(r.status == 201 for r in requests)  # the emulator never had to say 429
        assert most_in_any_window([r.time for r in requests], 1.0) <= 20
        assert hs.object_count("companies") == 48
        assert client.rate_limiter.acquired == 48
        assert client.rate_limiter.waited > 0


def test_an_idle_adapter_does_not_wait(hs):
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url,
                              rate_limit={"max_requests": 10, "period": 10.0})
    client.upsert("companies", {"name": "Acme"})
    assert client.rate_limiter.waited == 0.0
    assert client.rate_limiter.acquired == 1


def test_the_registry_can_set_the_limiter_later(hs):
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url)
    assert client.rate_limiter is None
    client.rate_limiter = {"max_requests": 10, "period": 1.0}
    assert isinstance(client.rate_limiter, RateLimiter)
    shared = RateLimiter(5, 1.0)
    client.rate_limiter = shared
    client.upsert("companies", {"name": "Acme"})
    assert shared.acquired == 1
    client.rate_limiter = None
    client.upsert("companies", {"name": "Beta"})
    assert shared.acquired == 1


def test_a_lower_hubspot_limit_in_the_headers_is_adopted():
    with FakeHubSpot(rate_limit=4, rate_window=0.5) as limited:
        client = HubspotV3Adapter(access_token=limited.token, base_url=limited.url,
                                  retries=FAST, rate_limit={"max_requests": 100, "period": 0.5})
        for n in range(6):
            client.upsert("companies", {"name": f"c{n}"})
        # Configured for 100 per 0.5 s, but HubSpot's headers say 4: no 429 at all.
        assert all(r.status == 201 for r in limited.requests)
        assert most_in_any_window([r.time for r in limited.requests], 0.5) <= 4
