"""pytest fixtures for applications that use Etlify.

Installed with Etlify (an entry point in the ``pytest11`` group), the plugin
only provides fixtures: nothing changes until a test asks for one.

- ``fake_hubspot``: a :class:`~etlify.testing.hubspot.FakeHubSpot` started once
  per session and emptied before each test that uses it; point the adapter at
  ``fake_hubspot.url`` with ``fake_hubspot.token``. It keeps the emulator's
  realistic rate limits (190 requests per rolling 10 s, 650,000 a day, with
  HubSpot's headers), so code that ignores them fails here, not in
  production; each test starts with both counts at zero.
- ``etlify_immediate``: every async sync of the test runs inline
  (:func:`~etlify.testing.immediate`).
- ``etlify_isolated``: after the test, Etlify is put back as it was once the
  test modules were imported (:func:`~etlify.testing.snapshot`): the CRMs and
  models the application declares at import time stay, what the test
  registered, declared, configured or connected to a signal goes, and every
  circuit breaker closes. Use it for every test of a module with
  ``pytestmark = pytest.mark.usefixtures("etlify_isolated")``, or for a whole
  suite from an autouse fixture in ``conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from . import FakeHubSpot, immediate, snapshot

__all__ = ["fake_hubspot", "etlify_immediate", "etlify_isolated"]


@pytest.fixture(scope="session")
def _etlify_fake_hubspot_server() -> Iterator[FakeHubSpot]:
    with FakeHubSpot() as server:
        yield server


@pytest.fixture
def fake_hubspot(_etlify_fake_hubspot_server: FakeHubSpot) -> FakeHubSpot:
    """The session's HubSpot emulator, emptied for this test (objects, requests, faults).

    Its rate limits are a Professional private app's, as by default in
    :class:`~etlify.testing.hubspot.FakeHubSpot`: 190 requests per rolling
    10 s and 650,000 a day, with the ``X-HubSpot-RateLimit-*`` headers; the
    10-second window and the day's count start empty in every test. A test
    that must send more than 190 requests within 10 s and is not about rate
    limits is better served by its own ``FakeHubSpot(rate_limit=None)``.
    """
    _etlify_fake_hubspot_server.reset()
    return _etlify_fake_hubspot_server


@pytest.fixture
def etlify_immediate() -> Iterator[None]:
    """Every async sync of the test runs inline, in the test's thread."""
    with immediate():
        yield


@pytest.fixture(scope="session")
def _etlify_import_time() -> Callable[[], None]:
    # Taken when first asked for: after collection, so after every import.
    return snapshot()


@pytest.fixture
def etlify_isolated(_etlify_import_time: Callable[[], None]) -> Iterator[None]:
    """After the test, put Etlify back as the application's imports left it."""
    yield
    _etlify_import_time()
