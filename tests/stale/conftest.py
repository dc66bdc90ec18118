"""Fixtures for the finder tests: every model kind, on every database."""

from __future__ import annotations

import pytest

import etlify
from etlify.testing import InMemoryAdapter

from .models import define_models


@pytest.fixture
def app(any_database):
    """The finder models on each database, with "hubspot" and "salesforce" registered."""
    etlify.register("hubspot", adapter=InMemoryAdapter())
    etlify.register("salesforce", adapter=InMemoryAdapter())
    return define_models(any_database)
