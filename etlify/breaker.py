"""The circuit breaker of a CRM: stop calling it when no record can pass.

Some failures are the configuration's or the CRM's, not a record's: the
token is refused (``auth``); the host does not answer (a connection that
cannot be made, a certificate refused, or ``config.breaker_failures``
transport failures in a row, each after the adapter's own retries); the
CRM refuses for the day (a daily rate limit, or a ``Retry-After`` beyond
what is waited for). The first of them opens the breaker of that CRM:

- the rest of the run sends nothing more to it (its records are left stale,
  no retry budget spent), and the run reports that one reason;
- every call to it in this process (single and async syncs too) fails at
  once with :class:`~etlify.CircuitOpen`, without a request, for
  ``config.breaker_cooldown`` seconds (or the ``Retry-After``, if longer);
- after that one call is let through: an answer closes the breaker, and
  another such failure opens it again at once.

A breaker belongs to one registration: ``etlify.register`` gives a new one.
"""

from __future__ import annotations

import logging
import threading
import time

from .config import config
from .errors import (
    AdapterError,
    CircuitOpen,
    RateLimited,
    ReserveReached,
    TransportError,
    Unauthorized,
)

__all__ = ["Breaker", "is_unreachable"]

logger = logging.getLogger("etlify")


def is_unreachable(error: BaseException) -> bool:
    """Whether ``error`` says the CRM's host cannot be reached at all (not one answer lost)."""
    return isinstance(error, TransportError) and bool(
        getattr(error, "unreachable", False) or getattr(error, "certificate_refused", False)
    )


class Breaker:
    """The circuit breaker of one registered CRM, shared by every thread."""

    def __init__(self, crm_name: str) -> None:
        self.crm_name = crm_name
        self._lock = threading.Lock()
        self._transport_failures = 0
        #: The failure that opened the breaker; ``None`` while closed.
        self.reason: AdapterError | None = None
        self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        """Whether calls are refused now."""
        return self.reason is not None and time.monotonic() < self._open_until

    def check(self) -> None:
        """Raise :class:`~etlify.CircuitOpen` while the breaker refuses calls."""
        with self._lock:
            reason, left = self.reason, self._open_until - time.monotonic()
        if reason is not None and left > 0:
            raise CircuitOpen(
                f"not sent: the circuit to {self.crm_name} is open for {left:.0f} s more, "
                f"after {type(reason).__name__}: {reason}",
                reason=reason,
            )

    def succeeded(self) -> None:
        """An answer came: the CRM is reachable and takes the token."""
        with self._lock:
            if self.reason is not None:
                logger.info("etlify: the circuit to %s is closed again", self.crm_name)
            self.reason = None
            self._transport_failures = 0

    def failed(self, error: BaseException) -> bool:
        """Count ``error``; return whether it opened the breaker."""
        with self._lock:
            if isinstance(error, TransportError):
                self._transport_failures += 1
            elif isinstance(error, AdapterError) and error.status is not None:
                self._transport_failures = 0  # an answer: the host is there
            if not isinstance(error, AdapterError) or not self._opens(error):
                return False
            wait = error.retry_after if isinstance(error, RateLimited) else None
            self.reason = error
            self._open_until = time.monotonic() + max(config.breaker_cooldown, wait or 0.0)
        logger.warning(
            "etlify: the circuit to %s is open: no request to it for %.0f s, after %s: %s",
            self.crm_name,
            self._open_until - time.monotonic(),
            type(error).__name__,
            error,
        )
        return True

    def _opens(self, error: AdapterError) -> bool:
        if isinstance(error, (CircuitOpen, ReserveReached)):
            return False  # not the CRM's refusal: single syncs may still pass
        if isinstance(error, (Unauthorized, RateLimited)) or is_unreachable(error):
            return True
        if isinstance(error, TransportError):
            # Half open (after a cool-down), one more failure is enough.
            return self.reason is not None or self._transport_failures >= config.breaker_failures
        return False
