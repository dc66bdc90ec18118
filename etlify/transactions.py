"""What happens when the outermost transaction of a thread ends.

Peewee calls ``after_commit`` callbacks on a commit but tells no one of a
rollback, so the outermost transaction object gets its ``commit`` and
``rollback`` wrapped once, and callbacks are called after either.
"""

from __future__ import annotations

from typing import Any, Callable

__all__ = ["in_transaction", "on_outermost_end", "unwrap"]


def unwrap(database: Any) -> Any:
    """The database behind ``database`` (a database, or proxies to one)."""
    while getattr(database, "obj", None) is not None:
        database = database.obj
    return database


def in_transaction(database: Any) -> bool:
    """Whether this thread has a transaction open on ``database``."""
    database = unwrap(database)
    return database is not None and bool(database.in_transaction())


def on_outermost_end(
    database: Any, on_commit: Callable[[], None], on_rollback: Callable[[], None]
) -> None:
    """Call ``on_commit`` after the outermost open transaction commits, ``on_rollback``
    after it rolls back. Call only while :func:`in_transaction`."""
    transaction = unwrap(database)._state.transactions[0]
    callbacks = transaction.__dict__.get("_etlify_callbacks")
    if callbacks is None:
        callbacks = transaction.__dict__["_etlify_callbacks"] = []
        commit, rollback = transaction.commit, transaction.rollback

        def wrapped_commit(*args: Any, **kwargs: Any) -> Any:
            result = commit(*args, **kwargs)
            todo, callbacks[:] = list(callbacks), []
            for committed, _ in todo:
                committed()
            return result

        def wrapped_rollback(*args: Any, **kwargs: Any) -> Any:
            result = rollback(*args, **kwargs)
            todo, callbacks[:] = list(callbacks), []
            for _, rolled_back in todo:
                rolled_back()
            return result

        transaction.commit, transaction.rollback = wrapped_commit, wrapped_rollback
    callbacks.append((on_commit, on_rollback))
