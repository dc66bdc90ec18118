"""The finder is SQL only: primary keys out, one query per model and CRM."""

from __future__ import annotations

import datetime as dt

import pytest

from etlify import GenericDependency
from etlify.stale import Finder

from .support import T, etlify_model, stale_ids, synced

OLD = T - dt.timedelta(hours=1)


@pytest.fixture
def executed(app, monkeypatch):
    """The SQL statements run on the test database from now on."""
    statements = []
    run = app.db.execute_sql

    def counting(sql, params=None, *args, **kwargs):
        statements.append(sql)
        return run(sql, params, *args, **kwargs)

    monkeypatch.setattr(app.db, "execute_sql", counting)
    return statements


def declare_everything(app):
    subject = GenericDependency("subject_type", "subject_id", targets=[app.Post, app.Photo])
    etlify_model(
        app.User,
        dependencies=["company.owner", "company.region", "investments", "tags", "manager"],
    )
    etlify_model(app.User, "salesforce", dependencies=["funds", "profile"])
    etlify_model(app.Comment, dependencies=[subject])


def test_the_query_selects_only_the_primary_key(app):
    declare_everything(app)
    query = Finder.call([app.User], "hubspot")[app.User]["hubspot"]
    sql, _ = query.sql()
    assert sql.startswith('SELECT "t1"."id" FROM') or sql.startswith("SELECT `t1`.`id` FROM")
    user = app.User.create(email="x@example.com", updated_at=OLD)
    (row,) = query
    assert row.__data__ == {"id": user.id}


def test_building_the_queries_runs_no_sql(app, executed):
    declare_everything(app)
    Finder.call()
    assert executed == []


def test_one_query_per_model_and_crm(app, executed):
    declare_everything(app)
    company = app.Company.create(owner=app.Person.create(updated_at=T), updated_at=OLD)
    for _ in range(3):
        user = app.User.create(company=company, updated_at=OLD)
        app.Investment.create(user=user, updated_at=T)
        app.Comment.create(subject_type="Post", subject_id=app.Post.create(updated_at=T).id)
        synced(user, OLD, dependency_signature=0)
    del executed[:]
    found = {
        (model, crm_name): [pk for (pk,) in query.tuples()]
        for model, queries in Finder.call().items()
        for crm_name, query in queries.items()
    }
    assert len(executed) == 3
    assert all(len(pks) == 3 for pks in found.values())


def test_the_query_narrows_and_pages_like_any_peewee_query(app):
    etlify_model(app.User)
    users = [app.User.create(updated_at=T) for _ in range(5)]
    query = Finder.call([app.User])[app.User]["hubspot"]
    page = query.where(app.User.id > users[1].id).limit(2)
    assert [pk for (pk,) in page.tuples()] == [users[2].id, users[3].id]
    assert query.count() == 5
    assert stale_ids(app.User) == [user.id for user in users]
