"""``BatchSync``: bring every stale record up to date, batch by batch."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from typing import Any, NamedTuple

from . import declarations, jobs, registry, signals
from .declarations import SyncConfig
from .engine import sync_batch
from .engine.failures import describe_error
from .engine.report import RunReport
from .errors import ConfigurationError
from .history import RunRecorder
from .progress import progress_callback
from .sql import fetch_tuples
from .stale import Finder
from .state import read_moment, tables_required
from .state.rows import ROW_FIELDS, Row, blank_row

__all__ = ["BatchSync"]

logger = logging.getLogger("etlify")


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
        source: str = "python",
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
        :param source: where the run was started from, as the run history
            (``etlify_runs``) records it: ``"python"``, ``"cli"``...
        :returns: ``{"total", "per_model", "errors", "synced", "not_modified",
            "skipped", "buffered"}`` (counts; only ``total`` and ``per_model``
            are known when async); ``"busy"`` when some records were held by
            another worker; ``"stopped": {crm_name: message}`` when a CRM's
            circuit breaker stopped its part of the run (the rest is left
            stale); ``"failures": {crm_name: {kind: {"count", "example"}}}``
            when records failed.

        Inline, the run leaves one row per CRM in the run history
        (:mod:`etlify.history`; the stats, as sent on ``batch_finished``,
        hold their ids as ``run_ids``, ``{crm_name: id}``, and the first as
        ``run_id``) and ends with one log line per
        CRM summing it up (INFO, WARNING when records failed or the run was
        stopped); only the first few failures of each kind are logged one by
        one at WARNING.
        """
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigurationError(f"batch_size must be a positive integer, not {batch_size!r}")
        configs = [
            config_
            for config_ in _dependency_order(declarations.configs(models, crm_name))
            if registry.crm(config_.crm_name).enabled
        ]
        run = _Run(configs, batch_size, progress_callback(progress), dry_run)
        with tables_required():
            if not async_ and not dry_run:
                recorder = RunRecorder(configs, source)
                try:
                    run.inline()
                except BaseException as error:
                    run.stopped.update({name: describe_error(error) for name in recorder.ids})
                    raise
                finally:
                    recorder.finish(run.per_crm, run.stopped, run.report.failures)
                run.log_summary()
            elif dry_run:
                run.inline()
            else:
                run.dispatch()
        stats = run.stats()
        if dry_run:
            stats["plan"] = run.plan
        if not async_ and not dry_run:
            stats["run_ids"] = dict(recorder.ids)
            stats["run_id"] = next(iter(recorder.ids.values()), None)
        signals.send(signals.batch_finished, cls, crm_name=crm_name, stats=stats)
        return stats


class _Run:
    """One :meth:`BatchSync.call`: the batches of every model, and what they did."""

    def __init__(self, configs: list[SyncConfig], batch_size: int, progress: Any, dry_run: bool):
        self.configs = configs
        self.batch_size = batch_size
        self.progress = progress
        self.dry_run = dry_run
        self.counts: Counter = Counter()
        #: ``{crm_name: Counter}``: ``total`` and the outcome counters of each CRM.
        self.per_crm: dict[str, Counter] = {c.crm_name: Counter() for c in configs}
        self.per_model: Counter = Counter()
        self.report = RunReport()
        self.plan: list[dict[str, Any]] = []
        self.stopped: dict[str, str] = {}
        self.done = 0

    def batches(self, with_records: bool = False) -> Any:
        """``(config, pks, page)`` of every batch, the bar moved after each; ``page`` is
        the batch's :class:`Page` (its records read too ``with_records``, where they can be)."""
        queries = [(config_, Finder.query(config_)) for config_ in self.configs]
        self.total = sum(query.count() for _, query in queries) if self.progress else 0
        if self.progress:
            self.progress(0, self.total)
        for config_, query in queries:
            if config_.crm_name in self.stopped:
                continue
            for pks, page in _batches(config_, query, self.batch_size, with_records):
                if config_.crm_name in self.stopped:
                    break
                self.per_model[config_.resource_type] += len(pks)
                self.per_crm[config_.crm_name]["total"] += len(pks)
                yield config_, pks, page
                self.done += len(pks)
                if self.progress:
                    self.progress(self.done, max(self.done, self.total))

    def inline(self) -> None:
        """Sync every batch here."""
        for config_, pks, page in self.batches(with_records=True):
            outcome = sync_batch(
                config_,
                pks,
                dry_run=self.dry_run,
                rows=page.rows,
                records=page.records,
                read_at=page.read_at,
                report=self.report,
                on_sent=_advancing(self.progress, self.done, len(pks), self.total),
            )
            self.counts.update(outcome.counts)
            self.per_crm[config_.crm_name].update(outcome.counts)
            self.plan.extend(outcome.plan)
            if outcome.stopped is not None:
                adapter = registry.crm(config_.crm_name).adapter
                self.stopped[config_.crm_name] = describe_error(outcome.stopped, adapter)

    def dispatch(self) -> None:
        """Hand every batch to the jobs."""
        for config_, pks, _ in self.batches():
            jobs.dispatch_batch(config_, pks)

    def log_summary(self) -> None:
        """One line per CRM: INFO, or WARNING when records failed or the run stopped."""
        for name, counts in self.per_crm.items():
            failing = counts["errors"] or name in self.stopped
            logger.log(
                logging.WARNING if failing else logging.INFO,
                "etlify: BatchSync to %s",
                self.report.summary(name, counts, self.stopped.get(name)),
            )

    def stats(self) -> dict[str, Any]:
        """The statistics :meth:`BatchSync.call` returns."""
        counts = self.counts
        stats: dict[str, Any] = {
            "total": self.done,
            "per_model": dict(self.per_model),
            "errors": counts["errors"],
            "synced": counts["synced"],
            "not_modified": counts["not_modified"],
            "skipped": counts["skipped"],
            "buffered": counts["buffered"],
        }
        if counts["busy"]:
            stats["busy"] = counts["busy"]
        if self.stopped:
            stats["stopped"] = dict(self.stopped)
        if self.report.failures:
            stats["failures"] = self.report.failures
        return stats


def _advancing(report: Any, done: int, size: int, total: int) -> Any:
    """The ``on_sent`` of a batch of ``size`` records after ``done``: moves the bar
    per request, not per batch (``None`` without a bar)."""
    if not report:
        return None
    return lambda sent: report(done + min(sent, size), max(done + size, total))


class Page(NamedTuple):
    """One batch as the finder read it: the sync rows (``{str(pk): Row}``) and, when
    read with them, the records (``{str(pk): record}``) and when (see ``read_moment``)."""

    rows: dict[str, Row]
    records: dict[str, Any] | None = None
    read_at: dt.datetime | None = None


def _batches(config_: SyncConfig, query: Any, batch_size: int, with_records: bool = False):
    """``(primary keys, Page)`` of the stale records, by keyset pagination (no OFFSET).

    The finder's query already joins each record's sync row; its columns
    come along, so a batch need not read the rows again. ``with_records``
    reads the records in the same query, unless their sync must read
    something before them (dependency signatures) or prefetch their relations.
    """
    model = config_.model
    pk = model._meta.primary_key
    with_records = with_records and not config_.prefetch and not Finder.tracks_signatures(config_)
    columns = [*model._meta.sorted_fields] if with_records else [pk]
    names = [field.name for field in columns]
    query = query.select(*columns, *ROW_FIELDS)
    at = next(i for i, field in enumerate(columns) if field is pk)
    last = None
    while True:
        page = query if last is None else query.where(pk > last)
        read_at = read_moment(model) if with_records else None  # before the records
        found = fetch_tuples(page.limit(batch_size), (*columns, *ROW_FIELDS))
        if not found:
            return
        pks = [values[at] for values in found]
        rows = {
            str(values[at]): Row._make(values[len(columns) :])
            if values[len(columns)] is not None
            else blank_row(str(values[at]))
            for values in found
        }
        records = None
        if with_records:
            records = {
                str(values[at]): _record(model, names, values[: len(columns)]) for values in found
            }
        yield pks, Page(rows, records, read_at)
        if len(found) < batch_size:
            return
        last = pks[-1]


def _record(model: Any, names: list[str], values: tuple) -> Any:
    """A ``model`` instance of the field values read, as Peewee makes one of a row."""
    record = model(__no_default__=1, **dict(zip(names, values)))
    record._dirty.clear()
    return record


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
