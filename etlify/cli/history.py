"""``etlify history``: the run history, kept in the ``etlify_runs`` table."""

from __future__ import annotations

import argparse
import datetime as dt
import textwrap
from typing import Any

from ..state import SyncRun, ensure_bound, recent_runs, tables_required
from ..state.runs import COUNT_FIELDS
from .app import UsageError, format_table, load_app, positive_int

__all__ = ["add_commands", "run_history", "last_run_line", "format_duration"]

#: The longest "stopped" cell of the history table.
STOPPED_WIDTH = 60


def add_commands(commands: Any) -> None:
    """Add ``history``."""
    history = commands.add_parser(
        "history",
        help="the last batch syncs: when, how long, what they did",
        description="List the last sync runs, newest first, from the etlify_runs table "
        "(--id: one run in full, with its failures by kind and why it stopped).",
    )
    history.add_argument(
        "--limit", type=positive_int, default=20, metavar="N", help="at most N runs (default: 20)"
    )
    history.add_argument("--crm", metavar="NAME", help="only the runs of this CRM")
    history.add_argument(
        "--id", type=positive_int, metavar="ID", help="print run ID in full, every field"
    )
    history.set_defaults(run=run_history)


def run_history(args: argparse.Namespace) -> int:
    """Print the last runs in a table, or (``--id``) one run in full."""
    load_app(args, needs_models=False)
    ensure_bound()
    if args.id is not None:
        with tables_required():
            run = SyncRun.get_or_none(SyncRun.id == args.id)
        if run is None:
            raise UsageError(f"no run with id {args.id}")
        print(_full_run(run))
        return 0
    with tables_required():
        runs = recent_runs(args.limit, args.crm)
    if not runs:
        print("no runs yet")
        return 0
    headers = [
        "id",
        "started",
        "duration",
        "crm",
        "source",
        "models",
        "total",
        "synced",
        "errors",
        "requests",
        "stopped",
    ]
    table = [
        [
            run.id,
            _moment(run.started_at),
            format_duration(run.duration),
            run.crm_name,
            run.source,
            run.models,
            run.total,
            run.synced,
            run.errors,
            "" if run.requests is None else run.requests,
            _first_line(run.stopped, STOPPED_WIDTH),
        ]
        for run in runs
    ]
    print(format_table(headers, table))
    return 0


def last_run_line(run: SyncRun) -> str:
    """The line ``etlify status`` prints about the last run of a CRM.

    ``"last run of hubspot: #12, 2026-12-06 21:00:00, 12.3 s, 1000 records,
    990 synced, 10 errors"``, and ``", stopped: <first line>"`` when the
    circuit breaker stopped it.
    """
    line = (
        f"last run of {run.crm_name}: #{run.id}, {_moment(run.started_at)}, "
        f"{format_duration(run.duration)}, {_plural(run.total, 'record')}, "
        f"{run.synced} synced, {_plural(run.errors, 'error')}"
    )
    if run.stopped:
        line += f", stopped: {_first_line(run.stopped)}"
    return line


def format_duration(duration: dt.timedelta | None) -> str:
    """``"12.3 s"``; ``"running"`` for a run without an end."""
    if duration is None:
        return "running"
    return f"{duration.total_seconds():.1f} s"


def _full_run(run: SyncRun) -> str:
    """Every field of ``run`` on its own line, its failures by kind, its whole stop message."""
    lines = [
        f"id: {run.id}",
        f"crm: {run.crm_name}",
        f"source: {run.source}",
        f"models: {run.models}",
        f"started: {_moment(run.started_at)}",
        "finished: "
        + (
            _moment(run.finished_at)
            if run.finished_at is not None
            else "not yet (running, or its process died)"
        ),
        f"duration: {format_duration(run.duration)}",
        *(f"{name}: {getattr(run, name)}" for name in COUNT_FIELDS),
        f"requests: {_counted(run.requests)}",
        f"rate_limited: {_counted(run.rate_limited)}",
    ]
    failures = run.failure_counts
    if failures:
        lines.append("failures:")
        for kind, count, example in _failures(failures):
            text = f"{kind}: {count}" + (f", e.g. {example}" if example else "")
            first, *rest = text.splitlines()
            lines.append(f"  {first}")
            lines += [textwrap.indent(line, "    ") for line in rest]
    else:
        lines.append("failures: none")
    stopped = (run.stopped or "").strip()
    if stopped:
        first, *rest = stopped.splitlines()
        lines.append(f"stopped: {first}")
        lines += [textwrap.indent(line, "    ") for line in rest]
    else:
        lines.append("stopped: no")
    return "\n".join(lines)


def _failures(failures: dict[str, Any]) -> list[tuple[str, Any, str]]:
    """``(kind, count, example)`` of each kind, the most frequent first."""
    rows = []
    for kind, value in failures.items():
        if isinstance(value, dict):
            rows.append((kind, value.get("count", ""), str(value.get("example") or "")))
        else:
            rows.append((kind, value, ""))
    return sorted(rows, key=lambda row: (-row[1] if isinstance(row[1], int) else 0, row[0]))


def _moment(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _counted(value: int | None) -> str:
    return "not counted" if value is None else str(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _first_line(text: str | None, width: int | None = None) -> str:
    lines = (text or "").strip().splitlines()
    line = lines[0] if lines else ""
    if width is None or len(line) <= width:
        return line
    return line[: width - 3] + "..."
