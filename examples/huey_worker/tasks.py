"""Models, the Huey instance and the CRM registration, shared by producers and consumers.

Run a consumer with ``huey_consumer examples.huey_worker.tasks.huey -w 4``.
Settings come from the environment:

- ``EXAMPLE_DATABASE_URL``: a peewee URL (default ``sqlite:///huey_worker.db``);
  SQLite files are opened in WAL mode, so that several processes can write.
- ``HUEY_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``) and ``HUEY_NAME``
  (default ``etlify-example``).
- ``HUBSPOT_PRIVATE_APP_TOKEN`` (required) and ``HUBSPOT_BASE_URL`` (default HubSpot's).
"""

from __future__ import annotations

import os

from huey import RedisHuey, crontab
from peewee import CharField, DateTimeField, Model
from playhouse.db_url import connect

import etlify
from etlify import BaseSerializer, EtlifyMixin, Timestamped
from etlify.adapters import HubspotV3Adapter
from etlify.contrib.huey import huey_jobs, stale_sync_task


def _database(url: str):
    if url.startswith("sqlite"):
        return connect(url, pragmas={"journal_mode": "wal"}, timeout=30)
    return connect(url)


db = _database(os.environ.get("EXAMPLE_DATABASE_URL", "sqlite:///huey_worker.db"))
huey = RedisHuey(
    os.environ.get("HUEY_NAME", "etlify-example"),
    url=os.environ.get("HUEY_REDIS_URL", "redis://127.0.0.1:6379/0"),
    # Nothing reads the tasks' return values: do not keep them in Redis.
    results=False,
)


def now():
    """Etlify's clock (naive UTC), so ``updated_at`` compares with the sync times."""
    return etlify.config.now()


class Customer(Timestamped, EtlifyMixin, Model):
    """A customer, synced to HubSpot as a contact."""

    email = CharField(unique=True)
    name = CharField(default="")
    updated_at = DateTimeField(default=now)

    class Meta:
        database = db
        table_name = "customers"



class CustomerSerializer(BaseSerializer):
    """The contact properties HubSpot receives for a customer."""

    def as_crm_payload(self) -> dict:
        return {"email": self.record.email, "firstname": self.record.name}


etlify.configure(database=db)
etlify.register(
    "hubspot",
    adapter=HubspotV3Adapter(
        access_token=os.environ["HUBSPOT_PRIVATE_APP_TOKEN"],
        base_url=os.environ.get("HUBSPOT_BASE_URL", "https://api.hubapi.com"),
    ),
    job_class=huey_jobs(huey, retries=3, retry_delay=10),
)
Customer.etlified_with(
    "hubspot", serializer=CustomerSerializer, crm_object_type="contacts", id_property="email"
)

# Every 15 minutes, queue batches of whatever went stale (e.g. after bulk updates).
sync_stale_customers = stale_sync_task(huey, crontab(minute="*/15"), batch_size=100)
