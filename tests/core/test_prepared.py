"""Statements compiled once (etlify.sql.prepared), multi-row inserts and CASE updates
sent past Peewee's per-value work, on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import sys
import uuid

import pytest
from peewee import Model, UUIDField
from playhouse.test_utils import count_queries

from etlify import CrmSynchronisation as Sync
from etlify.sql import (
    by_primary_key,
    execute_in,
    fetch_tuples,
    insert_ignoring,
    max_parameters,
    prepared,
    returns_rows,
)
from etlify.state.rows import Lease, Scope

T = dt.datetime(2026, 1, 1, 12, 0, 0)


def _row(resource_id: str, **fields):
    values = {
        "crm_name": "hubspot",
        "resource_type": "User",
        "resource_id": resource_id,
        "created_at": T,
        "updated_at": T,
        **fields,
    }
    return Sync.create(**values)


def _new_rows(ids):
    """Sync rows for ``insert_ignoring``, every column given (none left to a default)."""
    return [
        {
            "crm_name": "hubspot",
            "resource_type": "User",
            "resource_id": str(i),
            "error_count": 0,
            "created_at": T,
            "updated_at": T,
        }
        for i in ids
    ]


def _by_id(resource_id: str):
    def build(value):
        return Sync.select(Sync.resource_id, Sync.crm_id).where(Sync.resource_id == value)

    return prepared(Sync, ("test-by-id",), build, (resource_id,)).fetchall()


def test_a_prepared_select_takes_new_arguments_each_time(any_app):
    _row("1", crm_id="a")
    _row("2", crm_id="b")

    assert [tuple(r) for r in _by_id("1")] == [("1", "a")]
    assert [tuple(r) for r in _by_id("2")] == [("2", "b")]
    assert list(_by_id("3")) == []


def test_a_prepared_update_keeps_its_constants_and_takes_numbers_and_datetimes(any_app):
    first, second = _row("1"), _row("2")

    def build(count, at, row_id):
        return Sync.update(error_count=count, last_synced_at=at, crm_object_type="contacts").where(
            Sync.id == row_id
        )

    for row, count in ((first, 3), (second, 5)):
        cursor = prepared(Sync, ("test-update",), build, (count, T, row.id))
        assert cursor.rowcount == 1
    rows = {r.resource_id: r for r in Sync.select()}
    assert (rows["1"].error_count, rows["2"].error_count) == (3, 5)
    assert rows["2"].last_synced_at == T and rows["2"].crm_object_type == "contacts"


def test_a_query_that_cannot_take_stand_ins_runs_as_peewee_builds_it(any_app):
    _row("1", crm_id="a")

    def build(value):  # the argument is not a parameter of the SQL: not cacheable
        return Sync.select(Sync.resource_id).where(Sync.crm_id.is_null(value is None))

    assert [tuple(r) for r in prepared(Sync, ("test-shape",), build, ("x",))] == [("1",)]
    assert list(prepared(Sync, ("test-shape",), build, (None,))) == []


def test_update_returning_gives_the_row_where_the_database_can(any_app):
    row = _row("1", crm_id="a")

    def build(token, row_id):
        return Sync.update(claim_token=token).where(Sync.id == row_id)

    if not returns_rows(Sync):
        assert any_app.db.__class__.__name__.startswith("MySQL")
        return
    cursor = prepared(Sync, ("test-returning",), build, ("t" * 32, row.id), [Sync.crm_id])
    assert [tuple(r) for r in cursor.fetchall()] == [("a",)]
    assert Sync.get_by_id(row.id).claim_token == "t" * 32


def test_insert_ignoring_adds_the_missing_rows_only(any_app):
    _row("2", crm_id="kept")
    rows = _new_rows(range(1, 6))

    insert_ignoring(Sync, rows)
    insert_ignoring(Sync, rows[:2])

    assert sorted(r.resource_id for r in Sync.select()) == ["1", "2", "3", "4", "5"]
    assert Sync.get(Sync.resource_id == "2").crm_id == "kept"
    assert Sync.get(Sync.resource_id == "4").created_at == T


def test_execute_in_sets_per_row_values_on_the_matching_rows_only(any_app):
    rows = [_row(str(i), last_digest=f"d{i}") for i in range(1, 5)]
    ids = [row.id for row in rows]
    query = Sync.update(error_count=7).where(Sync.claim_token.is_null())
    keys = [(ids[0], "d1"), (ids[1], "wrong"), (ids[2], "d3")]
    cases = {Sync.crm_id: {ids[0]: "x1", ids[1]: "x2", ids[2]: "x3"}}

    changed = execute_in(query, (Sync.id, Sync.last_digest), keys, cases)

    assert changed == 2
    found = {r.resource_id: (r.crm_id, r.error_count) for r in Sync.select()}
    assert found == {"1": ("x1", 7), "2": (None, 0), "3": ("x3", 7), "4": (None, 0)}


def test_a_single_sync_claims_its_row_and_reads_it_back(any_app):
    scope = Scope("hubspot", "User", "contacts")
    _row("1", crm_id="a")
    lease = Lease()

    row = scope.claim_waiting(lease, "1")
    new = scope.claim_waiting(lease, "2")

    assert (row.resource_id, row.crm_id) == ("1", "a")
    assert new.resource_id == "2" and new.crm_id is None
    assert {r.claim_token for r in Sync.select()} == {lease.token}
    assert lease.row_ids == sorted([row.id, new.id])


def test_a_batch_inserts_the_rows_of_new_records_claimed(any_app):
    scope = Scope("hubspot", "User", "contacts")
    lease = Lease()

    won = scope.claim_new(lease, ["1", "2"])

    assert sorted(won) == ["1", "2"]
    assert all(row.crm_id is None and row.error_count == 0 for row in won.values())
    stored = {r.resource_id: r for r in Sync.select()}
    assert {r.claim_token for r in stored.values()} == {lease.token}
    assert {rid: row.id for rid, row in won.items()} == {rid: r.id for rid, r in stored.items()}
    assert lease.row_ids == sorted(row.id for row in won.values())


def test_a_new_record_whose_row_another_worker_holds_is_not_claimed(any_app):
    scope = Scope("hubspot", "User", "contacts")
    other = Lease()
    scope.claim_waiting(other, "1")  # inserted, and held, by another worker
    _row("2", crm_id="x")  # inserted by another worker, free
    lease = Lease()

    won = scope.claim_new(lease, ["1", "2", "3"])

    assert sorted(won) == ["2", "3"] and won["2"].crm_id == "x"
    holders = {r.resource_id: r.claim_token for r in Sync.select()}
    assert holders == {"1": other.token, "2": lease.token, "3": lease.token}


def test_claiming_rows_this_lease_holds_extends_its_lease(any_app):
    scope = Scope("hubspot", "User", "contacts")
    lease = Lease()
    [row] = scope.claim_new(lease, ["1"]).values()
    Sync.update(claimed_until=T).execute()

    won = scope.claim(lease, [row.id])

    assert list(won) == [row.id]
    assert Sync.get_by_id(row.id).claimed_until > T


def test_a_record_read_by_primary_key_comes_as_peewee_reads_it(any_app):
    company = any_app.Company.create(name="Acme")
    user = any_app.User.create(email="ada@example.com", first_name="Ada", company=company)

    found = by_primary_key(any_app.User, user.id)

    assert found.__data__ == any_app.User.get_by_id(user.id).__data__
    assert isinstance(found.updated_at, dt.datetime) and not found._dirty
    assert found.company.name == "Acme"


def test_a_record_read_by_primary_key_is_none_when_no_row_has_that_key(any_app):
    user = any_app.User.create(email="ada@example.com", first_name="Ada")

    assert by_primary_key(any_app.User, user.id + 1) is None


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Connection.setlimit is Python 3.11+")
def test_insert_ignoring_splits_rows_past_the_databases_placeholder_limit(app):
    app.db.connection().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 20)
    rows = _new_rows(range(10))

    with count_queries() as counted:
        insert_ignoring(Sync, rows)

    assert max_parameters(app.db) == 20
    assert counted.count == 4  # three rows of six values per statement
    assert Sync.select().count() == 10


@pytest.mark.skipif(sys.version_info < (3, 11), reason="Connection.setlimit is Python 3.11+")
def test_rows_peewee_inserts_itself_are_split_past_the_placeholder_limit_too(app):
    app.db.connection().setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 40)
    # No created_at: its default is computed per row, so Peewee builds the statement.
    rows = [
        {"crm_name": "hubspot", "resource_type": "User", "resource_id": str(i)} for i in range(10)
    ]

    insert_ignoring(Sync, rows)

    assert Sync.select().count() == 10


def test_the_key_lookup_of_new_records_probes_the_key_index_however_many_rows_are_linked(
    app, caplog
):
    # A lookup that asked for "crm_id IS NOT NULL" in SQL walked SQLite's CRM id
    # index, every linked row, once per batch (on a database never ANALYZEd).
    scope = Scope("hubspot", "User", "contacts")
    scope.claim_new(Lease(), [str(i) for i in range(300)])
    Sync.update(
        crm_id=Sync.id.cast("text"), crm_key="email:u" + Sync.resource_id, claim_token=None
    ).execute()

    with caplog.at_level(logging.DEBUG, logger="peewee"):
        holders = scope.key_holders(["email:u7", "email:nobody"])

    [(sql, params)] = [r.msg for r in caplog.records if "crm_key" in str(r.msg)]
    plan = " ".join(step[3] for step in app.db.execute_sql(f"EXPLAIN QUERY PLAN {sql}", params))
    assert "crm_key" in plan and "crm_id" not in plan.replace("crm_key", "")
    assert list(holders) == ["email:u7"] and holders["email:u7"][0][:2] == ("User", "7")


def test_fetched_tuples_come_converted_as_peewee_converts_them(any_app):
    _row("1", crm_id="a", last_synced_at=T, error_count=2, dependency_signature=7)
    _row("2")
    fields = (
        Sync.id,
        Sync.resource_id,
        Sync.crm_id,
        Sync.last_synced_at,
        Sync.error_count,
        Sync.dependency_signature,
        Sync.created_at,
    )
    query = Sync.select(*fields).order_by(Sync.id)

    fetched = fetch_tuples(query, fields)

    assert fetched == list(query.tuples())
    assert fetched[0][3] == T and fetched[1][2:4] == (None, None)


def test_a_record_keyed_by_uuid_reads_back_as_a_uuid(any_app):
    class Keyed(Model):
        id = UUIDField(primary_key=True)

        class Meta:
            database = any_app.db
            table_name = "keyed_by_uuid"

    any_app.db.create_tables([Keyed])
    key = uuid.uuid4()
    Keyed.create(id=key)
    try:
        assert fetch_tuples(Keyed.select(Keyed.id), [Keyed.id]) == [(key,)]
    finally:
        any_app.db.drop_tables([Keyed])
