"""Per model and CRM: total, synced, stale, failing and exhausted, counted in SQL."""

from __future__ import annotations

import datetime as dt

import etlify
from etlify.declarations import sync_config
from etlify.stale import Finder

from .support import T, etlify_model, synced

OLD = T - dt.timedelta(hours=1)


def test_counts_split_the_records_by_how_they_stand(app):
    etlify.configure(max_sync_errors=2)
    etlify_model(
        app.User, dependencies=["company"], stale_scope=lambda q: q.where(app.User.active == 1)
    )
    changed = app.Company.create(updated_at=T)
    fresh, behind, via_company, never, failing, exhausted = (
        app.User.create(updated_at=OLD) for _ in range(6)
    )
    app.User.create(updated_at=OLD, active=0)
    behind.updated_at = T
    behind.save()
    via_company.company = changed
    via_company.save()
    for user in (fresh, behind, via_company):
        synced(user, T - dt.timedelta(minutes=1))
    synced(failing, None, error_count=1, last_error="ValidationFailed: refused")
    synced(exhausted, None, error_count=2, last_error="ValidationFailed: refused")
    assert Finder.counts(sync_config(app.User, "hubspot")) == {
        "total": 6,
        "synced": 1,
        "stale": 4,
        "failing": 1,
        "exhausted": 1,
    }


def test_a_failure_that_spends_no_budget_still_counts_as_failing(app):
    etlify_model(app.User)
    user = app.User.create(updated_at=OLD)
    synced(user, None, last_error="TransportError: no answer", last_error_kind="transient")
    assert Finder.counts(sync_config(app.User, "hubspot"))["failing"] == 1


def test_status_counts_every_model_and_crm_with_one_query_each(app):
    etlify_model(app.User)
    etlify_model(app.User, "salesforce")
    app.User.create(updated_at=OLD)
    status = Finder.status([app.User])
    assert status == {
        app.User: {
            crm_name: {"total": 1, "synced": 0, "stale": 1, "failing": 0, "exhausted": 0}
            for crm_name in ("hubspot", "salesforce")
        }
    }


def test_counts_of_an_empty_table_are_zero(app):
    etlify_model(app.User)
    assert set(Finder.counts(sync_config(app.User, "hubspot")).values()) == {0}
