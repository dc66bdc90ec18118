"""Fixtures: a FakeHubSpot server and an adapter talking to it with fast retries."""

from __future__ import annotations

import pytest

from etlify.adapters.http import RetryPolicy
from etlify.adapters.hubspot import HubspotV3Adapter
from etlify.testing.hubspot import FakeHubSpot

#: Real backoff shape, test-sized waits.
FAST = RetryPolicy(total=3, backoff_factor=0.001, backoff_max=0.01, backoff_jitter=0.001)


@pytest.fixture
def hs():
    with FakeHubSpot() as server:
        yield server


@pytest.fixture
def adapter(hs):
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, timeout=5.0, retries=FAST)
    yield client
    client.close()


@pytest.fixture
def calls(hs):
    """``calls()``: ``"METHOD path"`` of every request the emulator saw so far."""

    def seen(method=None):
        return [f"{r.method} {r.path}" for r in hs.requests if method in (None, r.method)]

    return seen
