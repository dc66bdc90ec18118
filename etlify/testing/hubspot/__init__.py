"""FakeHubSpot: a local HubSpot CRM v3 API emulator for tests and benchmarks.

    from etlify.testing.hubspot import FakeHubSpot

Run ``python -m etlify.testing.hubspot --port 8765`` to serve one by hand.

Modules, from the top down:

- ``server``: :class:`FakeHubSpot` (lifecycle, inspection, auth, rate limits,
  fault handling, request log) and :class:`RecordedRequest`.
- ``cli``: :func:`main`, the command line behind ``__main__``.
- ``api``: the routes (CRM v3 objects, search, batches, v4 default links).
- ``batch``: the ``batch/*`` routes.
- ``search``: the ``POST .../{objectType}/search`` endpoint.
- ``store``: in-memory records, unique indexes and associations.
- ``schema``: object types and property registries.
- ``faults``: rate-limit windows and fault injection.
- ``http``: the threading HTTP server and answer encoding.
- ``params``: reading query parameters and JSON bodies (400 on bad input).
- ``errors``: HubSpot-shaped error answers.
"""

from __future__ import annotations

from .cli import main
from .server import FakeHubSpot, RecordedRequest

__all__ = ["FakeHubSpot", "RecordedRequest", "main"]
