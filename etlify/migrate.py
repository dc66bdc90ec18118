"""Creating the sync-state tables, and upgrading older ones in place.

``etlify create-tables`` runs :func:`upgrade_tables`: a ``crm_synchronisations``
table made by the Ruby gem or by an earlier Etlify release gains the columns
and indexes this version needs and keeps its rows; a missing table is created.
The tables: ``crm_synchronisations``, ``etlify_pending_syncs``, the run
history ``etlify_runs`` and the associations written, ``etlify_crm_links``.
"""

from __future__ import annotations

from typing import Any

from peewee import CharField, Entity, Field, MySQLDatabase, SqliteDatabase, TextField
from playhouse.migrate import MySQLMigrator, SchemaMigrator, migrate

from .state import KEY_COLLATION, CrmLink, CrmSynchronisation, PendingSync, SyncRun, ensure_bound
from .state.tables import KeyField

__all__ = ["create_tables", "upgrade_tables"]

STATE_MODELS = (CrmSynchronisation, PendingSync, SyncRun, CrmLink)


def create_tables() -> list[str]:
    """Create the sync-state tables, or bring older ones up to date in place.

    Safe to run again. An older table (from an earlier release, or the Ruby
    gem's) gains the missing columns and indexes and keeps its rows.
    Returns one line per change made (empty when all was up to date).
    """
    return upgrade_tables(ensure_bound())


def upgrade_tables(database: Any) -> list[str]:
    """Create the missing sync-state tables of ``database`` and upgrade the others.

    An existing table gets its missing columns (existing rows take the
    column's default) and its missing indexes; an index already there under
    another name counts. Old columns too narrow for what this version stores
    are widened in place, keeping their values: an integer ``resource_id``
    (the Ruby gem's) becomes a string so that string and UUID primary keys
    fit, a string shorter than its field (the 64-character key columns of
    earlier releases) gets the field's length, and a short string
    ``last_error`` becomes text. On MySQL/MariaDB the key columns also get
    their fixed collation (:data:`~etlify.state.KEY_COLLATION`). None of this
    is needed on SQLite, where a column holds any value. Works on SQLite,
    PostgreSQL and MySQL/MariaDB; running it again changes nothing.

    :param database: a Peewee database, or a proxy bound to one.
    :returns: one line per change made, e.g. ``"crm_synchronisations: added
        column error_count"``; empty when everything was up to date.
    """
    database = getattr(database, "obj", None) or database
    migrator = SchemaMigrator.from_database(database)
    changes: list[str] = []
    for model in STATE_MODELS:
        table = model._meta.table_name
        if not database.table_exists(table):
            database.create_tables([model])
            changes.append(f"{table}: created")
            continue
        with database.atomic():
            changes += _upgrade_columns(database, migrator, model, table)
        with database.atomic():
            changes += _upgrade_indexes(database, migrator, model, table)
    return changes


def _upgrade_columns(database: Any, migrator: SchemaMigrator, model: type, table: str) -> list:
    columns = {column.name: column for column in database.get_columns(table)}
    widen = not isinstance(database, SqliteDatabase)
    shapes = _column_shapes(database, table) if widen else {}
    changes = []
    for field in model._meta.sorted_fields:
        column = columns.get(field.column_name)
        if column is None:
            migrate(migrator.add_column(table, field.column_name, field))
            changes.append(f"{table}: added column {field.column_name}")
            continue
        length, collation = shapes.get(field.column_name, (None, None))
        if widen and _too_narrow(column.data_type, length, collation, field):
            _change_type(database, migrator, table, field)
            changes.append(
                f"{table}: changed column {field.column_name} from "
                f"{_shape(column.data_type, length, collation)} to "
                f"{_field_shape(field, database)}"
            )
    return changes


def _column_shapes(database: Any, table: str) -> dict[str, tuple[Any, Any]]:
    """``{column: (maximum length, collation)}`` of ``table`` on PostgreSQL or MySQL/MariaDB.

    The length is None for a column without one; the collation is None but
    on MySQL/MariaDB, the one database where Etlify declares it.
    """
    query = _MYSQL_SHAPES if isinstance(database, MySQLDatabase) else _POSTGRES_SHAPES
    cursor = database.execute_sql(query, (table,))
    return {name: (length, collation) for name, length, collation in cursor.fetchall()}


_MYSQL_SHAPES = (
    "SELECT column_name, character_maximum_length, collation_name "
    "FROM information_schema.columns WHERE table_name = %s AND table_schema = DATABASE()"
)
_POSTGRES_SHAPES = (
    "SELECT column_name, character_maximum_length, NULL "
    "FROM information_schema.columns WHERE table_name = %s AND table_schema = current_schema()"
)


def _too_narrow(data_type: str, length: Any, collation: Any, field: Field) -> bool:
    """Whether a column of ``data_type`` (``length`` characters at most, in
    ``collation``) cannot hold, or compare, every value ``field`` stores."""
    data_type = data_type.lower()
    if isinstance(field, TextField):
        return "char" in data_type
    if not isinstance(field, CharField):
        return False
    if "int" in data_type or (length is not None and int(length) < field.max_length):
        return True
    return isinstance(field, KeyField) and collation not in (None, KEY_COLLATION)


def _shape(data_type: str, length: Any, collation: Any) -> str:
    """A column as a change line names it: ``varchar(64) utf8mb4_unicode_ci``, ``bigint``."""
    text = data_type.lower()
    if length is not None and "char" in text:
        text += f"({length})"
    return f"{text} {collation}" if collation else text


def _field_shape(field: Field, database: Any) -> str:
    """The column ``field`` declares, named as :func:`_shape` names one."""
    if not isinstance(field, CharField):
        return field.field_type.lower()
    text = f"varchar({field.max_length})"
    if isinstance(field, KeyField) and isinstance(database, MySQLDatabase):
        text += f" {KEY_COLLATION}"
    return text


def _change_type(database: Any, migrator: SchemaMigrator, table: str, field: Field) -> None:
    if not isinstance(migrator, MySQLMigrator):
        migrate(migrator.alter_column_type(table, field.column_name, field))
        return
    # peewee's MySQLMigrator.alter_column_type writes the column name twice
    # ("MODIFY `c` `c` VARCHAR..."), which MySQL refuses.
    ctx = database.get_sql_context()
    ctx.literal("ALTER TABLE ").sql(Entity(table)).literal(" MODIFY ").sql(field.ddl(ctx))
    database.execute_sql(*ctx.query())


def _upgrade_indexes(database: Any, migrator: SchemaMigrator, model: type, table: str) -> list:
    existing = {(tuple(index.columns), index.unique) for index in database.get_indexes(table)}
    changes = []
    for index in model._meta.fields_to_index():
        columns = tuple(field.column_name for field in index._expressions)
        if (columns, index._unique) in existing:
            continue
        migrate(migrator.add_index(table, columns, index._unique, name=index._name))
        kind = "unique index" if index._unique else "index"
        changes.append(f"{table}: added {kind} on ({', '.join(columns)})")
    return changes
