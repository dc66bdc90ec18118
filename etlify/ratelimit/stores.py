"""Where a rate budget's windows live: in this process, or shared.

A store holds the :class:`~etlify.ratelimit.window.WindowState` of each
request kind of one budget and applies the rules of
:mod:`etlify.ratelimit.window` to it atomically. :class:`LocalStore` keeps
them in memory for the threads of one process; the shared stores
(:class:`~etlify.ratelimit.redis_store.RedisStore`,
:class:`~etlify.ratelimit.database_store.DatabaseStore`) keep them where
every process and machine sees the same windows, and
:class:`~etlify.ratelimit.fallback.FallbackStore` keeps a process going on
its share when the shared one is out of reach.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from typing import Protocol

from . import window
from .window import Limits, WindowState

__all__ = ["Store", "LocalStore", "StoreUnavailable"]


class StoreUnavailable(Exception):
    """A shared store could not be reached (raised by its methods)."""


class Store(Protocol):
    """What a :class:`~etlify.ratelimit.RateLimiter` asks of its store."""

    def grant(self, kind: str, work: str, grant_id: str) -> float:
        """0.0 when ``grant_id`` got a slot of ``kind``; else the seconds to wait
        (or :data:`~etlify.ratelimit.window.DAILY_EXHAUSTED`)."""

    def release(self, kind: str, grant_id: str) -> None:
        """The request of ``grant_id`` was answered."""

    def pause(self, seconds: float) -> None:
        """Hold every grant of the budget for ``seconds``."""

    def correct(
        self, used: int | None, interval: float | None, daily: tuple[int, int] | None
    ) -> None:
        """Take in what the CRM reports of its window and of the day."""

    def lower_limit(self, kind: str, limit: int) -> None:
        """The CRM allows fewer than ``limit`` requests per window: use its figure."""


class LocalStore:
    """The windows of one process, shared by its threads.

    :param limits: the limits of each request kind.
    :param clock: a monotonic clock.
    :param prefill: start each window full (a fallback that cannot know what
        the other processes just sent).
    """

    def __init__(
        self, limits: Mapping[str, Limits], clock: Callable[[], float], *, prefill: bool = False
    ) -> None:
        self.limits = dict(limits)
        self._clock = clock
        self._lock = threading.Lock()
        self._states = {kind: WindowState() for kind in self.limits}
        if prefill:
            now = clock()
            for kind, state in self._states.items():
                period = self.limits[kind].period
                state.grants = {
                    f"prefill-{n}": now + period for n in range(self.limits[kind].limit)
                }

    def grant(self, kind: str, work: str, grant_id: str) -> float:
        with self._lock:
            now = self._clock()
            paused = self._states["default"].paused_until
            state = self._states[kind]
            state.paused_until = max(state.paused_until, paused)
            return window.grant(state, self.limits[kind], work, grant_id, now)

    def release(self, kind: str, grant_id: str) -> None:
        with self._lock:
            window.release(self._states[kind], self.limits[kind], grant_id, self._clock())

    def pause(self, seconds: float) -> None:
        with self._lock:
            window.pause(self._states["default"], seconds, self._clock())

    def correct(
        self, used: int | None, interval: float | None, daily: tuple[int, int] | None
    ) -> None:
        with self._lock:
            window.correct(
                self._states["default"],
                self.limits["default"],
                used,
                interval,
                daily,
                self._clock(),
            )

    def lower_limit(self, kind: str, limit: int) -> None:
        with self._lock:
            self.limits[kind] = window.lowered(self.limits[kind], limit)

    def __repr__(self) -> str:
        return "LocalStore()"
