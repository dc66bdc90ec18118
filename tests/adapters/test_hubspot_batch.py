"""HubspotV3Adapter batch calls against FakeHubSpot: key mapping, 207s, chunks."""

from __future__ import annotations

import pytest

from etlify.adapters.base import BatchResult
from etlify.errors import NotFound, SerializerError, ValidationFailed


def test_batch_upsert_maps_shuffled_results_back_by_key(hs, adapter):
    records = [{"email": f"user{i}@example.com", "firstname": f"U{i}"} for i in range(30)]
    result = adapter.batch_upsert("contacts", records, "email")
    assert isinstance(result, BatchResult)
    assert result.errors == {}
    stored = {o["properties"]["email"]: o["id"] for o in hs.objects("contacts")}
    assert dict(result) == {r["email"]: stored[r["email"]] for r in records}


def test_batch_upsert_keys_are_the_values_as_given(hs, adapter):
    existing = hs.add("contacts", {"email": "ada@example.com"})["id"]
    result = adapter.batch_upsert(
        "contacts", [{"email": " Ada@Example.com"}, {"email": "BOB@example.com"}], "email"
    )
    assert set(result) == {" Ada@Example.com", "BOB@example.com"}
    assert result[" Ada@Example.com"] == existing
    assert hs.object_count("contacts") == 2


def test_batch_upsert_207_keeps_the_healthy_inputs(hs, adapter):
    hs.define_property("contacts", "score", type="number")
    records = [
        {"email": "good1@example.com", "score": 1},
        {"email": "bad@example.com", "score": "many"},
        {"email": "good2@example.com", "score": 2},
    ]
    result = adapter.batch_upsert("contacts", records, "email")
    assert set(result) == {"good1@example.com", "good2@example.com"}
    assert list(result.errors) == ["bad@example.com"]
    error = result.errors["bad@example.com"]
    assert isinstance(error, ValidationFailed)
    assert error.category == "VALIDATION_ERROR"
    assert "score" in str(error)
    assert hs.requests[-1].status == 207


def test_batch_upsert_whole_request_failure_raises(hs, adapter):
    hs.fail_next(1, status=400, body={"message": "bad batch", "category": "VALIDATION_ERROR"})
    with pytest.raises(ValidationFailed, match="bad batch"):
        adapter.batch_upsert("contacts", [{"email": "a@example.com"}], "email")


def test_batch_upsert_by_a_non_unique_property_raises(hs, adapter):
    with pytest.raises(ValidationFailed, match="non-unique"):
        adapter.batch_upsert("companies", [{"name": "Acme"}], "name")


def test_batch_upsert_never_drops_an_unsendable_record(hs, adapter):
    records = [
        {"email": "ok@example.com"},
        {"email": None, "firstname": "no key"},
        {"email": "bad@example.com", "address": {"city": "Paris"}},
    ]
    result = adapter.batch_upsert("contacts", records, "email")
    assert set(result) == {"ok@example.com"}
    assert isinstance(result.errors["None"], ValidationFailed)
    assert isinstance(result.errors["bad@example.com"], SerializerError)
    assert [len(r.body["inputs"]) for r in hs.requests] == [1]


def test_batch_upsert_sends_100_per_request(hs, adapter):
    records = [{"email": f"u{i}@example.com"} for i in range(250)]
    result = adapter.batch_upsert("contacts", records, "email")
    assert len(result) == 250
    assert [len(r.body["inputs"]) for r in hs.requests] == [100, 100, 50]
    first = hs.requests[0].body["inputs"][0]
    assert first["idProperty"] == "email"
    assert first["id"] == "u0@example.com"


def test_batch_upsert_with_a_custom_unique_property(hs, adapter):
    hs.define_property("companies", "external_id", unique=True)
    records = [{"external_id": 7, "name": "Acme"}, {"external_id": 8, "name": "Beta"}]
    result = adapter.batch_upsert("companies", records, "external_id")
    by_key = {o["properties"]["external_id"]: o["id"] for o in hs.objects("companies")}
    assert dict(result) == {"7": by_key["7"], "8": by_key["8"]}


def test_batch_upsert_is_retried(hs, adapter):
    hs.fail_next(1, status="drop", commit=True)
    result = adapter.batch_upsert("contacts", [{"email": "a@example.com"}], "email")
    assert set(result) == {"a@example.com"}
    assert hs.object_count("contacts") == 1
    assert len(hs.requests) == 2


def test_batch_update_by_crm_id(hs, adapter):
    first = hs.add("contacts", {"email": "a@example.com"})["id"]
    second = hs.add("contacts", {"email": "b@example.com"})["id"]
    result = adapter.batch_update(
        "contacts",
        {first: {"email": "a2@example.com"}, second: {"firstname": "Bea"}, "424242": {}},
    )
    assert dict(result) == {first: first, second: second}
    assert isinstance(result.errors["424242"], NotFound)
    assert hs.get("contacts", first)["properties"]["email"] == "a2@example.com"


def test_batch_update_207_for_an_invalid_input(hs, adapter):
    first = hs.add("contacts", {"email": "a@example.com"})["id"]
    second = hs.add("contacts", {"email": "b@example.com"})["id"]
    result = adapter.batch_update(
        "contacts", {first: {"firstname": "Ada"}, second: {"email": "not-an-email"}}
    )
    assert dict(result) == {first: first}
    assert isinstance(result.errors[second], ValidationFailed)


def test_batch_delete_archives_100_per_request(hs, adapter):
    ids = [hs.add("contacts", {"email": f"u{i}@example.com"})["id"] for i in range(120)]
    assert adapter.batch_delete("contacts", ids) is None
    assert hs.object_count("contacts") == 0
    assert [len(r.body["inputs"]) for r in hs.requests] == [100, 20]
    assert {r.path for r in hs.requests} == {"/crm/v3/objects/contacts/batch/archive"}
