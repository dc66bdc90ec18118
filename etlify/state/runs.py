"""The run history: one row per batch sync, in the application's own database.

:func:`start_run` inserts a row when a run begins (and prunes the runs older
than ``config.run_retention_days``); :func:`finish_run` stores its end, its
counts and what stopped it. A row whose ``finished_at`` stays ``None`` is a run
still going, or one whose process died. :func:`recent_runs` and
:func:`last_run_per_crm` read them back, for ``etlify history`` and
``etlify status``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from typing import Any

from peewee import AutoField, CharField, DateTimeField, IntegerField, TextField, fn

from ..config import config
from .tables import _StateModel

__all__ = [
    "COUNT_FIELDS",
    "SyncRun",
    "start_run",
    "finish_run",
    "recent_runs",
    "last_run_per_crm",
    "prune_runs",
]

#: The counts a run keeps, as :func:`finish_run` takes them.
COUNT_FIELDS = ("total", "synced", "not_modified", "skipped", "buffered", "errors", "busy")


class SyncRun(_StateModel):
    """One batch sync of one CRM: when, from where, what it did, why it stopped."""

    id = AutoField()
    started_at = DateTimeField()
    #: ``None``: still running, or the process died.
    finished_at = DateTimeField(null=True)
    crm_name = CharField(max_length=64)
    #: The resource types synced, sorted, comma-separated.
    models = TextField()
    #: ``"python"`` (an API call) or ``"cli"`` (``etlify sync``).
    source = CharField(max_length=32, default="python")
    total = IntegerField(default=0)
    synced = IntegerField(default=0)
    not_modified = IntegerField(default=0)
    skipped = IntegerField(default=0)
    buffered = IntegerField(default=0)
    errors = IntegerField(default=0)
    busy = IntegerField(default=0)
    #: HTTP requests the adapter sent; ``None``: not counted.
    requests = IntegerField(null=True)
    #: 429 answers seen; ``None``: not counted.
    rate_limited = IntegerField(null=True)
    #: Why the circuit breaker stopped the run: its first full message.
    stopped = TextField(null=True)
    #: JSON: ``{kind: {"count": n, "example": "Model #id: message"}}``.
    failures = TextField(null=True)

    class Meta:
        table_name = "etlify_runs"
        indexes = (
            (("crm_name", "id"), False),
            (("started_at",), False),
        )

    def __repr__(self) -> str:
        return (
            f"<SyncRun #{self.id} {self.crm_name} {self.models} "
            f"total={self.total} synced={self.synced} errors={self.errors}>"
        )

    @property
    def failure_counts(self) -> dict[str, Any]:
        """The failures by kind (``{kind: {"count": n, "example": ...}}``); ``{}`` when none."""
        return json.loads(self.failures) if self.failures else {}

    @property
    def duration(self) -> dt.timedelta | None:
        """How long the run took; ``None`` while it has no end."""
        if self.finished_at is None or self.started_at is None:
            return None
        return self.finished_at - self.started_at


def start_run(crm_name: str, models: Sequence[str], source: str = "python") -> int:
    """Record the start of a run of ``crm_name`` over ``models`` (resource types).

    The row's ``started_at`` is ``config.now()``; the runs older than
    ``config.run_retention_days`` are pruned (none when it is ``None``).
    Returns the run's id, for :func:`finish_run`.
    """
    run_id = SyncRun.insert(
        started_at=config.now(),
        crm_name=crm_name,
        models=",".join(sorted(set(models))),
        source=source,
    ).execute()
    prune_runs()
    return int(run_id)


def finish_run(
    run_id: int,
    counts: Mapping[str, int],
    *,
    requests: int | None = None,
    rate_limited: int | None = None,
    stopped: str | None = None,
    failures: Mapping[str, Any] | None = None,
) -> None:
    """Record the end of run ``run_id``: ``finished_at = config.now()`` and what it did.

    :param counts: among :data:`COUNT_FIELDS` (``total``, ``synced``,
        ``not_modified``, ``skipped``, ``buffered``, ``errors``, ``busy``);
        a missing one stays 0, an unknown one is ignored.
    :param requests: the HTTP requests the adapter sent (``None``: not counted).
    :param rate_limited: the 429 answers seen (``None``: not counted).
    :param stopped: why the circuit breaker stopped the run, its first full message.
    :param failures: ``{kind: {"count": n, "example": "Model #id: message"}}``,
        stored as JSON.

    A run that is no longer there (pruned) is left alone.
    """
    values: dict[str, Any] = {
        name: int(value) for name, value in counts.items() if name in COUNT_FIELDS
    }
    values.update(
        finished_at=config.now(),
        requests=requests,
        rate_limited=rate_limited,
        stopped=stopped,
        failures=None if failures is None else json.dumps(dict(failures), default=str),
    )
    SyncRun.update(values).where(SyncRun.id == run_id).execute()


def recent_runs(limit: int = 20, crm_name: str | None = None) -> list[SyncRun]:
    """The last ``limit`` runs (of ``crm_name`` only, when given), newest first."""
    query = SyncRun.select()
    if crm_name is not None:
        query = query.where(SyncRun.crm_name == crm_name)
    return list(query.order_by(SyncRun.id.desc()).limit(limit))


def last_run_per_crm() -> dict[str, SyncRun]:
    """``{crm_name: its newest run}`` of every CRM that has runs, by CRM name (one query)."""
    newest = SyncRun.select(fn.MAX(SyncRun.id)).group_by(SyncRun.crm_name)
    query = SyncRun.select().where(SyncRun.id.in_(newest)).order_by(SyncRun.crm_name)
    return {run.crm_name: run for run in query}


def prune_runs() -> int:
    """Delete the runs started more than ``config.run_retention_days`` days ago.

    Returns how many were deleted; 0 when the retention is ``None`` (every
    run is kept).
    """
    days = config.run_retention_days
    if days is None:
        return 0
    cutoff = config.now() - dt.timedelta(days=days)
    return SyncRun.delete().where(SyncRun.started_at < cutoff).execute()
