"""FakeHubSpot answers the v4 associations API as HubSpot does."""

from __future__ import annotations

import pytest

from etlify.testing.hubspot import FakeHubSpot

from .test_fake_hubspot import Client

BATCH = "/crm/v4/associations/contacts/companies/batch"


@pytest.fixture
def hs():
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def api(hs):
    return Client(hs)


@pytest.fixture
def pair(api):
    return api.create(email="ada@example.com")["id"], api.create("companies", name="Acme")["id"]


def test_a_default_link_answers_both_directions(api, pair):
    status, _, body = api(
        "PUT", f"/crm/v4/objects/contacts/{pair[0]}/associations/default/companies/{pair[1]}"
    )
    assert status == 200
    specs = [(r["from"]["id"], r["associationSpec"]["associationTypeId"]) for r in body["results"]]
    assert specs == [(pair[0], 279), (pair[1], 280)]


def test_batch_default_links_are_read_back_with_their_type(api, pair):
    inputs = [{"from": {"id": pair[0]}, "to": {"id": pair[1]}}]
    assert api("POST", f"{BATCH}/associate/default", {"inputs": inputs})[0] == 200
    status, _, body = api("GET", f"/crm/v4/objects/contacts/{pair[0]}/associations/companies")
    assert status == 200
    assert body["results"] == [
        {
            "toObjectId": int(pair[1]),
            "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None}],
        }
    ]


def test_a_batch_create_names_each_refused_input_in_a_207(api, pair):
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}
    inputs = [
        {"from": {"id": pair[0]}, "to": {"id": pair[1]}, "types": [spec]},
        {"from": {"id": pair[0]}, "to": {"id": "999"}, "types": [spec]},
    ]
    status, _, body = api("POST", f"{BATCH}/create", {"inputs": inputs})
    assert status == 207
    assert [r["labels"] for r in body["results"]] == [["Primary"]]
    (error,) = body["errors"]
    assert error["context"] == {"toObjectId": ["999"]}


def test_a_batch_create_that_all_succeeds_answers_201(api, pair):
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}
    inputs = [{"from": {"id": pair[0]}, "to": {"id": pair[1]}, "types": [spec]}]
    assert api("POST", f"{BATCH}/create", {"inputs": inputs})[0] == 201


def test_an_unknown_type_id_is_a_400(api, pair):
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 999}
    inputs = [{"from": {"id": pair[0]}, "to": {"id": pair[1]}, "types": [spec]}]
    status, _, body = api("POST", f"{BATCH}/create", {"inputs": inputs})
    assert status == 400
    assert "association type id 999 doesn't exist between contact and company" in body["message"]


def test_archiving_removes_the_link_both_ways(api, hs, pair):
    inputs = [{"from": {"id": pair[0]}, "to": {"id": pair[1]}}]
    api("POST", f"{BATCH}/associate/default", {"inputs": inputs})
    archive = [{"from": {"id": pair[0]}, "to": [{"id": pair[1]}]}]
    assert api("POST", f"{BATCH}/archive", {"inputs": archive})[0] == 204
    assert hs.associations("contacts", pair[0], "companies") == {}
    assert hs.associations("companies", pair[1], "contacts") == {}


def test_archiving_a_label_keeps_the_default_link(api, hs, pair):
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 1}
    inputs = [{"from": {"id": pair[0]}, "to": {"id": pair[1]}, "types": [spec]}]
    api("POST", f"{BATCH}/create", {"inputs": inputs})
    assert api("POST", f"{BATCH}/labels/archive", {"inputs": inputs})[0] == 204
    assert hs.associations("contacts", pair[0], "companies") == {
        pair[1]: {("HUBSPOT_DEFINED", 279)}
    }


def test_the_labels_endpoint_lists_defined_labels(api, hs):
    type_id = hs.define_association_label("contacts", "companies", "Billing contact")
    status, _, body = api("GET", "/crm/v4/associations/contacts/companies/labels")
    assert status == 200
    assert {"category": "USER_DEFINED", "typeId": type_id, "label": "Billing contact"} in body[
        "results"
    ]
    assert {"category": "HUBSPOT_DEFINED", "typeId": 279, "label": None} in body["results"]


def test_a_custom_object_pair_gets_a_default_type(api, hs):
    project = api.create("p12345678_project", title="Rocket")["id"]
    ada = api.create(email="ada@example.com")["id"]
    path = "/crm/v4/associations/p12345678_project/contacts/batch/associate/default"
    inputs = [{"from": {"id": project}, "to": {"id": ada}}]
    status, _, body = api("POST", path, {"inputs": inputs})
    assert status == 200
    assert set(hs.associations("contacts", ada, "p12345678_project")) == {project}


def test_a_batch_read_lists_each_objects_links(api, pair):
    api(
        "POST",
        f"{BATCH}/associate/default",
        {"inputs": [{"from": {"id": pair[0]}, "to": {"id": pair[1]}}]},
    )
    status, _, body = api("POST", f"{BATCH}/read", {"inputs": [{"id": pair[0]}, {"id": "999"}]})
    assert status == 207
    (result,) = body["results"]
    assert result["from"] == {"id": pair[0]} and result["to"][0]["toObjectId"] == int(pair[1])


def test_object_lists_carry_associations_when_asked(api, pair):
    api("PUT", f"/crm/v4/objects/contacts/{pair[0]}/associations/default/companies/{pair[1]}")
    status, _, body = api("GET", "/crm/v3/objects/contacts?associations=companies")
    assert status == 200
    (contact,) = body["results"]
    assert contact["associations"]["companies"]["results"] == [
        {"id": pair[1], "type": "contact_to_company"}
    ]
