"""Deleting a record from the CRM."""

from __future__ import annotations

import etlify
from etlify import Status
from etlify.errors import ValidationFailed
from etlify.testing import InMemoryAdapter


def test_delete_removes_the_crm_object_and_clears_crm_id_and_digest(app, adapter, user):
    user.sync(async_=False)
    crm_id = user.crm_synchronisation("hubspot").crm_id

    assert user.crm_delete("hubspot") == Status.DELETED

    assert adapter.count("contacts") == 0
    assert ("delete", "contacts", crm_id) in adapter.calls
    row = user.crm_synchronisation("hubspot")
    assert (row.crm_id, row.last_digest) == (None, None)


def test_the_generated_delete_is_crm_delete(app, adapter, user):
    user.sync(async_=False)

    assert user.hubspot_delete() == Status.DELETED
    assert adapter.count("contacts") == 0


def test_a_sync_after_a_delete_creates_the_object_again(app, adapter, user):
    user.sync(async_=False)
    user.crm_delete("hubspot")

    assert user.sync(async_=False) == Status.SYNCED

    assert adapter.count("contacts") == 1
    assert user.crm_synchronisation("hubspot").crm_id is not None


def test_deleting_a_record_never_synced_is_a_noop(app, adapter, user):
    assert user.crm_delete("hubspot") == Status.NOOP
    assert adapter.calls == []


def test_deleting_a_record_skipped_by_sync_if_is_a_noop(app, adapter):
    app.User.etlified_with(
        "hubspot",
        serializer=app.UserSerializer,
        crm_object_type="contacts",
        sync_if=lambda user: False,
        replace=True,
    )
    user = app.User.create(email="a@example.com")
    user.sync(async_=False)

    assert user.crm_delete("hubspot") == Status.NOOP


def test_deleting_twice_is_a_noop_the_second_time(app, user):
    user.sync(async_=False)
    user.crm_delete("hubspot")

    assert user.crm_delete("hubspot") == Status.NOOP


def test_delete_on_a_disabled_crm_is_disabled(app, adapter, user):
    user.sync(async_=False)
    etlify.register("hubspot", adapter=adapter, enabled=False)

    assert user.crm_delete("hubspot") == Status.DISABLED

    assert adapter.count("contacts") == 1
    assert user.crm_synchronisation("hubspot").crm_id is not None


def test_an_object_already_gone_from_the_crm_still_counts_as_deleted(app, adapter, user):
    user.sync(async_=False)
    adapter.objects["contacts"].clear()

    assert user.crm_delete("hubspot") == Status.DELETED

    assert user.crm_synchronisation("hubspot").crm_id is None


def test_a_failed_delete_keeps_the_crm_id_and_records_the_error(app, adapter, user):
    user.sync(async_=False)
    crm_id = user.crm_synchronisation("hubspot").crm_id
    adapter.fail_next(ValidationFailed("locked"))

    assert user.crm_delete("hubspot") == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert row.crm_id == crm_id
    assert row.last_error == "ValidationFailed: locked"


def test_delete_works_after_the_record_itself_was_deleted(app, adapter, user):
    user.sync(async_=False)
    user.delete_instance()

    assert user.crm_delete("hubspot") == Status.DELETED
    assert adapter.count("contacts") == 0


def test_delete_uses_the_object_type_the_record_was_synced_as(app, user):
    first = InMemoryAdapter()
    etlify.register("hubspot", adapter=first)
    user.sync(async_=False)
    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="leads", replace=True,
    )

    assert user.crm_delete("hubspot") == Status.DELETED
    assert first.calls[-1][:2] == ("delete", "contacts")
