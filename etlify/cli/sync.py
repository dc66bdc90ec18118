"""``etlify sync``: send the stale records, in batches."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from collections import Counter
from types import TracebackType
from typing import Any

from .. import declarations, jobs, registry, signals
from ..engine.outcomes import COUNTER, status_of
from ..sync_stale import BatchSync
from .app import add_filters, chosen_crm, chosen_models, load_app, positive_int

__all__ = ["add_commands", "run_sync", "describe_stats"]


def add_commands(commands: Any) -> None:
    """Add ``sync``."""
    sync = commands.add_parser(
        "sync",
        help="send the stale records to the CRM, in batches",
        description="Find the stale records (SQL) and sync them in batches. Exits with "
        "status 1 when some records failed.",
    )
    add_filters(sync, "records")
    sync.add_argument(
        "--inline",
        action="store_true",
        help="sync in this process (default: through the configured jobs, waiting for them)",
    )
    sync.add_argument(
        "--batch-size", type=positive_int, default=1000, metavar="N", help="default: 1000"
    )
    sync.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be sent, one line per record; send and write nothing",
    )
    sync.set_defaults(run=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    """Sync the stale records; print the plan (dry run) or the outcome."""
    load_app(args)
    models, crm_name = chosen_models(args), chosen_crm(args)
    configs = declarations.configs(models, crm_name)
    inline = args.inline or args.dry_run
    for name in dict.fromkeys(config_.crm_name for config_ in configs):
        if not registry.is_enabled(name):
            print(
                f"etlify sync: CRM {name!r} is disabled; its records are left alone",
                file=sys.stderr,
            )
    with Outcomes() as seen:
        stats = BatchSync.call(
            models=models,
            crm_name=crm_name,
            async_=not inline,
            batch_size=args.batch_size,
            progress=True if sys.stderr.isatty() and not args.dry_run else None,
            dry_run=args.dry_run,
        )
        jobs.wait()
    if args.dry_run:
        several = len({config_.crm_name for config_ in configs}) > 1
        for step in stats["plan"]:
            print(_plan_line(step, several))
    elif not inline:
        if _queued_elsewhere(configs):
            print(f"queued {_found(stats)} for the job workers")
            return 0
        stats.update(seen.counts)
    print(describe_stats(stats, dry_run=args.dry_run))
    return 1 if stats["errors"] else 0


def describe_stats(stats: dict[str, Any], dry_run: bool = False) -> str:
    """One line telling what a :class:`BatchSync` run did (or would do)."""
    if not stats["total"]:
        return "nothing to sync: every record is up to date"
    outcome = (
        f"{stats['synced']} {'to send' if dry_run else 'synced'}, "
        f"{stats['not_modified']} not modified, {stats['skipped']} skipped, "
        f"{stats['buffered']} buffered, {stats['errors']} failed"
    )
    return f"{_found(stats)}: {outcome}" + ("; dry run, nothing sent" if dry_run else "")


def _found(stats: dict[str, Any]) -> str:
    per_model = ", ".join(f"{name} {count}" for name, count in stats["per_model"].items())
    noun = "record" if stats["total"] == 1 else "records"
    return f"{stats['total']} stale {noun} ({per_model})"


def _plan_line(step: dict[str, Any], several_crms: bool) -> str:
    detail = step["error"] if step["action"] == "error" else step["payload"]
    text = json.dumps(detail, sort_keys=True, default=str, ensure_ascii=False)
    crm = f"{step['crm_name']} " if several_crms else ""
    return f"{crm}{step['model']} {step['id']} {step['action']} {text}"


def _queued_elsewhere(configs: list) -> bool:
    """Whether some of this work went to a job system whose outcomes this process never sees."""
    return any(
        config_.job_class is not None or registry.crm(config_.crm_name).job_class is not None
        for config_ in configs
    )


class Outcomes:
    """Counts the outcomes announced on the signals, from any thread, while active."""

    def __init__(self) -> None:
        self.counts: Counter = Counter(synced=0, not_modified=0, skipped=0, buffered=0, errors=0)
        self._lock = threading.Lock()
        self._receivers = {
            signal: self._receiver(signal)
            for signal in (signals.synced, signals.skipped, signals.buffered, signals.failed)
        }

    def _receiver(self, signal: Any) -> Any:
        def count(sender: Any, reason: str | None = None, **kwargs: Any) -> None:
            self._count(COUNTER[status_of(signal, reason)])

        return count

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.counts[outcome] += 1

    def __enter__(self) -> Outcomes:
        for signal, receiver in self._receivers.items():
            signal.connect(receiver, weak=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signal, receiver in self._receivers.items():
            signal.disconnect(receiver)
