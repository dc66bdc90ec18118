"""Running syncs in the background.

Async syncs go, in this order of preference, to the model's ``job_class``,
the CRM's ``job_class`` (anything with ``perform_later(model_name, record_id,
crm_name)``: Huey, Celery, RQ...), or the built-in :class:`ThreadPoolJobs`.
A sync requested inside a transaction is dispatched after the outermost
commit, and not at all after a rollback. A worker of any job system calls
:func:`perform`.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from peewee import SqliteDatabase

from . import registry
from .config import config
from .declarations import SyncConfig, etlified_models, model_for, sync_config
from .engine import sync_batch, sync_record
from .errors import ConfigurationError
from .state import database_proxy
from .status import Status
from .transactions import in_transaction, on_outermost_end

__all__ = [
    "ThreadPoolJobs",
    "dispatch",
    "dispatch_batch",
    "perform",
    "perform_batch",
    "connections",
    "wait",
    "shutdown",
]

logger = logging.getLogger("etlify")


class ThreadPoolJobs:
    """The built-in dispatcher: a thread pool with in-flight de-duplication.

    Each worker thread opens its own connections to the models' and the sync
    state's databases for a job, keeps them while more jobs are queued, and
    closes them after the job that leaves the queue empty: a burst of jobs
    does not pay a connect per job, and no connection stays open once the
    pool runs dry. A sync already queued (not yet started) for the same
    (model, id, CRM) is not queued twice: the second request gets the first
    one's ``Future``; a cancelled one is never handed out again.

    After ``fork()`` the child starts with an empty pool of its own: the
    parent's threads do not exist there, so its queue and lock are dropped.
    """

    def __init__(self, max_workers: int = 4) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1:
            raise ConfigurationError(f"max_workers must be a positive integer, not {max_workers!r}")
        self.max_workers = max_workers
        self._executor: ThreadPoolExecutor | None = None
        self._queued: dict[tuple, Future] = {}
        self._pending: set[Future] = set()
        self._lock = threading.Lock()
        _pools.add(self)

    def _forget_parent(self) -> None:
        """In a forked child: drop the parent's executor, queue and lock."""
        self._executor = None
        self._queued = {}
        self._pending = set()
        self._lock = threading.Lock()

    def submit(self, model_name: str, record_id: Any, crm_name: str) -> Future:
        """Queue a sync; returns a ``Future`` of its :class:`~etlify.Status`."""
        model = model_for(model_name)
        _refuse_memory_sqlite(model)
        key = (model_name, str(record_id), crm_name)
        with self._lock:
            queued = self._queued.get(key)
            if queued is not None and not queued.done():
                return queued
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="etlify")
            # In the context that queued it: what a CRM scope reads holds in the job.
            future = self._executor.submit(
                contextvars.copy_context().run,
                self._run,
                model_name,
                perform_open,
                key,
                model_name,
                record_id,
                crm_name,
            )
            self._queued[key] = future
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def submit_batch(self, model_name: str, record_ids: list[Any], crm_name: str) -> Future:
        """Queue the sync of a batch of records; a ``Future`` of the counts by outcome."""
        _refuse_memory_sqlite(model_for(model_name))
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.max_workers, thread_name_prefix="etlify")
            future = self._executor.submit(
                contextvars.copy_context().run,
                self._run,
                model_name,
                perform_batch_open,
                None,
                model_name,
                record_ids,
                crm_name,
            )
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _run(self, model_name: str, work: Callable[..., Any], key: Any, *args: Any) -> Any:
        if key is not None:
            with self._lock:
                self._queued.pop(key, None)
        try:
            _open_connections(model_for(model_name))
            return work(*args)
        except ConfigurationError as error:
            # A setup mistake (a missing table, say) is one line, not a traceback per job.
            logger.error("etlify: job %s%r: %s", work.__name__, args, error)
            raise
        except Exception:
            logger.exception("etlify: job %s%r raised", work.__name__, args)
            raise
        finally:
            executor = self._executor
            if executor is None or executor._work_queue.empty():
                _close_connections()

    def _forget(self, future: Future) -> None:
        with self._lock:
            self._pending.discard(future)
            executor = self._executor if not self._pending else None
        if executor is not None:
            # Threads that went idle while others emptied the queue still hold
            # connections: one closer per thread reaches each of them.
            for _ in range(len(executor._threads)):
                try:
                    executor.submit(_close_connections)
                except RuntimeError:
                    return

    def wait(self, timeout: float | None = None) -> bool:
        """Block until every queued job is done; ``False`` if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = set(self._pending)
            if not pending:
                return True
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            done, not_done = concurrent.futures.wait(pending, timeout=left)
            if not_done:
                return False

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pool, draining queued jobs when ``wait`` (else cancelling them)."""
        with self._lock:
            executor, self._executor = self._executor, None
            self._queued.clear()
        if executor is not None:
            executor.shutdown(wait=wait, cancel_futures=not wait)
        with self._lock:
            self._pending = {future for future in self._pending if not future.done()}

    def __repr__(self) -> str:
        return f"ThreadPoolJobs(max_workers={self.max_workers})"


#: Every pool, so that a forked child can give each a fresh start.
_pools: weakref.WeakSet[ThreadPoolJobs] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for pool in list(_pools):
        pool._forget_parent()
    _worker.__dict__.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _refuse_memory_sqlite(model: type) -> None:
    for database in (model._meta.database, database_proxy):
        database = getattr(database, "obj", database)
        name = getattr(database, "database", None)
        if isinstance(database, SqliteDatabase) and name in (":memory:", ""):
            raise ConfigurationError(
                f"{model.__name__} lives in an in-memory SQLite database, which the job "
                "threads cannot see: use a file database, sync with async_=False, or "
                "run inside etlify.testing.immediate()"
            )


def default_jobs() -> Any:
    """The configured dispatcher, creating the default thread pool on first use."""
    if config.jobs is None:
        config.jobs = ThreadPoolJobs()
    return config.jobs


_immediate_depth = [0]


def is_immediate() -> bool:
    """Whether async syncs run inline (inside ``etlify.testing.immediate()``)."""
    return _immediate_depth[0] > 0


def dispatch(sync_config_: SyncConfig, record_id: Any, record: Any = None) -> Any:
    """Start an async sync of one record; returns its handle.

    A disabled CRM answers at once, announcing ``skipped`` like an inline sync;
    ``record`` is what that signal carries.
    """
    entry = registry.crm(sync_config_.crm_name)
    model, crm_name = sync_config_.model, sync_config_.crm_name
    if not entry.enabled:
        return _done(sync_record(model, record_id, crm_name, record=record))
    if is_immediate():
        return _done(sync_record(model, record_id, crm_name))
    job_class = sync_config_.job_class or entry.job_class
    name = sync_config_.resource_type
    jobs = None if job_class is not None else default_jobs()
    if isinstance(jobs, ThreadPoolJobs):
        _refuse_memory_sqlite(model)  # now, not after a commit where no caller would see it

    def start() -> Any:
        if jobs is None:
            return job_class.perform_later(name, record_id, crm_name)
        return jobs.submit(name, record_id, crm_name)

    return _after_commit(model._meta.database, start)


def _done(value: Any) -> Future:
    future: Future = Future()
    future.set_result(value)
    return future


def _after_commit(database: Any, start: Callable[[], Any]) -> Any:
    """Run ``start`` now, or after the outermost commit when in a transaction.

    In a transaction the handle is a ``Future`` that takes on the started
    job's outcome after the commit, and is cancelled by a rollback.
    """
    if not in_transaction(database):
        return start()
    handle: Future = Future()

    def on_commit() -> None:
        try:
            started = start()
        except Exception as error:
            handle.set_exception(error)
            return
        if isinstance(started, Future):
            started.add_done_callback(lambda f: _copy_outcome(f, handle))
        else:
            handle.set_result(started)

    on_outermost_end(database, on_commit, handle.cancel)
    return handle


def _copy_outcome(source: Future, target: Future) -> None:
    if source.cancelled():
        target.cancel()
    elif source.exception() is not None:
        target.set_exception(source.exception())
    else:
        target.set_result(source.result())


def dispatch_batch(sync_config_: SyncConfig, record_ids: list[Any]) -> Any:
    """Start an async sync of a batch of records of one model; returns its handle.

    A ``job_class`` with ``perform_batch_later(model_name, record_ids, crm_name)``
    gets one job for the batch; one with only ``perform_later`` gets one job
    per record; the built-in pool runs the batch as one job.
    """
    entry = registry.crm(sync_config_.crm_name)
    job_class = sync_config_.job_class or entry.job_class
    name, crm_name = sync_config_.resource_type, sync_config_.crm_name
    if is_immediate():
        return _done(dict(sync_batch(sync_config_, list(record_ids)).counts))
    if job_class is None:
        return default_jobs().submit_batch(name, record_ids, crm_name)
    if callable(getattr(job_class, "perform_batch_later", None)):
        return job_class.perform_batch_later(name, record_ids, crm_name)
    return [job_class.perform_later(name, record_id, crm_name) for record_id in record_ids]


def perform_batch(model_name: str, record_ids: list[Any], crm_name: str) -> dict[str, int]:
    """Sync a batch of records now (what a batch job runs); returns counts by outcome.

    Opens (and afterwards closes) this thread's connections, like :func:`perform`.
    """
    with connections(model_for(model_name)):
        return perform_batch_open(model_name, record_ids, crm_name)


def perform_batch_open(model_name: str, record_ids: list[Any], crm_name: str) -> dict[str, int]:
    """:func:`perform_batch` on connections the caller has opened."""
    model = model_for(model_name)
    outcome = sync_batch(sync_config(model, crm_name), list(record_ids), dispatch=dispatch)
    return dict(outcome.counts)


def perform(model_name: str, record_id: Any, crm_name: str) -> Status:
    """Sync one record now: what a worker of any job system calls.

    Opens (and afterwards closes) this thread's connections to the model's
    and the sync state's databases.
    """
    with connections(model_for(model_name)):
        return perform_open(model_name, record_id, crm_name)


def perform_open(model_name: str, record_id: Any, crm_name: str) -> Status:
    """:func:`perform` on connections the caller has opened."""
    return sync_record(model_for(model_name), record_id, crm_name, dispatch=dispatch)


@contextlib.contextmanager
def connections(*models: type) -> Iterator[None]:
    """Open this thread's connections for a unit of work, and close them after.

    Covers the databases of ``models`` (default: every etlified model) and of
    the sync state. Connections already open are left open; those opened
    here are closed on exit. For workers of any job system.
    """
    with contextlib.ExitStack() as stack:
        for database in _distinct_databases(*models):
            if database.is_closed():
                stack.enter_context(database.connection_context())
        yield


_worker = threading.local()


def _open_connections(model: type) -> None:
    """Open this worker thread's connections that are closed; remember which."""
    opened = _worker.__dict__.setdefault("opened", [])
    for database in _distinct_databases(model):
        if database.is_closed():
            database.connect()
            opened.append(database)


def _close_connections() -> None:
    """Close the connections this worker thread opened."""
    opened = _worker.__dict__.get("opened", [])
    while opened:
        opened.pop().close()


def _distinct_databases(*models: type) -> list:
    found: list = []
    chosen = models or tuple(etlified_models())
    for database in [*(model._meta.database for model in chosen), database_proxy]:
        database = getattr(database, "obj", None) or database
        if database is not None and all(database is not seen for seen in found):
            found.append(database)
    return found


def wait(timeout: float | None = None) -> bool:
    """Block until the built-in pool's queued work is done; ``False`` on timeout."""
    jobs = config.jobs
    return jobs.wait(timeout) if hasattr(jobs, "wait") else True


def shutdown(wait: bool = True) -> None:
    """Drain (or with ``wait=False`` cancel) and stop the built-in pool."""
    jobs = config.jobs
    if hasattr(jobs, "shutdown"):
        jobs.shutdown(wait=wait)
