"""A shared budget that keeps working when its store is out of reach.

While the shared store (Redis, the database) cannot be reached, each process
falls back to a local window holding its ``1/processes`` share of the budget,
starting full, since it cannot know what the others just sent. It says so
once at WARNING, tries the shared store again every few seconds, and says so
at INFO when it is back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from .stores import LocalStore, StoreUnavailable
from .window import Limits

__all__ = ["FallbackStore", "RETRY_EVERY"]

logger = logging.getLogger("etlify")

#: Seconds between two attempts to reach a shared store that was out of reach.
RETRY_EVERY = 5.0


class FallbackStore:
    """``store``, or this process's share of the budget while it is out of reach.

    :param store: the shared store.
    :param limits: the budget's limits per request kind.
    :param processes: how many processes share the budget, at most.
    """

    def __init__(self, store: Any, limits: Mapping[str, Limits], processes: int) -> None:
        self.shared = store
        self.processes = processes
        self._limits = dict(limits)
        self._lock = threading.Lock()
        self._local: LocalStore | None = None
        self._retry_at = 0.0

    @property
    def degraded(self) -> bool:
        """True while this process counts on its local share."""
        return self._local is not None

    def grant(self, kind: str, work: str, grant_id: str) -> float:
        local = self._local
        if local is None or self._probe_due():
            try:
                delay = self.shared.grant(kind, work, grant_id)
            except StoreUnavailable as error:
                local = self._fall_back(error)
            else:
                if local is not None:
                    self._recover()
                return delay
        return local.grant(kind, work, grant_id)

    def _probe_due(self) -> bool:
        """True for the one thread that tries the shared store again, when due."""
        with self._lock:
            if time.monotonic() < self._retry_at:
                return False
            self._retry_at = time.monotonic() + RETRY_EVERY
            return True

    def release(self, kind: str, grant_id: str) -> None:
        self._call("release", kind, grant_id)

    def pause(self, seconds: float) -> None:
        self._call("pause", seconds)

    def correct(self, used: int | None, interval: float | None, daily: Any) -> None:
        self._call("correct", used, interval, daily)

    def lower_limit(self, kind: str, limit: int) -> None:
        self._call("lower_limit", kind, limit)

    def _call(self, name: str, *args: Any) -> None:
        local = self._local
        if local is not None:
            getattr(local, name)(*args)
            return
        try:
            getattr(self.shared, name)(*args)
        except StoreUnavailable as error:
            getattr(self._fall_back(error), name)(*args)

    def _fall_back(self, error: StoreUnavailable) -> LocalStore:
        with self._lock:
            self._retry_at = time.monotonic() + RETRY_EVERY
            if self._local is None:
                logger.warning(
                    "etlify: the shared rate budget is out of reach (%s); this process "
                    "keeps 1/%d of it locally until it is back",
                    error,
                    self.processes,
                )
                self._local = LocalStore(
                    {kind: self._share(limits) for kind, limits in self._limits.items()},
                    time.monotonic,
                    prefill=True,
                )
            return self._local

    def _recover(self) -> None:
        with self._lock:
            if self._local is not None:
                self._local = None
                logger.info("etlify: the shared rate budget is back; this process uses it again")

    def _share(self, limits: Limits) -> Limits:
        limit = max(1, limits.limit // self.processes)
        return replace(
            limits, limit=limit, reserve=min(limits.reserve // self.processes, limit - 1)
        )

    def __repr__(self) -> str:
        return f"FallbackStore({self.shared!r}, processes={self.processes})"
