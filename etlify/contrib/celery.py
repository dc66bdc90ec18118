"""Run Etlify's async syncs as Celery tasks, on any number of workers.

::

    from celery import Celery
    from celery.schedules import crontab
    import etlify
    from etlify.contrib.celery import celery_jobs, stale_sync_task

    app = Celery("myapp", broker="amqp://guest:guest@127.0.0.1:5672//")  # or redis://...
    etlify.register("hubspot", adapter=..., job_class=celery_jobs(app, retries=3))
    stale_sync_task(app, batch_size=1000)
    app.conf.beat_schedule = {
        "etlify-stale-sync": {"task": "etlify.stale_sync", "schedule": crontab(minute="*/15")},
    }

and run ``celery -A myapp.tasks worker`` (plus ``celery -A myapp.tasks beat``
for the schedule). The web process and the workers must import the same
module, so that both know the models, the CRM registration and the tasks.

Two workers syncing one record at once never create two CRM objects: the
sync row's claim makes the second wait and then find nothing to send. A sync
that failed for a passing reason (kinds ``rate_limited`` and ``transient``)
is retried by Celery (``self.retry``) after ``retry_delay`` seconds, up to
``retries`` times, then fails with :class:`SyncFailed`; any other failure is
recorded on the sync row and not retried (the record stays stale for the
next stale sync, within its error budget).

Task arguments are JSON (Celery's default serializer): integer and string
primary keys travel as they are, any other (a UUID...) as its ``str()``.
A sync may run twice safely, so ``task_acks_late=True`` is a good fit: a sync
in flight when its worker dies is delivered again. Sync tasks return the
:class:`~etlify.Status` value (``"synced"``...); with no result backend
configured (Celery's default) nothing is stored.
"""

from __future__ import annotations

import inspect
import weakref
from typing import TYPE_CHECKING, Any

from celery import Celery

from etlify.jobs import connections, perform, perform_batch
from etlify.sync_stale import BatchSync

from .retries import RETRIED_ERROR_KINDS, SyncFailed, passing_failure

if TYPE_CHECKING:
    from celery.app.task import Task
    from celery.result import AsyncResult

__all__ = ["CeleryJobs", "SyncFailed", "celery_jobs", "stale_sync_task", "RETRIED_ERROR_KINDS"]

#: The task names Etlify defined on each app: Celery would silently keep one of two.
_defined: weakref.WeakKeyDictionary[Celery, set[str]] = weakref.WeakKeyDictionary()


class CeleryJobs:
    """A ``job_class`` whose jobs are tasks of one Celery app.

    :ivar sync_task: the Celery task syncing one record (``{name}.sync``).
    :ivar sync_batch_task: the Celery task syncing a batch of records of one
        model (``{name}.sync_batch``).
    """

    def __init__(self, app: Celery, retries: int, retry_delay: float, name: str) -> None:
        self.app = app
        _claim(app, f"{name}.sync", f"{name}.sync_batch")
        settings: dict[str, Any] = {
            "bind": True,
            "max_retries": retries,
            "default_retry_delay": retry_delay,
            # On this app only: a shared task would join every app finalized later.
            "shared": False,
        }

        def sync(task: Task, model_name: str, record_id: Any, crm_name: str) -> str:
            """Sync one record; retried when it failed for a passing reason."""
            status = perform(model_name, record_id, crm_name)
            failure = passing_failure(model_name, record_id, crm_name, status)
            if failure is not None:
                raise task.retry(exc=SyncFailed(failure))
            return status.value

        def sync_batch(
            task: Task, model_name: str, record_ids: list[Any], crm_name: str
        ) -> dict[str, int]:
            """Sync a batch of records of one model; counts by outcome."""
            return perform_batch(model_name, record_ids, crm_name)

        self.sync_task: Task = app.task(name=f"{name}.sync", **settings)(sync)
        self.sync_batch_task: Task = app.task(name=f"{name}.sync_batch", **settings)(sync_batch)

    def perform_later(self, model_name: str, record_id: Any, crm_name: str) -> AsyncResult:
        """Enqueue the sync of one record; Celery's result handle (its value: the status)."""
        return self.sync_task.apply_async((model_name, _job_id(record_id), crm_name))

    def perform_batch_later(
        self, model_name: str, record_ids: list[Any], crm_name: str
    ) -> AsyncResult:
        """Enqueue the sync of a batch of records; Celery's handle (its value: the counts)."""
        ids = [_job_id(record_id) for record_id in record_ids]
        return self.sync_batch_task.apply_async((model_name, ids, crm_name))

    def __repr__(self) -> str:
        return f"<CeleryJobs on {self.app.main!r}>"


def celery_jobs(
    app: Celery, *, retries: int = 3, retry_delay: float = 10.0, name: str = "etlify"
) -> CeleryJobs:
    """Define Etlify's sync tasks on ``app``; the ``job_class`` that enqueues them.

    Pass the result to ``etlify.register(..., job_class=...)`` or to
    ``Model.etlified_with(..., job_class=...)``. The tasks go to the app's
    default queue unless ``task_routes`` says otherwise.

    :param retries: how many times Celery retries a sync that failed for a
        passing reason (the tasks' ``max_retries``).
    :param retry_delay: seconds before each retry (``default_retry_delay``).
    :param name: prefix of the task names (``etlify.sync``, ``etlify.sync_batch``);
        change it to define the tasks twice on one app.
    :raises ValueError: when Etlify already defined tasks of these names on ``app``.
    """
    return CeleryJobs(app, retries, retry_delay, name)


def stale_sync_task(
    app: Celery, *, name: str = "etlify.stale_sync", **batch_sync_options: Any
) -> Task:
    """Define a task on ``app`` running ``BatchSync.call(**batch_sync_options)``.

    Schedule it with celery beat, e.g. ``app.conf.beat_schedule =
    {"etlify-stale-sync": {"task": "etlify.stale_sync", "schedule": crontab(minute="*/15")}}``,
    or queue a run with ``.delay()``.

    :param batch_sync_options: ``models``, ``crm_name``, ``async_`` (default
        ``True``: the batches become jobs of each CRM's ``job_class``),
        ``batch_size``...; JSON-serialisable or not, they stay in the
        process defining the task and never travel with it.
    :returns: the Celery task; its value is the batch sync's stats.
    :raises TypeError: for an option ``BatchSync.call`` does not take.
    :raises ValueError: when Etlify already defined a task of this name on ``app``.
    """
    inspect.signature(BatchSync.call).bind(**batch_sync_options)
    _claim(app, name)

    def sync_stale() -> dict[str, Any]:
        """Sync the stale records (``BatchSync.call``); the run's stats."""
        with connections():
            return BatchSync.call(**batch_sync_options)

    return app.task(name=name, shared=False)(sync_stale)


def _claim(app: Celery, *names: str) -> None:
    """Note that Etlify defines tasks ``names`` on ``app``; ValueError if it already did."""
    taken = _defined.setdefault(app, set())
    clash = sorted(taken.intersection(names))
    if clash:
        raise ValueError(
            f"Etlify's tasks {', '.join(clash)} are already defined on {app.main!r}: "
            "pass another name"
        )
    taken.update(names)


def _job_id(record_id: Any) -> Any:
    """``record_id`` as JSON carries it: an int or a str as it is, anything else as its str()."""
    if isinstance(record_id, str):
        return str(record_id)
    if isinstance(record_id, int) and not isinstance(record_id, bool):
        return int(record_id)
    return str(record_id)
