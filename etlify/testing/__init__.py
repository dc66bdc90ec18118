"""Aids for testing applications that use Etlify.

- :class:`InMemoryAdapter`: a CRM in a dict that records every call.
- :func:`immediate`: every async sync runs inline while it is active.
- :func:`reset`: forget every CRM, etlified model and setting.
- :func:`snapshot`: remember Etlify's declarations; put them back after each test.
- ``FakeHubSpot``: a local HubSpot CRM v3 API server (``etlify.testing.hubspot``).
"""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import Callable, Iterator

from .. import declarations, registry, signals
from ..config import Config, config
from ..jobs import _immediate_depth, shutdown
from ..mixin import uninstall_crm_methods
from ..state import database_proxy
from ..wiring import forget_crms
from .hubspot import FakeHubSpot
from .memory import InMemoryAdapter

__all__ = ["InMemoryAdapter", "immediate", "reset", "snapshot", "FakeHubSpot"]

#: Etlify's signals, whose receivers :func:`snapshot` puts back.
_SIGNALS = (
    signals.synced,
    signals.skipped,
    signals.buffered,
    signals.failed,
    signals.deleted,
    signals.batch_finished,
)


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



def snapshot() -> Callable[[], None]:
    """Remember Etlify as it is now; the function returned puts it back so.

    Take it once the application is imported (its CRMs registered and models
    declared at import time); call what it returns after each test. It drains
    the built-in pool; keeps the CRMs registered and the models declared at
    the snapshot, each CRM with a new, closed circuit breaker, and forgets
    those registered or declared since (with their generated methods); puts
    back the settings and the database binding; and disconnects the signal
    receivers connected since. The pytest plugin's ``etlify_isolated``
    fixture does this.
    """
    crms = registry.entries()
    declared = declarations.saved()
    settings = dict(config.__dict__)
    database = database_proxy.obj
    receivers = {signal: set(signal.receivers) for signal in _SIGNALS}

    def restore() -> None:
        shutdown(wait=True)
        _immediate_depth[0] = 0
        for name in registry.restore(crms):
            uninstall_crm_methods(name)
        declarations.restore(declared)
        config.__dict__.clear()
        config.__dict__.update(settings)
        database_proxy.initialize(database)
        for signal, kept in receivers.items():
            for key, receiver in list(signal.receivers.items()):
                target = receiver() if isinstance(receiver, weakref.ref) else receiver
                if key not in kept and target is not None:
                    signal.disconnect(target)

    return restore
