"""Claiming a sync row so that one worker at a time talks to the CRM about a record.

A claim is a lease: ``claim_token`` and ``claimed_until`` set by one
conditional ``UPDATE`` that succeeds only when the row is unclaimed or its
lease expired. No transaction is held while the CRM is called, and a claim
left by a crashed worker expires after ``config.claim_timeout`` seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from typing import Any

from .config import config
from .sql import in_list
from .state import CrmSynchronisation as Sync

__all__ = ["Lease", "claim_row", "acquire", "finish", "release", "unclaimed"]

logger = logging.getLogger("etlify")


def unclaimed(now: dt.datetime) -> Any:
    """The condition of rows no worker holds: never claimed, or whose lease expired."""
    return Sync.claim_token.is_null() | (Sync.claimed_until < now)


class Lease:
    """The claim a sync holds on its rows, renewed once half of it has run out.

    A sync whose CRM call waits out rate limits or backoffs can outlast
    ``config.claim_timeout``; its rows must not become free for another
    worker while a create is still on the way. :meth:`renew` is what the
    engine installs with :func:`etlify.lease.renewing`.
    """

    def __init__(self, token: str, row_ids: list[int], until: dt.datetime) -> None:
        self.token = token
        self.row_ids = row_ids
        self.until = until

    def renew(self) -> None:
        """Extend the lease by ``claim_timeout`` if half of it has passed."""
        now = config.now()
        span = dt.timedelta(seconds=config.claim_timeout)
        if self.row_ids and now >= self.until - span / 2:
            self.until = now + span
            Sync.update(claimed_until=self.until).where(
                in_list(Sync.id, self.row_ids) & (Sync.claim_token == self.token)
            ).execute()


def claim_row(
    crm_name: str, resource_type: str, resource_id: str, object_type: str
) -> tuple[Any, str | None]:
    """Claim the sync row of this record, inserting it already claimed if it is new.

    Returns ``(row, claim token)``, the row as read after the claim (a new
    row has no ``crm_id``); waits while another worker holds the row.
    ``(None, None)`` when the row was deleted while waiting: the record was
    deleted from the database.
    """
    where = (
        (Sync.crm_name == crm_name)
        & (Sync.resource_type == resource_type)
        & (Sync.resource_id == resource_id)
    )
    token = uuid.uuid4().hex
    now = config.now()
    lease = now + dt.timedelta(seconds=config.claim_timeout)
    claimed = (
        Sync.update(claim_token=token, claimed_until=lease).where(where & unclaimed(now)).execute()
    )
    if not claimed:
        Sync.insert(
            crm_name=crm_name,
            resource_type=resource_type,
            resource_id=resource_id,
            crm_object_type=object_type,
            error_count=0,
            claim_token=token,
            claimed_until=lease,
            created_at=now,
            updated_at=now,
        ).on_conflict_ignore().execute()
    row = Sync.get(where)
    if row.claim_token != token:
        token = acquire(row.id)
        if token is None:
            return None, None
        row = Sync.get_by_id(row.id)
    return row, token


def try_acquire(row_id: int) -> str | None:
    """Claim the row at once if it is free; the claim token, or ``None``."""
    token = uuid.uuid4().hex
    now = config.now()
    lease = now + dt.timedelta(seconds=config.claim_timeout)
    claimed = (
        Sync.update(claim_token=token, claimed_until=lease)
        .where((Sync.id == row_id) & unclaimed(now))
        .execute()
    )
    return token if claimed else None


def acquire(row_id: int) -> str | None:
    """Claim the row, waiting while another worker holds an unexpired claim.

    Returns ``None`` once the row is gone (its record was deleted and its
    sync state forgotten while this worker waited): nothing is left to claim.
    """
    delay = 0.005
    while True:
        token = try_acquire(row_id)
        if token is not None:
            return token
        if not Sync.select().where(Sync.id == row_id).exists():
            return None
        time.sleep(delay)
        delay = min(delay * 2, 0.25)


def finish(row_id: int, token: str, **fields: Any) -> None:
    """Write ``fields`` and release the claim.

    If the claim expired and another worker took the row meanwhile, the
    fields are still written (they describe what the CRM now holds), but the
    other worker's claim is left alone.
    """
    fields["updated_at"] = config.now()
    released = (
        Sync.update(claim_token=None, claimed_until=None, **fields)
        .where((Sync.id == row_id) & (Sync.claim_token == token))
        .execute()
    )
    if not released:
        logger.warning(
            "etlify: the claim on sync row %s expired before the sync ended; "
            "raise etlify.config.claim_timeout",
            row_id,
        )
        Sync.update(**fields).where(Sync.id == row_id).execute()


def release(row_id: int, token: str) -> None:
    """Release the claim without writing anything else."""
    Sync.update(claim_token=None, claimed_until=None).where(
        (Sync.id == row_id) & (Sync.claim_token == token)
    ).execute()
