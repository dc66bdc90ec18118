"""Run Etlify's async syncs as RQ jobs, on any number of workers.

::

    # myapp/tasks.py: imported by the web process and by every worker
    from redis import Redis
    from rq import Queue
    import etlify
    from etlify.contrib.rq import rq_jobs

    queue = Queue("etlify", connection=Redis.from_url("redis://127.0.0.1:6379/0"))
    etlify.register("hubspot", adapter=..., job_class=rq_jobs(queue, retries=3))

From then on ``record.sync()`` enqueues an RQ job instead of using Etlify's
thread pool. RQ runs module-level functions found by their dotted name: the
jobs are :func:`sync_job`, :func:`sync_batch_job` and :func:`stale_sync_job`
of this module. They look the model and the CRM up by name, so **a worker must
have imported the module that declares the models and registers the CRMs**
before it runs a job. Start the workers from a script that imports it::

    from rq import SimpleWorker
    from myapp.tasks import queue

    SimpleWorker([queue], connection=queue.connection).work(with_scheduler=True)

or give ``rq worker`` a settings module that imports it::

    # myapp/rq_settings.py
    import myapp.tasks  # noqa: F401  (the models and the CRM registration)

    REDIS_URL = "redis://127.0.0.1:6379/0"
    QUEUES = ["etlify"]

and run ``rq worker -c myapp.rq_settings --worker-class rq.SimpleWorker
--with-scheduler``. ``SimpleWorker`` runs each job in the worker process;
RQ's default ``Worker`` forks a child per job, which works as long as the
worker process never opened a database connection before forking (a forked
child must not reuse its parent's PostgreSQL socket or SQLite handle). The
jobs open their connections themselves and close them when done.

Two workers syncing one record at once never create two CRM objects: the
sync row's claim makes the second wait and then find nothing to send. A sync
that failed for a passing reason (kinds ``rate_limited`` and ``transient``)
raises :class:`SyncFailed` in its job, so that RQ retries it, ``retries``
times, ``retry_delay`` seconds apart; any other failure is recorded on the
sync row and the job returns ``"error"`` (the record stays stale for the
next stale sync, within its error budget). A delayed retry is scheduled: at
least one worker must run RQ's scheduler (``with_scheduler=True``,
``--with-scheduler``), or ``retry_delay=0`` re-enqueues at once.

The stale sync (:class:`~etlify.BatchSync`) runs as a job too:
:func:`enqueue_stale_sync` enqueues it now (from a system cron, say), and
RQ's cron (RQ 2.4+, ``rq cron myapp.rq_cron``) or rq-scheduler can enqueue
:func:`stale_sync_job` on a schedule::

    # myapp/rq_cron.py
    from rq import cron
    import myapp.tasks  # noqa: F401
    from etlify.contrib.rq import stale_sync_job

    cron.register(stale_sync_job, "etlify", kwargs={"batch_size": 100}, cron="*/15 * * * *")

Sync jobs return the :class:`~etlify.Status` value (``"synced"``...), kept by
RQ for the queue's ``result_ttl`` (500 s by default).
"""

from __future__ import annotations

import inspect
import math
from typing import Any

from rq import Queue, Retry
from rq.job import Job

from etlify.errors import ConfigurationError
from etlify.jobs import connections, perform, perform_batch
from etlify.sync_stale import BatchSync

from .retries import RETRIED_ERROR_KINDS, SyncFailed, passing_failure

__all__ = [
    "RQJobs",
    "SyncFailed",
    "rq_jobs",
    "sync_job",
    "sync_batch_job",
    "stale_sync_job",
    "enqueue_stale_sync",
    "RETRIED_ERROR_KINDS",
]

class RQJobs:
    """A ``job_class`` whose jobs go to one RQ queue.

    :ivar queue: the ``rq.Queue`` the jobs are enqueued on.
    :ivar retries: how many times RQ retries a job that raised.
    :ivar retry_delay: seconds between those retries (RQ counts whole seconds:
        rounded up).
    """

    def __init__(self, queue: Queue, retries: int = 3, retry_delay: float = 10.0) -> None:
        if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
            raise ConfigurationError(f"retries must be an integer >= 0, not {retries!r}")
        if (
            isinstance(retry_delay, bool)
            or not isinstance(retry_delay, (int, float))
            or not retry_delay >= 0
            or math.isinf(retry_delay)
        ):
            raise ConfigurationError(f"retry_delay must be a number >= 0, not {retry_delay!r}")
        self.queue = queue
        self.retries = retries
        self.retry_delay = retry_delay

    def _retry(self) -> Retry | None:
        if not self.retries:
            return None
        return Retry(max=self.retries, interval=math.ceil(self.retry_delay))

    def perform_later(self, model_name: str, record_id: Any, crm_name: str) -> Job:
        """Enqueue the sync of one record; the RQ job (its result: the status value)."""
        return self.queue.enqueue(
            sync_job, args=(model_name, record_id, crm_name), retry=self._retry()
        )

    def perform_batch_later(self, model_name: str, record_ids: list[Any], crm_name: str) -> Job:
        """Enqueue the sync of a batch of records; the RQ job (its result: counts by outcome)."""
        return self.queue.enqueue(
            sync_batch_job, args=(model_name, list(record_ids), crm_name), retry=self._retry()
        )

    def __repr__(self) -> str:
        return f"<RQJobs on {self.queue.name!r}>"


def rq_jobs(queue: Queue, *, retries: int = 3, retry_delay: float = 10.0) -> RQJobs:
    """The ``job_class`` that enqueues Etlify's syncs on ``queue``.

    Pass the result to ``etlify.register(..., job_class=...)`` or to
    ``Model.etlified_with(..., job_class=...)``.

    :param queue: an ``rq.Queue``; its ``default_timeout`` and ``result_ttl``
        apply to the jobs.
    :param retries: how many times RQ retries a job that raised (``0``: never).
    :param retry_delay: seconds between those retries, rounded up to whole
        seconds; above 0 a worker must run RQ's scheduler.
    :raises ConfigurationError: for a negative or non-numeric setting.
    """
    return RQJobs(queue, retries, retry_delay)


def sync_job(model_name: str, record_id: Any, crm_name: str) -> str:
    """Sync one record now (what :meth:`RQJobs.perform_later` enqueues); the status value.

    :raises SyncFailed: when the sync failed for a passing reason (an error
        kind of :data:`RETRIED_ERROR_KINDS`), so that RQ retries the job.
    """
    status = perform(model_name, record_id, crm_name)
    failure = passing_failure(model_name, record_id, crm_name, status)
    if failure is not None:
        raise SyncFailed(failure)
    return status.value


def sync_batch_job(model_name: str, record_ids: list[Any], crm_name: str) -> dict[str, int]:
    """Sync a batch of records now (what :meth:`RQJobs.perform_batch_later` enqueues).

    :returns: the counts by outcome (``{"synced": 98, "error": 2}``...).
    """
    return perform_batch(model_name, record_ids, crm_name)


def stale_sync_job(**batch_sync_options: Any) -> dict[str, Any]:
    """Run ``BatchSync.call(**batch_sync_options)`` now, on this worker's connections.

    What :func:`enqueue_stale_sync` enqueues; register it with RQ's cron or
    rq-scheduler to run it on a schedule. Returns the batch sync's stats.
    """
    with connections():
        return BatchSync.call(**batch_sync_options)


def enqueue_stale_sync(queue: Queue, **batch_sync_options: Any) -> Job:
    """Enqueue a run of ``BatchSync.call(**batch_sync_options)`` on ``queue``; the RQ job.

    :param batch_sync_options: ``models`` (model classes, pickled by
        reference: the worker imports them by name), ``crm_name``, ``async_``
        (default ``True``: the batches become jobs of each CRM's
        ``job_class``), ``batch_size``...
    :raises TypeError: for an option ``BatchSync.call`` does not take.
    """
    inspect.signature(BatchSync.call).bind(**batch_sync_options)
    return queue.enqueue(stale_sync_job, kwargs=batch_sync_options)
