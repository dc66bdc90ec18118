"""HubspotV3Adapter single-object calls against FakeHubSpot: identity, creates, deletes."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from etlify.adapters.http import AnswerLost
from etlify.adapters.hubspot import HubspotV3Adapter
from etlify.errors import (
    ApiError,
    ConfigurationError,
    SerializerError,
    TransportError,
    ValidationFailed,
)

from .conftest import FAST

NOT_FOUND = {"status": "error", "message": "resource not found", "category": "OBJECT_NOT_FOUND"}


def test_create_without_id_property_posts_once(hs, adapter, calls):
    crm_id = adapter.upsert("companies", {"name": "Acme", "domain": "acme.test"})
    assert hs.get("companies", crm_id)["properties"]["name"] == "Acme"
    assert calls() == ["POST /crm/v3/objects/companies"]


def test_id_property_lookup_then_patch_uses_a_consistent_read(hs, adapter, calls):
    existing = hs.add("contacts", {"email": "ada@example.com", "firstname": "Ada"})["id"]
    crm_id = adapter.upsert(
        "contacts", {"email": "ada@example.com", "firstname": "Ada L."}, id_property="email"
    )
    assert crm_id == existing
    assert hs.get("contacts", crm_id)["properties"]["firstname"] == "Ada L."
    assert calls() == [
        "GET /crm/v3/objects/contacts/ada%40example.com",
        f"PATCH /crm/v3/objects/contacts/{existing}",
    ]
    assert hs.requests[0].query == {"idProperty": "email"}
    assert not any(path.endswith("/search") for path in calls())


def test_id_property_lookup_miss_creates(hs, adapter):
    crm_id = adapter.upsert("contacts", {"email": "new@example.com"}, id_property="email")
    assert [o["id"] for o in hs.objects("contacts")] == [crm_id]


def test_email_is_trimmed_and_lowercased(hs, adapter):
    existing = hs.add("contacts", {"email": "ada@example.com"})["id"]
    crm_id = adapter.upsert("contacts", {"email": "  Ada@Example.COM "}, id_property="email")
    assert crm_id == existing
    assert hs.requests[0].path == "/crm/v3/objects/contacts/ada%40example.com"
    assert hs.requests[-1].body == {"properties": {"email": "ada@example.com"}}


def test_payload_values_are_sent_as_strings(hs, adapter):
    hs.define_property("contacts", "vip", type="bool")
    hs.define_property("contacts", "born", type="date")
    adapter.upsert("contacts", {"email": "a@b.co", "vip": True, "born": dt.date(1990, 1, 2)})
    assert hs.requests[-1].body == {
        "properties": {"email": "a@b.co", "vip": "true", "born": "1990-01-02"}
    }


def test_known_crm_id_is_patched_directly(hs, adapter, calls):
    existing = hs.add("contacts", {"email": "ada@example.com"})["id"]
    crm_id = adapter.upsert(
        "contacts", {"email": "ada@example.com"}, id_property="email", crm_id=existing
    )
    assert crm_id == existing
    assert calls() == [f"PATCH /crm/v3/objects/contacts/{existing}"]


def test_identity_survives_an_email_change(hs, adapter):
    crm_id = adapter.upsert("contacts", {"email": "old@example.com"}, id_property="email")
    again = adapter.upsert(
        "contacts", {"email": "new@example.com"}, id_property="email", crm_id=crm_id
    )
    assert again == crm_id
    assert [o["properties"]["email"] for o in hs.objects("contacts")] == ["new@example.com"]


def test_deleted_crm_id_falls_back_to_the_id_property(hs, adapter, calls):
    existing = hs.add("contacts", {"email": "ada@example.com"})["id"]
    crm_id = adapter.upsert(
        "contacts", {"email": "ada@example.com"}, id_property="email", crm_id="999"
    )
    assert crm_id == existing
    assert calls()[0] == "PATCH /crm/v3/objects/contacts/999"
    assert hs.object_count("contacts") == 1


def test_deleted_crm_id_without_a_match_creates_again(hs, adapter):
    crm_id = adapter.upsert("companies", {"name": "Acme"}, crm_id="999")
    assert crm_id != "999"
    assert hs.object_count("companies") == 1


def test_conflict_on_create_resolves_to_the_existing_contact(hs, adapter, calls):
    existing = hs.add("contacts", {"email": "ada@example.com"})["id"]
    crm_id = adapter.upsert("contacts", {"email": "ada@example.com", "firstname": "Ada"})
    assert crm_id == existing
    assert calls() == [
        "POST /crm/v3/objects/contacts",
        f"PATCH /crm/v3/objects/contacts/{existing}",
    ]
    assert hs.get("contacts", existing)["properties"]["firstname"] == "Ada"
    assert hs.object_count("contacts") == 1


def test_conflict_without_an_existing_id_is_resolved_by_the_unique_key(hs, adapter):
    hs.define_property("companies", "external_id", unique=True)
    existing = hs.add("companies", {"name": "Acme", "external_id": "c-1"})["id"]
    hs.fail_next(1, status=404, body=NOT_FOUND)
    hs.fail_next(1, status=409, body={"message": "Duplicate value", "category": "CONFLICT"})
    crm_id = adapter.upsert("companies", {"name": "Acme", "external_id": "c-1"}, "external_id")
    assert crm_id == existing


def test_a_conflicting_email_change_is_not_merged(hs, adapter):
    hs.add("contacts", {"email": "taken@example.com"})
    mine = hs.add("contacts", {"email": "mine@example.com"})["id"]
    with pytest.raises(ValidationFailed) as caught:
        adapter.upsert("contacts", {"email": "taken@example.com"}, "email", crm_id=mine)
    assert caught.value.status == 409
    assert caught.value.category == "CONFLICT"


def test_lost_create_answer_is_checked_by_unique_key_not_replayed(hs, adapter, calls):
    hs.fail_next(1, status="drop", commit=True)  # created, but the answer never comes back
    crm_id = adapter.upsert("contacts", {"email": "ada@example.com"})
    assert hs.object_count("contacts") == 1
    assert hs.objects("contacts")[0]["id"] == crm_id
    assert calls() == [
        "POST /crm/v3/objects/contacts",
        "GET /crm/v3/objects/contacts/ada%40example.com",
        f"PATCH /crm/v3/objects/contacts/{crm_id}",
    ]


def test_lost_create_that_did_not_land_is_created_again(hs, adapter):
    hs.define_property("companies", "external_id", unique=True)
    hs.fail_next(1, status=404, body=NOT_FOUND)
    hs.fail_next(1, status="drop")  # nothing written
    crm_id = adapter.upsert("companies", {"name": "Acme", "external_id": "c-1"}, "external_id")
    assert [o["id"] for o in hs.objects("companies")] == [crm_id]


def test_lost_create_without_a_unique_key_is_never_replayed(hs, adapter, calls):
    hs.fail_next(1, status="drop", commit=True)
    with pytest.raises(TransportError):
        adapter.upsert("companies", {"name": "Acme"})
    assert calls() == ["POST /crm/v3/objects/companies"]
    assert hs.object_count("companies") == 1


@pytest.mark.parametrize("status", [500, 502, 504])
def test_create_answered_by_a_gateway_error_is_not_sent_again_without_a_unique_key(
    hs, adapter, calls, status
):
    hs.fail_next(1, status=status, commit=True)
    with pytest.raises(AnswerLost):
        adapter.upsert("companies", {"name": "Acme"})
    assert calls() == ["POST /crm/v3/objects/companies"]
    assert hs.object_count("companies") == 1


def test_create_answered_by_a_gateway_error_with_a_unique_key_finds_the_object(hs, adapter):
    hs.fail_next(1, status=504, commit=True)
    crm_id = adapter.upsert("contacts", {"email": "ada@example.com"})
    assert [o["id"] for o in hs.objects("contacts")] == [crm_id]


def test_create_answered_503_is_retried(hs, adapter, calls):
    hs.fail_next(1, status=503)
    crm_id = adapter.upsert("companies", {"name": "Acme"})
    assert calls() == ["POST /crm/v3/objects/companies"] * 2
    assert [o["id"] for o in hs.objects("companies")] == [crm_id]


def test_create_refused_connection_is_retried_as_nothing_was_sent(caplog):
    client = HubspotV3Adapter(access_token="t", base_url="http://127.0.0.1:9", retries=FAST)
    caplog.set_level(logging.INFO, logger="etlify.hubspot")
    with pytest.raises(TransportError) as caught:
        client.upsert("companies", {"name": "Acme"})
    assert "got no answer" in str(caught.value)
    assert not isinstance(caught.value, AnswerLost)
    retries = [r for r in caplog.records if r.getMessage().startswith("Retrying POST")]
    assert len(retries) == FAST.total


def test_answer_without_an_id_is_an_error(hs, adapter):
    hs.fail_next(1, status=201, body={"properties": {}})
    with pytest.raises(ApiError, match="answer without an id"):
        adapter.upsert("companies", {"name": "Acme"})


def test_serializer_error_names_the_key_and_sends_nothing(hs, adapter):
    with pytest.raises(SerializerError, match=r'payload\["address"\]'):
        adapter.upsert("contacts", {"email": "a@b.co", "address": {"city": "Paris"}})
    assert hs.requests == []


def test_delete_archives(hs, adapter, calls):
    crm_id = hs.add("contacts", {"email": "a@b.co"})["id"]
    assert adapter.delete("contacts", crm_id) is True
    assert hs.object_count("contacts") == 0
    assert calls() == [f"DELETE /crm/v3/objects/contacts/{crm_id}"]


def test_delete_of_a_missing_object_is_false(hs, adapter):
    hs.fail_next(1, status=404, body=NOT_FOUND)
    assert adapter.delete("contacts", "404404") is False


def test_object_type_cannot_reach_another_endpoint(hs, adapter):
    with pytest.raises(ValidationFailed, match="infer object type"):
        adapter.upsert("../owners", {"name": "x"})
    assert [r.path for r in hs.requests] == ["/crm/v3/objects/..%2Fowners"]


def test_crm_id_cannot_reach_another_endpoint(hs, adapter):
    hs.add("contacts", {"email": "a@b.co"})
    for crm_id in ("../../owners", "..", ".", "1?archived=true"):
        adapter.delete("contacts", crm_id)
    assert [r.path for r in hs.requests] == [
        "/crm/v3/objects/contacts/..%2F..%2Fowners",
        "/crm/v3/objects/contacts/%2E%2E",
        "/crm/v3/objects/contacts/%2E",
        "/crm/v3/objects/contacts/1%3Farchived%3Dtrue",
    ]
    assert all(r.query == {} for r in hs.requests)
    assert hs.object_count("contacts") == 1


def test_id_property_value_is_escaped_in_the_path(hs, adapter):
    adapter.upsert("contacts", {"email": "a+b@example.com"}, id_property="email")
    assert hs.requests[0].path == "/crm/v3/objects/contacts/a%2Bb%40example.com"
    assert hs.objects("contacts")[0]["properties"]["email"] == "a+b@example.com"


def test_bad_construction_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="access_token"):
        HubspotV3Adapter(access_token="")
    with pytest.raises(ConfigurationError, match="base_url"):
        HubspotV3Adapter(access_token="t", base_url="ftp://x")
    with pytest.raises(ConfigurationError, match="retries"):
        HubspotV3Adapter(access_token="t", retries=-1)
    with pytest.raises(ConfigurationError, match="period"):
        HubspotV3Adapter(access_token="t", rate_limit={"max_requests": 5})


def test_repr_never_shows_the_token():
    client = HubspotV3Adapter(access_token="pat-na1-secret")
    assert "secret" not in repr(client)
    assert repr(client) == "HubspotV3Adapter(base_url='https://api.hubapi.com')"
