"""The command line of the HubSpot emulator: ``python -m etlify.testing.hubspot``."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

from .server import FakeHubSpot

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a FakeHubSpot until interrupted; prints its URL and token first."""
    parser = argparse.ArgumentParser(
        prog="python -m etlify.testing.hubspot", description="Serve a local HubSpot emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=None, help="accepted bearer token (random if unset)")
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per 10 s window")
    parser.add_argument("--search-rate-limit", type=int, default=None, help="searches per second")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # A plain SIGTERM should stop the server as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fake = FakeHubSpot(
        token=args.token,
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit,
        search_rate_limit=args.search_rate_limit,
        seed=args.seed,
    )
    try:
        with fake:
            print(f"FakeHubSpot listening on {fake.url}", flush=True)
            print(f"Token: {fake.token}", flush=True)
            while True:
                time.sleep(3600)
    except KeyboardInterrupt:
        pass
    return 0
