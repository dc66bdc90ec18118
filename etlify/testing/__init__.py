"""Aids for testing applications that use Etlify.

- :class:`InMemoryAdapter`: a CRM in a dict that records every call.
- :func:`immediate`: every async sync runs inline while it is active.
- :func:`reset`: forget every CRM, etlified model and setting.
- ``FakeHubSpot``: a local HubSpot CRM v3 API server (``etlify.testing.hubspot``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from .. import declarations
from ..config import Config, config
from ..jobs import _immediate_depth, shutdown
from ..state import database_proxy
from ..wiring import forget_crms
from .hubspot import FakeHubSpot
from .memory import InMemoryAdapter

__all__ = ["InMemoryAdapter", "immediate", "reset", "FakeHubSpot"]


@contextlib.contextmanager
def immediate() -> Iterator[None]:
    """Run every async sync inline, in the calling thread, while active."""
    _immediate_depth[0] += 1
    try:
        yield
    finally:
        _immediate_depth[0] -= 1


def reset() -> None:
    """Forget every registered CRM, etlified model and configuration.

    Drains and stops the built-in thread pool first, and unbinds the
    sync-state tables from their database.
    """
    shutdown(wait=True)
    forget_crms()
    declarations.clear()
    config.__dict__.update(Config().__dict__)
    database_proxy.initialize(None)

