"""Which kind of work a request serves: a user's save or a backfill.

The engine marks a batch sync as :data:`~etlify.ratelimit.window.BACKFILL`
(:func:`working_as`); everything else is interactive. Rate budgets leave
interactive work its reserved share (see :mod:`etlify.ratelimit.window`).
The mark is a context variable, so it follows each thread and each job the
pool runs in the context that queued it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar

from .window import BACKFILL, INTERACTIVE

__all__ = ["current_work", "working_as"]

_work: ContextVar[str] = ContextVar("etlify_rate_work", default=INTERACTIVE)


def current_work() -> str:
    """``"interactive"`` or ``"backfill"``: the work the current context does."""
    return _work.get()


@contextlib.contextmanager
def working_as(work: str) -> Iterator[None]:
    """Count the requests made inside the block as ``work``."""
    if work not in (INTERACTIVE, BACKFILL):
        raise ValueError(f"work must be {INTERACTIVE!r} or {BACKFILL!r}, not {work!r}")
    token = _work.set(work)
    try:
        yield
    finally:
        _work.reset(token)
