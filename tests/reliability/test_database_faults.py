"""Database faults: the database going away in the middle of a batch fails that batch
with an error, leaves no corrupted state, and a later run resumes and finishes cleanly.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
from peewee import PeeweeException
from playhouse.db_url import connect

from etlify import BatchSync, Finder
from etlify import CrmSynchronisation as Sync
from etlify.declarations import sync_config
from etlify.testing.hubspot import FakeHubSpot

from ._app import create_people, database_for, setup
from .conftest import database_url

RECORDS = 50
CLAIM_TIMEOUT = 1.0


def wait_for_batch_write(hubspot):
    give_up = time.monotonic() + 30
    while not [r for r in hubspot.requests if r.path.endswith("/batch/upsert")]:
        assert time.monotonic() < give_up, "the batch never reached the CRM"
        time.sleep(0.005)


def kill_connection(backend, url, connection):
    """End the batch's database connection the way a server restart or a DBA would."""
    if backend == "sqlite":
        connection.close()  # the file stays; the connection under the batch is gone
        return
    other = connect(url)
    try:
        if backend == "postgres":
            other.execute_sql("SELECT pg_terminate_backend(%s)", (connection.info.backend_pid,))
        else:
            other.execute_sql(f"KILL {int(connection.thread_id())}")
    finally:
        other.close()


def during_the_batch(hubspot, fault):
    """Run ``fault()`` in a thread once the batch's CRM request is in flight."""
    failures = []

    def run():
        try:
            wait_for_batch_write(hubspot)
            fault()
        except BaseException as error:  # noqa: B036 - reported to the test thread
            failures.append(error)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, failures


def assert_consistent(hubspot, count):
    """Every stored CRM id exists in the CRM; a digest is stored only beside a CRM id."""
    contacts = {c["id"] for c in hubspot.objects("contacts")}
    rows = list(Sync.select())
    assert len(rows) <= count
    assert all(row.crm_id in contacts for row in rows if row.crm_id)
    assert all(row.crm_id for row in rows if row.last_digest)


def resume(app, hubspot):
    """Past the dead batch's claims, batch-sync until nothing is stale; the rounds' stats."""
    time.sleep(CLAIM_TIMEOUT + 0.2)
    stale = Finder.query(sync_config(app.Person, "hubspot"))
    rounds = []
    for _ in range(3):
        rounds.append(BatchSync.call(async_=False))
        if stale.count() == 0:
            break
    return rounds


def assert_all_synced_once(hubspot, ids):
    rows = list(Sync.select())
    contacts = hubspot.objects("contacts")
    assert len(contacts) == len(ids)
    assert len({c["properties"]["email"] for c in contacts}) == len(ids)
    assert {row.crm_id for row in rows} == {c["id"] for c in contacts}
    assert [row for row in rows if row.claim_token or row.last_error] == []


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])
def test_a_connection_killed_mid_batch_fails_the_batch_and_the_next_run_resumes(
    backend, tmp_path
):
    url = database_url(backend, tmp_path)
    # SQLite: let another thread close the connection, as the server ends it elsewhere.
    params = {"check_same_thread": False} if backend == "sqlite" else {}
    with FakeHubSpot(latency=0.3) as hubspot:
        app = setup(database_for(url, **params), hubspot.url, hubspot.token, unique=True,
                    claim_timeout=CLAIM_TIMEOUT)
        ids = create_people(app, RECORDS)
        app.db.connect()
        connection = app.db.connection()
        thread, failures = during_the_batch(
            hubspot, lambda: kill_connection(backend, url, connection)
        )
        try:
            with pytest.raises(PeeweeException):
                BatchSync.call(async_=False)
        finally:
            thread.join(timeout=30)
        assert failures == []
        try:
            app.db.close()
        except PeeweeException:
            pass

        with app.db.connection_context():
            assert_consistent(hubspot, RECORDS)
            resume(app, hubspot)
            assert_all_synced_once(hubspot, ids)


def pg_cluster(action):
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True, capture_output=True, timeout=120,
    )


def wait_until_postgres_accepts(url, deadline=60):
    give_up = time.monotonic() + deadline
    while True:
        try:
            probe = connect(url)
            probe.execute_sql("SELECT 1")
            probe.close()
            return
        except Exception:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.5)


@pytest.mark.skipif(
    not (os.environ.get("ETLIFY_TEST_POSTGRES") and os.environ.get("ETLIFY_TEST_PG_RESTART")),
    reason="stops PostgreSQL: set ETLIFY_TEST_POSTGRES and ETLIFY_TEST_PG_RESTART=1",
)
def test_postgresql_stopped_mid_batch_fails_the_batch_and_a_run_after_restart_resumes(tmp_path):
    url = os.environ["ETLIFY_TEST_POSTGRES"]
    with FakeHubSpot(latency=0.5) as hubspot:
        app = setup(database_for(url), hubspot.url, hubspot.token, unique=True,
                    claim_timeout=CLAIM_TIMEOUT)
        ids = create_people(app, RECORDS)
        app.db.connect()
        thread, failures = during_the_batch(hubspot, lambda: pg_cluster("stop"))
        try:
            with pytest.raises(PeeweeException):
                BatchSync.call(async_=False)
        finally:
            thread.join(timeout=120)
            pg_cluster("start")
            wait_until_postgres_accepts(url)
        assert failures == []
        try:
            app.db.close()
        except PeeweeException:
            pass

        with app.db.connection_context():
            assert_consistent(hubspot, RECORDS)
            resume(app, hubspot)
            assert_all_synced_once(hubspot, ids)
