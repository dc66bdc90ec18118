"""Shared fixtures: a database per backend, fresh models, a clean Etlify."""

from __future__ import annotations

import os

import pytest
from peewee import PostgresqlDatabase
from playhouse.db_url import connect

import etlify
from etlify.testing import InMemoryAdapter, reset

from .models import define_models

pytest_plugins = ["pytester"]

BACKENDS = {
    "postgres": "ETLIFY_TEST_POSTGRES",
    "mysql": "ETLIFY_TEST_MYSQL",
}


def open_database(backend: str, tmp_path):
    """A peewee database for ``backend``; skips when its URL is not set."""
    if backend == "sqlite":
        return connect(
            f"sqlite:///{tmp_path / 'app.db'}", pragmas={"journal_mode": "wal"}, timeout=30
        )
    url = os.environ.get(BACKENDS[backend])
    if not url:
        pytest.skip(f"{BACKENDS[backend]} is not set")
    db = connect(url)
    wipe(db)
    return db


def wipe(db) -> None:
    """Drop every table of a PostgreSQL or MariaDB test database, whatever refers to what."""
    if isinstance(db, PostgresqlDatabase):
        db.execute_sql("DROP SCHEMA public CASCADE")
        db.execute_sql("CREATE SCHEMA public")
        return
    db.execute_sql("SET FOREIGN_KEY_CHECKS = 0")
    for table in db.get_tables():
        db.execute_sql(f"DROP TABLE `{table}`")
    db.execute_sql("SET FOREIGN_KEY_CHECKS = 1")


def pytest_addoption(parser):
    parser.addoption(
        "--soak",
        action="store_true",
        default=False,
        help="run the long variants of the reliability tests (e.g. 20,000 records)",
    )


@pytest.fixture(autouse=True)
def clean_etlify():
    """Every test starts and ends with no CRM, model or setting registered."""
    reset()
    yield
    reset()


@pytest.fixture
def database(tmp_path):
    """A file SQLite database in WAL mode."""
    db = open_database("sqlite", tmp_path)
    yield db
    db.close()


@pytest.fixture(params=["sqlite", "postgres", "mysql"])
def any_database(request, tmp_path):
    """The same test on SQLite, PostgreSQL and MariaDB (when their URLs are set)."""
    db = open_database(request.param, tmp_path)
    yield db
    if not db.is_closed():
        db.close()


@pytest.fixture
def adapter():
    """An in-memory CRM."""
    return InMemoryAdapter()


@pytest.fixture
def app(database, adapter):
    """Models on SQLite, etlified for an in-memory "hubspot"."""
    return make_app(database, adapter)


@pytest.fixture
def any_app(any_database, adapter):
    """Models on every backend, etlified for an in-memory "hubspot"."""
    return make_app(any_database, adapter)


def make_app(database, adapter, **user_options):
    etlify.register("hubspot", adapter=adapter)
    app = define_models(database)
    app.User.etlified_with(
        "hubspot",
        serializer=app.UserSerializer,
        crm_object_type="contacts",
        **{"id_property": "email", **user_options},
    )
    app.Company.etlified_with(
        "hubspot", serializer=app.CompanySerializer, crm_object_type="companies"
    )
    etlify.create_tables()
    return app
