"""A thread-safe request limiter shared by every request of one adapter.

HubSpot counts requests in a rolling window (100 or 190 per 10 seconds for a
private app) and search requests in a separate, tighter per-second window. A
plain token bucket of capacity ``max_requests`` would allow a full burst at the
end of one window and another at the start of the next: up to twice the limit
inside one ``period``. :class:`RateLimiter` keeps a log of its grants instead,
so that no window of length ``period`` ever holds more than ``max_requests``.

A grant occupies its slot from the moment it is given until ``period`` after
the request's answer arrived (see :meth:`RateLimiter.release`). Counting from
the answer, not from the grant, keeps the guarantee true where HubSpot counts:
when the request reaches the server, some time after the grant.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import lease
from .errors import ConfigurationError

__all__ = ["RateLimiter", "Ticket", "as_rate_limiter"]

_CONFIG_KEYS = ("max_requests", "period", "search_per_second")

#: Below this share of HubSpot's window left, requests are paced.
_LOW_WATER_SHARE = 0.1


class Ticket:
    """One granted request; hand it back to :meth:`RateLimiter.release`."""

    __slots__ = ("expires",)

    def __init__(self, expires: float) -> None:
        self.expires = expires


class _Window:
    """At most ``limit`` tickets alive at once; a ticket lives ``period`` seconds."""

    def __init__(self, limit: int, period: float) -> None:
        self.limit = limit
        self.period = period
        self.tickets: list[Ticket] = []

    def wait_time(self, now: float) -> float:
        """Seconds until a slot frees up, 0.0 when one is free now."""
        self.tickets = [t for t in self.tickets if t.expires > now]
        if len(self.tickets) < self.limit:
            return 0.0
        return min(t.expires for t in self.tickets) - now

    def grant(self, now: float) -> Ticket:
        ticket = Ticket(now + self.period)
        self.tickets.append(ticket)
        return ticket


class RateLimiter:
    """Grant at most ``max_requests`` requests in any window of ``period`` seconds.

    :param max_requests: requests allowed per window (HubSpot: 100 or 190).
    :param period: the window, in seconds (HubSpot: 10).
    :param search_per_second: the separate budget of ``kind="search"`` requests,
        which HubSpot counts per second and not against the main window.
    :param clock: a monotonic clock, for tests.
    :param sleep: the sleep function, for tests.

    One instance is shared by every thread of an adapter. :meth:`acquire`
    returns at once while there is budget and blocks just long enough
    otherwise. The counters ``acquired``, ``waited`` (seconds, summed over
    threads) and ``pauses`` are there for benchmarks and monitoring.
    """

    def __init__(
        self,
        max_requests: int,
        period: float,
        *,
        search_per_second: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = lease.sleep,
    ) -> None:
        _check_positive("max_requests", max_requests, integer=True)
        _check_positive("period", period)
        _check_positive("search_per_second", search_per_second, integer=True)
        self.max_requests = max_requests
        self.period = float(period)
        self.search_per_second = search_per_second
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._windows = {"default": _Window(max_requests, self.period),
                         "search": _Window(search_per_second, 1.0)}
        self._paused_until = 0.0
        self._pace = 0.0  # seconds between grants while HubSpot's window runs low
        self._next_paced = 0.0
        self.acquired = 0
        self.waited = 0.0
        self.pauses = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RateLimiter:
        """Build a limiter from ``{"max_requests": 100, "period": 10.0}``.

        ``search_per_second`` is also accepted. Raises
        :class:`~etlify.ConfigurationError` naming the option for a missing or
        unknown key, or a value that is not a positive number.
        """
        if not isinstance(config, Mapping):
            raise ConfigurationError(
                f"rate_limit must be a dict like {{'max_requests': 100, 'period': 10.0}}, "
                f"not {type(config).__name__}."
            )
        unknown = sorted(str(key) for key in config if key not in _CONFIG_KEYS)
        if unknown:
            raise ConfigurationError(
                f"rate_limit has unknown option(s) {', '.join(unknown)}; "
                f"known options are {', '.join(_CONFIG_KEYS)}."
            )
        for key in ("max_requests", "period"):
            if key not in config:
                raise ConfigurationError(f"rate_limit is missing the option {key!r}.")
        return cls(**config)

    def acquire(self, kind: str = "default") -> Ticket:
        """Take one request slot of ``kind`` (``"default"`` or ``"search"``).

        Returns at once when the budget allows, otherwise sleeps just long
        enough. Pass the returned ticket to :meth:`release` once the answer
        (or the failure) arrived.
        """
        window = self._windows.get(kind)
        if window is None:
            raise ValueError(f"Unknown request kind {kind!r}; use 'default' or 'search'.")
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                delay = max(window.wait_time(now), self._paused_until - now)
                if kind == "default":
                    delay = max(delay, self._next_paced - now)
                if delay <= 0:
                    ticket = window.grant(now)
                    if kind == "default" and self._pace:
                        self._next_paced = now + self._pace
                    self.acquired += 1
                    self.waited += waited
                    return ticket
            self._sleep(delay)
            waited += delay

    def release(self, ticket: Ticket) -> None:
        """Mark the request of ``ticket`` as answered.

        Its slot stays taken for ``period`` from now, so that the window is
        counted from the latest moment the server can have seen the request.
        Releasing is optional: an unreleased slot frees ``period`` after the grant.
        """
        with self._lock:
            for kind_window in self._windows.values():
                if ticket in kind_window.tickets:
                    ticket.expires = max(ticket.expires, self._clock() + kind_window.period)
                    return

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read HubSpot's ``X-HubSpot-RateLimit-*`` headers from an answer.

        When HubSpot's window has the length of ``period`` but a lower
        ``Max`` than ``max_requests``, the lower figure becomes this limiter's
        budget (it is never raised). When less than a tenth of HubSpot's
        window is left, bursts stop: the
        next requests go at HubSpot's sustained rate, ``interval / max`` apart,
        until an answer shows the window healthy again. This matters when other
        clients share the portal's budget; HubSpot's count then runs ahead of
        this limiter's own. Answers without these headers (search answers)
        change nothing.
        """
        limit = _header_number(headers, "X-HubSpot-RateLimit-Max")
        remaining = _header_number(headers, "X-HubSpot-RateLimit-Remaining")
        interval_ms = _header_number(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        if limit is None or remaining is None or interval_ms is None or limit <= 0:
            return
        low_water = max(1.0, limit * _LOW_WATER_SHARE)
        with self._lock:
            window = self._windows["default"]
            if math.isclose(interval_ms / 1000.0, self.period) and limit < window.limit:
                window.limit = max(1, int(limit))
            if remaining >= low_water:
                self._pace = 0.0
                self._next_paced = 0.0
            else:
                self._pace = interval_ms / 1000.0 / limit
                self._next_paced = max(self._next_paced, self._clock() + self._pace)

    def pause(self, seconds: float) -> None:
        """Hold every request of every thread for ``seconds`` (after a 429)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + max(seconds, 0.0))
            self.pauses += 1

    def __repr__(self) -> str:
        return (
            f"RateLimiter(max_requests={self.max_requests}, period={self.period}, "
            f"search_per_second={self.search_per_second})"
        )


def as_rate_limiter(value: RateLimiter | Mapping[str, Any] | None) -> RateLimiter | None:
    """Return ``value`` as a limiter: ``None`` and limiters as they are, dicts built.

    Raises :class:`~etlify.ConfigurationError` for anything else.
    """
    if value is None or isinstance(value, RateLimiter):
        return value
    return RateLimiter.from_config(value)


def _check_positive(name: str, value: Any, *, integer: bool = False) -> None:
    kinds = (int,) if integer else (int, float)
    if (
        isinstance(value, bool)
        or not isinstance(value, kinds)
        or not math.isfinite(value)
        or value <= 0
    ):
        expected = "a positive integer" if integer else "a positive number"
        raise ConfigurationError(f"rate_limit option {name!r} must be {expected}, not {value!r}.")


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
