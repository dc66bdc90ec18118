"""Four processes syncing the same users at once: each contact is linked to its
own company exactly once, and the link state matches what HubSpot holds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from playhouse.db_url import connect

import etlify
from etlify.testing.hubspot import FakeHubSpot

from .conftest import define, now

ROOT = Path(__file__).resolve().parents[2]
USERS = 120
PROCESSES = 4
URLS = {"postgres": "ETLIFY_TEST_POSTGRES", "mysql": "ETLIFY_TEST_MYSQL"}


@pytest.fixture
def hs():
    with FakeHubSpot(latency=(0.0, 0.003), seed=3, rate_limit=None) as server:
        yield server


def url_of(backend, tmp_path):
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    url = os.environ.get(URLS[backend])
    if not url:
        pytest.skip(f"{URLS[backend]} is not set")
    return url.replace("postgresql://", "postgres://", 1) if backend == "postgres" else url


def run_workers(url, hs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.crm_objects._link_worker",
                url,
                hs.url,
                hs.token,
                str(seed),
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for seed in range(PROCESSES)
    ]
    outputs = [worker.communicate(timeout=240) for worker in workers]
    assert [worker.returncode for worker in workers] == [0] * PROCESSES, outputs
    return [json.loads(out) for out, _ in outputs]


def assert_each_contact_linked_to_its_company(app, hs):
    for user in app.User.select():
        contact = user.crm_synchronisation("hubspot").crm_id
        company = user.company.crm_synchronisation("hubspot").crm_id
        assert set(hs.associations("contacts", contact, "companies")) == {company}
        links = etlify.CrmLink.select().where(etlify.CrmLink.resource_id == str(user.id))
        assert [link.to_crm_id for link in links] == [company]
    assert hs.object_count("contacts") == USERS


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])
def test_four_processes_link_each_contact_to_its_company_once(backend, tmp_path, hs):
    url = url_of(backend, tmp_path)
    database = connect(url, **({"pragmas": {"journal_mode": "wal"}} if backend == "sqlite" else {}))
    etlify.register("hubspot", adapter=etlify.adapters.HubspotV3Adapter(hs.token, hs.url))
    app = define(database)
    companies = [app.Company.create(name=f"C{i}") for i in range(6)]
    for i in range(USERS):
        app.User.create(email=f"u{i}@example.com", company=companies[i % 6])

    run_workers(url, hs)
    assert_each_contact_linked_to_its_company(app, hs)
    links = [r for r in hs.requests if r.path.endswith("/associate/default")]
    assert sum(len(r.body["inputs"]) for r in links) == USERS

    moved = [pk for (pk,) in app.User.select(app.User.id).tuples() if pk % 2 == 0]
    app.User.update(company=companies[0], updated_at=now()).where(app.User.id.in_(moved)).execute()
    run_workers(url, hs)
    assert_each_contact_linked_to_its_company(app, hs)
    database.close()
