"""``etlify sync``: send the stale records, in batches."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import threading
from collections import Counter, defaultdict
from types import TracebackType
from typing import Any

from .. import declarations, jobs, registry, signals
from ..engine.failures import describe_error
from ..engine.outcomes import COUNTER, status_of
from ..engine.report import RunReport
from ..errors import error_kind
from ..history import RunRecorder
from ..sync_stale import BatchSync
from .app import add_filters, chosen_crm, chosen_models, load_app, positive_int

__all__ = ["add_commands", "run_sync", "describe_stats"]


def add_commands(commands: Any) -> None:
    """Add ``sync``."""
    sync = commands.add_parser(
        "sync",
        help="send the stale records to the CRM, in batches",
        description="Find the stale records (SQL) and sync them in batches. When records "
        "failed, or a CRM's circuit breaker stopped the run, ends with a summary on stderr "
        "(per CRM: failures by kind, an example of each, why it stopped) and exits with "
        "status 1.",
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
    enabled = [config_ for config_ in configs if registry.is_enabled(config_.crm_name)]
    # BatchSync records its inline runs; a run through the pool is recorded here.
    recorder = None if inline or _queued_elsewhere(enabled) else RunRecorder(enabled, "cli")
    with Outcomes() as seen:
        stats = BatchSync.call(
            models=models,
            crm_name=crm_name,
            async_=not inline,
            batch_size=args.batch_size,
            progress=True if sys.stderr.isatty() and not args.dry_run else None,
            dry_run=args.dry_run,
            source="cli",
        )
        jobs.wait()
    if recorder is not None:
        counts = {name: {"total": sum(c.values()), **c} for name, c in seen.per_crm.items()}
        recorder.finish(counts, _open_breakers(enabled), seen.report.failures)
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
    if args.dry_run:
        return 1 if stats["errors"] else 0
    stopped = {**_open_breakers(configs), **stats.get("stopped", {})}
    failing = [name for name, counts in seen.per_crm.items() if counts["errors"]]
    for name in dict.fromkeys([*failing, *stopped]):
        summary = seen.report.summary(name, seen.per_crm[name], stopped.get(name))
        print(f"etlify sync: {summary}", file=sys.stderr)
    return 1 if stats["errors"] or stopped else 0


def _open_breakers(configs: list) -> dict[str, str]:
    """``{crm_name: why}`` of the chosen CRMs whose circuit breaker is open now."""
    found = {}
    for name in dict.fromkeys(config_.crm_name for config_ in configs):
        entry = registry.crm(name)
        if entry.breaker.is_open and entry.breaker.reason is not None:
            found[name] = describe_error(entry.breaker.reason, entry.adapter)
    return found


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
    """Counts the outcomes announced on the signals, from any thread, while active:
    in all (``counts``), per CRM (``per_crm``), and the failures by kind (``report``)."""

    def __init__(self) -> None:
        self.counts: Counter = Counter(synced=0, not_modified=0, skipped=0, buffered=0, errors=0)
        self.per_crm: defaultdict[str, Counter] = defaultdict(Counter)
        self.report = RunReport()
        self._lock = threading.Lock()
        self._receivers = {
            signal: self._receiver(signal)
            for signal in (signals.synced, signals.skipped, signals.buffered, signals.failed)
        }

    def _receiver(self, signal: Any) -> Any:
        def count(
            sender: Any,
            reason: str | None = None,
            crm_name: str = "",
            error: BaseException | None = None,
            record: Any = None,
            **kwargs: Any,
        ) -> None:
            outcome = COUNTER[status_of(signal, reason)]
            with self._lock:
                self.counts[outcome] += 1
                self.per_crm[crm_name][outcome] += 1
                if error is not None:
                    adapter = registry.crm(crm_name).adapter
                    example = f"{sender.__name__} #{getattr(record, '_pk', '?')}: "
                    example += describe_error(error, adapter)
                    self.report.failed(crm_name, error_kind(error), example, logging.WARNING)

        return count

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
