"""Huey tasks of the race tests, shared by producers and consumers.

Consumers: ``huey_consumer tests.reliability._huey_app.huey``. Producer:
``python -m tests.reliability._huey_app enqueue`` queues a sync of every
record, as ``person.sync()`` in a web request would. Settings from the
``ETLIFY_REL_*`` environment.
"""

from __future__ import annotations

import os
import sys

from huey import RedisHuey

from etlify.contrib.huey import huey_jobs
from tests.reliability._app import from_environment

huey = RedisHuey(
    os.environ["ETLIFY_REL_HUEY_NAME"], url=os.environ["ETLIFY_REL_REDIS"], results=False
)
app = from_environment(job_class=huey_jobs(huey, retries=3, retry_delay=0.5))


def enqueue() -> int:
    with app.db.connection_context():
        people = list(app.Person.select().order_by(app.Person.id))
    for person in people:
        person.sync()
    return len(people)


if __name__ == "__main__" and sys.argv[1:] == ["enqueue"]:
    print(f"Queued {enqueue()} syncs.")
