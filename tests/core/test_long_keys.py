"""Text primary keys up to the documented limit sync; a longer one is refused per record.

The sync state holds keys of at most ``MAX_KEY_LENGTH`` (191) characters. A
longer key is refused before anything is written, with an error naming the
model and the limit: a single sync returns ``Status.ERROR`` and sends
``failed``, a batch counts it as an error and syncs the others, and no row,
truncated or not, is left behind. Older 64-character key columns are widened
in place by ``upgrade_tables``. On SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import re

import pytest
from peewee import CharField, ForeignKeyField, Model, MySQLDatabase, PostgresqlDatabase

import etlify
from etlify import BaseSerializer, BatchSync, EtlifyMixin, Status, signals
from etlify.migrate import upgrade_tables
from etlify.state import MAX_KEY_LENGTH, CrmSynchronisation, PendingSync

from .conftest import receiving

LONGEST = "k" * (MAX_KEY_LENGTH - 4) + "-end"
TOO_LONG = "x" * (MAX_KEY_LENGTH - 3) + "-end"
REFUSAL = rf"Code primary key .* is {MAX_KEY_LENGTH + 1} characters long.* at most {MAX_KEY_LENGTH}"


class CodeSerializer(BaseSerializer):
    def as_crm_payload(self):
        return {"code": self.record.code[:20], "label": self.record.label}


class UseSerializer(BaseSerializer):
    def as_crm_payload(self):
        return {"name": self.record.name}


@pytest.fixture
def codes(any_database, adapter):
    """``Code`` (text keys wider than the limit allow) and ``Use`` (depends on a code)."""

    class Base(EtlifyMixin, Model):
        class Meta:
            database = any_database

    class Code(Base):
        code = CharField(primary_key=True, max_length=2 * MAX_KEY_LENGTH)
        label = CharField(default="")

    class Use(Base):
        name = CharField(default="")
        code = ForeignKeyField(Code, backref="uses", null=True)

    etlify.register("hubspot", adapter=adapter)
    etlify.configure(database=any_database)
    Code.etlified_with("hubspot", serializer=CodeSerializer, crm_object_type="tags")
    Use.etlified_with(
        "hubspot", serializer=UseSerializer, crm_object_type="uses", sync_dependencies=["code"]
    )
    any_database.create_tables([Code, Use])
    etlify.create_tables()
    return Code, Use


def sync_rows():
    return [row.resource_id for row in CrmSynchronisation.select()]


def test_the_limit_is_191_characters():
    assert MAX_KEY_LENGTH == 191
    assert (len(LONGEST), len(TOO_LONG)) == (MAX_KEY_LENGTH, MAX_KEY_LENGTH + 1)


def test_a_key_at_the_limit_syncs_inline(codes):
    Code, _ = codes
    code = Code.create(code=LONGEST, label="longest")

    assert code.sync(async_=False) == Status.SYNCED
    assert code.sync(async_=False) == Status.NOT_MODIFIED
    assert code.crm_synchronisation("hubspot").resource_id == LONGEST


def test_a_key_at_the_limit_syncs_in_a_batch(codes):
    Code, _ = codes
    Code.create(code=LONGEST, label="longest")

    stats = BatchSync.call(models=[Code], async_=False)

    assert (stats["synced"], stats["errors"]) == (1, 0)
    assert sync_rows() == [LONGEST]


def test_a_longer_key_is_refused_inline_with_an_error_naming_the_model_and_the_limit(codes):
    Code, _ = codes
    code = Code.create(code=TOO_LONG, label="too long")

    with receiving(signals.failed, Code) as got:
        status = code.sync(async_=False)

    assert status == Status.ERROR
    [failed] = got.kwargs
    assert failed["record"].code == TOO_LONG
    with pytest.raises(type(failed["error"]), match=REFUSAL):
        raise failed["error"]


def test_a_longer_key_refused_inline_leaves_nothing_behind(codes, adapter):
    Code, _ = codes
    code = Code.create(code=TOO_LONG, label="too long")

    code.sync(async_=False)

    assert sync_rows() == []
    assert PendingSync.select().count() == 0
    assert adapter.calls == []


def test_a_longer_key_is_an_error_of_its_batch_while_the_other_records_sync(codes):
    Code, _ = codes
    Code.create(code=TOO_LONG, label="too long")
    Code.create(code=LONGEST, label="longest")
    Code.create(code="short", label="short")

    with receiving(signals.failed, Code) as got:
        stats = BatchSync.call(models=[Code], async_=False)

    assert (stats["synced"], stats["errors"]) == (2, 1)
    assert [kwargs["record"].code for kwargs in got.kwargs] == [TOO_LONG]
    assert sorted(sync_rows()) == sorted([LONGEST, "short"])


def test_a_dry_run_plans_a_longer_key_as_an_error(codes, adapter):
    Code, _ = codes
    Code.create(code=TOO_LONG, label="too long")
    Code.create(code="short", label="short")

    stats = BatchSync.call(models=[Code], dry_run=True)

    actions = {entry["id"]: entry["action"] for entry in stats["plan"]}
    assert actions == {TOO_LONG: "error", "short": "create"}
    [refused] = [entry for entry in stats["plan"] if entry["id"] == TOO_LONG]
    assert re.search(REFUSAL, refused["error"])
    assert (sync_rows(), adapter.calls) == ([], [])


def test_a_record_whose_dependency_key_is_too_long_is_refused_not_buffered(codes):
    Code, Use = codes
    use = Use.create(name="use", code=Code.create(code=TOO_LONG))

    with receiving(signals.failed, Use) as got:
        status = use.sync(async_=False)

    assert status == Status.ERROR
    with pytest.raises(type(got.kwargs[0]["error"]), match=r"Use #\d+ waits on .*" + REFUSAL):
        raise got.kwargs[0]["error"]
    assert PendingSync.select().count() == 0
    assert sync_rows() == [str(use.id)]  # its own row, holding the error


KEY_COLUMNS = [
    ("crm_synchronisations", "resource_id"),
    ("etlify_pending_syncs", "resource_id"),
    ("etlify_pending_syncs", "dependency_id"),
]


def narrow_key_columns(database):
    """Give the key columns the 64 characters of earlier releases (nothing to do on SQLite)."""
    for table, column in KEY_COLUMNS:
        if isinstance(database, PostgresqlDatabase):
            database.execute_sql(f"ALTER TABLE {table} ALTER COLUMN {column} TYPE VARCHAR(64)")
        elif isinstance(database, MySQLDatabase):
            database.execute_sql(f"ALTER TABLE {table} MODIFY {column} VARCHAR(64) NOT NULL")


def key_column_lengths(database):
    """``{(table, column): maximum length}`` of the key columns, read from the database."""
    lengths = {}
    for table, column in KEY_COLUMNS:
        condition = "DATABASE()" if isinstance(database, MySQLDatabase) else "current_schema()"
        lengths[(table, column)] = database.execute_sql(
            "SELECT character_maximum_length FROM information_schema.columns "
            f"WHERE table_schema = {condition} AND table_name = %s AND column_name = %s",
            (table, column),
        ).fetchone()[0]
    return lengths


@pytest.fixture
def old_key_columns(codes, any_database):
    """The tables of an earlier release (64-character keys) holding one synced code."""
    Code, _ = codes
    narrow_key_columns(any_database)
    kept = Code.create(code="kept", label="kept")
    assert kept.sync(async_=False) == Status.SYNCED
    return kept


def test_upgrade_tables_widens_old_64_character_key_columns(old_key_columns, any_database):
    changes = upgrade_tables(any_database)

    if isinstance(any_database, (PostgresqlDatabase, MySQLDatabase)):
        for table, column in KEY_COLUMNS:
            assert any(line.startswith(f"{table}: changed column {column} ") for line in changes)
        assert set(key_column_lengths(any_database).values()) == {MAX_KEY_LENGTH}
    else:
        assert changes == []  # a SQLite column holds any value


def test_upgrade_tables_keeps_the_rows_of_widened_columns(old_key_columns, any_database):
    upgrade_tables(any_database)

    assert old_key_columns.crm_synchronisation("hubspot").crm_id is not None
    assert old_key_columns.sync(async_=False) == Status.NOT_MODIFIED


def test_a_key_at_the_limit_syncs_after_upgrade_tables(old_key_columns, any_database, codes):
    Code, _ = codes
    upgrade_tables(any_database)

    assert Code.create(code=LONGEST).sync(async_=False) == Status.SYNCED
    assert sorted(sync_rows()) == sorted(["kept", LONGEST])


def test_upgrade_tables_twice_changes_nothing_the_second_time(old_key_columns, any_database):
    upgrade_tables(any_database)

    assert upgrade_tables(any_database) == []
