"""The stale sync every 15 minutes, with RQ's cron (RQ 2.4+): ``rq cron examples.rq_worker.cron``.

``rq cron`` only enqueues :func:`etlify.contrib.rq.stale_sync_job`; a worker
runs it, and the batches it finds become jobs of the same queue.
"""

from __future__ import annotations

from rq import cron

from etlify.contrib.rq import stale_sync_job

from .tasks import QUEUE_NAME

cron.register(stale_sync_job, QUEUE_NAME, kwargs={"batch_size": 100}, cron="*/15 * * * *")
