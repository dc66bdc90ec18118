"""The adapters shipped for tests and for switching a CRM off."""

from __future__ import annotations

import threading

import pytest

import etlify
from etlify import Status
from etlify.adapters import NullAdapter
from etlify.errors import ValidationFailed
from etlify.testing import InMemoryAdapter

from ..conftest import make_app


def test_in_memory_upsert_without_ids_creates_an_object():
    crm = InMemoryAdapter()

    crm_id = crm.upsert("contacts", {"email": "a@example.com"})

    assert crm.objects == {"contacts": {crm_id: {"email": "a@example.com"}}}


def test_in_memory_upsert_with_a_crm_id_updates_that_object():
    crm = InMemoryAdapter()
    crm_id = crm.upsert("contacts", {"email": "a@example.com", "name": "A"})

    assert crm.upsert("contacts", {"name": "B"}, crm_id=crm_id) == crm_id

    assert crm.objects["contacts"][crm_id] == {"email": "a@example.com", "name": "B"}


def test_in_memory_upsert_by_id_property_matches_emails_case_insensitively():
    crm = InMemoryAdapter()
    crm_id = crm.upsert("contacts", {"email": "Ada@Example.com"}, id_property="email")

    again = crm.upsert("contacts", {"email": " ada@example.com", "x": 1}, id_property="email")

    assert again == crm_id
    assert crm.count("contacts") == 1


def test_in_memory_upsert_without_id_property_creates_duplicates():
    crm = InMemoryAdapter()
    crm.upsert("contacts", {"email": "a@example.com"})
    crm.upsert("contacts", {"email": "a@example.com"})

    assert crm.count("contacts") == 2


def test_in_memory_object_types_are_separate_stores():
    crm = InMemoryAdapter()
    crm.upsert("contacts", {"name": "Acme"}, id_property="name")
    crm.upsert("companies", {"name": "Acme"}, id_property="name")

    assert (crm.count("contacts"), crm.count("companies")) == (1, 1)


def test_in_memory_delete_says_whether_the_object_existed():
    crm = InMemoryAdapter()
    crm_id = crm.upsert("contacts", {"email": "a@example.com"})

    assert crm.delete("contacts", crm_id) is True
    assert crm.delete("contacts", crm_id) is False
    assert crm.count("contacts") == 0


def test_in_memory_records_every_call_in_order():
    crm = InMemoryAdapter()
    crm_id = crm.upsert("contacts", {"email": "a@example.com"})
    crm.delete("contacts", crm_id)

    assert crm.calls == [
        ("upsert", "contacts", {"email": "a@example.com"}),
        ("delete", "contacts", crm_id),
    ]


def test_in_memory_fail_next_raises_for_that_many_calls_then_recovers():
    crm = InMemoryAdapter()
    crm.fail_next(ValidationFailed("nope"), times=2)

    for _ in range(2):
        with pytest.raises(ValidationFailed):
            crm.upsert("contacts", {"email": "a@example.com"})
    crm.upsert("contacts", {"email": "a@example.com"})

    assert crm.count("contacts") == 1
    assert len(crm.calls) == 3


def test_in_memory_batch_upsert_maps_id_property_values_to_crm_ids():
    crm = InMemoryAdapter()
    existing = crm.upsert("contacts", {"email": "a@example.com"}, id_property="email")

    result = crm.batch_upsert(
        "contacts", [{"email": "a@example.com"}, {"email": "b@example.com"}], "email"
    )

    assert result["a@example.com"] == existing
    assert crm.count("contacts") == 2


def test_in_memory_adapter_is_thread_safe():
    crm = InMemoryAdapter()

    def create_many():
        for i in range(200):
            crm.upsert("contacts", {"n": i})

    threads = [threading.Thread(target=create_many) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert crm.count("contacts") == 1600
    assert len(crm.calls) == 1600


def test_null_adapter_ids_are_stable_for_one_identity():
    crm = NullAdapter()

    first = crm.upsert("contacts", {"email": "a@example.com", "n": 1}, id_property="email")
    second = crm.upsert("contacts", {"email": "a@example.com", "n": 2}, id_property="email")

    assert first == second
    assert first.startswith("null-")
    assert first != crm.upsert("contacts", {"email": "b@example.com"}, id_property="email")


def test_null_adapter_returns_the_given_crm_id_and_deletes_anything():
    crm = NullAdapter()

    assert crm.upsert("contacts", {"email": "a@example.com"}, crm_id="42") == "42"
    assert crm.delete("contacts", "42") is True


def test_a_crm_switched_to_the_null_adapter_keeps_its_bookkeeping(database):
    app = make_app(database, NullAdapter())
    user = app.User.create(email="ada@example.com")

    assert user.sync(async_=False) == Status.SYNCED
    assert user.sync(async_=False) == Status.NOT_MODIFIED
    assert user.crm_synchronisation("hubspot").crm_id.startswith("null-")
    assert user.crm_delete("hubspot") == Status.DELETED


def test_null_adapter_is_importable_from_etlify_adapters():
    assert etlify.adapters.NullAdapter is NullAdapter


def test_null_adapter_gives_records_without_a_key_distinct_ids():
    adapter = NullAdapter()
    first = adapter.upsert("contacts", {"firstname": "Ada"}, id_property="email")
    second = adapter.upsert("contacts", {"firstname": "Ada"}, id_property="email")
    assert first != second
    same = adapter.upsert("contacts", {"email": "a@example.com"}, id_property="email")
    assert same == adapter.upsert("contacts", {"email": "a@example.com"}, id_property="email")
