"""Races: however many threads, processes, pool workers or Huey consumers sync the
same new records at once, each record becomes exactly one CRM object.

The payload has no unique property and there is no ``id_property``, so HubSpot
(here FakeHubSpot, over HTTP) would accept every create: only Etlify's claim
on the sync row stands between a race and a duplicate.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import threading
import time
import uuid

import pytest
from huey import RedisHuey

import etlify
from etlify import CrmSynchronisation as Sync
from etlify.jobs import ThreadPoolJobs
from etlify.testing.hubspot import FakeHubSpot

from ._app import create_people, database_for, environment, race, setup
from .conftest import ROOT, assert_secret_absent, database_url, subprocess_env, worker_command

RECORDS = 200
THREADS = 32
PROCESSES = 4


@pytest.fixture
def hubspot():
    # Unmetered: the races send 200 creates within seconds, and a 429 from the
    # 190-per-10-s window would add creates to the log that created nothing.
    with FakeHubSpot(latency=(0.0, 0.004), seed=7, rate_limit=None) as fake:
        yield fake


def assert_one_object_per_record(hubspot, ids):
    """Exactly one CRM object per record, each linked from that record's sync row."""
    contacts = hubspot.objects("contacts")
    rows = list(Sync.select())
    assert len(contacts) == len(ids)
    assert sorted(c["properties"]["lastname"] for c in contacts) == sorted(
        f"Last{i}" for i in range(len(ids))
    )
    assert len(rows) == len(ids)
    assert {row.crm_id for row in rows} == {c["id"] for c in contacts}
    assert [row for row in rows if row.claim_token or row.last_error] == []
    creates = [r for r in hubspot.requests if r.method == "POST" and r.path.endswith("/contacts")]
    assert len(creates) == len(ids)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_32_threads_syncing_the_same_200_new_records_create_200_objects(
    backend, tmp_path, hubspot, etlify_log
):
    app = setup(database_for(database_url(backend, tmp_path)), hubspot.url, hubspot.token)
    ids = create_people(app, RECORDS)

    statuses, errors = race(app, ids, THREADS, seed=1)

    assert errors == []
    assert statuses["synced"] == RECORDS
    assert statuses["synced"] + statuses["not_modified"] == RECORDS * THREADS
    with app.db.connection_context():
        assert_one_object_per_record(hubspot, ids)
    assert_secret_absent(hubspot.token, etlify_log.lines)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_4_processes_syncing_the_same_200_new_records_create_200_objects(
    backend, tmp_path, hubspot
):
    url = database_url(backend, tmp_path)
    app = setup(database_for(url), hubspot.url, hubspot.token)
    ids = create_people(app, RECORDS)
    env = subprocess_env(**environment(url, hubspot))

    workers = [
        subprocess.Popen(
            worker_command("_race_worker", THREADS // PROCESSES, seed),
            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for seed in range(PROCESSES)
    ]
    outputs = [worker.communicate(timeout=240) for worker in workers]

    assert [worker.returncode for worker in workers] == [0] * PROCESSES, outputs
    synced = sum(json.loads(out)["statuses"].get("synced", 0) for out, _ in outputs)
    assert synced == RECORDS
    for _, err in outputs:
        assert_secret_absent(hubspot.token, err)
    with app.db.connection_context():
        assert_one_object_per_record(hubspot, ids)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_async_syncs_requested_from_many_threads_through_the_pool_create_200_objects(
    backend, tmp_path, hubspot, etlify_log
):
    app = setup(
        database_for(database_url(backend, tmp_path)), hubspot.url, hubspot.token,
        jobs=ThreadPoolJobs(max_workers=8),
    )
    ids = create_people(app, RECORDS)
    handles = {}  # a sync still queued is not queued twice: both requests share its Future
    lock = threading.Lock()

    def request_all(index):
        order = list(ids)
        random.Random(index).shuffle(order)
        for pk in order:
            handle = app.Person(id=pk).sync()
            with lock:
                handles[id(handle)] = handle

    requesters = [threading.Thread(target=request_all, args=(i,)) for i in range(4)]
    for requester in requesters:
        requester.start()
    for requester in requesters:
        requester.join(timeout=60)

    assert etlify.jobs.wait(timeout=120)
    results = [handle.result(timeout=1) for handle in handles.values()]
    assert results.count(etlify.Status.SYNCED) == RECORDS
    assert set(results) <= {etlify.Status.SYNCED, etlify.Status.NOT_MODIFIED}
    with app.db.connection_context():
        assert_one_object_per_record(hubspot, ids)
    assert_secret_absent(hubspot.token, etlify_log.lines)


# -- Huey workers on Redis -----------------------------------------------------------


def huey_queue(name):
    return RedisHuey(name, url=os.environ["ETLIFY_TEST_REDIS"])


@pytest.fixture
def huey_name():
    """A Huey queue name of this test only; its Redis keys are removed afterwards."""
    if not os.environ.get("ETLIFY_TEST_REDIS"):
        pytest.skip("ETLIFY_TEST_REDIS is not set")
    name = f"etlify-rel-{uuid.uuid4().hex[:12]}"
    yield name
    queue = huey_queue(name)
    queue.flush()
    client = queue.storage.conn
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_huey_consumers_racing_on_redis_create_200_objects(backend, tmp_path, hubspot, huey_name):
    url = database_url(backend, tmp_path)
    app = setup(database_for(url), hubspot.url, hubspot.token)
    ids = create_people(app, RECORDS)
    env = subprocess_env(
        **environment(url, hubspot, huey_name=huey_name),
        ETLIFY_REL_REDIS=os.environ["ETLIFY_TEST_REDIS"],
    )
    consumers = []
    logs = []
    try:
        for index in range(2):  # two consumer processes of 8 threads each
            log = open(tmp_path / f"consumer{index}.log", "w")
            logs.append(log)
            consumers.append(subprocess.Popen(
                [sys.executable, "-m", "huey.bin.huey_consumer", "tests.reliability._huey_app.huey",
                 "--workers", "8", "--worker-type", "thread"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
            ))
        producers = [
            subprocess.Popen(worker_command("_huey_app", "enqueue"), cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(PROCESSES)
        ]
        for producer in producers:
            out, err = producer.communicate(timeout=120)
            assert producer.returncode == 0, err
            assert out == f"Queued {RECORDS} syncs.\n"
        with app.db.connection_context():
            wait_until_synced(huey_queue(huey_name), len(ids), deadline=120)
    finally:
        for consumer in consumers:
            consumer.send_signal(2)  # SIGINT: the consumer's graceful shutdown
        for consumer in consumers:
            try:
                consumer.wait(timeout=30)
            except subprocess.TimeoutExpired:
                consumer.kill()
                consumer.wait(timeout=10)
        for log in logs:
            log.close()

    with app.db.connection_context():
        assert_one_object_per_record(hubspot, ids)
    for index in range(len(consumers)):
        assert_secret_absent(hubspot.token, (tmp_path / f"consumer{index}.log").read_text())


def wait_until_synced(queue, records, deadline):
    give_up = time.monotonic() + deadline
    synced = claimed = None
    while time.monotonic() < give_up:
        synced = Sync.select().where(Sync.crm_id.is_null(False)).count()
        claimed = Sync.select().where(Sync.claim_token.is_null(False)).count()
        if queue.pending_count() == 0 and synced == records and claimed == 0:
            return
        time.sleep(0.2)
    raise AssertionError(f"not done after {deadline}s: {synced} synced, {claimed} claimed")
