"""A clock the tests set and move, for ``etlify.configure(now=...)``."""

from __future__ import annotations

import datetime as dt


class Clock:
    """Etlify's clock, moved by the tests (the suite's ``reset()`` restores the real one)."""

    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += dt.timedelta(**delta)
