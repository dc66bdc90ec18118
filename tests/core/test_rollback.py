"""An inline sync inside a transaction that rolls back keeps the link to the CRM object
it created, so the next sync updates that object instead of creating a second one.

Over HTTP against FakeHubSpot, on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

import logging

import pytest

from etlify import BatchSync, CrmSynchronisation, Status


class Rollback(Exception):
    pass


def company_names(hubspot):
    return sorted(o["properties"]["name"] for o in hubspot.objects("companies"))


def test_a_company_created_inside_a_rolled_back_transaction_is_not_created_twice(
    crm_app, hubspot
):
    acme = crm_app.Company.create(name="Acme")
    with pytest.raises(Rollback), crm_app.db.atomic():
        acme.name = "Acme (rolled back)"
        acme.save()
        assert acme.sync(async_=False) == Status.SYNCED
        raise Rollback

    assert crm_app.Company.get_by_id(acme.id).sync(async_=False) == Status.SYNCED
    assert hubspot.object_count("companies") == 1
    assert company_names(hubspot) == ["Acme"]


def test_after_a_rollback_the_record_is_stale_until_its_committed_data_is_sent(
    crm_app, hubspot
):
    acme = crm_app.Company.create(name="Acme")
    with pytest.raises(Rollback), crm_app.db.atomic():
        acme.name = "Acme (rolled back)"
        acme.save()
        acme.sync(async_=False)
        raise Rollback

    stats = BatchSync.call(async_=False)
    assert stats["synced"] == 1
    assert company_names(hubspot) == ["Acme"]
    assert hubspot.object_count("companies") == 1


def test_a_rolled_back_savepoint_around_the_sync_keeps_the_link_when_the_outer_transaction_commits(
    crm_app, hubspot
):
    acme = crm_app.Company.create(name="Acme")
    with crm_app.db.atomic():
        with pytest.raises(Rollback), crm_app.db.atomic():
            acme.sync(async_=False)
            raise Rollback

    BatchSync.call(async_=False)
    assert hubspot.object_count("companies") == 1


def test_a_committed_transaction_around_the_sync_writes_nothing_more(crm_app, hubspot):
    with crm_app.db.atomic():
        acme = crm_app.Company.create(name="Acme")
        acme.sync(async_=False)

    assert acme.sync(async_=False) == Status.NOT_MODIFIED
    assert hubspot.object_count("companies") == 1


def test_a_record_the_rollback_removed_leaves_its_crm_object_unlinked_and_says_so(
    crm_app, hubspot, caplog
):
    caplog.set_level(logging.WARNING, logger="etlify")
    with pytest.raises(Rollback), crm_app.db.atomic():
        ghost = crm_app.Company.create(name="Ghost")
        ghost.sync(async_=False)
        raise Rollback

    assert crm_app.Company.select().count() == 0
    assert CrmSynchronisation.select().count() == 0
    (crm_id,) = (o["id"] for o in hubspot.objects("companies"))
    assert any(
        crm_id in message and "Company" in message and "rolled back" in message
        for message in caplog.messages
    )


def test_an_update_sent_inside_a_rolled_back_transaction_is_undone_by_the_next_sync(
    crm_app, hubspot
):
    acme = crm_app.Company.create(name="Acme")
    acme.sync(async_=False)
    with pytest.raises(Rollback), crm_app.db.atomic():
        acme.name = "Acme (rolled back)"
        acme.save()
        acme.sync(async_=False)
        raise Rollback

    assert BatchSync.call(async_=False)["synced"] == 1
    assert company_names(hubspot) == ["Acme"]
