"""Distributed syncs: a Huey consumer in a subprocess, producers racing, a real FakeHubSpot.

Runs when ``ETLIFY_TEST_REDIS`` is set (e.g. ``redis://127.0.0.1:6379/5``); on
PostgreSQL when ``ETLIFY_TEST_POSTGRES`` is set, else on a SQLite file in WAL mode.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from huey import RedisHuey
from playhouse.db_url import connect

from etlify.state import CrmSynchronisation as Sync
from etlify.state import bind_database

REDIS_URL = os.environ.get("ETLIFY_TEST_REDIS")
ROOT = Path(__file__).resolve().parents[2]
RECORDS = 100
PRODUCERS = 4

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="ETLIFY_TEST_REDIS is not set")


@pytest.fixture
def environment(tmp_path, hubspot):
    """The settings of examples.huey_worker.tasks, for a Huey name of this test run only."""
    name = f"etlify-test-{uuid.uuid4().hex[:12]}"
    env = dict(
        os.environ,
        EXAMPLE_DATABASE_URL=os.environ.get("ETLIFY_TEST_POSTGRES")
        or f"sqlite:///{tmp_path / 'worker.db'}",
        HUEY_REDIS_URL=REDIS_URL,
        HUEY_NAME=name,
        HUBSPOT_PRIVATE_APP_TOKEN=hubspot.token,
        HUBSPOT_BASE_URL=hubspot.url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    yield env
    queue = RedisHuey(name, url=REDIS_URL)
    queue.flush()
    client = queue.storage.conn
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)


def run(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "examples.huey_worker.enqueue", *args],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_racing_syncs_on_a_huey_cluster_create_each_contact_once(environment, hubspot, tmp_path):
    run(environment, "create", str(RECORDS))
    log = open(tmp_path / "consumer.log", "w")
    consumer = subprocess.Popen(
        [sys.executable, "-m", "huey.bin.huey_consumer", "examples.huey_worker.tasks.huey"]
        + ["--workers", "8", "--worker-type", "thread"],
        cwd=ROOT,
        env=environment,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    database = connect(environment["EXAMPLE_DATABASE_URL"])
    bind_database(database)
    try:
        producers = [
            subprocess.Popen(
                [sys.executable, "-m", "examples.huey_worker.enqueue", "sync"],
                cwd=ROOT,
                env=environment,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(PRODUCERS)
        ]
        for producer in producers:
            out, err = producer.communicate(timeout=120)
            assert producer.returncode == 0, err
            assert out == f"Queued {RECORDS} syncs.\n"
        wait_until_done(RedisHuey(environment["HUEY_NAME"], url=REDIS_URL), deadline=90)
    finally:
        consumer.send_signal(signal.SIGINT)  # the consumer's graceful shutdown
        try:
            consumer.wait(timeout=30)
        except subprocess.TimeoutExpired:
            consumer.terminate()
            consumer.wait(timeout=10)
        log.close()

    rows = list(Sync.select())
    assert len(rows) == RECORDS
    assert all(row.crm_id and row.error_count == 0 and row.last_error is None for row in rows)
    assert len({row.crm_id for row in rows}) == RECORDS
    assert hubspot.object_count("contacts") == RECORDS
    # A new contact's single sync is one batch upsert of one input.
    creates = [
        r for r in hubspot.requests if r.method == "POST" and r.path.endswith("/batch/upsert")
    ]
    assert len(creates) == RECORDS
    assert not [r for r in hubspot.requests if r.method == "PATCH"]
    database.close()


def wait_until_done(queue: RedisHuey, deadline: float) -> None:
    """Poll until the queue is empty and every record is synced and unclaimed."""
    give_up = time.monotonic() + deadline
    while time.monotonic() < give_up:
        synced = Sync.select().where(Sync.crm_id.is_null(False)).count()
        claimed = Sync.select().where(Sync.claim_token.is_null(False)).count()
        if queue.pending_count() == 0 and synced == RECORDS and claimed == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"not done after {deadline}s: {synced} synced, {claimed} claimed")
