"""A worker process syncing users and their company links: ``python -m
tests.crm_objects._link_worker DATABASE_URL HUBSPOT_URL TOKEN SEED``.

It syncs every user once, in its own shuffled order, half inline one by one
and half through ``BatchSync``; prints its statuses as JSON.
"""

from __future__ import annotations

import json
import random
import sys
from collections import Counter

from playhouse.db_url import connect

import etlify
from etlify import BatchSync
from etlify.adapters.http import RetryPolicy
from etlify.adapters.hubspot import HubspotV3Adapter
from tests.crm_objects.conftest import declare


def main(database_url: str, hubspot_url: str, token: str, seed: int) -> int:
    params = {"pragmas": {"journal_mode": "wal"}, "timeout": 30} if "sqlite" in database_url else {}
    database = connect(database_url, **params)
    retries = RetryPolicy(total=5, backoff_factor=0.01, backoff_max=0.1, backoff_jitter=0.01)
    etlify.register(
        "hubspot",
        adapter=HubspotV3Adapter(access_token=token, base_url=hubspot_url, retries=retries),
    )
    app = declare(database)
    statuses: Counter = Counter()
    with database.connection_context():
        ids = [pk for (pk,) in app.User.select(app.User.id).tuples()]
        random.Random(seed).shuffle(ids)
        for pk in ids[: len(ids) // 2]:
            statuses[str(app.User.get_by_id(pk).sync(async_=False))] += 1
        stats = BatchSync.call(models=[app.Company, app.User], async_=False, batch_size=25)
    statuses["batch_synced"] = stats["synced"]
    statuses["batch_errors"] = stats["errors"]
    print(json.dumps(statuses))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
