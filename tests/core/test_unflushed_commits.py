"""Which single-sync writes commit without waiting for the disk (etlify.sql.unflushed):
on PostgreSQL, those a crash may lose because the next sync repairs them."""

from __future__ import annotations

import pytest

from ..conftest import make_app, open_database

UNFLUSHED = "set_config('synchronous_commit', 'off', true)"


@pytest.fixture
def pg_app(tmp_path, adapter):
    database = open_database("postgres", tmp_path)
    yield make_app(database, adapter)
    database.close()


class Statements:
    """The SQL a database runs while the block runs, as ``(kind, sql)``."""

    def __init__(self, database):
        self.database, self.seen = database, []

    def __enter__(self):
        self.database.query_hooks.append(self._hook)
        return self

    def __exit__(self, *exc):
        self.database.query_hooks.remove(self._hook)

    def _hook(self, event):
        self.seen.append((event.sql.split(None, 1)[0].upper(), event.sql))

    def unflushed(self):
        return [kind for kind, sql in self.seen if UNFLUSHED in sql]


def _synced_user(app):
    user = app.User.create(email="ada@example.com", first_name="Ada")
    assert user.sync("hubspot", async_=False).name == "SYNCED"
    user.first_name = "Augusta"
    user.save()
    return user


def test_the_claim_and_the_confirmation_of_an_update_do_not_wait_for_the_disk(pg_app):
    user = _synced_user(pg_app)
    with Statements(pg_app.User._meta.database) as statements:
        assert user.sync("hubspot", async_=False).name == "SYNCED"
    assert statements.unflushed() == ["UPDATE", "UPDATE"]


def test_the_confirmation_of_a_create_waits_for_the_disk(pg_app):
    user = pg_app.User.create(email="ada@example.com")
    with Statements(pg_app.User._meta.database) as statements:
        assert user.sync("hubspot", async_=False).name == "SYNCED"
    confirms = [sql for kind, sql in statements.seen if '"last_digest" = ' in sql]
    assert confirms and all(UNFLUSHED not in sql for sql in confirms)


def test_a_sync_inside_the_callers_transaction_leaves_its_commit_durable(pg_app):
    user = _synced_user(pg_app)
    database = pg_app.User._meta.database
    with Statements(database) as statements, database.atomic():
        assert user.sync("hubspot", async_=False).name == "SYNCED"
    assert statements.seen and statements.unflushed() == []


def test_the_connections_own_setting_is_unchanged_after_a_sync(pg_app):
    user = _synced_user(pg_app)
    database = pg_app.User._meta.database
    (before,) = database.execute_sql("SHOW synchronous_commit").fetchone()
    assert user.sync("hubspot", async_=False).name == "SYNCED"
    assert database.execute_sql("SHOW synchronous_commit").fetchone() == (before,)


@pytest.mark.parametrize("backend", ["sqlite", "mysql"])
def test_no_other_database_is_asked_for_it(backend, tmp_path, adapter):
    app = make_app(open_database(backend, tmp_path), adapter)
    user = _synced_user(app)
    with Statements(app.User._meta.database) as statements:
        assert user.sync("hubspot", async_=False).name == "SYNCED"
    assert statements.seen and statements.unflushed() == []
