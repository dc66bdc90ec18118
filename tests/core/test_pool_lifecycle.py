"""The built-in pool across ``fork()`` and after a shutdown that cancelled jobs."""

from __future__ import annotations

import os
import threading

import pytest

import etlify
import etlify.state.rows
from etlify import Status
from etlify.jobs import ThreadPoolJobs
from etlify.testing import InMemoryAdapter

from ..conftest import make_app


class HeldAdapter(InMemoryAdapter):
    """Holds every upsert of ``held@example.com`` until ``gate`` is set."""

    batch_upsert = None

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def upsert(self, object_type, payload, id_property=None, crm_id=None):
        if payload.get("email") == "held@example.com":
            self.entered.set()
            assert self.gate.wait(10)
        return super().upsert(object_type, payload, id_property=id_property, crm_id=crm_id)


def test_a_sync_cancelled_by_shutdown_is_queued_anew_by_the_next_sync(database):
    etlify.configure(jobs=ThreadPoolJobs(max_workers=1))
    adapter = HeldAdapter()
    app = make_app(database, adapter)
    app.User.create(email="held@example.com").sync()
    assert adapter.entered.wait(5)
    waiting = app.User.create(email="ada@example.com")
    cancelled = waiting.sync()

    etlify.jobs.shutdown(wait=False)
    adapter.gate.set()
    again = waiting.sync()

    assert cancelled.cancelled()
    assert again is not cancelled
    assert again.result(5) == Status.SYNCED


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork() on this platform")
def test_a_forked_child_runs_async_syncs_on_a_pool_of_its_own(database):
    adapter = InMemoryAdapter()
    app = make_app(database, adapter)
    assert app.User.create(email="parent@example.com").sync().result(5) == Status.SYNCED
    child_user = app.User.create(email="child@example.com")
    database.close()

    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        ok = False
        try:
            handle = child_user.sync()
            ok = etlify.jobs.wait(5) and handle.result(0) == Status.SYNCED
        finally:
            os._exit(0 if ok else 1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert child_user.crm_synchronisation("hubspot").crm_id is not None


def test_a_sync_waiting_on_a_record_deleted_meanwhile_returns_instead_of_waiting_forever(app):
    user = app.User.create(email="ada@example.com")
    user.sync(async_=False)
    row = user.crm_synchronisation("hubspot")
    assert etlify.state.rows.try_acquire(row.id) is not None  # another worker holds the row
    results: list = []

    def sync_in_a_worker() -> None:
        with app.db.connection_context():
            results.append(user.sync(async_=False))

    worker = threading.Thread(target=sync_in_a_worker, daemon=True)
    worker.start()
    worker.join(0.3)
    assert worker.is_alive()  # waiting for the claim
    app.User.delete().where(app.User.id == user.id).execute()
    etlify.CrmSynchronisation.delete().where(etlify.CrmSynchronisation.id == row.id).execute()
    worker.join(5)

    assert not worker.is_alive()
    assert results == [Status.NOOP]
