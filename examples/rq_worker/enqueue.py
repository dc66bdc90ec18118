"""Create demo customers, and queue their syncs on RQ.

- ``python -m examples.rq_worker.enqueue create 100``: (re)create the tables
  with 100 customers (``create 0``: empty tables).
- ``python -m examples.rq_worker.enqueue produce 0 25``: create customers
  0 to 24, queueing each one's sync as it is saved (what a web request does);
  with ``--then-sync-all 100``, then wait until 100 customers exist and queue
  a sync of every one of them, as requests touching records that other
  processes created would.
- ``python -m examples.rq_worker.enqueue sync``: queue a sync of every customer.
- ``python -m examples.rq_worker.enqueue stale [--batch-size 100]``: queue a
  stale sync, which finds the customers not synced (or changed since) and
  queues them in batches.
"""

from __future__ import annotations

import argparse
import sys
import time

import etlify
from etlify.contrib.rq import enqueue_stale_sync

from .tasks import Customer, db, queue


def create(count: int) -> None:
    """Drop and create the tables, then insert ``count`` customers."""
    with db.connection_context():
        db.drop_tables([Customer, etlify.CrmSynchronisation, etlify.PendingSync])
        db.create_tables([Customer])
        etlify.create_tables()
        with db.atomic():
            for i in range(count):
                Customer.create(email=f"customer{i}@example.com", name=f"Customer {i}")


def produce(first: int, count: int) -> int:
    """Create customers ``first`` to ``first + count - 1``, queueing each one's sync."""
    for i in range(first, first + count):
        with db.connection_context():
            customer = Customer.create(email=f"customer{i}@example.com", name=f"Customer {i}")
        customer.sync()
    return count


def queue_syncs(wait_for: int = 0, timeout: float = 60.0) -> int:
    """Queue a sync of every customer, once ``wait_for`` of them exist; how many were queued."""
    give_up = time.monotonic() + timeout
    while True:
        with db.connection_context():
            customers = list(Customer.select().order_by(Customer.id))
        if len(customers) >= wait_for:
            break
        if time.monotonic() > give_up:
            raise SystemExit(f"only {len(customers)} of {wait_for} customers after {timeout}s")
        time.sleep(0.05)
    for customer in customers:
        customer.sync()
    return len(customers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.rq_worker.enqueue")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="(re)create the tables with demo customers").add_argument(
        "count", type=int
    )
    producer = commands.add_parser("produce", help="create customers, queueing their syncs")
    producer.add_argument("first", type=int)
    producer.add_argument("count", type=int)
    producer.add_argument(
        "--then-sync-all",
        type=int,
        default=None,
        metavar="TOTAL",
        help="then wait for TOTAL customers and queue a sync of each",
    )
    commands.add_parser("sync", help="queue a sync of every customer")
    commands.add_parser(
        "stale", help="queue a stale sync (batches of the unsynced customers)"
    ).add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    if args.command == "create":
        create(args.count)
        print(f"Created {args.count} customers.")
    elif args.command == "produce":
        queued = produce(args.first, args.count)
        if args.then_sync_all is not None:
            queued += queue_syncs(wait_for=args.then_sync_all)
        print(f"Created {args.count} customers, queued {queued} syncs.")
    elif args.command == "sync":
        print(f"Queued {queue_syncs()} syncs.")
    else:
        job = enqueue_stale_sync(queue, batch_size=args.batch_size)
        print(f"Queued stale sync {job.id}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
