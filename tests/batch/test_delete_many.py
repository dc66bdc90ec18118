"""Deleting many records from the CRM at once."""

from __future__ import annotations

import etlify
from etlify.errors import TransportError
from etlify.testing import InMemoryAdapter

from ..conftest import make_app


def synced_users(app, count):
    users = [app.User.create(email=f"user{i}@example.com") for i in range(count)]
    etlify.BatchSync.call(async_=False)
    return [user.id for user in users]


def test_many_records_are_deleted_through_the_batch_endpoint_100_at_a_time(app, adapter):
    ids = synced_users(app, 150)
    counts = app.User.crm_delete_many("hubspot", ids)
    assert counts == {"deleted": 150}
    assert [len(c[2]) for c in adapter.calls if c[0] == "batch_delete"] == [100, 50]
    assert adapter.count("contacts") == 0


def test_deleted_records_lose_their_crm_id_and_digest(app, adapter):
    ids = synced_users(app, 2)
    app.User.crm_delete_many("hubspot", ids)
    state = app.User.get_by_id(ids[0]).crm_synchronisation("hubspot")
    assert (state.crm_id, state.last_digest, state.claim_token) == (None, None, None)


def test_records_never_synced_are_noops(app, adapter):
    ids = synced_users(app, 1)
    fresh = app.User.create(email="new@example.com")
    assert app.User.crm_delete_many("hubspot", [*ids, fresh.id]) == {"deleted": 1, "noop": 1}


def test_an_adapter_without_batch_delete_deletes_one_by_one(database):
    class Plain:
        def __init__(self):
            self.inner = InMemoryAdapter()

        def upsert(self, *args, **kwargs):
            return self.inner.upsert(*args, **kwargs)

        def delete(self, object_type, crm_id):
            return self.inner.delete(object_type, crm_id)

    plain = Plain()
    app = make_app(database, plain)
    ids = synced_users(app, 3)
    assert app.User.crm_delete_many("hubspot", ids) == {"deleted": 3}
    assert plain.inner.count("contacts") == 0


def test_a_failed_request_records_the_error_and_keeps_the_crm_ids(app, adapter):
    ids = synced_users(app, 3)
    adapter.fail_next(TransportError("connection dropped"))
    assert app.User.crm_delete_many("hubspot", ids) == {"errors": 3}
    state = app.User.get_by_id(ids[0]).crm_synchronisation("hubspot")
    assert state.crm_id is not None
    assert state.last_error_kind == "transient"
    assert app.User.crm_delete_many("hubspot", ids) == {"deleted": 3}


def test_a_disabled_crm_deletes_nothing(database, adapter):
    app = make_app(database, adapter)
    etlify.register("hubspot", adapter=adapter, enabled=False)
    assert app.User.crm_delete_many("hubspot", [1, 2]) == {"disabled": 2}


def test_records_being_synced_right_now_are_reported_busy(app, adapter):
    ids = synced_users(app, 2)
    etlify.CrmSynchronisation.update(
        claim_token="other", claimed_until=etlify.config.now().replace(year=2999)
    ).where(etlify.CrmSynchronisation.resource_id == str(ids[0])).execute()
    assert app.User.crm_delete_many("hubspot", ids) == {"deleted": 1, "busy": 1}
