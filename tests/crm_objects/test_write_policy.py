"""Write policies: what a sync sends of a changed payload, and what each costs."""

from __future__ import annotations

import pytest

from etlify import BatchSync, ConfigurationError, Status

from .conftest import define, now


def contact(hs, user):
    return hs.get("contacts", user.crm_synchronisation("hubspot").crm_id)["properties"]


def test_skip_null_never_clears_a_crm_value(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"*": "skip_null"})
    ada = app.User.create(email="ada@example.com", first_name="Ada", phone="555-0100")
    ada.sync(async_=False)
    ada.phone = None
    ada.save()
    seen = len(hs.requests)
    assert ada.sync(async_=False) is Status.SYNCED
    assert contact(hs, ada)["phone"] == "555-0100"
    assert len(hs.requests) - seen == 1


def test_without_a_policy_a_none_clears_the_crm_value(any_database, hubspot, hs):
    app = define(any_database, [])
    ada = app.User.create(email="ada@example.com", phone="555-0100")
    ada.sync(async_=False)
    ada.phone = None
    ada.save()
    ada.sync(async_=False)
    assert "phone" not in contact(hs, ada)


def test_create_only_is_sent_when_the_object_is_created(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"firstname": "create_only"})
    ada = app.User.create(email="ada@example.com", first_name="Ada")
    seen = len(hs.requests)
    ada.sync(async_=False)
    assert contact(hs, ada)["firstname"] == "Ada"
    # A new record whose key may match an existing object is looked up first.
    assert [r.path for r in hs.requests[seen:]] == [
        "/crm/v3/objects/contacts/batch/read",
        "/crm/v3/objects/contacts/batch/upsert",
    ]


def test_create_only_is_not_sent_to_an_existing_object(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"firstname": "create_only"})
    ada = app.User.create(email="ada@example.com", first_name="Ada")
    ada.sync(async_=False)
    ada.first_name = "Renamed"
    ada.phone = "555-0100"
    ada.save()
    seen = len(hs.requests)
    ada.sync(async_=False)
    assert contact(hs, ada)["firstname"] == "Ada"
    assert contact(hs, ada)["phone"] == "555-0100"
    assert len(hs.requests) - seen == 1


def test_create_only_is_not_sent_to_an_object_made_in_the_crm(any_database, hubspot, hs):
    hs.add("contacts", {"email": "ada@example.com", "firstname": "Typed by sales"})
    app = define(any_database, [], write_policy={"firstname": "create_only"})
    ada = app.User.create(email="ada@example.com", first_name="Ada", phone="555-0100")
    ada.sync(async_=False)
    assert contact(hs, ada)["firstname"] == "Typed by sales"
    assert contact(hs, ada)["phone"] == "555-0100"


def test_if_empty_fills_an_empty_crm_value(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"phone": "if_empty"})
    ada = app.User.create(email="ada@example.com")
    ada.sync(async_=False)
    ada.phone = "555-0100"
    ada.save()
    seen = len(hs.requests)
    ada.sync(async_=False)
    assert contact(hs, ada)["phone"] == "555-0100"
    assert [r.path.rsplit("/", 1)[-1] for r in hs.requests[seen:]] == ["read", ada_id(ada)]


def ada_id(user):
    return user.crm_synchronisation("hubspot").crm_id


def test_if_empty_keeps_a_value_sales_typed(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"phone": "if_empty"})
    ada = app.User.create(email="ada@example.com", phone="555-0100")
    ada.sync(async_=False)
    hubspot.batch_update("contacts", {ada_id(ada): {"phone": "555-9999"}})
    ada.phone = "555-0111"
    ada.save()
    seen = len(hs.requests)
    ada.sync(async_=False)
    assert contact(hs, ada)["phone"] == "555-9999"
    read, update = hs.requests[seen:]
    assert read.path == "/crm/v3/objects/contacts/batch/read"
    assert "phone" not in update.body["properties"]


def test_a_policy_that_leaves_nothing_to_send_costs_only_the_read(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"phone": "if_empty", "*": "create_only"})
    ada = app.User.create(email="ada@example.com", phone="555-0100")
    ada.sync(async_=False)
    ada.phone = "555-0111"
    ada.first_name = "Ada"
    ada.save()
    seen = len(hs.requests)
    assert ada.sync(async_=False) is Status.SYNCED
    assert [r.path for r in hs.requests[seen:]] == ["/crm/v3/objects/contacts/batch/read"]
    assert contact(hs, ada)["phone"] == "555-0100"


def test_if_empty_costs_one_read_per_hundred_records(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"phone": "if_empty"})
    with app.db.atomic():
        for i in range(250):
            app.User.create(email=f"u{i}@example.com")
    BatchSync.call(models=[app.User], async_=False)
    app.User.update(phone="555-0100", updated_at=now()).execute()
    seen = len(hs.requests)
    BatchSync.call(models=[app.User], async_=False)
    paths = [r.path for r in hs.requests[seen:]]
    assert paths.count("/crm/v3/objects/contacts/batch/read") == 3
    assert paths.count("/crm/v3/objects/contacts/batch/update") == 3


def test_an_unchanged_payload_sends_nothing_whatever_the_policy(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"phone": "if_empty", "*": "skip_null"})
    ada = app.User.create(email="ada@example.com", phone="555-0100")
    ada.sync(async_=False)
    seen = len(hs.requests)
    assert ada.sync(async_=False) is Status.NOT_MODIFIED
    assert len(hs.requests) == seen


def test_an_unknown_policy_is_refused_naming_the_field(any_database, hubspot):
    with pytest.raises(ConfigurationError, match=r"write_policy\['phone'\] is 'sometimes'"):
        define(any_database, [], write_policy={"phone": "sometimes"})


def test_the_matching_key_cannot_be_skipped(any_database, hubspot):
    with pytest.raises(ConfigurationError, match=r"'email' is the key"):
        define(any_database, [], write_policy={"email": "create_only"})


def test_a_failed_read_fails_its_records_and_sends_nothing_for_them(any_database, hubspot, hs):
    app = define(any_database, [], write_policy={"phone": "if_empty"})
    ada = app.User.create(email="ada@example.com")
    ada.sync(async_=False)
    ada.phone = "555-0100"
    ada.save()
    hs.fail_next(status=400)
    seen = len(hs.requests)
    assert ada.sync(async_=False) is Status.ERROR
    assert [r.path for r in hs.requests[seen:]] == ["/crm/v3/objects/contacts/batch/read"]
    assert "phone" not in contact(hs, ada)
    assert ada.sync(async_=False) is Status.SYNCED
    assert contact(hs, ada)["phone"] == "555-0100"
