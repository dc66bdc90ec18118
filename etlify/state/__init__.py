"""The sync state: Etlify's own tables in the application's database.

:mod:`~etlify.state.tables` defines them (one row per record and CRM, and
the records waiting for a dependency).
"""

from .tables import (
    KEY_CHARSET,
    KEY_COLLATION,
    MAX_CRM_KEY_LENGTH,
    MAX_KEY_LENGTH,
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
    "CrmSynchronisation",
    "PendingSync",
    "bind_database",
    "database_proxy",
    "ensure_bound",
    "read_moment",
    "savepoint",
    "tables_required",
]
