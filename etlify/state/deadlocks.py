"""Work the database rolled back to break a deadlock, run again.

Concurrent syncs update sync rows other workers hold or have just written:
InnoDB (MySQL, MariaDB) and PostgreSQL then may find two transactions
waiting on each other, and roll one back ("Deadlock found when trying to get
lock; try restarting transaction"). The sync-state writes are all guarded
(by a claim, a digest, or "never move ``last_synced_at`` back"), so running
them again gives what the first attempt would have written.
"""

from __future__ import annotations

import logging
import random
import time
from typing import Any, Callable, TypeVar

from ..transactions import in_transaction
from .tables import database_proxy

__all__ = ["is_deadlock", "retried_on_deadlock", "DEADLOCK_ATTEMPTS"]

logger = logging.getLogger("etlify")

T = TypeVar("T")

#: Attempts at work chosen again and again as a deadlock's victim, before its
#: error is raised.
DEADLOCK_ATTEMPTS = 5


def is_deadlock(error: BaseException) -> bool:
    """Whether ``error`` says the database rolled the work back to break a deadlock:
    MySQL/MariaDB's error 1213, PostgreSQL's SQLSTATE ``40P01``."""
    original: Any = getattr(error, "orig", None) or error
    if getattr(original, "pgcode", None) == "40P01":
        return True
    args = getattr(original, "args", ())
    return bool(args) and args[0] == 1213


def retried_on_deadlock(work: Callable[[], T], undo: Callable[[], None] = lambda: None) -> T:
    """``work()``, run again after ``undo()`` (which puts back what it changed in
    memory) when the database rolled it back to break a deadlock; a short random
    pause first, so that the two sides do not meet again.

    Inside a transaction the caller opened, ``work()`` runs once: the database
    rolled back the caller's work too, which only the caller can redo.
    """
    if in_transaction(database_proxy):
        return work()
    attempt = 1
    while True:
        try:
            return work()
        except Exception as error:
            if attempt >= DEADLOCK_ATTEMPTS or not is_deadlock(error):
                raise
        logger.info("etlify: sync-state write chosen as a deadlock's victim; once more")
        undo()
        time.sleep(random.uniform(0.005, 0.05) * attempt)
        attempt += 1
