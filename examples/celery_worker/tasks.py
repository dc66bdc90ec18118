"""Models, the Celery app and the CRM registration, shared by producers and workers.

Run a worker with ``celery -A examples.celery_worker.tasks worker --concurrency 4``
and the stale-sync schedule with ``celery -A examples.celery_worker.tasks beat``.
Settings come from the environment:

- ``EXAMPLE_DATABASE_URL``: a peewee URL (default ``sqlite:///celery_worker.db``);
  SQLite files are opened in WAL mode, so that several processes can write.
- ``CELERY_BROKER_URL`` (default ``amqp://guest:guest@127.0.0.1:5672//``; a
  ``redis://`` URL works as well) and ``CELERY_QUEUE`` (default ``etlify-example``).
- ``HUBSPOT_PRIVATE_APP_TOKEN`` (required) and ``HUBSPOT_BASE_URL`` (default HubSpot's).
- ``HUBSPOT_RETRIES`` (default 5): HTTP retries within one sync attempt;
  ``CELERY_RETRY_DELAY`` (default 10): seconds before Celery retries a sync
  that failed for a passing reason.
"""

from __future__ import annotations

import os

from celery import Celery
from celery.schedules import crontab
from peewee import CharField, DateTimeField, Model
from playhouse.db_url import connect

import etlify
from etlify import BaseSerializer, EtlifyMixin, Timestamped
from etlify.adapters import HubspotV3Adapter
from etlify.contrib.celery import celery_jobs, stale_sync_task


def _database(url: str):
    if url.startswith("sqlite"):
        return connect(url, pragmas={"journal_mode": "wal"}, timeout=30)
    return connect(url)


db = _database(os.environ.get("EXAMPLE_DATABASE_URL", "sqlite:///celery_worker.db"))
app = Celery(
    "etlify-example",
    broker=os.environ.get("CELERY_BROKER_URL", "amqp://guest:guest@127.0.0.1:5672//"),
)
app.conf.update(
    task_default_queue=os.environ.get("CELERY_QUEUE", "etlify-example"),
    # A sync may run twice safely: one in flight when its worker dies is delivered again.
    task_acks_late=True,
    worker_prefetch_multiplier=1,
    # Every 15 minutes (with ``celery beat``), queue batches of whatever went stale.
    beat_schedule={
        "sync-stale-customers": {"task": "etlify.stale_sync", "schedule": crontab(minute="*/15")}
    },
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
        retries=int(os.environ.get("HUBSPOT_RETRIES", "5")),
    ),
    job_class=celery_jobs(
        app, retries=3, retry_delay=float(os.environ.get("CELERY_RETRY_DELAY", "10"))
    ),
)
Customer.etlified_with(
    "hubspot", serializer=CustomerSerializer, crm_object_type="contacts", id_property="email"
)

#: The task beat runs (``etlify.stale_sync``): one sync_batch task per 100 stale customers.
sync_stale_customers = stale_sync_task(app, batch_size=100)
