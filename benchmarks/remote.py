"""A FakeHubSpot in a process of its own, so its CPU and memory don't count against Etlify."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from typing import Any


class RemoteHubSpot:
    """Start ``FakeHubSpot(**options)`` in a child process; ask it for figures through a pipe."""

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.url = self.token = None

    def __enter__(self) -> RemoteHubSpot:
        context = multiprocessing.get_context("spawn")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self.options), daemon=True)
        self._process.start()
        self.url, self.token = self._conn.recv()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._call("stop")
        self._process.join(10)

    def _call(self, command: str, *args: Any) -> Any:
        self._conn.send((command, args))
        return self._conn.recv()

    def stats(self, with_times: bool = False) -> dict[str, Any]:
        """``{"requests", "statuses", "objects"}`` as the emulator saw them.

        ``with_times`` adds ``"times"`` (each request's arrival, monotonic) and
        ``"answers"`` (``(arrival, status)`` pairs).
        """
        return self._call("stats", with_times)

    def reset(self) -> None:
        """Forget the emulator's objects and requests."""
        self._call("reset")


def _serve(conn: Any, options: dict[str, Any]) -> None:
    from etlify.testing.hubspot import FakeHubSpot

    with FakeHubSpot(**options) as hs:
        conn.send((hs.url, hs.token))
        while True:
            command, args = conn.recv()
            if command == "stop":
                conn.send(None)
                return
            if command == "reset":
                hs.reset()
                conn.send(None)
            elif command == "stats":
                requests = hs.requests
                figures = {
                    "requests": len(requests),
                    "statuses": dict(Counter(r.status for r in requests)),
                    "objects": {t: hs.object_count(t) for t in ("contacts", "companies")},
                }
                if args[0]:
                    figures["times"] = [r.time for r in requests]
                    figures["answers"] = [(r.time, r.status) for r in requests]
                conn.send(figures)
