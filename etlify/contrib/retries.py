"""Which failed syncs a job system retries: the rule Huey, Celery and RQ tasks share.

A sync that failed for a passing reason (error kinds ``rate_limited`` and
``transient``, read from its sync row) is retried by the job system; any
other failure is recorded on the row and left to the next stale sync,
within the record's error budget.
"""

from __future__ import annotations

from typing import Any

from etlify.errors import EtlifyError
from etlify.jobs import connections
from etlify.state.rows import Scope
from etlify.status import Status

__all__ = ["RETRIED_ERROR_KINDS", "SyncFailed", "passing_failure"]

#: Error kinds after which a sync task is retried by its job system.
RETRIED_ERROR_KINDS = frozenset({"rate_limited", "transient"})


class SyncFailed(EtlifyError):
    """A sync failed for a passing reason: raised in its task so that the job system retries it."""


def passing_failure(model_name: str, record_id: Any, crm_name: str, status: Status) -> str | None:
    """What a failed sync's row says, when it failed for a passing reason; else ``None``."""
    if status is not Status.ERROR:
        return None
    with connections():
        row = Scope(crm_name, model_name, None).row(str(record_id))
    if row is None or row.last_error_kind not in RETRIED_ERROR_KINDS:
        return None
    return (
        f"sync of {model_name} #{record_id} to {crm_name} failed "
        f"({row.last_error_kind}): {row.last_error}"
    )
