"""Settings for RQ's own command line, instead of ``examples.rq_worker.worker``::

    rq worker -c examples.rq_worker.settings -w rq.SimpleWorker --with-scheduler

Importing this module imports :mod:`examples.rq_worker.tasks` (the models and
the CRM registration), which the jobs need; RQ reads the UPPERCASE names.
"""

from __future__ import annotations

from .tasks import QUEUE_NAME, REDIS_URL

QUEUES = [QUEUE_NAME]

__all__ = ["QUEUES", "REDIS_URL"]
