"""Progress reporting for batch sync: a callable, or a small bar on stderr."""

from __future__ import annotations

import sys
import time
from typing import Any, Callable, TextIO

__all__ = ["ProgressBar", "progress_callback", "tqdm_bar"]


class ProgressBar:
    """A one-line progress bar, redrawn at most ten times a second."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream or sys.stderr
        self.width = width
        self._drawn_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        share = done / total if total else 1.0
        filled = int(self.width * share)
        bar = "#" * filled + "-" * (self.width - filled)
        end = "\n" if done >= total else ""
        self.stream.write(f"\r[{bar}] {done}/{total} {share:4.0%}{end}")
        self.stream.flush()


def tqdm_bar() -> Callable[[int, int], None] | None:
    """A ``(done, total)`` callable drawing a tqdm bar, when the ``progress`` extra is installed."""
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    bar = tqdm(file=sys.stderr, unit="record")

    def update(done: int, total: int) -> None:
        bar.total, bar.n = total, done
        bar.refresh()
        if done >= total:
            bar.close()

    return update


def progress_callback(progress: Any) -> Callable[[int, int], None] | None:
    """``progress`` as a ``(done, total)`` callable.

    ``True`` gives a bar on stderr: tqdm's when it is installed (the
    ``progress`` extra), else a small built-in one.
    """
    if progress is None or progress is False:
        return None
    if progress is True:
        return tqdm_bar() or ProgressBar()
    if not callable(progress):
        raise TypeError(f"progress must be True or a callable(done, total), not {progress!r}")
    return progress
