"""``etlify create-tables``, ``status``, ``errors`` and ``reset-errors``."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

from .. import declarations
from ..errors import ERROR_KINDS
from ..migrate import upgrade_tables
from ..stale import Finder
from ..state import CrmSynchronisation, SyncRun, ensure_bound, last_run_per_crm, rows
from .app import add_filters, chosen_crm, chosen_models, format_table, load_app, positive_int
from .history import last_run_line

__all__ = ["add_commands"]


def add_commands(commands: Any) -> None:
    """Add ``create-tables``, ``status``, ``errors`` and ``reset-errors``."""
    create = commands.add_parser(
        "create-tables",
        help="create the sync-state tables, upgrading older ones in place",
        description="Create Etlify's sync-state tables; add the columns and indexes that "
        "tables made by older versions (or by the Ruby gem) lack, keeping their rows.",
    )
    create.set_defaults(run=run_create_tables)

    status = commands.add_parser(
        "status",
        help="per model and CRM: total, synced, stale, failing, over budget",
        description="Count, per model and CRM, the records, those synced, stale, failing "
        "and over their retry budget (SQL counts; no record is loaded).",
    )
    add_filters(status, "counts")
    status.set_defaults(run=run_status)

    errors = commands.add_parser(
        "errors",
        help="the failing records and their last error",
        description="List the failing records, newest failure first.",
    )
    add_filters(errors, "records")
    errors.add_argument(
        "--kind",
        action="append",
        metavar="KIND",
        help=f"only records whose last error is of this kind ({', '.join(ERROR_KINDS)}); "
        "repeatable",
    )
    errors.add_argument(
        "--full",
        action="store_true",
        help="print each whole last error under its record, not a table of first lines",
    )
    errors.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="at most N (default: 20)"
    )
    errors.set_defaults(run=run_errors)

    reset = commands.add_parser(
        "reset-errors",
        help="clear error counts so that the next sync retries",
        description="Clear the error count and last error of failing records, so that the "
        "next sync retries them.",
    )
    add_filters(reset, "records")
    reset.add_argument(
        "--id", action="append", metavar="ID", help="only the record with this id; repeatable"
    )
    reset.set_defaults(run=run_reset_errors)


def run_create_tables(args: argparse.Namespace) -> int:
    """Create or upgrade the sync-state tables, printing each change."""
    load_app(args, needs_models=False)
    changes = upgrade_tables(ensure_bound())
    for change in changes:
        print(change)
    print("sync-state tables up to date" if changes else "sync-state tables already up to date")
    return 0


def run_status(args: argparse.Namespace) -> int:
    """Print the counts of every model and CRM, then the last run of each CRM that has one."""
    load_app(args)
    headers = ["model", "crm", "total", "synced", "stale", "failing", "over budget"]
    rows = []
    crm_name = chosen_crm(args)
    for config_ in declarations.configs(chosen_models(args), crm_name):
        counts = Finder.counts(config_)
        rows.append(
            [config_.resource_type, config_.crm_name]
            + [counts[key] for key in ("total", "synced", "stale", "failing", "exhausted")]
        )
    print(format_table(headers, rows))
    if not SyncRun.table_exists():
        print("\nno run history: run `etlify create-tables` to add the etlify_runs table")
        return 0
    last_runs = [
        last_run_line(run)
        for name, run in last_run_per_crm().items()
        if crm_name is None or name == crm_name
    ]
    if last_runs:
        print("\n" + "\n".join(last_runs))
    return 0


def run_errors(args: argparse.Namespace) -> int:
    """Print the failing records, newest failure first (``--full``: their whole errors)."""
    load_app(args)
    query = rows.failing(*_chosen(args))
    if args.kind:
        query = query.where(CrmSynchronisation.last_error_kind.in_(args.kind))
    failing = list(query.limit(args.limit))
    if not failing:
        print("no failing records")
        return 0
    if args.full:
        print("\n\n".join(_full_error(row) for row in failing))
        return 0
    table = [
        _error_cells(row) + [row.error_count, _first_line(row.last_error, 160)] for row in failing
    ]
    headers = ["when", "model", "id", "crm", "kind", "errors", "last error"]
    print(format_table(headers, table))
    return 0


def run_reset_errors(args: argparse.Namespace) -> int:
    """Reset the error counts of the chosen failing records; print how many."""
    load_app(args)
    count = rows.reset_errors(*_chosen(args), args.id)
    print(f"reset {count} record{'' if count == 1 else 's'}")
    return 0


def _chosen(args: argparse.Namespace) -> tuple[list[str] | None, str | None]:
    """The resource types and the CRM the filters chose (``None``: all)."""
    models = chosen_models(args)
    names = None if models is None else [declarations.resource_type(m) for m in models]
    return names, chosen_crm(args)


def _error_cells(row: Any) -> list[Any]:
    """When, model, id, CRM and kind of the failing ``row``."""
    return [
        row.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        row.resource_type,
        row.resource_id,
        row.crm_name,
        row.last_error_kind or "",
    ]


def _full_error(row: Any) -> str:
    """A header line of the failing ``row``, then its whole last error, indented."""
    count = f"{row.error_count} error{'' if row.error_count == 1 else 's'}"
    header = "  ".join([*_error_cells(row), count])
    return f"{header}\n{textwrap.indent(row.last_error.strip(), '    ')}"


def _first_line(text: str | None, width: int) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else ""
    return line if len(line) <= width else line[: width - 3] + "..."
