"""Never two CRM objects for one record, however many workers race; sync claims."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import etlify
from etlify import CrmSynchronisation, Status
from etlify.testing import InMemoryAdapter

from ..conftest import make_app, open_database

ROOT = Path(__file__).resolve().parents[2]


def run_threads(count, target):
    errors = []

    def guarded(index):
        try:
            target(index)
        except BaseException as error:  # noqa: B036 - reported to the test thread
            errors.append(error)

    threads = [threading.Thread(target=guarded, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a worker is stuck"
    assert errors == []


def test_32_threads_syncing_the_same_50_new_records_create_50_crm_objects(database):
    adapter = InMemoryAdapter(latency=0.003)
    app = make_app(database, adapter, id_property=None)
    ids = [app.User.create(email=f"user{i}@example.com").id for i in range(50)]
    database.close()
    statuses = []

    def sync_all(index):
        order = ids[:]
        random.Random(index).shuffle(order)
        try:
            for pk in order:
                statuses.append(app.User(id=pk).sync(async_=False))
        finally:
            database.close()

    run_threads(32, sync_all)

    assert adapter.count("contacts") == 50
    assert statuses.count(Status.SYNCED) == 50
    assert set(statuses) == {Status.SYNCED, Status.NOT_MODIFIED}
    crm_ids = [row.crm_id for row in CrmSynchronisation.select()]
    assert sorted(crm_ids) == sorted(adapter.objects["contacts"])


def test_a_live_claim_is_waited_for(app, adapter, user):
    user.sync(async_=False)
    user.first_name = "Augusta"
    user.save()
    claim_until = etlify.config.now() + dt.timedelta(seconds=60)
    CrmSynchronisation.update(claim_token="other-worker", claimed_until=claim_until).execute()
    calls = len(adapter.calls)
    result = []
    waiter = threading.Thread(target=lambda: result.append(user.sync(async_=False)))

    waiter.start()
    waiter.join(timeout=0.3)
    assert waiter.is_alive()
    assert len(adapter.calls) == calls

    CrmSynchronisation.update(claim_token=None, claimed_until=None).execute()
    waiter.join(timeout=10)
    assert result == [Status.SYNCED]


def test_a_stale_claim_is_taken_over(app, adapter, user):
    user.sync(async_=False)
    user.first_name = "Augusta"
    user.save()
    expired = etlify.config.now() - dt.timedelta(seconds=1)
    CrmSynchronisation.update(claim_token="crashed-worker", claimed_until=expired).execute()
    result = []
    worker = threading.Thread(target=lambda: result.append(user.sync(async_=False)))

    worker.start()
    worker.join(timeout=5)

    assert result == [Status.SYNCED]
    row = user.crm_synchronisation("hubspot")
    assert (row.claim_token, row.claimed_until) == (None, None)


def test_a_finished_sync_leaves_no_claim_behind(app, adapter, user):
    user.sync(async_=False)
    adapter.fail_next(etlify.ValidationFailed("bad"))
    user.first_name = "Augusta"
    user.save()
    user.sync(async_=False)

    row = user.crm_synchronisation("hubspot")
    assert (row.claim_token, row.claimed_until) == (None, None)


PROCESS_SCRIPT = """
import os, random, sys, threading, time

from peewee import CharField, Model
from playhouse.db_url import connect

import etlify
from etlify import BaseSerializer, EtlifyMixin

db = connect(os.environ["ETLIFY_TEST_POSTGRES"])


class SharedCrm:
    "A CRM every process sees: a PostgreSQL table; each create is one row."

    def upsert(self, object_type, payload, id_property=None, crm_id=None):
        time.sleep(0.003)
        if crm_id:
            db.execute_sql(
                "UPDATE core_shared_crm SET email = %s WHERE id = %s",
                (payload["email"], int(crm_id)),
            )
            return crm_id
        cursor = db.execute_sql(
            "INSERT INTO core_shared_crm (email, pid) VALUES (%s, %s) RETURNING id",
            (payload["email"], os.getpid()),
        )
        return str(cursor.fetchone()[0])

    def delete(self, object_type, crm_id):
        return True


class User(EtlifyMixin, Model):
    email = CharField(null=True)

    class Meta:
        database = db
        table_name = "user"


class UserSerializer(BaseSerializer):
    def as_crm_payload(self):
        return {"email": self.record.email}


etlify.register("hubspot", adapter=SharedCrm())
User.etlified_with("hubspot", serializer=UserSerializer, crm_object_type="contacts")
ids = [row[0] for row in db.execute_sql('SELECT id FROM "user"').fetchall()]
db.close()
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))


def sync_all(index):
    order = ids[:]
    random.Random(index).shuffle(order)
    for pk in order:
        User(id=pk).sync(async_=False)
    db.close()


threads = [threading.Thread(target=sync_all, args=(i,)) for i in range(8)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print("done")
"""


@pytest.fixture
def postgres(tmp_path):
    db = open_database("postgres", tmp_path)
    yield db
    db.execute_sql("DROP TABLE IF EXISTS core_shared_crm")
    db.close()


def test_two_processes_syncing_the_same_new_records_create_each_crm_object_once(postgres):
    app = make_app(postgres, InMemoryAdapter(), id_property=None)
    ids = [app.User.create(email=f"user{i}@example.com").id for i in range(50)]
    postgres.execute_sql("DROP TABLE IF EXISTS core_shared_crm")
    postgres.execute_sql(
        "CREATE TABLE core_shared_crm (id serial PRIMARY KEY, email text, pid int)"
    )
    postgres.close()
    start_at = str(time.time() + 1.5)

    workers = [
        subprocess.Popen(
            [sys.executable, "-c", PROCESS_SCRIPT, start_at],
            cwd=ROOT,
            env=os.environ,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [worker.communicate(timeout=60) for worker in workers]

    for worker, (out, err) in zip(workers, outputs):
        assert (worker.returncode, out.strip()) == (0, "done"), err
    creates = postgres.execute_sql("SELECT email, pid FROM core_shared_crm").fetchall()
    assert sorted(email for email, _ in creates) == sorted(
        f"user{i}@example.com" for i in range(50)
    )
    rows = {row.resource_id: row.crm_id for row in CrmSynchronisation.select()}
    assert set(rows) == {str(pk) for pk in ids}
    assert None not in rows.values()
