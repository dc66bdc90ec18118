"""A removed child moves no timestamp: the stored dependency signature catches it."""

from __future__ import annotations

import datetime as dt
import zlib

from etlify import GenericDependency
from etlify.declarations import sync_config
from etlify.stale import Finder

from .support import T, etlify_model, stale_ids, synced

OLD = T - dt.timedelta(hours=1)


PRIME = 2147483647


def salt(path):
    """The number a path step mixes into its rows' keys."""
    return zlib.crc32(path.encode()) % 65521 + 1


def weight(key, path="investments"):
    """What a row of integer key ``key`` reached by ``path`` adds to a dependency signature."""
    mixed = (key + salt(path)) % PRIME
    return 1 + mixed + mixed * mixed % PRIME


def signatures(model, pks):
    return Finder.dependency_signatures(sync_config(model, "hubspot"), pks)


def synced_with_signatures(model, *records):
    found = signatures(model, [r._pk for r in records])
    for record in records:
        synced(record, T, dependency_signature=found.get(str(record._pk)))
    return found


def test_dependency_signature_weighs_each_has_many_row_by_its_key(app):
    etlify_model(app.User, dependencies=["investments"])
    users = [app.User.create(updated_at=OLD) for _ in range(3)]
    rows = {
        user.id: [app.Investment.create(user=user, updated_at=OLD).id for _ in range(n)]
        for user, n in zip(users, (2, 0, 1))
    }
    assert signatures(app.User, [u.id for u in users]) == {
        str(pk): sum(weight(key) for key in keys) for pk, keys in rows.items()
    }


def test_dependency_signature_adds_up_every_path_step(app):
    etlify_model(app.User, dependencies=["investments", "tags", "company"])
    company = app.Company.create(updated_at=OLD)
    user = app.User.create(company=company, updated_at=OLD)
    investment = app.Investment.create(user=user, updated_at=OLD)
    tags = [app.Tag.create(updated_at=OLD), app.Tag.create(updated_at=OLD)]
    user.tags.add(tags)
    reached = [
        (company.id, "company"),
        (investment.id, "investments"),
        *((tag.id, "tags") for tag in tags),
    ]
    expected = sum(weight(key, path) for key, path in reached)
    assert signatures(app.User, [str(user.id)]) == {str(user.id): expected}


def test_dependency_signature_of_the_largest_32_bit_key_does_not_overflow(app):
    etlify_model(app.User, dependencies=["investments"])
    user = app.User.create(updated_at=OLD)
    big = PRIME - 1 - salt("investments")  # mixed, it is PRIME - 1: its square needs 62 bits
    app.Investment.create(id=big, user=user, updated_at=OLD)
    assert signatures(app.User, [user.id]) == {str(user.id): weight(big)}


def test_dependency_signatures_are_empty_without_dependencies(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=OLD)
    assert signatures(app.User, [user.id]) == {}


def test_removed_has_many_row_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["investments"])
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    removed = app.Investment.create(user=owner, updated_at=OLD)
    app.Investment.create(user=owner, updated_at=OLD)
    app.Investment.create(user=other, updated_at=OLD)
    synced_with_signatures(app.User, owner, other)
    assert stale_ids(app.User) == []
    removed.delete_instance()
    assert stale_ids(app.User) == [owner.id]


def test_removed_many_to_many_link_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    tag = app.Tag.create(updated_at=OLD)
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    owner.tags.add([tag])
    other.tags.add([tag])
    synced_with_signatures(app.User, owner, other)
    assert stale_ids(app.User) == []
    owner.tags.remove([tag])
    assert stale_ids(app.User) == [owner.id]


def test_added_many_to_many_link_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    synced_with_signatures(app.User, owner, other)
    owner.tags.add([app.Tag.create(updated_at=OLD)])
    assert stale_ids(app.User) == [owner.id]


def test_removed_row_of_a_path_through_has_many_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company.members"])
    company = app.Company.create(updated_at=OLD)
    user = app.User.create(company=company, updated_at=OLD)
    leaving = app.Member.create(company=company, updated_at=OLD)
    app.Member.create(company=company, updated_at=OLD)
    assert len(synced_with_signatures(app.User, user)) == 1
    leaving.delete_instance()
    assert stale_ids(app.User) == [user.id]


def test_deleted_belongs_to_target_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company"])
    gone, kept = app.Company.create(updated_at=OLD), app.Company.create(updated_at=OLD)
    owner = app.User.create(company=gone, updated_at=OLD)
    other = app.User.create(company=kept, updated_at=OLD)
    loner = app.User.create(company=None, updated_at=OLD)
    synced_with_signatures(app.User, owner, other, loner)
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
    synced_with_signatures(app.Comment, on_post, on_photo)
    assert stale_ids(app.Comment) == []
    post.delete_instance()
    assert stale_ids(app.Comment) == [on_post.id]
