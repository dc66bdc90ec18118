"""Distributed syncs: RQ workers in subprocesses, producers racing, a real FakeHubSpot.

Runs examples.rq_worker when ``ETLIFY_TEST_REDIS`` is set (e.g.
``redis://127.0.0.1:6379/5``); on PostgreSQL when ``ETLIFY_TEST_POSTGRES`` is
set, else on a SQLite file in WAL mode. Each test has a queue of its own, and
deletes its Redis keys afterwards.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from playhouse.db_url import connect
from redis import Redis
from rq import Queue
from rq.job import Job

from etlify.state import CrmSynchronisation as Sync
from etlify.state import bind_database

REDIS_URL = os.environ.get("ETLIFY_TEST_REDIS")
ROOT = Path(__file__).resolve().parents[2]
RECORDS = 100
PRODUCERS = 4
RETRIES = 3  # examples.rq_worker.tasks: rq_jobs(queue, retries=3, ...)

pytestmark = pytest.mark.skipif(not REDIS_URL, reason="ETLIFY_TEST_REDIS is not set")


@pytest.fixture
def redis():
    client = Redis.from_url(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def environment(tmp_path, hubspot, redis):
    """The settings of examples.rq_worker.tasks, for a queue of this test run only."""
    name = f"etlify-test-{uuid.uuid4().hex[:12]}"
    env = dict(
        os.environ,
        EXAMPLE_DATABASE_URL=os.environ.get("ETLIFY_TEST_POSTGRES")
        or f"sqlite:///{tmp_path / 'worker.db'}",
        RQ_REDIS_URL=REDIS_URL,
        RQ_QUEUE=name,
        RQ_RETRY_DELAY="1",
        HUBSPOT_PRIVATE_APP_TOKEN=hubspot.token,
        HUBSPOT_BASE_URL=hubspot.url,
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    yield env
    delete_keys(redis, name)


def delete_keys(client: Redis, name: str) -> None:
    """Delete the keys of queue ``name``: its own, its workers' and its jobs'."""
    job_ids = [
        key.split(b":")[2]
        for key in client.scan_iter(match="rq:job:*", count=1000)
        if key.count(b":") == 2
        and client.type(key) == b"hash"
        and client.hget(key, "origin") == name.encode()
    ]
    patterns = [f"*{name}*"] + [f"rq:*{job_id.decode()}*" for job_id in job_ids]
    for pattern in patterns:
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    for shared in (b"rq:queues", b"rq:workers"):
        ours = [member for member in client.smembers(shared) if name.encode() in member]
        if ours:
            client.srem(shared, *ours)
    if not client.scard(b"rq:workers"):
        client.delete(b"rq:clean_groups")  # RQ's maintenance lock, when no other worker is left


@pytest.fixture
def queue(environment, redis):
    """The test run's RQ queue, as the test process sees it."""
    return Queue(environment["RQ_QUEUE"], connection=redis)


@pytest.fixture
def sync_rows(environment):
    """Bind the sync state to the example's database (once a command created its tables)."""
    database = connect(environment["EXAMPLE_DATABASE_URL"])
    bind_database(database)
    yield Sync
    database.close()


@pytest.fixture
def start_workers(environment, tmp_path):
    """``start_workers(n)``: n worker processes; stopped (SIGTERM: RQ's warm shutdown) after."""
    workers: list[tuple[subprocess.Popen, Path]] = []

    def start(count: int) -> None:
        for _ in range(count):
            n = len(workers)
            log = tmp_path / f"worker{n}.log"
            with open(log, "w") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "examples.rq_worker.worker"]
                    + ["--name", f"{environment['RQ_QUEUE']}-worker{n}"],
                    cwd=ROOT,
                    env=environment,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            workers.append((process, log))

    start.logs = lambda: "\n".join(log.read_text()[-3000:] for _, log in workers)
    yield start
    for process, _ in workers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process, _ in workers:
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def run(env, *args: str) -> str:
    """Run examples.rq_worker.enqueue with ``args``; its output."""
    done = subprocess.run(
        [sys.executable, "-m", "examples.rq_worker.enqueue", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def wait_until_synced(queue: Queue, expected: int, deadline: float, logs) -> None:
    """Poll until ``expected`` records are synced and unclaimed, and no job is left to run.

    Gives up after ``deadline`` seconds, or once no job has been left for 3 s.
    """
    give_up = time.monotonic() + deadline
    idle_since = None
    while True:
        synced = Sync.select().where(Sync.crm_id.is_null(False)).count()
        claimed = Sync.select().where(Sync.claim_token.is_null(False)).count()
        left = len(queue) + queue.started_job_registry.count + queue.scheduled_job_registry.count
        if synced == expected and claimed == 0 and left == 0:
            return
        now = time.monotonic()
        idle_since = (idle_since or now) if left == 0 else None
        if now > give_up or (idle_since is not None and now - idle_since > 3):
            raise AssertionError(
                f"not done: {synced} of {expected} synced, {claimed} claimed, "
                f"{left} jobs left\n{logs()}"
            )
        time.sleep(0.2)


def finished_jobs(queue: Queue) -> list[Job]:
    return Job.fetch_many(queue.finished_job_registry.get_job_ids(), connection=queue.connection)


def upserts(hubspot) -> list:
    return [r for r in hubspot.requests if r.method == "POST" and r.path.endswith("/batch/upsert")]


def test_racing_producers_on_two_rq_workers_create_each_contact_once(
    environment, queue, sync_rows, start_workers, hubspot
):
    run(environment, "create", "0")
    start_workers(2)
    share = RECORDS // PRODUCERS
    producers = [
        subprocess.Popen(
            [sys.executable, "-m", "examples.rq_worker.enqueue", "produce"]
            + [str(i * share), str(share), "--then-sync-all", str(RECORDS)],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(PRODUCERS)
    ]
    for producer in producers:
        out, err = producer.communicate(timeout=60)
        assert producer.returncode == 0, err
        # Its own records once as created, then every record: each one by all producers.
        assert out == f"Created {share} customers, queued {share + RECORDS} syncs.\n"
    wait_until_synced(queue, RECORDS, deadline=40, logs=start_workers.logs)

    rows = list(Sync.select())
    assert len(rows) == RECORDS
    assert all(row.crm_id and row.error_count == 0 and row.last_error is None for row in rows)
    assert len({row.crm_id for row in rows}) == RECORDS
    assert hubspot.object_count("contacts") == RECORDS
    # A new contact's single sync is one batch upsert of one input; the other syncs send nothing.
    assert len(upserts(hubspot)) == RECORDS
    assert not [r for r in hubspot.requests if r.method == "PATCH"]
    assert queue.failed_job_registry.count == 0
    assert queue.finished_job_registry.count == PRODUCERS * (share + RECORDS)


def test_a_transient_failure_is_retried_by_rq_and_ends_synced(
    environment, queue, sync_rows, start_workers, hubspot
):
    environment["HUBSPOT_RETRIES"] = "0"  # no retry in the adapter: RQ's retry must do it
    run(environment, "create", "1")
    hubspot.fail_next(n=1, status=503)
    start_workers(1)
    assert run(environment, "sync") == "Queued 1 syncs.\n"
    wait_until_synced(queue, 1, deadline=20, logs=start_workers.logs)

    [job] = finished_jobs(queue)
    assert job.func_name == "etlify.contrib.rq.sync_job"
    assert job.retries_left == RETRIES - 1
    assert job.return_value() == "synced"
    assert [r.status for r in upserts(hubspot)] == [503, 200]
    assert hubspot.object_count("contacts") == 1
    [row] = Sync.select()
    assert row.crm_id is not None
    assert row.last_error is None


def test_the_stale_sync_job_syncs_the_stale_records_in_batch_jobs(
    environment, queue, sync_rows, start_workers, hubspot
):
    run(environment, "create", "30")
    start_workers(2)
    assert run(environment, "stale", "--batch-size", "10").startswith("Queued stale sync ")
    wait_until_synced(queue, 30, deadline=20, logs=start_workers.logs)

    assert hubspot.object_count("contacts") == 30
    assert Sync.select().where(Sync.crm_id.is_null(False)).count() == 30
    assert Counter(job.func_name for job in finished_jobs(queue)) == {
        "etlify.contrib.rq.stale_sync_job": 1,
        "etlify.contrib.rq.sync_batch_job": 3,
    }
    assert queue.failed_job_registry.count == 0
