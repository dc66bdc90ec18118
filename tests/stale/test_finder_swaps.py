"""A swap of related rows keeps their number: the stored dependency signature catches it.

``user.tags.remove([a]); user.tags.add([b])`` moves no timestamp (the
through table has none) and leaves the count as it was; the signature of
the rows reached changes with their identity.
"""

from __future__ import annotations

import datetime as dt

import etlify
from etlify.declarations import sync_config
from etlify.stale import Finder

from .support import T, etlify_model, stale_ids, synced

OLD = T - dt.timedelta(hours=1)


def synced_with_signatures(model, *records):
    """Write each record's sync row as a sync at ``T`` would, signature included."""
    pks = [record._pk for record in records]
    signatures = Finder.dependency_signatures(sync_config(model, "hubspot"), pks)
    for record in records:
        synced(record, T, dependency_signature=signatures[str(record._pk)])
    return signatures


def tags(app, n):
    return [app.Tag.create(updated_at=OLD) for _ in range(n)]


def test_many_to_many_swap_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    kept, out, into = tags(app, 3)
    owner, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    owner.tags.add([kept, out])
    other.tags.add([kept])
    synced_with_signatures(app.User, owner, other)
    owner.tags.remove([out])
    owner.tags.add([into])
    assert stale_ids(app.User) == [owner.id]


def test_many_to_many_swap_seen_from_the_other_side_makes_the_tag_stale(app):
    etlify_model(app.Tag, dependencies=["users"])
    (tag,) = tags(app, 1)
    leaving, joining = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    tag.users.add([leaving])
    synced_with_signatures(app.Tag, tag)
    tag.users.remove([leaving])
    tag.users.add([joining])
    assert stale_ids(app.Tag) == [tag.id]


def test_two_swaps_keeping_the_sum_of_the_keys_make_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags"])
    first, second, third, fourth = tags(app, 4)
    owner = app.User.create(updated_at=OLD)
    owner.tags.add([first, fourth])
    synced_with_signatures(app.User, owner)
    owner.tags.remove([first, fourth])
    owner.tags.add([second, third])
    assert stale_ids(app.User) == [owner.id]


def test_belongs_to_repointed_without_a_timestamp_makes_the_owner_stale(app):
    etlify_model(app.User, dependencies=["company"])
    before, after = app.Company.create(updated_at=OLD), app.Company.create(updated_at=OLD)
    owner = app.User.create(company=before, updated_at=OLD)
    synced_with_signatures(app.User, owner)
    app.User.update(company=after).where(app.User.id == owner.id).execute()
    assert stale_ids(app.User) == [owner.id]


def test_removing_and_adding_back_the_same_link_leaves_the_owner_synced(app):
    etlify_model(app.User, dependencies=["tags"])
    (tag,) = tags(app, 1)
    owner = app.User.create(updated_at=OLD)
    owner.tags.add([tag])
    synced_with_signatures(app.User, owner)
    owner.tags.remove([tag])
    owner.tags.add([tag])
    assert stale_ids(app.User) == []


def test_signature_of_a_record_without_related_rows_is_zero(app):
    etlify_model(app.User, dependencies=["tags"])
    owner = app.User.create(updated_at=OLD)
    assert synced_with_signatures(app.User, owner) == {str(owner.id): 0}


def test_signature_differs_for_other_rows_of_the_same_number(app):
    etlify_model(app.User, dependencies=["tags"])
    first, second = tags(app, 2)
    one, other = app.User.create(updated_at=OLD), app.User.create(updated_at=OLD)
    one.tags.add([first])
    other.tags.add([second])
    signatures = synced_with_signatures(app.User, one, other)
    assert signatures[str(one.id)] != signatures[str(other.id)]


def test_row_synced_without_a_signature_is_stale_once(app):
    etlify_model(app.User, dependencies=["tags"])
    owner = app.User.create(updated_at=OLD)
    row = synced(owner, T, dependency_signature=None)
    assert stale_ids(app.User) == [owner.id]
    row.dependency_signature = 0  # what the next sync stores: no tag
    row.save()
    assert stale_ids(app.User) == []


def test_a_sync_stores_the_signature_the_finder_compares(app):
    etlify.configure(now=lambda: T)
    etlify_model(app.User, dependencies=["tags"])
    out, into = tags(app, 2)
    owner = app.User.create(updated_at=OLD)
    owner.tags.add([out])
    owner.sync(async_=False)
    assert stale_ids(app.User) == []
    owner.tags.remove([out])
    owner.tags.add([into])
    assert stale_ids(app.User) == [owner.id]


def test_edits_on_two_paths_that_would_cancel_out_make_the_owner_stale(app):
    etlify_model(app.User, dependencies=["tags", "company"])
    first_tag, second_tag = tags(app, 2)
    first_company = app.Company.create(updated_at=OLD)
    second_company = app.Company.create(updated_at=OLD)
    assert (first_tag.id, second_tag.id) == (first_company.id, second_company.id)
    owner = app.User.create(company=second_company, updated_at=OLD)
    owner.tags.add([first_tag])
    synced_with_signatures(app.User, owner)
    owner.tags.remove([first_tag])  # tags: key 1 out, key 2 in
    owner.tags.add([second_tag])
    app.User.update(company=first_company).where(app.User.id == owner.id).execute()  # 2 → 1
    assert stale_ids(app.User) == [owner.id]
