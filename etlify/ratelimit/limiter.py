"""The request limiter in front of an adapter: one budget, local or shared.

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

HubSpot's budget belongs to the private app, not to a process: with
``shared=`` every process and machine registered with the same budget ``key``
draws from one set of windows, kept in Redis or in the database
(:mod:`etlify.ratelimit.stores`).
"""

from __future__ import annotations

import itertools
import math
import os
import secrets
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from peewee import Database

from .. import lease
from ..errors import ConfigurationError, ReserveReached
from .database_store import DatabaseStore
from .fallback import FallbackStore
from .redis_store import RedisStore
from .stores import LocalStore, Store
from .window import DAILY_EXHAUSTED, Limits
from .work import current_work

__all__ = ["RateLimiter", "Ticket", "as_rate_limiter"]

_CONFIG_KEYS = (
    "max_requests",
    "period",
    "search_per_second",
    "interactive_share",
    "daily_reserve",
    "in_flight",
    "shared",
    "key",
    "processes",
)

#: Below this share of HubSpot's window left, requests are paced.
_LOW_WATER_SHARE = 0.1


class Ticket:
    """One granted request; hand it back to :meth:`RateLimiter.release`."""

    __slots__ = ("kind", "grant_id")

    def __init__(self, kind: str, grant_id: str) -> None:
        self.kind = kind
        self.grant_id = grant_id


class RateLimiter:
    """Grant at most ``max_requests`` requests in any window of ``period`` seconds.

    :param max_requests: requests allowed per window (HubSpot: 100 or 190).
    :param period: the window, in seconds (HubSpot: 10).
    :param search_per_second: the separate budget of ``kind="search"`` requests,
        which HubSpot counts per second and not against the main window.
    :param interactive_share: the share of the window a backfill
        (:class:`~etlify.BatchSync`) leaves to single syncs while they are
        asking for it; when they are idle the backfill takes it all.
    :param daily_reserve: the share of HubSpot's daily limit (read from its
        ``X-HubSpot-RateLimit-Daily*`` headers) a backfill leaves to single
        syncs: below it, a backfill's request raises
        :class:`~etlify.ReserveReached`, which stops its run (and nothing else).
    :param in_flight: seconds after which a grant never released (a process
        that died mid-request) frees its slot anyway, ``period`` later.
    :param shared: ``None`` (this process only), a Redis URL
        (``"redis://host:6379/0"``, needs the ``redis`` package: the
        ``redis`` extra), ``"database"`` (a table in Etlify's sync-state
        database), a peewee database (a table there) or a store object:
        every process registered with the same ``key`` and store then draws
        from one budget.
    :param key: the name of the shared budget: one per HubSpot private app.
        Case and surrounding spaces do not count (``" Portal"`` is ``"portal"``),
        in every store alike.
    :param processes: how many processes share the budget, at most; while the
        shared store is unreachable each keeps ``1/processes`` of it locally.
    :param clock: a monotonic clock, for tests (local budgets only).
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
        interactive_share: float = 0.1,
        daily_reserve: float = 0.05,
        in_flight: float = 60.0,
        shared: str | Store | None = None,
        key: str = "etlify",
        processes: int = 4,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = lease.sleep,
    ) -> None:
        _check_positive("max_requests", max_requests, integer=True)
        _check_positive("period", period)
        _check_positive("search_per_second", search_per_second, integer=True)
        _check_positive("in_flight", in_flight)
        _check_positive("processes", processes, integer=True)
        _check_share("interactive_share", interactive_share)
        _check_share("daily_reserve", daily_reserve)
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(
                f"rate_limit option 'key' must be a non-empty string, not {key!r}."
            )
        # Compared as MySQL's default collations compare it, in every store.
        key = key.strip().lower()
        self.max_requests = max_requests
        self.period = float(period)
        self.search_per_second = search_per_second
        self.key = key
        limits = {
            "default": Limits(
                max_requests,
                self.period,
                min(math.ceil(max_requests * interactive_share), max_requests - 1),
                float(in_flight),
                daily_reserve,
            ),
            "search": Limits(search_per_second, 1.0, 0, float(in_flight)),
        }
        self.store = _build_store(shared, limits, key, processes, clock)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._pace = 0.0  # seconds between grants while HubSpot's window runs low
        self._next_paced = 0.0
        self._ids = itertools.count()
        self._id_prefix = secrets.token_hex(4)
        self.acquired = 0
        self.waited = 0.0
        self.pauses = 0

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> RateLimiter:
        """Build a limiter from ``{"max_requests": 100, "period": 10.0}``.

        The other options of the constructor (``search_per_second``,
        ``interactive_share``, ``daily_reserve``, ``in_flight``, ``shared``,
        ``key``, ``processes``) are accepted too. Raises
        :class:`~etlify.ConfigurationError` naming the option for a missing or
        unknown key, or a bad value.
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

        :raises etlify.ReserveReached: for a backfill, once only the daily
            reserve is left.
        """
        if kind not in ("default", "search"):
            raise ValueError(f"Unknown request kind {kind!r}; use 'default' or 'search'.")
        work = current_work()
        grant_id = f"{self._id_prefix}-{os.getpid()}-{next(self._ids)}"
        waited = 0.0
        while True:
            delay = 0.0
            if kind == "default":
                with self._lock:
                    delay = self._next_paced - self._clock()
            if delay <= 0:
                delay = self.store.grant(kind, work, grant_id)
                if delay == DAILY_EXHAUSTED:
                    raise ReserveReached(
                        "The day's HubSpot budget is down to the reserve kept for single "
                        "syncs (rate_limit option 'daily_reserve'); the backfill stops here.",
                        category="RATE_LIMITS",
                    )
                if delay <= 0:
                    with self._lock:
                        if kind == "default" and self._pace:
                            self._next_paced = self._clock() + self._pace
                        self.acquired += 1
                        self.waited += waited
                    return Ticket(kind, grant_id)
            self._sleep(delay)
            waited += delay

    def release(self, ticket: Ticket) -> None:
        """Mark the request of ``ticket`` as answered.

        Its slot stays taken for ``period`` from now, so that the window is
        counted from the latest moment the server can have seen the request.
        An unreleased slot frees ``period`` after ``in_flight`` seconds.
        """
        self.store.release(ticket.kind, ticket.grant_id)

    def observe(self, headers: Mapping[str, str]) -> None:
        """Read HubSpot's ``X-HubSpot-RateLimit-*`` headers from an answer.

        When HubSpot's window has the length of ``period`` but a lower
        ``Max`` than ``max_requests``, the lower figure becomes this limiter's
        budget (it is never raised). Requests HubSpot counts that this budget
        did not grant (other clients of the portal) take slots. When less than
        a tenth of HubSpot's window is left, bursts stop: the next requests go
        at HubSpot's sustained rate, ``interval / max`` apart, until an answer
        shows the window healthy again. The ``Daily`` and ``Daily-Remaining``
        headers tell how much of the day is left (see ``daily_reserve``).
        Answers without these headers (search answers) change nothing.
        """
        limit = _header_number(headers, "X-HubSpot-RateLimit-Max")
        remaining = _header_number(headers, "X-HubSpot-RateLimit-Remaining")
        interval_ms = _header_number(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
        daily = _header_number(headers, "X-HubSpot-RateLimit-Daily")
        daily_remaining = _header_number(headers, "X-HubSpot-RateLimit-Daily-Remaining")
        day = (int(daily), int(daily_remaining)) if daily and daily_remaining is not None else None
        if limit is None or remaining is None or interval_ms is None or limit <= 0:
            if day is not None:
                self.store.correct(None, None, day)
            return
        interval = interval_ms / 1000.0
        if math.isclose(interval, self.period):
            self.store.lower_limit("default", max(1, int(limit)))
        self.store.correct(max(0, int(limit - remaining)), interval, day)
        low_water = max(1.0, limit * _LOW_WATER_SHARE)
        with self._lock:
            if remaining >= low_water:
                self._pace = 0.0
                self._next_paced = 0.0
            else:
                self._pace = interval / limit
                self._next_paced = max(self._next_paced, self._clock() + self._pace)

    def pause(self, seconds: float) -> None:
        """Hold every request of every thread (and, when shared, every process)
        for ``seconds`` (after a 429)."""
        self.store.pause(seconds)
        with self._lock:
            self.pauses += 1

    def __repr__(self) -> str:
        return (
            f"RateLimiter(max_requests={self.max_requests}, period={self.period}, "
            f"search_per_second={self.search_per_second}, store={self.store!r})"
        )


def _build_store(
    shared: Any, limits: dict[str, Limits], key: str, processes: int, clock: Callable[[], float]
) -> Store:
    if shared is None:
        return LocalStore(limits, clock)
    if isinstance(shared, str) and shared.startswith(("redis://", "rediss://", "unix://")):
        store: Any = RedisStore(shared, key, limits)
    elif shared == "database":
        store = DatabaseStore(key, limits)
    elif isinstance(shared, Database):
        store = DatabaseStore(key, limits, shared)
    elif all(hasattr(shared, name) for name in ("grant", "release", "pause", "correct")):
        store = shared
    else:
        raise ConfigurationError(
            "rate_limit option 'shared' must be None, a Redis URL (redis://...), "
            f"'database' or a store object, not {shared!r}."
        )
    return FallbackStore(store, limits, processes)


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


def _check_share(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise ConfigurationError(
            f"rate_limit option {name!r} must be a share from 0 up to (not including) 1, "
            f"not {value!r}."
        )


def _header_number(headers: Mapping[str, str], name: str) -> float | None:
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
