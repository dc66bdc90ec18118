"""The ``etlify`` command line (also ``python -m etlify``).

``etlify --app MODULE COMMAND``: MODULE (or ``$ETLIFY_APP``) is the
application's module that configures Etlify and defines the models; it is
imported from the current directory. Bad use (a missing module, an unknown
model or CRM...) exits with status 2 and one line on stderr (``--traceback``:
the full traceback of a module that fails to import). With no command, the
help. Output piped into a reader that stops early (``| head``) ends quietly,
with status 141 as if SIGPIPE had ended the process.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType

from peewee import PeeweeException

from .. import __version__
from ..errors import ConfigurationError
from ..state import STATE_TABLES
from . import commands, demo, history, scaffold, sync
from .app import UsageError, one_line

__all__ = ["main", "build_parser", "command_help", "EXIT_BROKEN_PIPE"]

#: The exit status when the reader of the output went away: 128 + SIGPIPE,
#: what a shell reports for a process that SIGPIPE ended.
EXIT_BROKEN_PIPE = 141


def main(
    argv: Sequence[str] | None = None,
    *,
    prog: str = "etlify",
    app_module: ModuleType | None = None,
) -> int:
    """Run the command line; returns the exit status.

    ``prog`` names the command in usage and error lines; ``app_module`` is
    the application's module when it is imported already (``flask etlify``
    runs these same commands that way), instead of ``--app``.
    """
    try:
        try:
            return _run(argv, prog, app_module)
        finally:
            # Write out what is buffered while a closed pipe can still be caught
            # (also when argparse exits after printing the help).
            sys.stdout.flush()
    except BrokenPipeError:
        # https://docs.python.org/3/library/signal.html#note-on-sigpipe: the
        # interpreter's last flush at exit must not fail on the closed pipe.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _run(argv: Sequence[str] | None, prog: str, app_module: ModuleType | None) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    args.app_module = app_module
    if args.command is None:
        parser.print_help()
        return 0
    try:
        return args.run(args)
    except (UsageError, ConfigurationError) as error:
        cause = error.__cause__
        if args.traceback and cause is not None:
            traceback.print_exception(type(cause), cause, cause.__traceback__)
        else:
            print(f"{prog} {args.command}: {error}", file=sys.stderr)
        return 2
    except PeeweeException as error:
        hint = ""
        if any(table in str(error) for table in STATE_TABLES):
            hint = f" (run `{prog} create-tables`)"
        print(f"{prog} {args.command}: database error: {one_line(error)}{hint}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def build_parser(prog: str = "etlify") -> argparse.ArgumentParser:
    """The argument parser of every command, for the command line named ``prog``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Mirror Peewee records into a CRM, idempotently.",
        epilog="Start with `etlify demo`, then `etlify init`.",
    )
    parser.add_argument(
        "--app",
        metavar="MODULE",
        default=os.environ.get("ETLIFY_APP"),
        help="the module that configures Etlify and defines the models, or module:factory "
        "to call an app factory that does (default: $ETLIFY_APP)",
    )
    parser.add_argument(
        "--traceback",
        action="store_true",
        help="when the module fails to import, print the full traceback, not one line",
    )
    parser.add_argument("--version", action="version", version=f"etlify {__version__}")
    parser.set_defaults(app_module=None)
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in (demo, scaffold, commands, sync, history):
        module.add_commands(subparsers)
    return parser


def command_help() -> dict[str, str]:
    """``{command: its one-line help}`` of every command, in the order of ``--help``."""
    parser = build_parser()
    [commands] = [action for action in parser._actions if action.dest == "command"]
    return {action.dest: action.help or "" for action in commands._choices_actions}
