"""A change in a related record, of every relation kind, makes its owner stale."""

from __future__ import annotations

import datetime as dt

import pytest

from etlify import ConfigurationError, GenericDependency

from .support import T, etlify_model, stale_ids, synced

HOUR = dt.timedelta(hours=1)
OLD, NEW = T - HOUR, T + HOUR


def synced_users(app, *users):
    for user in users:
        synced(user, T)


def test_belongs_to_change_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company"])
    changed, kept = app.Company.create(updated_at=NEW), app.Company.create(updated_at=OLD)
    users = [app.User.create(company=changed, updated_at=OLD) for _ in range(2)]
    other = app.User.create(company=kept, updated_at=OLD)
    lonely = app.User.create(company=None, updated_at=OLD)
    synced_users(app, *users, other, lonely)
    assert stale_ids(app.User) == [user.id for user in users]


def test_has_many_change_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["investments"])
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    app.Investment.create(user=owner, updated_at=OLD)
    app.Investment.create(user=owner, updated_at=NEW)
    app.Investment.create(user=other, updated_at=OLD)
    synced_users(app, owner, other)
    assert stale_ids(app.User) == [owner.id]


def test_has_one_change_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["profile"])
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    app.Profile.create(user=owner, updated_at=NEW)
    app.Profile.create(user=other, updated_at=OLD)
    synced_users(app, owner, other)
    assert stale_ids(app.User) == [owner.id]


def test_many_to_many_change_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    changed, kept = app.Tag.create(updated_at=NEW), app.Tag.create(updated_at=OLD)
    tagged, untouched = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    tagged.tags.add([changed, kept])
    untouched.tags.add([kept])
    synced_users(app, tagged, untouched)
    assert stale_ids(app.User) == [tagged.id]


def test_many_to_many_backref_change_makes_the_owner_stale(app):
    etlify_model(app.Tag, dependencies=["users"])
    tag, other = app.Tag.create(updated_at=OLD), app.Tag.create(updated_at=OLD)
    tag.users.add([app.User.create(updated_at=NEW)])
    other.users.add([app.User.create(updated_at=OLD)])
    synced(tag, T)
    synced(other, T)
    assert stale_ids(app.Tag) == [tag.id]


def test_explicit_through_model_link_and_target_changes_make_the_owner_stale(app):
    etlify_model(app.User, dependencies=["funds"])
    fund, changed = app.Fund.create(updated_at=OLD), app.Fund.create(updated_at=NEW)
    linked, new_link, untouched = (app.User.create(updated_at=OLD) for _ in range(3))
    app.Holding.create(user=linked, fund=changed, created_at=OLD)
    app.Holding.create(user=new_link, fund=fund, created_at=NEW)
    app.Holding.create(user=untouched, fund=fund, created_at=OLD)
    synced_users(app, linked, new_link, untouched)
    assert stale_ids(app.User) == [linked.id, new_link.id]


def test_path_through_the_through_model_backref(app):
    etlify_model(app.User, dependencies=["holdings.fund"])
    changed, kept = app.Fund.create(updated_at=NEW), app.Fund.create(updated_at=OLD)
    holder, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    app.Holding.create(user=holder, fund=changed, created_at=OLD)
    app.Holding.create(user=other, fund=kept, created_at=OLD)
    synced_users(app, holder, other)
    assert stale_ids(app.User) == [holder.id]


def test_two_hop_path_change_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company.owner"])
    changed, kept = app.Person.create(updated_at=NEW), app.Person.create(updated_at=OLD)
    user = app.User.create(
        company=app.Company.create(owner=changed, updated_at=OLD), updated_at=OLD
    )
    other = app.User.create(company=app.Company.create(owner=kept, updated_at=OLD), updated_at=OLD)
    synced_users(app, user, other)
    assert stale_ids(app.User) == [user.id]


def test_a_change_midway_along_a_path_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company.owner"])
    owner = app.Person.create(updated_at=OLD)
    user = app.User.create(company=app.Company.create(owner=owner, updated_at=NEW), updated_at=OLD)
    other = app.User.create(company=app.Company.create(owner=owner, updated_at=OLD), updated_at=OLD)
    synced_users(app, user, other)
    assert stale_ids(app.User) == [user.id]


def test_three_hop_path_change_makes_the_owner_stale(app):
    etlify_model(app.Investment, dependencies=["user.company.owner"])
    changed, kept = app.Person.create(updated_at=NEW), app.Person.create(updated_at=OLD)
    investments = []
    for owner in (changed, kept):
        company = app.Company.create(owner=owner, updated_at=OLD)
        user = app.User.create(company=company, updated_at=OLD)
        investments.append(app.Investment.create(user=user, updated_at=OLD))
    for investment in investments:
        synced(investment, T)
    assert stale_ids(app.Investment) == [investments[0].id]


def test_path_from_belongs_to_into_has_many(app):
    etlify_model(app.User, dependencies=["company.members"])
    company, other = app.Company.create(updated_at=OLD), app.Company.create(updated_at=OLD)
    app.Member.create(company=company, updated_at=NEW)
    app.Member.create(company=other, updated_at=OLD)
    user = app.User.create(company=company, updated_at=OLD)
    unaffected = app.User.create(company=other, updated_at=OLD)
    synced_users(app, user, unaffected)
    assert stale_ids(app.User) == [user.id]


def test_self_referential_belongs_to_change_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["manager"])
    boss = app.User.create(updated_at=NEW)
    report = app.User.create(manager=boss, updated_at=OLD)
    peer = app.User.create(manager=None, updated_at=OLD)
    synced_users(app, boss, report, peer)
    assert stale_ids(app.User) == [boss.id, report.id]


def test_self_referential_has_many_change_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["reports"])
    boss, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    report = app.User.create(manager=boss, updated_at=NEW)
    synced_users(app, boss, other, report)
    assert stale_ids(app.User) == [boss.id, report.id]


def test_generic_relation_change_makes_the_owner_stale(app):
    subject = GenericDependency("subject_type", "subject_id", targets=[app.Post, app.Photo])
    etlify_model(app.Comment, dependencies=[subject])
    post = app.Post.create(updated_at=NEW)
    photo = app.Photo.create(id=post.id, updated_at=OLD)
    on_post = app.Comment.create(subject_type="Post", subject_id=post.id, updated_at=OLD)
    on_photo = app.Comment.create(subject_type="Photo", subject_id=photo.id, updated_at=OLD)
    on_nothing = app.Comment.create(updated_at=OLD)
    for comment in (on_post, on_photo, on_nothing):
        synced(comment, T)
    assert stale_ids(app.Comment) == [on_post.id]
    photo.updated_at = NEW
    photo.save()
    assert stale_ids(app.Comment) == [on_post.id, on_photo.id]


def test_generic_relation_with_mapped_type_values(app):
    subject = GenericDependency("subject_type", "subject_id", targets={"blog.post": app.Post})
    etlify_model(app.Comment, dependencies=[subject])
    post = app.Post.create(updated_at=NEW)
    mapped = app.Comment.create(subject_type="blog.post", subject_id=post.id, updated_at=OLD)
    by_class = app.Comment.create(subject_type="Post", subject_id=post.id, updated_at=OLD)
    synced(mapped, T)
    synced(by_class, T)
    assert stale_ids(app.Comment) == [mapped.id]


def test_generic_relation_held_as_text_reaches_integer_and_string_keys(app):
    owner = GenericDependency("owner_type", "owner_id", targets=[app.Post, app.Label])
    etlify_model(app.Attachment, dependencies=[owner])
    post, label = app.Post.create(updated_at=NEW), app.Label.create(code="x", updated_at=OLD)
    on_post = app.Attachment.create(owner_type="Post", owner_id=str(post.id), updated_at=OLD)
    on_label = app.Attachment.create(owner_type="Label", owner_id=label.code, updated_at=OLD)
    synced(on_post, T)
    synced(on_label, T)
    assert stale_ids(app.Attachment) == [on_post.id]


def test_subclass_model_uses_its_own_table(app):
    etlify_model(app.Member, dependencies=["company"])
    etlify_model(app.Admin, dependencies=["company"])
    changed = app.Company.create(updated_at=NEW)
    member = app.Member.create(company=changed, updated_at=OLD)
    admin = app.Admin.create(id=member.id + 1, company=None, updated_at=OLD)
    fresh_admin = app.Admin.create(id=member.id, company=None, updated_at=OLD)
    synced(member, T)
    synced(admin, T)
    synced(fresh_admin, T)
    assert stale_ids(app.Member) == [member.id]
    assert stale_ids(app.Admin) == []
    app.Admin.update(company=changed).where(app.Admin.id == admin.id).execute()
    assert stale_ids(app.Admin) == [admin.id]


def test_dependency_with_null_timestamp_never_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    user = app.User.create(updated_at=OLD)
    user.tags.add([app.Tag.create(updated_at=None)])
    synced(user, T)
    assert stale_ids(app.User) == []


def test_unknown_dependency_is_refused_at_declaration(app):
    with pytest.raises(ConfigurationError, match="nonsense"):
        etlify_model(app.User, dependencies=["company.nonsense"])
