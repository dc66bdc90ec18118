"""Crashes: a batch sync killed with SIGKILL at any point leaves nothing a clean run
cannot finish: every record synced once, no duplicate, no claim held forever.
"""

from __future__ import annotations

import random
import signal
import subprocess
import time

import pytest

import etlify
from etlify import BatchSync, Finder
from etlify import CrmSynchronisation as Sync
from etlify.declarations import sync_config
from etlify.testing.hubspot import FakeHubSpot

from ._app import create_people, database_for, environment, setup
from .conftest import ROOT, database_url, subprocess_env, worker_command

KILLS = 5
CLAIM_TIMEOUT = 1.0


@pytest.fixture
def figures(request):
    found: dict = {}
    yield found
    print(f"\n{request.node.name}: {found}")


def run_and_kill(command, env, hubspot, rng):
    """Start a worker, SIGKILL it once the CRM saw a random number more requests.

    The emulator records a request when it has carried it out, before its
    (delayed) answer: the kill lands between a CRM write and its answer, or
    shortly after, while the worker writes to the database. Returns whether
    the worker was killed (it may have finished first).
    """
    seen = len(hubspot.requests)
    target = seen + rng.randint(1, 8)
    pause = rng.uniform(0.0, 0.03)
    worker = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE)
    try:
        give_up = time.monotonic() + 60
        while len(hubspot.requests) < target and worker.poll() is None:
            assert time.monotonic() < give_up, "the worker made no progress"
            time.sleep(0.002)
        time.sleep(pause)
        killed = worker.poll() is None
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
        worker.stderr.close()
    return killed


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_batch_sync_killed_5_times_then_run_clean_syncs_every_record_once(
    backend, tmp_path, soak, figures
):
    count = 3_000 if soak else 600
    url = database_url(backend, tmp_path)
    rng = random.Random(5150)
    with FakeHubSpot(latency=(0.02, 0.05), seed=11) as hubspot:
        app = setup(database_for(url), hubspot.url, hubspot.token, unique=True,
                    claim_timeout=CLAIM_TIMEOUT)
        ids = create_people(app, count)
        env = subprocess_env(**environment(url, hubspot, unique=1, claim_timeout=CLAIM_TIMEOUT))
        command = worker_command("_batch_worker", 25)

        killed = [run_and_kill(command, env, hubspot, rng) for _ in range(KILLS)]
        with app.db.connection_context():
            left_claimed = Sync.select().where(Sync.claim_token.is_null(False)).count()
            synced_before = Sync.select().where(Sync.crm_id.is_null(False)).count()
        objects_before = hubspot.object_count("contacts")
        time.sleep(CLAIM_TIMEOUT + 0.5)  # past every claim the killed workers left

        rounds = []
        with app.db.connection_context():
            stale = Finder.query(sync_config(app.Person, "hubspot"))
            for _ in range(5):
                rounds.append(BatchSync.call(async_=False, batch_size=200))
                if stale.count() == 0:
                    break
            rows = list(Sync.select())
        contacts = hubspot.objects("contacts")

    figures.update(
        records=count, killed=sum(killed), left_claimed=left_claimed,
        synced_before_clean_run=synced_before, objects_before_clean_run=objects_before,
        clean_rounds=len(rounds), contacts=len(contacts),
    )
    assert sum(killed) == KILLS
    assert objects_before > synced_before, "a kill should land between a CRM write and its row"
    assert left_claimed > 0, "a killed worker should leave claimed rows behind"
    assert etlify.config.claim_timeout == CLAIM_TIMEOUT
    assert len(rows) == len(ids)
    assert [row for row in rows if not row.crm_id or row.claim_token or row.last_error] == []
    assert len(contacts) == len(ids)
    assert len({c["properties"]["email"] for c in contacts}) == len(ids)
    assert {row.crm_id for row in rows} == {c["id"] for c in contacts}
