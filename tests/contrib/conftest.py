"""Fixtures of the integration tests: a HubSpot emulator and Flask apps."""

from __future__ import annotations

import pytest
from flask import Flask

from etlify.contrib.flask import Etlify
from etlify.testing.hubspot import FakeHubSpot


@pytest.fixture
def hubspot():
    """A FakeHubSpot served on a free local port."""
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def flask_app(monkeypatch):
    """``flask_app(**config)``: a Flask app with the Etlify extension initialised."""
    monkeypatch.delenv("HUBSPOT_PRIVATE_APP_TOKEN", raising=False)

    def make(**config) -> Flask:
        app = Flask("etlify_test")
        app.config.update(TESTING=True, **config)
        Etlify(app)
        return app

    return make
