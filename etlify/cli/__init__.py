"""The ``etlify`` command line (also ``python -m etlify``).

``etlify --app MODULE COMMAND``: MODULE (or ``$ETLIFY_APP``) is the
application's module that configures Etlify and defines the models; it is
imported from the current directory. Bad use (a missing module, an unknown
model or CRM...) exits with status 2 and one line on stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from peewee import PeeweeException

from ..errors import ConfigurationError
from . import commands, demo, scaffold, sync
from .app import UsageError, one_line

__all__ = ["main", "build_parser"]


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (UsageError, ConfigurationError) as error:
        print(f"etlify {args.command}: {error}", file=sys.stderr)
        return 2
    except PeeweeException as error:
        hint = ""
        if any(table in str(error) for table in ("crm_synchronisations", "etlify_pending_syncs")):
            hint = " (run `etlify create-tables`)"
        print(f"etlify {args.command}: database error: {one_line(error)}{hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every command."""
    parser = argparse.ArgumentParser(
        prog="etlify",
        description="Mirror Peewee records into a CRM, idempotently.",
        epilog="Start with `etlify demo`, then `etlify init`.",
    )
    parser.add_argument(
        "--app",
        metavar="MODULE",
        default=os.environ.get("ETLIFY_APP"),
        help="the module that configures Etlify and defines the models (default: $ETLIFY_APP)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (demo, scaffold, commands, sync):
        module.add_commands(subparsers)
    return parser
