"""Distributed syncs: a Celery worker in a subprocess over RabbitMQ, racing producers, FakeHubSpot.

Runs when ``ETLIFY_TEST_AMQP`` is set (e.g. ``amqp://guest:guest@127.0.0.1:5672//``);
on PostgreSQL when ``ETLIFY_TEST_POSTGRES`` is set, else on a SQLite file in WAL mode.
Each test has a queue (and worker node name) of its own, deleted afterwards. The
worker's log (``--loglevel info``: one line per task run) tells when every
queued task has run.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Callable

import pytest
from kombu import Connection
from playhouse.db_url import connect

from etlify.state import CrmSynchronisation as Sync
from etlify.state import bind_database

AMQP_URL = os.environ.get("ETLIFY_TEST_AMQP")
ROOT = Path(__file__).resolve().parents[2]
RECORDS = 100
PRODUCERS = 4

pytestmark = pytest.mark.skipif(not AMQP_URL, reason="ETLIFY_TEST_AMQP is not set")


@pytest.fixture
def environment(tmp_path, hubspot):
    """The settings of examples.celery_worker.tasks, for a queue of this test only."""
    queue = f"etlify-test-{uuid.uuid4().hex[:12]}"
    env = dict(
        os.environ,
        EXAMPLE_DATABASE_URL=os.environ.get("ETLIFY_TEST_POSTGRES")
        or f"sqlite:///{tmp_path / 'worker.db'}",
        CELERY_BROKER_URL=AMQP_URL,
        CELERY_QUEUE=queue,
        HUBSPOT_PRIVATE_APP_TOKEN=hubspot.token,
        HUBSPOT_BASE_URL=hubspot.url,
        # A failed request fails its sync at once, so that only Celery retries it.
        HUBSPOT_RETRIES="0",
        CELERY_RETRY_DELAY="0.5",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    )
    yield env
    with Connection(AMQP_URL) as connection:
        channel = connection.default_channel
        channel.queue_delete(queue)
        channel.exchange_delete(queue)


class Worker:
    """A ``celery worker`` subprocess, and what its log says."""

    def __init__(self, environment: dict[str, str], log_path: Path) -> None:
        queue = environment["CELERY_QUEUE"]
        self.log_path = log_path
        self._log = open(log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "examples.celery_worker.tasks", "worker"]
            + ["--pool", "prefork", "--concurrency", "2", "--queues", queue]
            + ["--hostname", f"{queue}@%h", "--loglevel", "info"]
            + ["--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT,
            env=environment,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log(self) -> str:
        return self.log_path.read_text()

    def runs(self, task: str, outcome: str = "succeeded") -> int:
        """How many runs of ``task`` ended with ``outcome`` (``succeeded``, ``retry``...)."""
        return len(re.findall(rf"Task {re.escape(task)}\[[0-9a-f-]+\] {outcome}\b", self.log()))

    def wait_until(self, done: Callable[[], bool], deadline: float, what: str) -> None:
        """Poll ``done`` until it holds; fail early if a task failed or the worker died."""
        give_up = time.monotonic() + deadline
        while not done():
            log = self.log()
            if self.process.poll() is not None or "raised unexpected" in log:
                raise AssertionError(f"worker failed before {what}:\n{log}")
            if time.monotonic() > give_up:
                raise AssertionError(f"not {what} after {deadline}s:\n{log}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Warm shutdown (SIGTERM: running tasks finish), then kill after a timeout."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)  # the worker and its pool
                self.process.wait(timeout=10)
        self._log.close()


@pytest.fixture
def worker(environment, tmp_path):
    """A running worker of examples.celery_worker.tasks on this test's queue."""
    started = Worker(environment, tmp_path / "worker.log")
    try:
        started.wait_until(lambda: " ready." in started.log(), deadline=30, what="ready")
        yield started
    finally:
        started.stop()


@pytest.fixture
def sync_rows(environment):
    """Reads the sync rows the worker writes: ``sync_rows()`` lists them."""
    database = connect(environment["EXAMPLE_DATABASE_URL"])
    bind_database(database)
    yield lambda: list(Sync.select())
    database.close()


def enqueue(env, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "examples.celery_worker.enqueue", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(env, *args: str) -> str:
    process = enqueue(env, *args)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    return out


def synced(rows) -> int:
    return sum(1 for row in rows if row.crm_id is not None and row.claim_token is None)


def test_racing_producers_on_a_celery_worker_create_each_contact_once(
    environment, worker, sync_rows, hubspot
):
    run(environment, "create", "0")
    share = RECORDS // PRODUCERS
    producers = [
        enqueue(environment, "add", str(share), "--first", str(i * share), "--sync-all")
        for i in range(PRODUCERS)
    ]
    queued = 0
    for producer in producers:
        out, err = producer.communicate(timeout=60)
        assert producer.returncode == 0, err
        queued += int(re.fullmatch(rf"Added {share} customers, queued (\d+) syncs\.\n", out)[1])
    assert queued > RECORDS  # each record was queued by its producer, and again by some

    worker.wait_until(
        lambda: synced(sync_rows()) == RECORDS and worker.runs("etlify.sync") == queued,
        deadline=40,
        what=f"{RECORDS} records synced by {queued} tasks",
    )

    rows = sync_rows()
    assert len(rows) == RECORDS
    assert all(row.error_count == 0 and row.last_error is None for row in rows)
    assert len({row.crm_id for row in rows}) == RECORDS
    assert hubspot.object_count("contacts") == RECORDS
    # A new contact's single sync is one batch upsert of one input.
    creates = [
        r for r in hubspot.requests if r.method == "POST" and r.path.endswith("/batch/upsert")
    ]
    assert len(creates) == RECORDS
    assert not [r for r in hubspot.requests if r.method == "PATCH"]


def test_a_transient_failure_is_retried_by_celery_and_ends_synced(
    environment, worker, sync_rows, hubspot
):
    run(environment, "create", "1")
    hubspot.fail_next(n=1, status=503)
    assert run(environment, "sync") == "Queued 1 syncs.\n"

    worker.wait_until(
        lambda: worker.runs("etlify.sync") == 1, deadline=20, what="synced after a retry"
    )

    assert worker.runs("etlify.sync", "retry") == 1
    [row] = sync_rows()
    assert row.crm_id is not None
    assert row.last_error is None
    assert [r.status for r in hubspot.requests] == [503, 200]
    assert hubspot.object_count("contacts") == 1


def test_the_stale_sync_task_syncs_the_stale_records_in_batch_tasks(
    environment, worker, sync_rows, hubspot
):
    stale = 150  # two batches of at most 100
    run(environment, "create", str(stale))
    assert run(environment, "stale") == "Queued a stale sync.\n"

    worker.wait_until(
        lambda: worker.runs("etlify.sync_batch") == 2 and synced(sync_rows()) == stale,
        deadline=30,
        what=f"{stale} stale records synced",
    )

    assert worker.runs("etlify.stale_sync") == 1
    assert worker.runs("etlify.sync") == 0
    assert hubspot.object_count("contacts") == stale
    assert len(sync_rows()) == stale
