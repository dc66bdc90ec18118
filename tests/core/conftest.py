"""Helpers shared by the core tests."""

from __future__ import annotations

import contextlib

import pytest

from etlify.adapters import HubspotV3Adapter
from etlify.testing.hubspot import FakeHubSpot

from ..conftest import make_app


class Received:
    """Collects what receivers of one blinker signal were sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, dict]] = []

    def __call__(self, sender, **kwargs) -> None:
        self.calls.append((sender, kwargs))

    @property
    def kwargs(self) -> list[dict]:
        return [kwargs for _, kwargs in self.calls]


@contextlib.contextmanager
def receiving(signal, sender=None):
    """``with receiving(etlify.signals.synced, User) as got: ...``"""
    received = Received()
    kwargs = {} if sender is None else {"sender": sender}
    with signal.connected_to(received, **kwargs):
        yield received


@pytest.fixture
def user(app):
    """A saved user with an email, never synced."""
    return app.User.create(email="ada@example.com", first_name="Ada", last_name="Lovelace")


@pytest.fixture
def hubspot():
    """The HubSpot emulator, over HTTP on 127.0.0.1."""
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def hubspot_adapter(hubspot):
    """The HubSpot adapter talking to the emulator, without retries."""
    client = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    yield client
    client.close()


@pytest.fixture
def crm_app(any_database, hubspot_adapter):
    """The test models on every backend, etlified for the emulated HubSpot."""
    return make_app(any_database, hubspot_adapter)
