"""``BatchSync``: bring every stale record up to date, batch by batch."""

from __future__ import annotations

from collections import Counter
from typing import Any

from . import declarations, jobs, registry, signals
from .declarations import SyncConfig
from .engine import sync_batch
from .errors import ConfigurationError
from .progress import progress_callback
from .stale import Finder
from .state import tables_required
from .state.rows import ROW_FIELDS, Row, blank_row

__all__ = ["BatchSync"]


class BatchSync:
    """Find the stale records (``etlify.Finder``) and sync them in batches."""

    @classmethod
    def call(
        cls,
        models: Any = None,
        crm_name: str | None = None,
        async_: bool = True,
        batch_size: int = 1000,
        progress: Any = None,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Sync the stale records of ``models`` (default: all) to ``crm_name`` (default: all).

        Walks the stale primary keys in keyset-paginated batches of
        ``batch_size`` (never all of them in memory). Inline (``async_=False``)
        each batch is synced here through the adapter's batch endpoints;
        async, one job per batch goes to the CRM's job system or the built-in
        pool. Disabled CRMs are skipped. Models are visited so that the
        targets of ``sync_dependencies`` come first.

        :param progress: ``True`` for a bar on stderr, or ``callable(done, total)``.
        :param dry_run: send and write nothing; the stats then hold ``"plan"``,
            one entry per record with the action and the payload.
        :returns: ``{"total", "per_model", "errors", "synced", "not_modified",
            "skipped", "buffered"}`` (counts; only ``total`` and ``per_model``
            are known when async).
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive integer, not {batch_size!r}")
        report = progress_callback(progress)
        inline = not async_ or dry_run
        configs = [
            config_
            for config_ in _dependency_order(declarations.configs(models, crm_name))
            if registry.crm(config_.crm_name).enabled
        ]
        with tables_required():
            queries = [(config_, Finder.query(config_)) for config_ in configs]
            total = sum(query.count() for _, query in queries) if report else 0
            counts: Counter = Counter()
            per_model: Counter = Counter()
            plan: list[dict[str, Any]] = []
            done = 0
            stopped: dict[str, str] = {}
            if report:
                report(0, total)
            for config_, query in queries:
                if config_.crm_name in stopped:
                    continue
                for pks, rows in _batches(config_, query, batch_size):
                    per_model[config_.resource_type] += len(pks)
                    if inline:
                        outcome = sync_batch(config_, pks, dry_run=dry_run, rows=rows)
                        counts.update(outcome.counts)
                        plan.extend(outcome.plan)
                        if outcome.stopped is not None:
                            stopped[config_.crm_name] = str(outcome.stopped)
                            break
                    else:
                        jobs.dispatch_batch(config_, pks)
                    done += len(pks)
                    if report:
                        report(done, max(done, total))
        stats: dict[str, Any] = {
            "total": done,
            "per_model": dict(per_model),
            "errors": counts["errors"],
            "synced": counts["synced"],
            "not_modified": counts["not_modified"],
            "skipped": counts["skipped"],
            "buffered": counts["buffered"],
        }
        if counts["busy"]:
            stats["busy"] = counts["busy"]
        if stopped:
            stats["stopped"] = stopped
        if dry_run:
            stats["plan"] = plan
        signals.send(signals.batch_finished, cls, crm_name=crm_name, stats=stats)
        return stats


def _batches(config_: SyncConfig, query: Any, batch_size: int):
    """``(primary keys, sync rows)`` of the stale records, by keyset pagination (no OFFSET).

    The finder's query already joins each record's sync row; its columns
    come along, so a batch need not read the rows again.
    """
    pk = config_.model._meta.primary_key
    query = query.select_extend(*ROW_FIELDS)
    last = None
    while True:
        page = query if last is None else query.where(pk > last)
        found = list(page.limit(batch_size).tuples())
        if not found:
            return
        pks = [values[0] for values in found]
        rows = {
            str(values[0]): Row._make(values[1:])
            if values[1] is not None
            else blank_row(str(values[0]))
            for values in found
        }
        yield pks, rows
        if len(found) < batch_size:
            return
        last = pks[-1]


def _dependency_order(configs: list[SyncConfig]) -> list[SyncConfig]:
    """``configs`` with each model after the models its ``sync_dependencies`` point at."""
    by_key = {(c.model, c.crm_name): c for c in configs}
    ordered: list[SyncConfig] = []
    visited: set = set()

    def visit(config_: SyncConfig) -> None:
        key = (config_.model, config_.crm_name)
        if key in visited:
            return
        visited.add(key)
        for name in config_.sync_dependencies:
            target = by_key.get((config_.model._meta.fields[name].rel_model, config_.crm_name))
            if target is not None:
                visit(target)
        ordered.append(config_)

    for config_ in configs:
        visit(config_)
    return ordered
