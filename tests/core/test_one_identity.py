"""Two records, one CRM identity: no payload of one record reaches another's object.

``ada@example.com`` (Ada) and ``Ada@Example.com`` (Eve) are two rows of a
case-sensitive table, and one contact at HubSpot, which compares emails
lowercased and trimmed. The adapter says how it compares keys
(``match_key``); the sync row stores the key its object holds
(``crm_key``). A record whose key another record's object holds, or that
shares its key with another record of its batch, is refused before
anything is sent. A collision seen only in the CRM's answer (a row synced
before keys were stored) makes the record linked first stale, so the next
run heals the object, and the colliding record is not sent again while the
key stays taken. Over HTTP against FakeHubSpot, on SQLite, PostgreSQL and
MariaDB.
"""

from __future__ import annotations

import threading

import pytest

import etlify
from etlify import BatchSync, Finder, Status, signals
from etlify.adapters import HubspotV3Adapter
from etlify.declarations import sync_config
from etlify.errors import DuplicateKey
from etlify.state import CrmSynchronisation

from ..conftest import make_app
from .conftest import receiving


@pytest.fixture
def ada(crm_app):
    """Ada, synced: her contact exists and is linked to her."""
    ada = crm_app.User.create(email="ada@example.com", first_name="Ada")
    assert ada.sync(async_=False) == Status.SYNCED
    return ada


def contact_names(hubspot):
    return sorted(contact["properties"]["firstname"] for contact in hubspot.objects("contacts"))


def row_of(record):
    return record.crm_synchronisation("hubspot")


def forget_stored_key(record):
    """Make ``record``'s row one synced before keys were stored (``crm_key`` empty)."""
    CrmSynchronisation.update(crm_key=None).where(
        CrmSynchronisation.resource_id == str(record.id)
    ).execute()


def stale_ids(model):
    return [pk for (pk,) in Finder.query(sync_config(model, "hubspot")).tuples()]


def sent_requests(hubspot):
    return [request for request in hubspot.requests if "/crm/v3/objects/contacts" in request.path]


# -- the adapter says how the CRM compares keys --------------------------------


def test_hubspot_compares_emails_lowercased_and_trimmed():
    adapter = HubspotV3Adapter(access_token="pat-test", base_url="http://127.0.0.1:1")

    assert adapter.match_key("contacts", "email", " Ada@Example.COM ") == "ada@example.com"


def test_hubspot_compares_other_unique_properties_exactly():
    adapter = HubspotV3Adapter(access_token="pat-test", base_url="http://127.0.0.1:1")

    assert adapter.match_key("companies", "etlify_key", "Company:A") == "Company:A"


class ExactAdapter:
    """A CRM matching keys exactly, and saying nothing of how it compares them."""

    def __init__(self):
        self.ids = {}

    def upsert(self, object_type, payload, id_property=None, crm_id=None):
        return crm_id or self.ids.setdefault(payload[id_property], str(len(self.ids) + 1))

    def delete(self, object_type, crm_id):
        return True


def test_an_adapter_that_says_nothing_has_keys_compared_exactly(any_database):
    app = make_app(any_database, ExactAdapter())
    app.User.create(email="ada@example.com")
    app.User.create(email="Ada@Example.com")

    stats = BatchSync.call(models=[app.User], async_=False)

    assert (stats["synced"], stats["errors"]) == (2, 0)


# -- refused before sending --------------------------------------------------


def test_a_record_whose_email_differs_only_in_case_is_refused_inline(crm_app, ada, hubspot):
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")

    with receiving(signals.failed, crm_app.User) as got:
        assert eve.sync(async_=False) == Status.ERROR

    assert contact_names(hubspot) == ["Ada"]
    [failed] = got.kwargs
    assert isinstance(failed["error"], DuplicateKey)
    assert f"User #{eve.id}" in str(failed["error"])
    assert f"User #{ada.id}" in str(failed["error"])


def test_a_record_whose_email_differs_only_in_case_is_refused_by_a_batch(crm_app, ada, hubspot):
    crm_app.User.create(email="Ada@Example.com", first_name="Eve")
    bob = crm_app.User.create(email="bob@example.com", first_name="Bob")

    stats = BatchSync.call(models=[crm_app.User], async_=False)

    assert (stats["synced"], stats["errors"]) == (1, 1)
    assert contact_names(hubspot) == ["Ada", "Bob"]
    assert row_of(bob).crm_id is not None


def test_surrounding_spaces_do_not_make_another_identity(crm_app, ada, hubspot):
    eve = crm_app.User.create(email=" ada@example.com ", first_name="Eve")

    assert eve.sync(async_=False) == Status.ERROR
    assert contact_names(hubspot) == ["Ada"]


def test_a_refused_record_is_not_sent_at_all(crm_app, ada, hubspot):
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")
    before = len(sent_requests(hubspot))

    eve.sync(async_=False)

    assert len(sent_requests(hubspot)) == before


def test_a_refusal_is_a_validation_error_on_the_row(crm_app, ada):
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")

    eve.sync(async_=False)

    row = row_of(eve)
    assert (row.crm_id, row.last_error_kind, row.error_count) == (None, "validation", 1)
    assert "email" in row.last_error


def test_the_key_is_free_once_its_holder_moved_to_another(crm_app, ada, hubspot):
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")
    assert eve.sync(async_=False) == Status.ERROR
    ada.email, ada.updated_at = "ada@lovelace.example", etlify.config.now()
    ada.save()
    assert ada.sync(async_=False) == Status.SYNCED

    assert eve.sync(async_=False) == Status.SYNCED
    assert contact_names(hubspot) == ["Ada", "Eve"]


def test_two_new_records_of_one_batch_with_one_email_are_both_refused_naming_each_other(
    crm_app, hubspot
):
    first = crm_app.User.create(email="ada@example.com", first_name="Ada")
    second = crm_app.User.create(email="ADA@example.com", first_name="Eve")

    with receiving(signals.failed, crm_app.User) as got:
        stats = BatchSync.call(models=[crm_app.User], async_=False)

    assert (stats["synced"], stats["errors"]) == (0, 2)
    assert hubspot.object_count("contacts") == 0
    for failed in got.kwargs:
        assert isinstance(failed["error"], DuplicateKey)
        assert f"User #{first.id}" in str(failed["error"])
        assert f"User #{second.id}" in str(failed["error"])


def test_a_dry_run_plans_a_record_whose_key_is_taken_as_an_error(crm_app, ada, hubspot):
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")

    stats = BatchSync.call(models=[crm_app.User], dry_run=True)

    [planned] = [entry for entry in stats["plan"] if entry["id"] == eve.id]
    assert planned["action"] == "error"
    assert f"linked to User #{ada.id}" in planned["error"]
    assert contact_names(hubspot) == ["Ada"]


def test_a_linked_record_syncs_while_a_newcomer_of_its_batch_sharing_its_email_is_refused(
    crm_app, ada, hubspot
):
    forget_stored_key(ada)  # only the batch itself shows the two share a key
    ada.first_name, ada.updated_at = "Ada L.", etlify.config.now()
    ada.save()
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")

    stats = BatchSync.call(models=[crm_app.User], async_=False)

    assert (stats["synced"], stats["errors"]) == (1, 1)
    assert contact_names(hubspot) == ["Ada L."]
    assert row_of(eve).crm_id is None


def test_a_sync_with_nothing_to_send_stores_the_key_of_a_row_synced_before_keys(crm_app, ada):
    forget_stored_key(ada)

    assert ada.sync(async_=False) == Status.NOT_MODIFIED

    assert row_of(ada).crm_key == "email:ada@example.com"


class Rollback(Exception):
    pass


def test_the_key_of_a_sync_rolled_back_with_its_transaction_is_kept(crm_app, hubspot):
    ada = crm_app.User.create(email="ada@example.com", first_name="Ada")
    with pytest.raises(Rollback), crm_app.db.atomic():
        assert ada.sync(async_=False) == Status.SYNCED
        raise Rollback
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")

    assert eve.sync(async_=False) == Status.ERROR
    assert row_of(ada).crm_key == "email:ada@example.com"
    assert contact_names(hubspot) == ["Ada"]


# -- seen only in the CRM's answer --------------------------------------------


@pytest.fixture
def collided(crm_app, ada):
    """Eve synced once against Ada's row from before keys were stored."""
    forget_stored_key(ada)
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")
    with receiving(signals.failed, crm_app.User) as got:
        status = eve.sync(async_=False)
    return eve, status, got.kwargs


def test_a_collision_in_the_crms_answer_fails_the_newcomer_naming_both(collided, ada):
    eve, status, failed = collided

    assert status == Status.ERROR
    [only] = failed
    assert isinstance(only["error"], DuplicateKey)
    assert f"User #{eve.id}" in str(only["error"])
    assert f"User #{ada.id}" in str(only["error"])
    assert row_of(eve).crm_id is None


def test_a_collision_in_the_crms_answer_makes_the_record_linked_first_stale(
    collided, ada, crm_app
):
    eve, _, _ = collided

    assert ada.id in stale_ids(crm_app.User)
    assert row_of(ada).last_digest is None


def test_the_next_run_after_a_collision_heals_the_crm_object(collided, crm_app, hubspot):
    stats = BatchSync.call(models=[crm_app.User], async_=False)

    assert contact_names(hubspot) == ["Ada"]
    assert (stats["synced"], stats["errors"]) == (1, 1)


def test_the_colliding_record_is_not_sent_again_while_the_key_is_taken(
    collided, crm_app, hubspot
):
    eve, _, _ = collided
    before = len(sent_requests(hubspot))

    assert eve.sync(async_=False) == Status.ERROR

    assert len(sent_requests(hubspot)) == before


# -- two workers at once -------------------------------------------------------


@pytest.fixture
def raced(crm_app, hubspot):
    """Ada and Eve, both new, synced by two threads whose upserts reach HubSpot together."""
    ada = crm_app.User.create(email="ada@example.com", first_name="Ada")
    eve = crm_app.User.create(email="Ada@Example.com", first_name="Eve")
    hubspot.faults(latency=0.3)  # both pass the key check before either answer is stored
    statuses = {}

    def sync(user):
        statuses[user.first_name] = user.sync(async_=False)

    workers = [threading.Thread(target=sync, args=(user,)) for user in (ada, eve)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    hubspot.faults(latency=0.0)
    return ada, eve, statuses


def test_two_workers_sending_one_key_at_once_leave_one_record_linked(raced, hubspot):
    ada, eve, statuses = raced

    assert sorted(statuses.values()) == [Status.ERROR, Status.SYNCED]
    linked = [user for user in (ada, eve) if row_of(user).crm_id is not None]
    assert [row_of(user).crm_id for user in linked] == [hubspot.objects("contacts")[0]["id"]]


def test_two_workers_sending_one_key_at_once_make_the_linked_record_stale(raced):
    ada, eve, statuses = raced
    [winner] = [user for user in (ada, eve) if statuses[user.first_name] == Status.SYNCED]
    [loser] = [user for user in (ada, eve) if user is not winner]

    assert row_of(winner).last_digest is None
    assert f"already linked to User #{winner.id}" in row_of(loser).last_error


def test_two_workers_sending_one_key_at_once_heal_on_the_next_run(raced, crm_app, hubspot):
    ada, eve, statuses = raced
    [winner] = [user for user in (ada, eve) if statuses[user.first_name] == Status.SYNCED]
    [loser] = [user for user in (ada, eve) if user is not winner]

    BatchSync.call(models=[crm_app.User], async_=False)

    assert contact_names(hubspot) == [winner.first_name]
    assert row_of(loser).crm_id is None
    assert row_of(loser).last_error.startswith("DuplicateKey")
