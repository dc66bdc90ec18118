"""Models, the RQ queue and the CRM registration, shared by producers and workers.

Run a worker with ``python -m examples.rq_worker.worker`` (it imports this
module first). Settings come from the environment:

- ``EXAMPLE_DATABASE_URL``: a peewee URL (default ``sqlite:///rq_worker.db``);
  SQLite files are opened in WAL mode, so that several processes can write.
- ``RQ_REDIS_URL`` (default ``redis://127.0.0.1:6379/0``; the ``rq`` command
  line reads it too) and ``RQ_QUEUE`` (default ``etlify-example``).
- ``HUBSPOT_PRIVATE_APP_TOKEN`` (required) and ``HUBSPOT_BASE_URL`` (default HubSpot's).
- ``HUBSPOT_RETRIES``: the adapter's own retries of a request (default 5);
  ``RQ_RETRY_DELAY``: seconds before RQ retries a failed sync job (default 10).
"""

from __future__ import annotations

import os

from peewee import CharField, DateTimeField, Model
from playhouse.db_url import connect
from redis import Redis
from rq import Queue

import etlify
from etlify import BaseSerializer, EtlifyMixin, Timestamped
from etlify.adapters import HubspotV3Adapter
from etlify.contrib.rq import rq_jobs


def _database(url: str):
    if url.startswith("sqlite"):
        return connect(url, pragmas={"journal_mode": "wal"}, timeout=30)
    return connect(url)


db = _database(os.environ.get("EXAMPLE_DATABASE_URL", "sqlite:///rq_worker.db"))
REDIS_URL = os.environ.get("RQ_REDIS_URL", "redis://127.0.0.1:6379/0")
QUEUE_NAME = os.environ.get("RQ_QUEUE", "etlify-example")
queue = Queue(QUEUE_NAME, connection=Redis.from_url(REDIS_URL))


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
        retries=int(os.environ.get("HUBSPOT_RETRIES", "5")),
    ),
    job_class=rq_jobs(queue, retries=3, retry_delay=float(os.environ.get("RQ_RETRY_DELAY", "10"))),
)
Customer.etlified_with(
    "hubspot", serializer=CustomerSerializer, crm_object_type="contacts", id_property="email"
)
