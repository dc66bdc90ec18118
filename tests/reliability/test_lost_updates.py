"""Lost updates: a record edited while its sync is in flight is stale afterwards, and
the next sync sends the edit (single-record and batch paths; SQLite, PostgreSQL, MariaDB).
"""

from __future__ import annotations

import threading
import time

import pytest

from etlify import BatchSync, Finder, Status, configure
from etlify.declarations import sync_config
from etlify.testing.hubspot import FakeHubSpot

from ._app import create_people, database_for, setup
from .conftest import database_url

LATENCY = 0.3

BACKENDS = pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])


@pytest.fixture
def hubspot():
    """Every answer comes ``LATENCY`` seconds after the request was carried out."""
    with FakeHubSpot(latency=LATENCY) as fake:
        yield fake


@pytest.fixture
def app(backend, tmp_path, hubspot):
    app = setup(database_for(database_url(backend, tmp_path)), hubspot.url, hubspot.token,
                unique=True)
    yield app
    app.db.close()


def in_background(app, work):
    """Run ``work()`` in a thread with its own connection; ``join()`` returns its result."""
    result = []

    def run():
        try:
            with app.db.connection_context():
                result.append(work())
        except BaseException as error:  # noqa: B036 - handed to the test thread
            result.append(error)

    thread = threading.Thread(target=run)
    thread.start()

    def join():
        thread.join(timeout=60)
        assert not thread.is_alive()
        if isinstance(result[0], BaseException):
            raise result[0]
        return result[0]

    return join


def wait_for_write(hubspot, path_end):
    """Wait until the CRM carried out a POST to ``.../path_end`` (its answer still delayed)."""
    give_up = time.monotonic() + 30
    while not [r for r in hubspot.requests if r.method == "POST" and r.path.endswith(path_end)]:
        assert time.monotonic() < give_up, "the sync never reached the CRM"
        time.sleep(0.005)


def stale_ids(app):
    return [pk for (pk,) in Finder.query(sync_config(app.Person, "hubspot")).tuples()]


def crm_first_names(hubspot):
    return {c["properties"]["email"]: c["properties"]["firstname"]
            for c in hubspot.objects("contacts")}


def assert_nothing_left_to_send(app, hubspot):
    """Syncing whatever the finder still calls stale sends nothing to the CRM.

    (On MariaDB, whose DATETIME keeps whole seconds, a record synced within a
    second of an edit stays stale until the next sync's digest check.)
    """
    before = len(hubspot.requests)
    stats = BatchSync.call(async_=False)
    assert (stats["synced"], stats["errors"]) == (0, 0)
    assert len(hubspot.requests) == before


def edit(app, pk, first_name):
    person = app.Person.get_by_id(pk)
    person.first_name = first_name
    person.save()


@BACKENDS
def test_an_edit_during_a_single_sync_is_stale_afterwards_and_sent_next(app, hubspot):
    with app.db.connection_context():
        [pk] = create_people(app, 1)
    join = in_background(app, lambda: app.Person(id=pk).sync("hubspot", async_=False))
    wait_for_write(hubspot, "/contacts/batch/upsert")  # a new record: one batch upsert
    with app.db.connection_context():
        edit(app, pk, "Edited while in flight")
    assert join() is Status.SYNCED
    assert crm_first_names(hubspot) == {"person0@example.com": "First0"}

    with app.db.connection_context():
        assert stale_ids(app) == [pk]
        assert app.Person(id=pk).sync("hubspot", async_=False) is Status.SYNCED
        assert_nothing_left_to_send(app, hubspot)
    assert crm_first_names(hubspot) == {"person0@example.com": "Edited while in flight"}


@BACKENDS
def test_an_edit_during_a_batch_sync_is_stale_afterwards_and_sent_next(app, hubspot):
    with app.db.connection_context():
        ids = create_people(app, 5)
    join = in_background(app, lambda: BatchSync.call(async_=False))
    wait_for_write(hubspot, "/batch/upsert")
    with app.db.connection_context():
        edit(app, ids[2], "Edited while in flight")
    assert join()["synced"] == 5
    assert crm_first_names(hubspot)["person2@example.com"] == "First2"

    with app.db.connection_context():
        assert ids[2] in stale_ids(app)
        stats = BatchSync.call(async_=False)
        assert (stats["synced"], stats["errors"]) == (1, 0)
        assert_nothing_left_to_send(app, hubspot)
    names = crm_first_names(hubspot)
    assert names["person2@example.com"] == "Edited while in flight"
    assert names == {f"person{i}@example.com": "Edited while in flight" if i == 2 else f"First{i}"
                     for i in range(5)}


@pytest.mark.parametrize("backend", ["postgres", "mysql"])
def test_an_edit_committed_after_a_sync_read_the_record_is_sent_within_the_sync_margin(
    app, hubspot
):
    """A request saves the record, works on for two seconds (past MariaDB's one-second
    margin), and commits while a sync of the record is in flight. A sync margin longer
    than the transaction keeps the record stale."""
    configure(sync_margin=5)
    with app.db.connection_context():
        [pk] = create_people(app, 1)
        with app.db.atomic():
            edit(app, pk, "Edited in a slow transaction")
            time.sleep(2.1)
            join = in_background(app, lambda: app.Person(id=pk).sync("hubspot", async_=False))
            wait_for_write(hubspot, "/contacts/batch/upsert")
        assert join() is Status.SYNCED
        assert crm_first_names(hubspot) == {"person0@example.com": "First0"}

        assert stale_ids(app) == [pk]
