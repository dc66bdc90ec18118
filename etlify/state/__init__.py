"""The sync state: Etlify's own tables in the application's database.

:mod:`~etlify.state.tables` defines them (one row per record and CRM, and
the records waiting for a dependency, the associations written); :mod:`~etlify.state.runs` the run
history (one row per batch sync).
"""

from .runs import (
    SyncRun,
    finish_run,
    last_run_per_crm,
    prune_runs,
    recent_runs,
    start_run,
)
from .tables import (
    KEY_CHARSET,
    KEY_COLLATION,
    MAX_CRM_KEY_LENGTH,
    MAX_KEY_LENGTH,
    STATE_TABLES,
    CrmLink,
    CrmSynchronisation,
    PendingSync,
    bind_database,
    database_proxy,
    ensure_bound,
    read_moment,
    savepoint,
    tables_required,
)

__all__ = [
    "KEY_CHARSET",
    "KEY_COLLATION",
    "MAX_CRM_KEY_LENGTH",
    "MAX_KEY_LENGTH",
    "STATE_TABLES",
    "CrmLink",
    "CrmSynchronisation",
    "PendingSync",
    "SyncRun",
    "bind_database",
    "database_proxy",
    "ensure_bound",
    "finish_run",
    "last_run_per_crm",
    "prune_runs",
    "read_moment",
    "recent_runs",
    "savepoint",
    "start_run",
    "tables_required",
]
