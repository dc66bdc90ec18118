"""The command line of the HubSpot emulator: ``python -m etlify.testing.hubspot``."""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Sequence

from .server import DAILY_LIMIT, RATE_LIMIT, FakeHubSpot

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a FakeHubSpot until interrupted; prints its URL and token first."""
    parser = argparse.ArgumentParser(
        prog="python -m etlify.testing.hubspot", description="Serve a local HubSpot emulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--token", default=None, help="accepted bearer token (random if unset)")
    parser.add_argument(
        "--rate-limit",
        type=_limit,
        default=RATE_LIMIT,
        help=f"requests per rolling 10 s window (default {RATE_LIMIT}, a Professional or "
        "Enterprise private app's; 0: no window and no 10-second headers)",
    )
    parser.add_argument(
        "--daily-limit",
        type=_limit,
        default=DAILY_LIMIT,
        help=f"requests per day (default {DAILY_LIMIT:,}, a Professional private app's; "
        "0: no daily limit and no daily headers)",
    )
    parser.add_argument("--search-rate-limit", type=int, default=None, help="searches per second")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    # A plain SIGTERM should stop the server as cleanly as Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    fake = FakeHubSpot(
        token=args.token,
        host=args.host,
        port=args.port,
        rate_limit=args.rate_limit or None,
        daily_limit=args.daily_limit or None,
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


def _limit(text: str) -> int:
    """A limit option's value: an int >= 0 (0 turns the limit off)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 (off) or more, not {value}")
    return value
