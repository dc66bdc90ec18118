"""Which records the finder lists, judged by their own sync row and timestamp."""

from __future__ import annotations

import datetime as dt
import uuid

import etlify
from etlify.stale import Finder

from .support import T, etlify_model, stale_ids, synced

HOUR = dt.timedelta(hours=1)


def test_record_without_sync_row_is_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T)
    assert stale_ids(app.User) == [user.id]


def test_record_with_row_never_synced_is_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T)
    synced(user, None)
    assert stale_ids(app.User) == [user.id]


def test_record_synced_after_its_last_change_is_not_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T)
    synced(user, T + HOUR)
    assert stale_ids(app.User) == []


def test_record_changed_after_its_sync_is_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T + HOUR)
    synced(user, T)
    assert stale_ids(app.User) == [user.id]


def test_change_at_the_instant_of_the_sync_counts_as_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T)
    synced(user, T)
    assert stale_ids(app.User) == [user.id]


def test_null_timestamp_never_makes_a_synced_record_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=None)
    synced(user, T)
    assert stale_ids(app.User) == []


def test_created_at_is_the_timestamp_of_a_model_without_updated_at(app):
    etlify_model(app.Event)
    old, new = app.Event.create(created_at=T - HOUR), app.Event.create(created_at=T + HOUR)
    synced(old, T)
    synced(new, T)
    assert stale_ids(app.Event) == [new.id]


def test_model_without_timestamps_is_stale_only_until_synced(app):
    etlify_model(app.Note)
    done, never, pending = app.Note.create(), app.Note.create(), app.Note.create()
    synced(done, T)
    synced(never, None)
    assert stale_ids(app.Note) == [never.id, pending.id]


def test_records_that_used_up_the_error_budget_are_left_out(app):
    etlify.configure(max_sync_errors=3)
    etlify_model(app.User)
    failing, exhausted = app.User.create(updated_at=T), app.User.create(updated_at=T)
    synced(failing, None, error_count=2)
    synced(exhausted, None, error_count=3)
    assert stale_ids(app.User) == [failing.id]


def test_a_crm_budget_overrides_the_global_one(app):
    etlify.register("hubspot", adapter=etlify.testing.InMemoryAdapter(), max_sync_errors=1)
    etlify_model(app.User)
    user = app.User.create(updated_at=T)
    synced(user, None, error_count=1)
    assert stale_ids(app.User) == []


def test_results_are_ordered_by_primary_key(app):
    etlify_model(app.User)
    users = [app.User.create(updated_at=T) for _ in range(5)]
    for user in users[::2]:
        synced(user, T - HOUR)
    assert stale_ids(app.User) == [user.id for user in users]


def test_stale_scope_narrows_the_query_in_sql(app):
    etlify_model(app.User, stale_scope=lambda query: query.where(app.User.active == 1))
    active = app.User.create(updated_at=T)
    app.User.create(updated_at=T, active=0)
    assert stale_ids(app.User) == [active.id]


def test_sync_rows_of_other_crms_and_models_do_not_count(app):
    etlify_model(app.User)
    etlify_model(app.User, "salesforce")
    etlify_model(app.Post)
    user = app.User.create(updated_at=T)
    post = app.Post.create(id=user.id, updated_at=T)
    synced(user, T + HOUR, crm_name="salesforce")
    synced(post, T + HOUR)
    assert stale_ids(app.User) == [user.id]
    assert stale_ids(app.User, "salesforce") == []


def test_string_primary_keys_match_their_sync_rows(app):
    etlify_model(app.Label)
    fresh = app.Label.create(code="a-1", updated_at=T)
    changed = app.Label.create(code="b-2", updated_at=T + HOUR)
    synced(fresh, T + HOUR)
    synced(changed, T)
    assert stale_ids(app.Label) == ["b-2"]


def test_uuid_primary_keys_match_their_sync_rows(app):
    etlify_model(app.Account)
    fresh = app.Account.create(id=uuid.UUID(int=1), updated_at=T)
    changed = app.Account.create(id=uuid.UUID(int=2), updated_at=T + HOUR)
    synced(fresh, T + HOUR)
    synced(changed, T)
    assert [str(pk) for pk in stale_ids(app.Account)] == [str(changed.id)]


def test_model_lacking_the_crm_contributes_nothing(app):
    etlify_model(app.User)
    etlify_model(app.Post, "salesforce")
    app.Post.create(updated_at=T)
    found = Finder.call([app.User, app.Post], "hubspot")
    assert list(found) == [app.User]
    assert list(found[app.User]) == ["hubspot"]


def test_call_gives_one_query_per_model_and_crm(app):
    etlify_model(app.User)
    etlify_model(app.User, "salesforce")
    etlify_model(app.Post)
    found = Finder.call()
    assert {model: sorted(queries) for model, queries in found.items()} == {
        app.User: ["hubspot", "salesforce"],
        app.Post: ["hubspot"],
    }


def test_a_real_sync_makes_the_record_fresh(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=etlify.config.now() - HOUR)
    assert user.sync("hubspot", async_=False) == etlify.Status.SYNCED
    assert stale_ids(app.User) == []
