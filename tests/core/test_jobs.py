"""Async syncs: the built-in thread pool, job classes, transactions, immediate mode."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import Future
from pathlib import Path

import pytest
from peewee import SqliteDatabase

import etlify
from etlify import Status
from etlify.jobs import ThreadPoolJobs
from etlify.testing import InMemoryAdapter, immediate

from ..conftest import make_app

ROOT = Path(__file__).resolve().parents[2]


class Boom(Exception):
    pass


class RecordingJobs:
    """A job system that only remembers what it was asked to run."""

    def __init__(self) -> None:
        self.queued: list[tuple] = []

    def perform_later(self, model_name, record_id, crm_name):
        self.queued.append((model_name, record_id, crm_name))
        return f"job-{len(self.queued)}"


class GatedAdapter(InMemoryAdapter):
    """Holds the upsert of ``blocker@example.com`` until ``gate`` is set."""

    batch_upsert = None  # every sync goes through upsert()

    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.gate = threading.Event()

    def upsert(self, object_type, payload, id_property=None, crm_id=None):
        if payload.get("email") == "blocker@example.com":
            self.entered.set()
            assert self.gate.wait(10)
        return super().upsert(object_type, payload, id_property=id_property, crm_id=crm_id)

    def upserts_of(self, email):
        return [c for c in self.calls if c[0] == "upsert" and c[2].get("email") == email]


def test_async_sync_returns_a_future_of_the_status(app, adapter, user):
    handle = user.sync()

    assert isinstance(handle, Future)
    assert handle.result(timeout=10) == Status.SYNCED
    assert adapter.count("contacts") == 1


def test_the_default_dispatcher_is_a_thread_pool(app, user):
    user.sync().result(timeout=10)

    assert isinstance(etlify.config.jobs, ThreadPoolJobs)


def test_wait_returns_once_every_queued_sync_is_done(app, adapter):
    etlify.configure(jobs=ThreadPoolJobs(max_workers=2))
    users = [app.User.create(email=f"u{i}@example.com") for i in range(10)]
    for user in users:
        user.sync()

    assert etlify.jobs.wait(timeout=20) is True

    assert adapter.count("contacts") == 10


def test_wait_returns_false_when_the_timeout_runs_out(database):
    adapter = GatedAdapter()
    app = make_app(database, adapter)
    app.User.create(email="blocker@example.com").sync()
    assert adapter.entered.wait(5)

    try:
        assert etlify.jobs.wait(timeout=0.05) is False
    finally:
        adapter.gate.set()
    assert etlify.jobs.wait(timeout=10) is True


def test_shutdown_drains_the_queued_syncs(app, adapter):
    etlify.configure(jobs=ThreadPoolJobs(max_workers=1))
    futures = [app.User.create(email=f"u{i}@example.com").sync() for i in range(5)]

    etlify.jobs.shutdown()

    assert [f.result(timeout=0) for f in futures] == [Status.SYNCED] * 5


def test_the_pool_starts_again_after_shutdown(app, user):
    user.sync().result(timeout=10)
    etlify.jobs.shutdown()
    user.first_name = "Augusta"
    user.save()

    assert user.sync().result(timeout=10) == Status.SYNCED


def test_thread_pool_refuses_a_bad_worker_count():
    with pytest.raises(etlify.ConfigurationError, match="max_workers"):
        ThreadPoolJobs(max_workers=0)


def test_configure_refuses_a_dispatcher_without_submit():
    with pytest.raises(etlify.ConfigurationError, match="jobs"):
        etlify.configure(jobs=RecordingJobs())


def test_a_sync_already_queued_is_not_queued_twice(database):
    adapter = GatedAdapter()
    app = make_app(database, adapter)
    etlify.configure(jobs=ThreadPoolJobs(max_workers=1))
    user = app.User.create(email="ada@example.com")
    app.User.create(email="blocker@example.com").sync()
    assert adapter.entered.wait(5)  # the only worker is busy: the next jobs stay queued

    first, second = user.sync(), user.sync()
    adapter.gate.set()

    assert second is first
    assert first.result(timeout=10) == Status.SYNCED
    assert len(adapter.upserts_of("ada@example.com")) == 1


def test_a_sync_requested_while_the_same_sync_runs_is_queued_again(database):
    adapter = GatedAdapter()
    app = make_app(database, adapter)
    blocker = app.User.create(email="blocker@example.com")
    running = blocker.sync()
    assert adapter.entered.wait(5)

    again = blocker.sync()
    adapter.gate.set()

    assert again is not running
    assert running.result(timeout=10) == Status.SYNCED
    assert again.result(timeout=10) == Status.NOT_MODIFIED


def test_perform_syncs_one_record_by_model_name_id_and_crm(app, adapter, user):
    assert etlify.jobs.perform("User", user.id, "hubspot") == Status.SYNCED
    assert adapter.count("contacts") == 1


def test_perform_accepts_the_id_as_a_string_like_a_job_queue_gives_it(app, adapter, user):
    assert etlify.jobs.perform("User", str(user.id), "hubspot") == Status.SYNCED


def test_perform_with_an_unknown_model_name_raises_configuration_error(app):
    with pytest.raises(etlify.ConfigurationError, match="'Nobody'"):
        etlify.jobs.perform("Nobody", 1, "hubspot")


def test_a_crm_job_class_receives_the_async_syncs(app, adapter, user):
    jobs = RecordingJobs()
    etlify.register("hubspot", adapter=adapter, job_class=jobs)

    handle = user.sync()

    assert handle == "job-1"
    assert jobs.queued == [("User", user.id, "hubspot")]
    assert adapter.calls == []
    assert etlify.jobs.perform(*jobs.queued[0]) == Status.SYNCED


def test_a_job_class_may_be_a_class_with_a_classmethod(app, adapter, user):
    class ClassJobs:
        queued: list = []

        @classmethod
        def perform_later(cls, model_name, record_id, crm_name):
            cls.queued.append((model_name, record_id, crm_name))

    etlify.register("hubspot", adapter=adapter, job_class=ClassJobs)

    user.sync()

    assert ClassJobs.queued == [("User", user.id, "hubspot")]


def test_a_model_job_class_overrides_the_crms(app, adapter, user):
    crm_jobs, model_jobs = RecordingJobs(), RecordingJobs()
    etlify.register("hubspot", adapter=adapter, job_class=crm_jobs)
    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="contacts", job_class=model_jobs,
        replace=True,
    )
    company = app.Company.create(name="Acme")

    user.sync()
    company.sync()

    assert model_jobs.queued == [("User", user.id, "hubspot")]
    assert crm_jobs.queued == [("Company", company.id, "hubspot")]


def test_an_async_sync_to_a_disabled_crm_is_disabled_at_once(app, adapter, user):
    jobs = RecordingJobs()
    etlify.register("hubspot", adapter=adapter, enabled=False, job_class=jobs)

    assert user.sync().result(timeout=0) == Status.DISABLED
    assert jobs.queued == []


def test_a_sync_queued_in_a_transaction_runs_after_the_commit(app, adapter):
    with app.db.atomic():
        user = app.User.create(email="ada@example.com")
        handle = user.sync()
        time.sleep(0.05)
        assert not handle.done()
        assert adapter.calls == []

    assert handle.result(timeout=10) == Status.SYNCED


def test_a_sync_queued_in_a_nested_transaction_waits_for_the_outermost_commit(app, adapter):
    with app.db.atomic():
        user = app.User.create(email="ada@example.com")
        with app.db.atomic():
            handle = user.sync()
        time.sleep(0.05)
        assert not handle.done()
        assert adapter.calls == []

    assert handle.result(timeout=10) == Status.SYNCED


def test_a_sync_queued_in_a_rolled_back_transaction_never_runs(app, adapter):
    with pytest.raises(Boom), app.db.atomic():
        user = app.User.create(email="ada@example.com")
        handle = user.sync()
        raise Boom

    assert handle.cancelled()
    etlify.jobs.wait(timeout=10)
    assert adapter.calls == []


def test_a_job_class_is_called_only_after_the_commit(app, adapter):
    jobs = RecordingJobs()
    etlify.register("hubspot", adapter=adapter, job_class=jobs)

    with app.db.atomic():
        user = app.User.create(email="ada@example.com")
        handle = user.sync()
        assert jobs.queued == []

    assert jobs.queued == [("User", user.id, "hubspot")]
    assert handle.result(timeout=0) == "job-1"


class CountingDatabase(SqliteDatabase):
    """Counts the connections it opens and closes."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.opened = self.closed = 0
        self._count_lock = threading.Lock()

    def _connect(self):
        with self._count_lock:
            self.opened += 1
        return super()._connect()

    def _close(self, conn):
        with self._count_lock:
            self.closed += 1
        return super()._close(conn)


@pytest.mark.parametrize("workers, records", [(4, 4), (4, 60)])
def test_no_worker_connection_stays_open_once_the_queue_is_done(tmp_path, workers, records):
    db = CountingDatabase(str(tmp_path / "count.db"), pragmas={"journal_mode": "wal"}, timeout=30)
    adapter = InMemoryAdapter(latency=0.002)
    app = make_app(db, adapter)
    etlify.configure(jobs=ThreadPoolJobs(max_workers=workers))
    users = [app.User.create(email=f"u{i}@example.com") for i in range(records)]
    db.close()
    opened = db.opened

    for user in users:
        user.sync()
    assert etlify.jobs.wait(timeout=20)

    assert adapter.count("contacts") == records
    assert db.opened > opened
    assert db.closed == db.opened


def memory_app(adapter, database_class=SqliteDatabase):
    return make_app(database_class(":memory:"), adapter)


def test_memory_sqlite_with_the_thread_pool_is_refused(adapter):
    app = memory_app(adapter)
    user = app.User.create(email="ada@example.com")

    with pytest.raises(etlify.ConfigurationError, match="in-memory SQLite"):
        user.sync()


def test_memory_sqlite_is_refused_for_a_subclass_of_sqlite_database(adapter):
    class AppDatabase(SqliteDatabase):
        pass

    app = memory_app(adapter, AppDatabase)
    user = app.User.create(email="ada@example.com")

    with pytest.raises(etlify.ConfigurationError, match="in-memory SQLite"):
        user.sync()


def test_memory_sqlite_is_refused_at_the_call_inside_a_transaction_too(adapter):
    app = memory_app(adapter)

    with pytest.raises(etlify.ConfigurationError, match="in-memory SQLite"):
        with app.db.atomic():
            app.User.create(email="ada@example.com").sync()


def test_memory_sqlite_syncs_inline_and_in_immediate_mode(adapter):
    app = memory_app(adapter)
    user = app.User.create(email="ada@example.com")

    assert user.sync(async_=False) == Status.SYNCED
    user.first_name = "Augusta"
    user.save()
    with immediate():
        assert user.sync().result(timeout=0) == Status.SYNCED


def test_immediate_runs_async_syncs_inline_in_the_calling_thread(app, adapter, user):
    threads = []

    def remember_thread(sender, **kwargs):
        threads.append(threading.current_thread())

    with etlify.signals.synced.connected_to(remember_thread), immediate():
        handle = user.sync()
        assert handle.done()

    assert handle.result() == Status.SYNCED
    assert threads == [threading.current_thread()]
    assert etlify.config.jobs is None


def test_immediate_ends_with_its_block(app, user):
    with immediate():
        pass

    handle = user.sync()
    assert handle.result(timeout=10) == Status.SYNCED
    assert isinstance(etlify.config.jobs, ThreadPoolJobs)


def test_interpreter_exit_with_queued_syncs_neither_hangs_nor_prints_a_traceback(tmp_path):
    script = textwrap.dedent(
        f"""
        import etlify
        from playhouse.db_url import connect
        from etlify.testing import InMemoryAdapter
        from tests.models import define_models

        db = connect("sqlite:///{tmp_path / "exit.db"}", pragmas={{"journal_mode": "wal"}})
        etlify.register("hubspot", adapter=InMemoryAdapter(latency=0.02))
        app = define_models(db)
        app.User.etlified_with(
            "hubspot", serializer=app.UserSerializer, crm_object_type="contacts"
        )
        etlify.create_tables()
        for i in range(20):
            app.User.create(email=f"u{{i}}@example.com").sync()
        print("queued", flush=True)
        """
    )

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=30
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "queued"
    assert "Traceback" not in done.stderr
    assert done.stderr == ""
    assert time.monotonic() - started < 15


def test_a_failed_async_sync_resolves_to_error_not_an_exception(app, adapter, user):
    adapter.fail_next(etlify.ValidationFailed("invalid"))

    assert user.sync().result(timeout=10) == Status.ERROR


def test_async_sync_to_several_crms_returns_a_future_per_crm(app, user):
    etlify.register("salesforce", adapter=InMemoryAdapter())
    app.User.etlified_with("salesforce", serializer=app.UserSerializer, crm_object_type="leads")

    handles = user.sync()

    assert set(handles) == {"hubspot", "salesforce"}
    assert {name: h.result(timeout=10) for name, h in handles.items()} == {
        "hubspot": Status.SYNCED,
        "salesforce": Status.SYNCED,
    }
