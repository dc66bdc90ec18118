"""A removed child moves no timestamp: the stored dependency count catches it."""

from __future__ import annotations

import datetime as dt

from etlify import GenericDependency
from etlify.declarations import sync_config
from etlify.stale import Finder

from .support import T, etlify_model, stale_ids, synced

OLD = T - dt.timedelta(hours=1)


def synced_with_counts(model, *records):
    counts = Finder.dependency_counts(sync_config(model, "hubspot"), [r._pk for r in records])
    for record in records:
        synced(record, T, dependency_count=counts.get(str(record._pk)))
    return counts


def test_dependency_counts_counts_has_many_rows_per_record(app):
    etlify_model(app.User, dependencies=["investments"])
    users = [app.User.create(updated_at=OLD) for _ in range(3)]
    for user, n in zip(users, (2, 0, 1)):
        for _ in range(n):
            app.Investment.create(user=user, updated_at=OLD)
    counts = Finder.dependency_counts(sync_config(app.User, "hubspot"), [u.id for u in users])
    assert counts == {str(users[0].id): 2, str(users[1].id): 0, str(users[2].id): 1}


def test_dependency_counts_adds_up_every_path_step(app):
    etlify_model(app.User, dependencies=["investments", "tags", "company"])
    user = app.User.create(company=app.Company.create(updated_at=OLD), updated_at=OLD)
    app.Investment.create(user=user, updated_at=OLD)
    user.tags.add([app.Tag.create(updated_at=OLD), app.Tag.create(updated_at=OLD)])
    counts = Finder.dependency_counts(sync_config(app.User, "hubspot"), [str(user.id)])
    assert counts == {str(user.id): 4}


def test_dependency_counts_is_empty_without_dependencies(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=OLD)
    assert Finder.dependency_counts(sync_config(app.User, "hubspot"), [user.id]) == {}


def test_removed_has_many_row_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["investments"])
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    removed = app.Investment.create(user=owner, updated_at=OLD)
    app.Investment.create(user=owner, updated_at=OLD)
    app.Investment.create(user=other, updated_at=OLD)
    synced_with_counts(app.User, owner, other)
    assert stale_ids(app.User) == []
    removed.delete_instance()
    assert stale_ids(app.User) == [owner.id]


def test_removed_many_to_many_link_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    tag = app.Tag.create(updated_at=OLD)
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    owner.tags.add([tag])
    other.tags.add([tag])
    synced_with_counts(app.User, owner, other)
    assert stale_ids(app.User) == []
    owner.tags.remove([tag])
    assert stale_ids(app.User) == [owner.id]


def test_added_many_to_many_link_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    synced_with_counts(app.User, owner, other)
    owner.tags.add([app.Tag.create(updated_at=OLD)])
    assert stale_ids(app.User) == [owner.id]


def test_removed_row_of_a_path_through_has_many_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company.members"])
    company = app.Company.create(updated_at=OLD)
    user = app.User.create(company=company, updated_at=OLD)
    leaving = app.Member.create(company=company, updated_at=OLD)
    app.Member.create(company=company, updated_at=OLD)
    assert synced_with_counts(app.User, user) == {str(user.id): 3}
    leaving.delete_instance()
    assert stale_ids(app.User) == [user.id]


def test_deleted_belongs_to_target_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company"])
    gone, kept = app.Company.create(updated_at=OLD), app.Company.create(updated_at=OLD)
    owner = app.User.create(company=gone, updated_at=OLD)
    other = app.User.create(company=kept, updated_at=OLD)
    loner = app.User.create(company=None, updated_at=OLD)
    synced_with_counts(app.User, owner, other, loner)
    assert stale_ids(app.User) == []
    gone.delete_instance()
    assert stale_ids(app.User) == [owner.id]


def test_deleted_generic_target_makes_the_owner_stale(app):
    subject = GenericDependency("subject_type", "subject_id", targets=[app.Post, app.Photo])
    etlify_model(app.Comment, dependencies=[subject])
    post = app.Post.create(updated_at=OLD)
    on_post = app.Comment.create(subject_type="Post", subject_id=post.id, updated_at=OLD)
    on_photo = app.Comment.create(
        subject_type="Photo", subject_id=app.Photo.create(updated_at=OLD).id, updated_at=OLD
    )
    synced_with_counts(app.Comment, on_post, on_photo)
    assert stale_ids(app.Comment) == []
    post.delete_instance()
    assert stale_ids(app.Comment) == [on_post.id]


def test_untracked_count_never_makes_a_record_stale(app):
    etlify_model(app.User, dependencies=["investments"])
    owner = app.User.create(updated_at=OLD)
    removed = app.Investment.create(user=owner, updated_at=OLD)
    synced(owner, T, dependency_count=None)
    removed.delete_instance()
    assert stale_ids(app.User) == []
