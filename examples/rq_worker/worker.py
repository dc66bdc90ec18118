"""An RQ worker for the example's queue: ``python -m examples.rq_worker.worker``.

It imports :mod:`examples.rq_worker.tasks` before it takes a job, so that the
jobs find the ``Customer`` model and the "hubspot" CRM. It runs RQ's
scheduler too (retries after ``RQ_RETRY_DELAY`` seconds are scheduled jobs).

Why ``SimpleWorker``: it runs each job in the worker process, where the job
opens and then closes its own database connections. RQ's default ``Worker``
forks a child per job, which costs a fork per sync and breaks as soon as the
worker process holds a connection when it forks (the child would share the
parent's PostgreSQL socket or SQLite handle). Run several workers for
parallelism; each is one process.

``SyncWorker`` also bounds the last step of a warm shutdown (SIGTERM or
SIGINT): with redis-py 8, stopping RQ's command listener thread can wait for
up to a minute after the worker has already left RQ's registry.
"""

from __future__ import annotations

import argparse
import sys
import threading

from rq import SimpleWorker

from .tasks import queue


class SyncWorker(SimpleWorker):
    """``SimpleWorker`` that does not wait more than 2 s for its command listener to stop."""

    def unsubscribe(self) -> None:
        # RQ unsubscribes, then joins its pubsub thread; redis-py 8's stop() joins
        # it without a timeout, and the thread may sit in a 60 s wait. The thread
        # is a daemon: once the worker has registered its death, let it go.
        closer = threading.Thread(target=super().unsubscribe, daemon=True)
        closer.start()
        closer.join(timeout=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.rq_worker.worker")
    parser.add_argument("--name", help="the worker's name (default: RQ's, random)")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    args = parser.parse_args(argv)
    worker = SyncWorker([queue], connection=queue.connection, name=args.name)
    worker.work(burst=args.burst, with_scheduler=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
