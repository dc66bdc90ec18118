"""Rate-limit windows and fault injection of the HubSpot emulator."""

from __future__ import annotations

import collections
import random
import threading
from typing import Any

from .errors import error_body

DROP = "drop"


class Window:
    """A rolling window admitting ``limit`` requests per ``seconds``.

    Rejected requests do not consume budget, so a client that keeps retrying
    too early is not punished beyond the window it already filled.
    """

    def __init__(self, limit: int, seconds: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.times: collections.deque[float] = collections.deque()

    def admit(self, now: float) -> int | None:
        """Count a request at ``now``: the remaining budget, or None when over the limit."""
        if self.remaining(now) == 0:
            return None
        self.times.append(now)
        return self.limit - len(self.times)

    def remaining(self, now: float) -> int:
        """The budget left at ``now``, counting nothing."""
        while self.times and self.times[0] <= now - self.seconds:
            self.times.popleft()
        return max(0, self.limit - len(self.times))

    def reset(self) -> None:
        """Forget every counted request."""
        self.times.clear()


class Outcome:
    """A forced answer: ``status`` (an int or ``"drop"``), optional body and headers.

    ``commit`` means the request is still carried out; only its answer is replaced.
    A ``status`` of None keeps the real answer (the request is carried out).

    ``drip`` (seconds, 0: off) writes the answer slowly, ``drip_step`` bytes
    every ``drip`` seconds: only the body, or the whole answer from its status
    line when ``drip_head`` is true.
    """

    __slots__ = ("status", "body", "headers", "commit", "drip", "drip_step", "drip_head")

    def __init__(
        self,
        status: int | str | None,
        body: Any = None,
        headers: Any = None,
        commit=False,
        drip: float = 0.0,
        drip_step: int = 1,
        drip_head: bool = False,
    ):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})
        self.commit = commit
        self.drip = drip
        self.drip_step = drip_step
        self.drip_head = drip_head


def default_body(status: int) -> Any:
    """What an injected error answers with: JSON for 500, a gateway's HTML page for 502/503."""
    if status in (502, 503, 504):
        return f"<html><body><h1>{status} Bad Gateway or Service Unavailable</h1></body></html>"
    return error_body("internal error", "INTERNAL_ERROR" if status >= 500 else "ERROR")


class Faults:
    """Seeded random faults plus a queue of forced outcomes; thread-safe."""

    def __init__(
        self,
        seed: int,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        burst_429_rate: float = 0.0,
        latency: float | tuple[float, float] = 0.0,
    ) -> None:
        self.lock = threading.Lock()
        self.seed = seed
        self.rng = random.Random(seed)
        self.queue: collections.deque[Outcome] = collections.deque()
        self.error_rate = error_rate
        self.drop_rate = drop_rate
        self.burst_429_rate = burst_429_rate
        self.latency = latency

    def configure(self, **settings: Any) -> None:
        """Change any of error_rate, drop_rate, burst_429_rate, latency."""
        with self.lock:
            for name, value in settings.items():
                if name not in ("error_rate", "drop_rate", "burst_429_rate", "latency"):
                    raise TypeError(f"unknown fault setting {name!r}")
                setattr(self, name, value)

    def force(self, outcome: Outcome, times: int) -> None:
        """Answer the next ``times`` requests with ``outcome``."""
        with self.lock:
            self.queue.extend([outcome] * times)

    def reset(self) -> None:
        """Drop forced outcomes and restart the random sequence from the seed."""
        with self.lock:
            self.queue.clear()
            self.rng = random.Random(self.seed)

    def draw(self) -> tuple[Outcome | str | None, float]:
        """The next request's fate and its added latency in seconds.

        The fate is an :class:`Outcome` (forced), ``"error"``, ``"429"``, ``"drop"``
        or None (serve normally). Three random numbers are drawn per request
        whatever the settings, so a seed gives the same sequence of outcomes.
        """
        with self.lock:
            fate_draw, pick, jitter = self.rng.random(), self.rng.random(), self.rng.random()
            latency = self.latency
            if isinstance(latency, (tuple, list)):
                low, high = latency
                latency = low + (high - low) * jitter
            if self.queue:
                return self.queue.popleft(), latency
            threshold = self.drop_rate
            if fate_draw < threshold:
                return DROP, latency
            threshold += self.error_rate
            if fate_draw < threshold:
                status = (500, 502, 503)[min(int(pick * 3), 2)]
                return Outcome(status, default_body(status)), latency
            threshold += self.burst_429_rate
            if fate_draw < threshold:
                return "429", latency
            return None, latency
