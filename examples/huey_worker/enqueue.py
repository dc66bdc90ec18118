"""Create demo customers, and queue their syncs on Huey.

``python -m examples.huey_worker.enqueue create 100``: (re)create the tables
with 100 customers. ``python -m examples.huey_worker.enqueue sync``: queue a
sync of every customer (what ``customer.sync()`` does in a web request).
"""

from __future__ import annotations

import argparse
import sys

import etlify

from .tasks import Customer, db


def create(count: int) -> None:
    """Drop and create the tables, then insert ``count`` customers."""
    with db.connection_context():
        db.drop_tables([Customer, etlify.CrmSynchronisation, etlify.PendingSync])
        db.create_tables([Customer])
        etlify.create_tables()
        with db.atomic():
            for i in range(count):
                Customer.create(email=f"customer{i}@example.com", name=f"Customer {i}")


def queue_syncs() -> int:
    """Queue a sync of every customer; how many were queued."""
    with db.connection_context():
        customers = list(Customer.select().order_by(Customer.id))
    for customer in customers:
        customer.sync()
    return len(customers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.huey_worker.enqueue")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("create", help="(re)create the tables with demo customers").add_argument(
        "count", type=int
    )
    commands.add_parser("sync", help="queue a sync of every customer")
    args = parser.parse_args(argv)
    if args.command == "create":
        create(args.count)
        print(f"Created {args.count} customers.")
    else:
        print(f"Queued {queue_syncs()} syncs.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
