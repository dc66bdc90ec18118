"""What a sync told the CRM outlives the rollback of the transaction around it.

An inline sync inside ``db.atomic()`` sends its payload at once, and writes
the outcome (the sync row's CRM id and digest) in the application's
transaction. Should that transaction, or a savepoint around the sync, roll
back, the row would forget a CRM object that exists (the next sync would
create a second one) or keep the digest of a payload the CRM no longer
holds (the record would look in sync). So when the outermost transaction
ends, committed or not, what its syncs wrote is checked; where it was lost,
the record is linked to its object again and made stale, and its next sync
sends its committed data to the same object. A record the rollback removed
(it was created in the transaction) leaves its object in the CRM, unlinked,
with a warning.
"""

from __future__ import annotations

import logging

from ..declarations import SyncConfig
from ..sql import in_list
from ..state import database_proxy
from ..state.links import Links, LinkState
from ..state.rows import Scope
from ..transactions import in_transaction, on_outermost_end

__all__ = ["keep_outcomes", "keep_links"]

logger = logging.getLogger("etlify")


def keep_outcomes(config_: SyncConfig, written: dict[str, tuple[str, str, str | None]]) -> None:
    """Make ``written`` (``{resource_id: (crm_id, digest, crm_key)}``, just stored) outlive
    a rollback.

    Outside a transaction there is nothing to do: the outcomes are committed.
    """
    if not written or not in_transaction(database_proxy):
        return
    written = dict(written)

    def check() -> None:
        try:
            _restore(config_, written)
        except Exception:
            # Raised here, it would replace the application's own outcome.
            logger.exception(
                "etlify: could not check the sync rows of %d %s record(s) after a transaction",
                len(written),
                config_.resource_type,
            )

    on_outermost_end(database_proxy, check, check)


def keep_links(config_: SyncConfig, written: dict[str, tuple[Links, Links]]) -> None:
    """Make the links just stored (``{resource_id: (added, removed)}``, as the CRM
    took them) outlive a rollback: they are stored again once the outermost
    transaction has rolled back; a commit keeps them as they are."""
    if not written or not in_transaction(database_proxy):
        return
    written = dict(written)

    def store_again() -> None:
        try:
            LinkState(config_.crm_name, config_.resource_type).store(written)
        except Exception:
            logger.exception(
                "etlify: could not check the associations of %d %s record(s) after a transaction",
                len(written),
                config_.resource_type,
            )

    on_outermost_end(database_proxy, lambda: None, store_again)


def _restore(config_: SyncConfig, written: dict[str, tuple[str, str, str | None]]) -> None:
    model = config_.model
    pk = model._meta.primary_key
    found = model.select(pk).where(in_list(pk, list(written))).tuples()
    existing = {str(value) for (value,) in found}
    for rid in sorted(written.keys() - existing):
        logger.warning(
            "etlify: %s #%s was rolled back after its sync created CRM object %s (%s), "
            "which stays in the CRM unlinked",
            model.__name__,
            rid,
            written[rid][0],
            config_.crm_object_type,
        )
    restored = Scope.of(config_).restore_links({rid: written[rid] for rid in existing})
    if restored:
        logger.info(
            "etlify: the sync of %d %s record(s) rolled back after the CRM took it; "
            "they are stale and linked to their CRM objects",
            len(restored),
            model.__name__,
        )
