"""The application the reliability tests sync: people mirrored as HubSpot contacts.

Shared by the test process and the worker subprocesses, which read their
settings from the environment (see :func:`from_environment`).
"""

from __future__ import annotations

import os
import random
import threading
from collections import Counter
from types import SimpleNamespace

from peewee import CharField, DateTimeField, Model, TextField
from playhouse.db_url import connect

import etlify
from etlify import BaseSerializer, EtlifyMixin
from etlify.adapters import HubspotV3Adapter
from etlify.adapters.http import RetryPolicy
from etlify.state import CrmSynchronisation, PendingSync

#: Real backoff shape with test-sized waits.
FAST_RETRIES = RetryPolicy(total=5, backoff_factor=0.01, backoff_max=0.1, backoff_jitter=0.01)


def database_for(url: str, **params):
    """A peewee database for ``url``; SQLite files in WAL mode, so processes can share them."""
    if url.startswith("sqlite"):
        return connect(url, pragmas={"journal_mode": "wal"}, timeout=30, **params)
    return connect(url, **params)


def now():
    return etlify.config.now()


def define(database):
    """Fresh model and serializer classes bound to ``database``."""

    class Person(EtlifyMixin, Model):
        email = CharField(null=True)
        first_name = CharField(default="")
        last_name = CharField(default="")
        note = TextField(null=True)
        updated_at = DateTimeField(default=now)

        class Meta:
            table_name = "rel_people"

        def save(self, *args, **kwargs):
            self.updated_at = now()
            return super().save(*args, **kwargs)

    Person._meta.set_database(database)

    class AnonymousSerializer(BaseSerializer):
        """No unique property: every create makes a new HubSpot object."""

        def as_crm_payload(self):
            return {"firstname": self.record.first_name, "lastname": self.record.last_name}

    class PersonSerializer(BaseSerializer):
        def as_crm_payload(self):
            person = self.record
            return {"email": person.email, "firstname": person.first_name,
                    "lastname": person.last_name}

    return SimpleNamespace(
        db=database,
        Person=Person,
        AnonymousSerializer=AnonymousSerializer,
        PersonSerializer=PersonSerializer,
    )


def setup(database, hubspot_url, token, *, unique=False, retries=FAST_RETRIES, pool_maxsize=32,
          job_class=None, **options):
    """Configure Etlify for ``database`` and a HubSpot at ``hubspot_url``; the app namespace.

    ``unique`` picks the serializer sending the email with ``id_property="email"``;
    without it the payload has no unique property and no ``id_property``.
    ``options`` go to ``etlify.configure``.
    """
    app = define(database)
    etlify.configure(database=database, **options)
    app.adapter = HubspotV3Adapter(
        access_token=token, base_url=hubspot_url, timeout=10.0, retries=retries,
        pool_maxsize=pool_maxsize,
    )
    etlify.register("hubspot", adapter=app.adapter, job_class=job_class)
    app.Person.etlified_with(
        "hubspot",
        serializer=app.PersonSerializer if unique else app.AnonymousSerializer,
        crm_object_type="contacts",
        id_property="email" if unique else None,
    )
    return app


def create_people(app, count):
    """(Re)create the tables with ``count`` people who were never synced; their ids."""
    db = app.db
    with db.connection_context():
        db.drop_tables([CrmSynchronisation, PendingSync, app.Person])
        db.create_tables([app.Person])
        etlify.create_tables()
        rows = [
            {"email": f"person{i}@example.com", "first_name": f"First{i}",
             "last_name": f"Last{i}", "updated_at": now()}
            for i in range(count)
        ]
        with db.atomic():
            for start in range(0, count, 100):
                app.Person.insert_many(rows[start : start + 100]).execute()
        return [pk for (pk,) in app.Person.select(app.Person.id).order_by(app.Person.id).tuples()]


def environment(database_url, hubspot, **settings):
    """Environment variables handing these settings to a worker subprocess."""
    env = {
        "ETLIFY_REL_DATABASE": database_url,
        "ETLIFY_REL_HUBSPOT_URL": hubspot.url,
        "ETLIFY_REL_TOKEN": hubspot.token,
    }
    env.update({f"ETLIFY_REL_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def from_environment(**extra):
    """:func:`setup` from the ``ETLIFY_REL_*`` variables (in a worker subprocess)."""
    options = dict(extra)
    if os.environ.get("ETLIFY_REL_CLAIM_TIMEOUT"):
        options["claim_timeout"] = float(os.environ["ETLIFY_REL_CLAIM_TIMEOUT"])
    return setup(
        database_for(os.environ["ETLIFY_REL_DATABASE"]),
        os.environ["ETLIFY_REL_HUBSPOT_URL"],
        os.environ["ETLIFY_REL_TOKEN"],
        unique=os.environ.get("ETLIFY_REL_UNIQUE") == "1",
        **options,
    )


def race(app, ids, threads, seed):
    """``threads`` threads each syncing every record of ``ids`` inline, in its own order.

    Returns the statuses counted, and the errors the threads raised.
    """
    statuses: Counter = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def work(index):
        order = list(ids)
        random.Random(seed * 1000 + index).shuffle(order)
        try:
            start.wait(timeout=30)
            for pk in order:
                status = app.Person(id=pk).sync("hubspot", async_=False)
                with lock:
                    statuses[status.value] += 1
        except BaseException as error:  # noqa: B036 - handed to the caller
            with lock:
                errors.append(error)
        finally:
            app.db.close()

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=300)
    if any(worker.is_alive() for worker in workers):
        errors.append(TimeoutError("a racing thread is stuck"))
    return statuses, errors
