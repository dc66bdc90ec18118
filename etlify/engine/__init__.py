"""The sync engine: one set of rules for syncing and deleting one record or many.

:mod:`~etlify.engine.run` syncs (a single record is a batch of one),
:mod:`~etlify.engine.send` talks to the adapter, :mod:`~etlify.engine.delete`
deletes, :mod:`~etlify.engine.outcomes` names what each record's sync ended
in, and :mod:`~etlify.engine.failures` how a failure is recorded. The
engine writes sync rows only through :mod:`etlify.state.rows`.
"""

from .delete import delete_batch, delete_record, forget_record
from .outcomes import COUNTER, announce, status_of
from .run import BatchOutcome, Dispatch, sync_batch, sync_record

__all__ = [
    "BatchOutcome",
    "COUNTER",
    "Dispatch",
    "announce",
    "delete_batch",
    "delete_record",
    "forget_record",
    "status_of",
    "sync_batch",
    "sync_record",
]
