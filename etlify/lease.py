"""Keeping a sync's claim alive while a CRM call waits.

A sync holds a lease on the sync rows it sends (``config.claim_timeout``).
A request that waits out a ``Retry-After`` or a backoff can outlast it, and
then another worker could claim the rows and create the same object again.
The engine installs a renewer for the duration of its CRM calls
(:func:`renewing`); whatever waits on the way (the HTTP transport, the
rate-limit wrapper) calls :func:`beat` before each attempt and sleeps
through :func:`sleep`, which beats at least every :data:`BEAT_INTERVAL`
seconds. The renewer runs in the calling thread, on its own connection.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Callable

__all__ = ["renewing", "beat", "sleep", "BEAT_INTERVAL"]

#: The longest a wait goes without renewing the lease.
BEAT_INTERVAL = 0.5

_local = threading.local()


@contextlib.contextmanager
def renewing(renew: Callable[[], None]) -> Iterator[None]:
    """Call ``renew`` on every :func:`beat` of this thread while active."""
    previous = getattr(_local, "renew", None)
    _local.renew = renew
    try:
        yield
    finally:
        _local.renew = previous


def beat() -> None:
    """Renew this thread's lease, if a sync holds one (cheap when not yet due)."""
    renew = getattr(_local, "renew", None)
    if renew is not None:
        renew()


def sleep(seconds: float, _sleep: Callable[[float], object] = time.sleep) -> None:
    """Sleep ``seconds``, renewing the lease at least every :data:`BEAT_INTERVAL`."""
    deadline = time.monotonic() + seconds
    while True:
        beat()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        _sleep(min(left, BEAT_INTERVAL))
