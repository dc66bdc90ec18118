"""Create demo customers, and queue their syncs on Celery.

``python -m examples.celery_worker.enqueue create 100``: (re)create the tables
with 100 customers. ``python -m examples.celery_worker.enqueue sync``: queue a
sync of every customer (what ``customer.sync()`` does in a web request).
``add 25 --first 100``: add customers 100 to 124, each synced as soon as it is
committed (``--sync-all``: then queue a sync of every customer, too).
``stale``: queue a stale sync now, as celery beat does every 15 minutes.
"""

from __future__ import annotations

import argparse
import sys

import etlify

from .tasks import Customer, db, sync_stale_customers


def create(count: int) -> None:
    """Drop and create the tables, then insert ``count`` customers."""
    with db.connection_context():
        db.drop_tables([Customer, etlify.CrmSynchronisation, etlify.PendingSync])
        db.create_tables([Customer])
        etlify.create_tables()
        with db.atomic():
            for i in range(count):
                Customer.create(email=f"customer{i}@example.com", name=f"Customer {i}")


def add(count: int, first: int) -> int:
    """Insert customers ``first`` to ``first + count - 1``, queueing each one's sync."""
    with db.connection_context():
        for i in range(first, first + count):
            with db.atomic():
                customer = Customer.create(email=f"customer{i}@example.com", name=f"Customer {i}")
                customer.sync()  # queued once the transaction commits
    return count


def queue_syncs() -> int:
    """Queue a sync of every customer; how many were queued."""
    with db.connection_context():
        customers = list(Customer.select().order_by(Customer.id))
    for customer in customers:
        customer.sync()
    return len(customers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.celery_worker.enqueue")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="(re)create the tables with demo customers").add_argument(
        "count", type=int
    )
    adding = commands.add_parser("add", help="add customers, queueing each one's sync")
    adding.add_argument("count", type=int)
    adding.add_argument("--first", type=int, default=0, help="number of the first new customer")
    adding.add_argument("--sync-all", action="store_true", help="then queue a sync of everyone")
    commands.add_parser("sync", help="queue a sync of every customer")
    commands.add_parser("stale", help="queue a stale sync now")
    args = parser.parse_args(argv)
    if args.command == "create":
        create(args.count)
        print(f"Created {args.count} customers.")
    elif args.command == "add":
        queued = add(args.count, args.first) + (queue_syncs() if args.sync_all else 0)
        print(f"Added {args.count} customers, queued {queued} syncs.")
    elif args.command == "sync":
        print(f"Queued {queue_syncs()} syncs.")
    else:
        sync_stale_customers.delay()
        print("Queued a stale sync.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
