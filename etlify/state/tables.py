"""Sync state, kept in the application's own database.

``CrmSynchronisation`` holds one row per (CRM, model, record): the CRM id, the
digest of the last payload the CRM confirmed, the error bookkeeping, and the
claim that keeps two workers from syncing one record at once.
``PendingSync`` buffers records waiting for a ``sync_dependencies`` record
(or an associated one). ``CrmLink`` holds the associations Etlify wrote to the
CRM, so that it archives only those when a link goes away.

Both tables live on :data:`database_proxy` and have no foreign keys into user
models, so binding or dropping user tables never cascades into them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from typing import Any

from peewee import (
    SQL,
    AutoField,
    BigIntegerField,
    CharField,
    Database,
    DatabaseProxy,
    DateTimeField,
    IntegerField,
    Model,
    MySQLDatabase,
    NodeList,
    OperationalError,
    PostgresqlDatabase,
    ProgrammingError,
    TextField,
)

from ..config import config
from ..errors import ConfigurationError
from ..registry import error_budget

__all__ = [
    "database_proxy",
    "bind_database",
    "CrmSynchronisation",
    "PendingSync",
    "CrmLink",
    "KeyField",
    "STATE_TABLES",
    "MAX_KEY_LENGTH",
    "MAX_CRM_KEY_LENGTH",
    "KEY_CHARSET",
    "KEY_COLLATION",
]

database_proxy = DatabaseProxy()


def _now():
    return config.now()


#: The least margin where a database keeps whole seconds (MySQL/MariaDB ``DATETIME``).
WHOLE_SECOND_MARGIN = 1.0


def read_moment(model: Any) -> dt.datetime:
    """The ``last_synced_at`` to store for a payload of ``model`` read now.

    ``config.now()`` less ``config.sync_margin`` seconds, and less at least one
    second where the model's or the sync state's database is MySQL/MariaDB,
    whose ``DATETIME`` columns keep whole seconds: without the margin an edit
    made in the same second as the read would be stored as older than the
    sync and never sent. The cost is at most one extra digest check, with no
    CRM call, for a record edited just before.
    """
    margin = config.sync_margin
    for database in (model._meta.database, database_proxy):
        if isinstance(getattr(database, "obj", database), MySQLDatabase):
            margin = max(margin, WHOLE_SECOND_MARGIN)
    return config.now() - dt.timedelta(seconds=margin)


def savepoint() -> Any:
    """A savepoint where a failed statement aborts the whole transaction (in a
    transaction on PostgreSQL), so that an expected ``IntegrityError`` can be
    caught and the work go on; elsewhere nothing."""
    database = database_proxy.obj
    while isinstance(database, DatabaseProxy):
        database = database.obj
    if isinstance(database, PostgresqlDatabase) and database.in_transaction():
        return database.atomic()
    return contextlib.nullcontext()


#: The tables of Etlify's state, as ``create_tables()`` makes them.
STATE_TABLES = ("crm_synchronisations", "etlify_pending_syncs", "etlify_runs", "etlify_crm_links")

#: The words each database uses for a missing table.
_MISSING_TABLE = ("no such table", "does not exist", "doesn't exist")


@contextlib.contextmanager
def tables_required() -> Iterator[None]:
    """Turn a database error about a missing sync-state table into a clear one.

    :raises ConfigurationError: naming the table and the fix, in place of the
        database's own "no such table" (SQLite), "relation ... does not exist"
        (PostgreSQL) or "Table ... doesn't exist" (MySQL/MariaDB).
    """
    try:
        yield
    except (OperationalError, ProgrammingError) as error:
        text = str(error)
        missing = [table for table in STATE_TABLES if table in text]
        if not missing or not any(words in text for words in _MISSING_TABLE):
            raise
        raise ConfigurationError(
            f"Etlify's sync-state table {missing[0]!r} does not exist in the database: "
            "create it with etlify.create_tables() or `etlify create-tables`"
        ) from error


def bind_database(database: Any) -> None:
    """Point the sync-state tables at ``database`` (a Peewee database or proxy).

    ``etlify.config.database`` follows, also when the database is taken from
    the first etlified model.
    """
    if database is None:
        return
    if not isinstance(database, (Database, DatabaseProxy)):
        raise ConfigurationError(
            f"database must be a peewee Database or DatabaseProxy, not {database!r}"
        )
    database_proxy.initialize(database)
    config.database = database


def ensure_bound() -> Any:
    """The bound database; :class:`ConfigurationError` when there is none yet."""
    if database_proxy.obj is None:
        raise ConfigurationError(
            "Etlify has no database for its sync state: call "
            "etlify.configure(database=db) or etlify a model first"
        )
    return database_proxy.obj


#: The longest primary key, as text (``str(pk)``, in characters), the sync
#: state can hold. A record whose key is longer is refused before any write.
#: 191 keeps the five-column unique key of ``etlify_pending_syncs`` (two keys)
#: within InnoDB's 3072 bytes in utf8mb4 on MySQL 8 as on MariaDB.
MAX_KEY_LENGTH = 191

#: The character set and collation of the key columns on MySQL/MariaDB,
#: whatever the database's defaults: every character, compared exactly.
KEY_CHARSET = "utf8mb4"
KEY_COLLATION = "utf8mb4_bin"


#: The longest key of a CRM object the sync rows remember (``crm_key``:
#: ``"<property>:<value as the CRM compares it>"``); a longer one is not kept.
MAX_CRM_KEY_LENGTH = 320


class KeyField(CharField):
    """Text compared exactly: a record's primary key (up to :data:`MAX_KEY_LENGTH`
    characters, unless ``max_length`` says otherwise) or a CRM object's key.

    On MySQL/MariaDB the column is declared ``CHARACTER SET utf8mb4 COLLATE
    utf8mb4_bin`` (:data:`KEY_CHARSET`, :data:`KEY_COLLATION`), so that the
    finder can compare an application's key to it whatever the collation of
    the application's tables (it casts the key to that collation) and still
    use the unique index; and so that keys differing only in case or accents
    stay distinct, as they are in Python.
    """

    def __init__(self, max_length: int = MAX_KEY_LENGTH, **kwargs: Any) -> None:
        super().__init__(max_length=max_length, **kwargs)

    def ddl_datatype(self, ctx: Any) -> Any:
        """``VARCHAR(n)``, with the character set and collation on MySQL/MariaDB."""
        data_type = super().ddl_datatype(ctx)
        database = self.model._meta.database
        while isinstance(database, DatabaseProxy):
            database = database.obj
        if isinstance(database, MySQLDatabase):
            return NodeList(
                (
                    data_type,
                    SQL("CHARACTER SET"),
                    SQL(KEY_CHARSET),
                    SQL("COLLATE"),
                    SQL(KEY_COLLATION),
                )
            )
        return data_type


class _StateModel(Model):
    class Meta:
        database = database_proxy


class CrmSynchronisation(_StateModel):
    """The sync state of one record in one CRM.

    ``last_digest`` is always the digest of a payload the CRM confirmed;
    ``last_synced_at`` is the moment that payload was read from the database.
    """

    id = AutoField()
    crm_name = CharField(max_length=64)
    resource_type = CharField(max_length=128)
    resource_id = KeyField()
    crm_object_type = CharField(max_length=128, null=True)
    crm_id = CharField(max_length=64, null=True)
    #: The unique key (``id_property``) the CRM object holds, as the CRM
    #: compares it: ``"email:ada@example.com"``. No other record may be sent
    #: to an object by that key.
    crm_key = KeyField(max_length=MAX_CRM_KEY_LENGTH, null=True)
    last_digest = CharField(max_length=128, null=True)
    last_synced_at = DateTimeField(null=True)
    dependency_signature = BigIntegerField(null=True)
    #: When a create was sent whose answer was lost: the object may exist.
    create_sent_at = DateTimeField(null=True)
    last_error = TextField(null=True)
    last_error_kind = CharField(max_length=32, null=True)
    error_count = IntegerField(default=0)
    claim_token = CharField(max_length=32, null=True)
    claimed_until = DateTimeField(null=True)
    created_at = DateTimeField(default=_now)
    updated_at = DateTimeField(default=_now)

    class Meta:
        table_name = "crm_synchronisations"
        indexes = (
            (("crm_name", "resource_type", "resource_id"), True),
            (("crm_name", "crm_object_type", "crm_id"), True),
            (("crm_name", "crm_object_type", "crm_key"), False),
            (("crm_name", "resource_type", "error_count"), False),
        )

    def __repr__(self) -> str:
        return (
            f"<CrmSynchronisation {self.crm_name} {self.resource_type}#{self.resource_id} "
            f"crm_id={self.crm_id!r} errors={self.error_count}>"
        )

    @classmethod
    def with_error(cls):
        """Rows whose last attempt failed, newest failure first."""
        return (
            cls.select()
            .where(cls.last_error.is_null(False))
            .order_by(cls.updated_at.desc(), cls.id.desc())
        )

    @classmethod
    def retry_exhausted(cls, crm_name: str):
        """Rows of ``crm_name`` whose error count reached that CRM's budget."""
        return cls.select().where(
            (cls.crm_name == crm_name) & (cls.error_count >= error_budget(crm_name))
        )

    @classmethod
    def reset_error_count(cls, query=None) -> int:
        """Clear the error count and last error of every row (or of ``query``'s rows).

        Returns the number of rows changed. A reset record is retried by the
        next batch sync.
        """
        update = cls.update(error_count=0, last_error=None, last_error_kind=None, updated_at=_now())
        if query is not None:
            update = update.where(cls.id.in_(query.select(cls.id)))
        return update.execute()


class PendingSync(_StateModel):
    """A record of ``resource_type`` waiting for a dependency to get a CRM id."""

    id = AutoField()
    crm_name = CharField(max_length=64)
    resource_type = CharField(max_length=128)
    resource_id = KeyField()
    dependency_type = CharField(max_length=128)
    dependency_id = KeyField()
    created_at = DateTimeField(default=_now)

    class Meta:
        table_name = "etlify_pending_syncs"
        indexes = (
            (
                ("crm_name", "resource_type", "resource_id", "dependency_type", "dependency_id"),
                True,
            ),
            (("crm_name", "dependency_type", "dependency_id"), False),
        )


class CrmLink(_StateModel):
    """One association Etlify wrote to the CRM: from the object of record
    ``resource_type`` #``resource_id`` to object ``to_crm_id``, for the
    declaration ``Associate(association)``."""

    id = AutoField()
    crm_name = CharField(max_length=64)
    resource_type = CharField(max_length=128)
    resource_id = KeyField()
    association = KeyField(max_length=128)
    to_crm_id = CharField(max_length=64)
    created_at = DateTimeField(default=_now)

    class Meta:
        table_name = "etlify_crm_links"
        indexes = (
            (("crm_name", "resource_type", "resource_id", "association", "to_crm_id"), True),
        )
