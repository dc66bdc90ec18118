"""Timestamps compare as instants, whatever their fractional seconds."""

from __future__ import annotations

import datetime as dt

from peewee import MySQLDatabase

from .support import T, etlify_model, stale_ids, synced

HALF = dt.timedelta(microseconds=500000)


def test_whole_second_change_after_a_fractional_sync_is_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T)
    synced(user, T - HALF)
    assert stale_ids(app.User) == [user.id]


def test_fractional_change_before_a_whole_second_sync_is_not_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T - HALF)
    synced(user, T)
    assert stale_ids(app.User) == []


def test_fractional_change_after_a_whole_second_sync_is_stale(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T + dt.timedelta(microseconds=1))
    synced(user, T)
    assert stale_ids(app.User) == [user.id]


def test_whole_second_change_before_a_fractional_sync_depends_on_precision(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=T)
    synced(user, T + HALF)
    # MariaDB's DATETIME keeps whole seconds: both are T, and equal counts as stale.
    expected = [user.id] if isinstance(app.db, MySQLDatabase) else []
    assert stale_ids(app.User) == expected


def test_dependency_timestamps_compare_the_same_way(app):
    etlify_model(app.User, dependencies=["company"])
    before = app.Company.create(updated_at=T - HALF)
    after = app.Company.create(updated_at=T + dt.timedelta(seconds=1, microseconds=1))
    fresh = app.User.create(company=before, updated_at=T - HALF)
    stale = app.User.create(company=after, updated_at=T - HALF)
    synced(fresh, T)
    synced(stale, T)
    assert stale_ids(app.User) == [stale.id]
