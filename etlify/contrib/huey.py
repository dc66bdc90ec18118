"""Run Etlify's async syncs as Huey tasks, on any number of consumers.

::

    from huey import RedisHuey, crontab
    from etlify.contrib.huey import huey_jobs, stale_sync_task

    huey = RedisHuey("myapp")
    etlify.register("hubspot", adapter=..., job_class=huey_jobs(huey, retries=3))
    stale_sync_task(huey, crontab(minute="*/15"))

and run ``huey_consumer myapp.tasks.huey -w 4``. The web process and the
consumers must import the same module, so that both know the models, the CRM
registration and the tasks.

Two workers syncing one record at once never create two CRM objects: the
sync row's claim makes the second wait and then find nothing to send. A sync
that failed for a passing reason (kinds ``rate_limited`` and ``transient``)
raises :class:`SyncFailed` in its task, so that Huey retries it; any other
failure is recorded on the sync row and not retried (the record stays stale
for the next stale sync, within its error budget).

Sync tasks return the :class:`~etlify.Status` value (``"synced"``...): with
Huey's result store on (its default), create the Huey instance with
``results=False`` if nothing reads those results.
"""

from __future__ import annotations

import inspect
from typing import Any

from huey import Huey
from huey.api import Result, TaskWrapper

from etlify.jobs import connections, perform, perform_batch
from etlify.sync_stale import BatchSync

from .retries import RETRIED_ERROR_KINDS, SyncFailed, passing_failure

__all__ = ["HueyJobs", "SyncFailed", "huey_jobs", "stale_sync_task", "RETRIED_ERROR_KINDS"]

class HueyJobs:
    """A ``job_class`` whose jobs are tasks of one Huey instance.

    :ivar sync_task: the Huey task syncing one record.
    :ivar sync_batch_task: the Huey task syncing a batch of records of one model.
    """

    def __init__(self, huey: Huey, retries: int, retry_delay: float, name: str) -> None:
        self.huey = huey
        settings = {"retries": retries, "retry_delay": retry_delay}
        self.sync_task: TaskWrapper = huey.task(name=f"{name}_sync", **settings)(_sync)
        self.sync_batch_task: TaskWrapper = huey.task(name=f"{name}_sync_batch", **settings)(
            perform_batch
        )

    def perform_later(self, model_name: str, record_id: Any, crm_name: str) -> Result:
        """Enqueue the sync of one record; Huey's result handle (its value: the status)."""
        return self.sync_task(model_name, record_id, crm_name)

    def perform_batch_later(self, model_name: str, record_ids: list[Any], crm_name: str) -> Result:
        """Enqueue the sync of a batch of records; Huey's handle (its value: counts by outcome)."""
        return self.sync_batch_task(model_name, list(record_ids), crm_name)

    def __repr__(self) -> str:
        return f"<HueyJobs on {self.huey.name!r}>"


def huey_jobs(
    huey: Huey, *, retries: int = 3, retry_delay: float = 10.0, name: str = "etlify"
) -> HueyJobs:
    """Define Etlify's sync tasks on ``huey``; the ``job_class`` that enqueues them.

    Pass the result to ``etlify.register(..., job_class=...)`` or to
    ``Model.etlified_with(..., job_class=...)``.

    :param retries: how many times Huey retries a task that raised.
    :param retry_delay: seconds between those retries.
    :param name: prefix of the task names (``etlify_sync``, ``etlify_sync_batch``);
        change it to define the tasks twice on one Huey instance.
    :raises ValueError: when tasks of these names are already defined on ``huey``.
    """
    return HueyJobs(huey, retries, retry_delay, name)


def stale_sync_task(
    huey: Huey, schedule: Any, *, name: str = "etlify_stale_sync", **batch_sync_options: Any
) -> TaskWrapper:
    """Define a periodic task on ``huey`` running ``BatchSync.call(**batch_sync_options)``.

    :param schedule: when to run, e.g. ``huey.crontab(minute="*/15")``.
    :param batch_sync_options: ``models``, ``crm_name``, ``async_`` (default
        ``True``: the batches become jobs of each CRM's ``job_class``),
        ``batch_size``.
    :returns: the Huey task; its value is the batch sync's stats.
    :raises TypeError: for an option ``BatchSync.call`` does not take.
    """
    inspect.signature(BatchSync.call).bind(**batch_sync_options)

    def sync_stale() -> dict[str, Any]:
        with connections():
            return BatchSync.call(**batch_sync_options)

    return huey.periodic_task(schedule, name=name)(sync_stale)


def _sync(model_name: str, record_id: Any, crm_name: str) -> str:
    status = perform(model_name, record_id, crm_name)
    failure = passing_failure(model_name, record_id, crm_name, status)
    if failure is not None:
        raise SyncFailed(failure)
    return status.value
