"""A MariaDB database whose collation is not the connection's: nothing breaks.

The database is created ``CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci``
(the Rails and Django default) while the connection speaks
``utf8mb4_general_ci``: a key turned into text takes the connection's
collation, a model's text column the database's, and MariaDB refuses to
compare the two ("Illegal mix of collations"). The finder, the status
counts, ``BatchSync`` and the command line must work there, on integer and
text primary keys alike, and the sync-row lookup must still use the unique
index of ``crm_synchronisations``.

Runs in ``<name>_unicode_ci``, a sibling of the ``ETLIFY_TEST_MYSQL`` database.
"""

from __future__ import annotations

import datetime as dt
import os
import textwrap
from types import SimpleNamespace
from urllib.parse import urlsplit, urlunsplit

import pytest
from peewee import CharField, DateTimeField, Model
from playhouse.db_url import connect

import etlify
from etlify import BaseSerializer, BatchSync, EtlifyMixin, Finder, GenericDependency
from etlify.declarations import sync_config
from etlify.migrate import upgrade_tables
from etlify.state import CrmSynchronisation
from etlify.testing import InMemoryAdapter
from etlify.testing.hubspot import FakeHubSpot

from ..cli.conftest import run
from ..conftest import wipe

URL = os.environ.get("ETLIFY_TEST_MYSQL")

pytestmark = pytest.mark.skipif(not URL, reason="ETLIFY_TEST_MYSQL is not set")

COLLATION = "utf8mb4_unicode_ci"

#: The collation of a text key column that is neither the database's nor binary.
OTHER_COLLATION = "utf8mb4_general_ci"

T = dt.datetime(2024, 5, 1, 12, 0, 0)


def sibling_url() -> str:
    """The ``ETLIFY_TEST_MYSQL`` URL with its database name suffixed ``_unicode_ci``."""
    parts = urlsplit(URL)
    return urlunsplit(parts._replace(path=parts.path.rstrip("/") + "_unicode_ci"))


@pytest.fixture(scope="module")
def unicode_ci_url():
    """The URL of a database created with the ``utf8mb4_unicode_ci`` collation."""
    url = sibling_url()
    name = urlsplit(url).path.lstrip("/")
    server = connect(URL)
    server.execute_sql(
        f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4 COLLATE {COLLATION}"
    )
    server.execute_sql(f"ALTER DATABASE `{name}` CHARACTER SET utf8mb4 COLLATE {COLLATION}")
    server.close()
    return url


@pytest.fixture
def db(unicode_ci_url):
    """An empty connection to the unicode_ci database."""
    database = connect(unicode_ci_url)
    wipe(database)
    yield database
    database.close()


class Serializer(BaseSerializer):
    def as_crm_payload(self):
        return {"email": f"{self.record._pk}@example.com"}


@pytest.fixture
def app(db):
    """Members (integer keys), badges (text keys) and notes on either, with the state tables."""

    class Base(EtlifyMixin, Model):
        class Meta:
            database = db

    class Member(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Badge(Base):
        code = CharField(primary_key=True)
        updated_at = DateTimeField(null=True)

    class Ticket(Base):
        code = CharField(primary_key=True, collation=OTHER_COLLATION)
        updated_at = DateTimeField(null=True)

    class Note(Base):
        owner_type = CharField(null=True)
        owner_id = CharField(null=True)
        updated_at = DateTimeField(null=True)

    etlify.register("hubspot", adapter=InMemoryAdapter())
    for model in (Member, Badge, Ticket):
        model.etlified_with(
            "hubspot", serializer=Serializer, crm_object_type="contacts", id_property="email"
        )
    etlify.configure(database=db)
    db.create_tables([Member, Badge, Ticket, Note])
    etlify.create_tables()
    return SimpleNamespace(db=db, Member=Member, Badge=Badge, Ticket=Ticket, Note=Note)


@pytest.fixture(params=["integer", "text", "text_in_another_collation"])
def keyed(request, app):
    """A model with integer keys or text keys, and a way to add its ``n``-th record."""
    if request.param == "integer":
        return app.Member, lambda n: app.Member.create(name=f"m{n}", updated_at=T)
    model = app.Badge if request.param == "text" else app.Ticket
    return model, lambda n: model.create(code=f"key-{n:03d}", updated_at=T)


def mark_synced(record, at):
    """The sync row of ``record``, last synced ``at``, with the signature a sync stores."""
    config = sync_config(type(record), "hubspot")
    return CrmSynchronisation.create(
        crm_name="hubspot",
        resource_type=type(record).__name__,
        resource_id=str(record._pk),
        crm_id=f"crm-{record._pk}",
        last_synced_at=at,
        dependency_signature=Finder.dependency_signatures(config, [record._pk]).get(
            str(record._pk)
        ),
        error_count=0,
    )


def sync_alias(sql):
    """The alias the finder's SQL gives ``crm_synchronisations``."""
    return sql.split("`crm_synchronisations` AS `", 1)[1].split("`", 1)[0]


def unique_index_on_resource(db):
    """The name of the unique index on (crm_name, resource_type, resource_id)."""
    [name] = [
        index.name
        for index in db.get_indexes("crm_synchronisations")
        if index.unique and index.columns == ["crm_name", "resource_type", "resource_id"]
    ]
    return name


def column_collation(db, table, column):
    return db.execute_sql(
        "SELECT collation_name FROM information_schema.columns "
        "WHERE table_schema = DATABASE() AND table_name = %s AND column_name = %s",
        (table, column),
    ).fetchone()[0]


def test_the_database_really_has_the_unicode_ci_collation(db):
    assert db.execute_sql("SELECT @@collation_database").fetchone()[0] == COLLATION


def test_the_finder_lists_the_stale_records(keyed):
    model, add = keyed
    fresh, stale, never = add(1), add(2), add(3)
    mark_synced(fresh, T + dt.timedelta(hours=1))
    mark_synced(stale, T - dt.timedelta(hours=1))

    query = Finder.query(sync_config(model, "hubspot"))

    assert [pk for (pk,) in query.tuples()] == [stale._pk, never._pk]


def test_the_status_counts_add_up(keyed):
    model, add = keyed
    fresh, stale, _never = add(1), add(2), add(3)
    mark_synced(fresh, T + dt.timedelta(hours=1))
    mark_synced(stale, T - dt.timedelta(hours=1))

    counts = Finder.status([model], "hubspot")[model]["hubspot"]

    assert counts == {"total": 3, "synced": 1, "stale": 2, "failing": 0, "exhausted": 0}


def test_batch_sync_brings_every_record_up_to_date(keyed):
    model, add = keyed
    for n in range(5):
        add(n)

    stats = BatchSync.call(models=[model], async_=False)

    assert (stats["synced"], stats["errors"]) == (5, 0)
    assert list(Finder.query(sync_config(model, "hubspot"))) == []


def test_a_generic_dependency_held_as_text_reaches_an_integer_key(app):
    owner = GenericDependency("owner_type", "owner_id", targets=[app.Member])
    app.Note.etlified_with(
        "hubspot", serializer=Serializer, crm_object_type="contacts", dependencies=[owner]
    )
    changed = app.Member.create(updated_at=T + dt.timedelta(hours=2))
    unchanged = app.Member.create(updated_at=T - dt.timedelta(hours=2))
    on_changed = app.Note.create(owner_type="Member", owner_id=str(changed.id), updated_at=T)
    on_unchanged = app.Note.create(owner_type="Member", owner_id=str(unchanged.id), updated_at=T)
    for note in (on_changed, on_unchanged):
        mark_synced(note, T + dt.timedelta(hours=1))

    query = Finder.query(sync_config(app.Note, "hubspot"))

    assert [pk for (pk,) in query.tuples()] == [on_changed.id]


def test_the_sync_row_lookup_uses_the_unique_index(keyed):
    model, add = keyed
    with model._meta.database.atomic():
        for n in range(200):
            mark_synced(add(n), T + dt.timedelta(hours=1))
    model._meta.database.execute_sql("ANALYZE TABLE crm_synchronisations")
    sql, params = Finder.query(sync_config(model, "hubspot")).sql()

    cursor = model._meta.database.execute_sql("EXPLAIN " + sql, params)
    names = [column[0] for column in cursor.description]
    plan = [dict(zip(names, row)) for row in cursor.fetchall()]

    [lookup] = [step for step in plan if step["table"] == sync_alias(sql)]
    assert lookup["type"] in ("eq_ref", "ref"), plan
    assert lookup["key"] == unique_index_on_resource(model._meta.database), plan


def test_create_tables_gives_the_key_columns_a_binary_collation(app):
    assert column_collation(app.db, "crm_synchronisations", "resource_id") == "utf8mb4_bin"
    assert column_collation(app.db, "etlify_pending_syncs", "resource_id") == "utf8mb4_bin"
    assert column_collation(app.db, "etlify_pending_syncs", "dependency_id") == "utf8mb4_bin"


def test_upgrade_tables_gives_an_old_key_column_the_binary_collation_and_keeps_its_rows(app):
    app.db.execute_sql("ALTER TABLE crm_synchronisations MODIFY resource_id VARCHAR(64) NOT NULL")
    badge = app.Badge.create(code="kept", updated_at=T)
    mark_synced(badge, T + dt.timedelta(hours=1))
    assert column_collation(app.db, "crm_synchronisations", "resource_id") == COLLATION

    changes = upgrade_tables(app.db)

    assert any("crm_synchronisations: changed column resource_id" in c for c in changes)
    assert column_collation(app.db, "crm_synchronisations", "resource_id") == "utf8mb4_bin"
    assert CrmSynchronisation.get(CrmSynchronisation.resource_id == "kept").crm_id == "crm-kept"
    assert list(Finder.query(sync_config(app.Badge, "hubspot"))) == []


CLI_APP = """
    import os

    from peewee import CharField, DateTimeField, Model
    from playhouse.db_url import connect

    import etlify
    from etlify.adapters import HubspotV3Adapter

    db = connect(os.environ["APP_DATABASE"])
    etlify.configure(database=db)
    etlify.register(
        "hubspot",
        adapter=HubspotV3Adapter(
            access_token=os.environ["HUBSPOT_TOKEN"], base_url=os.environ["HUBSPOT_URL"], retries=0
        ),
    )


    class Person(etlify.EtlifyMixin, Model):
        email = CharField()
        updated_at = DateTimeField(default=etlify.config.now)

        class Meta:
            database = db


    class Badge(etlify.EtlifyMixin, Model):
        code = CharField(primary_key=True)
        updated_at = DateTimeField(default=etlify.config.now)

        class Meta:
            database = db


    class PersonSerializer(etlify.BaseSerializer):
        def as_crm_payload(self):
            return {"email": self.record.email}


    class BadgeSerializer(etlify.BaseSerializer):
        def as_crm_payload(self):
            return {"email": self.record.code + "@badges.example.com"}


    Person.etlified_with(
        "hubspot", serializer=PersonSerializer, crm_object_type="contacts", id_property="email"
    )
    Badge.etlified_with(
        "hubspot", serializer=BadgeSerializer, crm_object_type="contacts", id_property="email"
    )
    db.create_tables([Person, Badge])
"""


@pytest.fixture
def cli_project(tmp_path, db, unicode_ci_url):
    """An app module on the unicode_ci database with two people and two badges, tables made."""
    (tmp_path / "app.py").write_text(textwrap.dedent(CLI_APP))
    with FakeHubSpot() as hubspot:
        env = {
            "APP_DATABASE": unicode_ci_url,
            "HUBSPOT_TOKEN": hubspot.token,
            "HUBSPOT_URL": hubspot.url,
        }
        made = run(tmp_path, "create-tables", env=env)
        assert made.returncode == 0, made.stderr
        db.execute_sql(
            "INSERT INTO person (email, updated_at) VALUES "
            "('ada@example.com', '2024-01-01'), ('alan@example.com', '2024-01-01')"
        )
        db.execute_sql(
            "INSERT INTO badge (code, updated_at) VALUES ('gold', '2024-01-01'), "
            "('silver', '2024-01-01')"
        )
        yield SimpleNamespace(path=tmp_path, env=env, hubspot=hubspot)


def test_etlify_status_counts_integer_and_text_keys(cli_project):
    result = run(cli_project.path, "status", env=cli_project.env)

    assert result.returncode == 0, result.stderr
    rows = sorted(line.split() for line in result.stdout.splitlines()[1:])
    assert rows == [
        ["Badge", "hubspot", "2", "0", "2", "0", "0"],
        ["Person", "hubspot", "2", "0", "2", "0", "0"],
    ]


def test_etlify_sync_sends_integer_and_text_keys(cli_project):
    result = run(cli_project.path, "sync", "--inline", env=cli_project.env)

    assert result.returncode == 0, result.stderr
    assert "4 synced" in result.stdout
    assert cli_project.hubspot.object_count("contacts") == 4


def test_the_unique_keys_of_the_state_tables_are_plain_innodb_indexes(app):
    """Within InnoDB's 3072 bytes, so they are B-trees (MySQL 8 refuses longer ones)."""
    kinds = app.db.execute_sql(
        "SELECT table_name, index_type FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND non_unique = 0 AND index_name <> 'PRIMARY' "
        "AND table_name IN ('crm_synchronisations', 'etlify_pending_syncs')"
    ).fetchall()

    assert {table for table, _ in kinds} == {"crm_synchronisations", "etlify_pending_syncs"}
    assert {kind for _, kind in kinds} == {"BTREE"}
