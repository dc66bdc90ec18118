"""FakeHubSpot answers like HubSpot's CRM v3 API (talked to with plain urllib3)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time

import pytest
import urllib3

from etlify.testing.hubspot import FakeHubSpot
from etlify.testing.hubspot.server import DAILY_LIMIT, RATE_LIMIT

CONTACTS = "/crm/v3/objects/contacts"
TEN_SECOND_HEADERS = (
    "X-HubSpot-RateLimit-Max",
    "X-HubSpot-RateLimit-Remaining",
    "X-HubSpot-RateLimit-Interval-Milliseconds",
)
DAILY_HEADERS = ("X-HubSpot-RateLimit-Daily", "X-HubSpot-RateLimit-Daily-Remaining")
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


class Client:
    """A tiny HubSpot client: JSON in, (status, headers, parsed body) out."""

    def __init__(self, hs: FakeHubSpot, token: str | None = None) -> None:
        self.hs = hs
        self.token = hs.token if token is None else token
        self.pool = urllib3.PoolManager(retries=False, timeout=5)

    def __call__(self, method, path, body=None, headers=None, raw=None):
        sent = {"Content-Type": "application/json"}
        if self.token:
            sent["Authorization"] = f"Bearer {self.token}"
        sent.update(headers or {})
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        response = self.pool.request(method, self.hs.url + path, body=data, headers=sent)
        parsed = None
        if response.data:
            try:
                parsed = json.loads(response.data)
            except ValueError:
                parsed = response.data.decode()
        return response.status, response.headers, parsed

    def create(self, object_type="contacts", **properties):
        status, _, body = self("POST", f"/crm/v3/objects/{object_type}", {"properties": properties})
        assert status == 201, body
        return body

    def search(self, body, object_type="contacts"):
        return self("POST", f"/crm/v3/objects/{object_type}/search", body)


@pytest.fixture
def hs():
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def api(hs):
    return Client(hs)


def eq(name, value, operator="EQ"):
    return {"propertyName": name, "operator": operator, "value": value}


def ids_of(body):
    return sorted(r["id"] for r in body["results"])


# -- single objects -----------------------------------------------------------------


def test_create_answers_201_with_hubspot_object_shape(api):
    status, headers, body = api("POST", CONTACTS, {"properties": {"email": "ann@example.com"}})
    assert status == 201
    assert headers["Content-Type"] == "application/json;charset=utf-8"
    assert set(body) == {"id", "properties", "createdAt", "updatedAt", "archived"}
    assert body["id"].isdigit() and body["archived"] is False
    assert ISO.match(body["createdAt"]) and ISO.match(body["updatedAt"])
    props = body["properties"]
    assert props["hs_object_id"] == body["id"]
    assert props["email"] == "ann@example.com"
    assert ISO.match(props["createdate"]) and ISO.match(props["lastmodifieddate"])


def test_ids_are_increasing_numeric_strings(api):
    first, second = api.create(firstname="a"), api.create(firstname="b")
    assert int(second["id"]) > int(first["id"])


def test_companies_carry_hs_lastmodifieddate(api):
    body = api.create("companies", name="Acme")
    assert "hs_lastmodifieddate" in body["properties"] and "createdate" in body["properties"]


def test_numbers_and_booleans_are_stored_as_strings(hs, api):
    hs.define_property("deals", "is_hot", type="bool")
    body = api.create("deals", dealname="D", amount=1000, is_hot=True)
    assert body["properties"]["amount"] == "1000"
    assert body["properties"]["is_hot"] == "true"


def test_every_answer_carries_a_correlation_id(api):
    _, headers, _ = api("GET", CONTACTS)
    assert re.match(r"^[0-9a-f-]{36}$", headers["X-HubSpot-Correlation-Id"])


def test_read_returns_default_properties_with_null_for_unset(api):
    created = api.create(email="ann@example.com")
    status, _, body = api("GET", f"{CONTACTS}/{created['id']}")
    assert status == 200
    assert body["properties"]["email"] == "ann@example.com"
    assert body["properties"]["firstname"] is None
    assert "phone" not in body["properties"]


def test_read_accepts_comma_and_repeated_properties_params(api):
    created = api.create(email="ann@example.com", phone="1", city="Paris")
    path = f"{CONTACTS}/{created['id']}?properties=phone,nosuch&properties=city"
    _, _, body = api("GET", path)
    assert body["properties"]["phone"] == "1" and body["properties"]["city"] == "Paris"
    assert "nosuch" not in body["properties"] and "email" not in body["properties"]


def test_read_by_email_id_property_ignores_case(api):
    created = api.create(email="ann@example.com")
    status, _, body = api("GET", f"{CONTACTS}/ANN%40Example.com?idProperty=email")
    assert status == 200 and body["id"] == created["id"]


def test_read_by_non_unique_id_property_answers_400(api):
    api.create(email="ann@example.com", firstname="Ann")
    status, _, body = api("GET", f"{CONTACTS}/Ann?idProperty=firstname")
    assert status == 400 and "non-unique" in body["message"]


def test_read_missing_id_answers_404_object_not_found(api):
    status, _, body = api("GET", f"{CONTACTS}/999")
    assert status == 404
    assert body["category"] == "OBJECT_NOT_FOUND" and body["correlationId"]


def test_update_changes_sent_properties_and_empty_string_clears(api):
    created = api.create(email="ann@example.com", firstname="Ann", lastname="Lee")
    status, _, body = api(
        "PATCH",
        f"{CONTACTS}/{created['id']}",
        {"properties": {"firstname": "Anna", "lastname": ""}},
    )
    assert status == 200
    assert body["properties"]["firstname"] == "Anna"
    assert "lastname" not in body["properties"]
    assert body["properties"]["email"] == "ann@example.com"
    assert body["updatedAt"] >= created["updatedAt"]


def test_update_by_email_id_property(api):
    created = api.create(email="ann@example.com")
    path = f"{CONTACTS}/ann@example.com?idProperty=email"
    status, _, body = api("PATCH", path, {"properties": {"firstname": "Ann"}})
    assert status == 200 and body["id"] == created["id"]


def test_update_to_another_contacts_email_answers_409(api):
    first = api.create(email="ann@example.com")
    second = api.create(email="bob@example.com")
    status, _, body = api(
        "PATCH", f"{CONTACTS}/{second['id']}", {"properties": {"email": "ann@example.com"}}
    )
    assert status == 409 and body["message"].endswith(f"Existing ID: {first['id']}")


def test_archive_answers_204_without_body_and_hides_the_object(hs, api):
    created = api.create(email="ann@example.com")
    status, headers, body = api("DELETE", f"{CONTACTS}/{created['id']}")
    assert status == 204 and body is None and "Content-Type" not in headers
    assert api("GET", f"{CONTACTS}/{created['id']}")[0] == 404
    assert hs.object_count("contacts") == 0


def test_archive_of_missing_id_answers_204(api):
    assert api("DELETE", f"{CONTACTS}/424242")[0] == 204


def test_archived_email_can_be_reused(api):
    created = api.create(email="ann@example.com")
    api("DELETE", f"{CONTACTS}/{created['id']}")
    assert api.create(email="ann@example.com")["id"] != created["id"]


def test_list_pages_with_after_cursor(api):
    made = [api.create(firstname=str(n))["id"] for n in range(5)]
    status, _, page = api("GET", f"{CONTACTS}?limit=2")
    assert status == 200 and [r["id"] for r in page["results"]] == made[:2]
    after = page["paging"]["next"]["after"]
    _, _, page2 = api("GET", f"{CONTACTS}?limit=2&after={after}")
    _, _, page3 = api("GET", f"{CONTACTS}?limit=2&after={page2['paging']['next']['after']}")
    assert [r["id"] for r in page2["results"] + page3["results"]] == made[2:]
    assert "paging" not in page3


def test_object_type_aliases_share_records(api):
    created = api.create("0-1", email="ann@example.com")
    assert api("GET", f"{CONTACTS}/{created['id']}")[0] == 200


def test_unknown_object_type_answers_400(api):
    status, _, body = api("GET", "/crm/v3/objects/contactz")
    assert status == 400 and body["message"] == "Unable to infer object type from: contactz"


# -- validation ---------------------------------------------------------------------


def test_create_with_existing_email_answers_409_naming_existing_id(api):
    first = api.create(email="ann@example.com")
    status, _, body = api("POST", CONTACTS, {"properties": {"email": "ANN@example.com"}})
    assert status == 409
    assert body["status"] == "error" and body["category"] == "CONFLICT"
    assert body["message"] == f"Contact already exists. Existing ID: {first['id']}"
    assert body["correlationId"]


def test_emails_are_stored_lowercased(api):
    assert api.create(email="Ann@Example.COM")["properties"]["email"] == "ann@example.com"


def test_declared_unique_property_conflicts_like_email(hs, api):
    hs.define_property("companies", "external_id", unique=True)
    first = api.create("companies", name="A", external_id="X1")
    status, _, body = api(
        "POST", "/crm/v3/objects/companies", {"properties": {"external_id": "X1"}}
    )
    assert status == 409 and body["message"].endswith(f"Existing ID: {first['id']}")


def test_unknown_property_answers_400_property_doesnt_exist(api):
    status, _, body = api("POST", CONTACTS, {"properties": {"email": "a@b.co", "shoe_size": "9"}})
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    assert body["message"].startswith("Property values were not valid: [")
    inner = json.loads(body["message"].split(": ", 1)[1])
    assert inner[0]["error"] == "PROPERTY_DOESNT_EXIST" and inner[0]["name"] == "shoe_size"
    assert body["errors"] == [
        {
            "message": 'Property "shoe_size" does not exist',
            "code": "PROPERTY_DOESNT_EXIST",
            "context": {"propertyName": ["shoe_size"]},
        }
    ]


def test_non_strict_mode_accepts_any_property():
    with FakeHubSpot(strict_properties=False) as hs:
        body = Client(hs).create(email="a@b.co", shoe_size="9")
        assert body["properties"]["shoe_size"] == "9"


@pytest.mark.parametrize("email", ["example.lcom", "ann @example.com", "ann@example.com "])
def test_invalid_email_answers_400_invalid_email(api, email):
    status, _, body = api("POST", CONTACTS, {"properties": {"email": email}})
    assert status == 400 and body["errors"][0]["code"] == "INVALID_EMAIL"


def test_number_property_rejects_text(api):
    status, _, body = api("POST", "/crm/v3/objects/deals", {"properties": {"amount": "lots"}})
    assert status == 400 and body["errors"][0]["code"] == "INVALID_INTEGER"


@pytest.mark.parametrize(
    ("value", "stored"), [("2015-05-01", "2015-05-01"), ("1430438400000", "2015-05-01")]
)
def test_date_property_accepts_iso_date_or_midnight_epoch_ms(hs, api, value, stored):
    hs.define_property("contacts", "signup", type="date")
    assert api.create(signup=value)["properties"]["signup"] == stored


def test_date_property_rejects_epoch_ms_not_at_midnight(hs, api):
    hs.define_property("contacts", "signup", type="date")
    status, _, body = api("POST", CONTACTS, {"properties": {"signup": "1430438400001"}})
    assert status == 400 and "not midnight" in body["errors"][0]["message"]


def test_custom_object_type_accepts_any_property_until_one_is_defined(hs, api):
    assert api.create("p123_cars", colour="red")["properties"]["colour"] == "red"
    hs.define_property("p123_cars", "vin", unique=True)
    status, _, _ = api("POST", "/crm/v3/objects/p123_cars", {"properties": {"colour": "red"}})
    assert status == 400


def test_malformed_json_answers_400(api):
    status, _, body = api("POST", CONTACTS, raw=b'{"properties": ')
    assert status == 400 and body["category"] == "VALIDATION_ERROR"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"{CONTACTS}/batch/create", {"inputs": [1]}),
        (f"{CONTACTS}/batch/upsert", {"inputs": [{"id": "a@b.co", "idProperty": ["email"]}]}),
        (f"{CONTACTS}/batch/update", {"inputs": None}),
        (CONTACTS, {"properties": {}, "associations": [1]}),
        (f"{CONTACTS}/search", {"filterGroups": [{"filters": [{"operator": "EQ"}]}]}),
        (f"{CONTACTS}/search", {"limit": "many"}),
    ],
)
def test_malformed_payloads_answer_400(api, path, body):
    status, _, answer = api("POST", path, body)
    assert status == 400 and answer["category"] == "VALIDATION_ERROR"


# -- batches ------------------------------------------------------------------------


def test_batch_over_100_inputs_answers_400(api):
    inputs = [{"properties": {"firstname": str(n)}} for n in range(101)]
    status, _, body = api("POST", f"{CONTACTS}/batch/create", {"inputs": inputs})
    assert status == 400 and body["category"] == "VALIDATION_ERROR"
    assert "maximum number of inputs supported in a batch is 100" in body["message"]


def test_batch_create_answers_201_with_results_in_shuffled_order(hs, api):
    inputs = [{"properties": {"email": f"u{n}@example.com"}} for n in range(30)]
    status, _, body = api("POST", f"{CONTACTS}/batch/create", {"inputs": inputs})
    assert status == 201 and body["status"] == "COMPLETE"
    assert ISO.match(body["startedAt"]) and ISO.match(body["completedAt"])
    emails = [r["properties"]["email"] for r in body["results"]]
    assert sorted(emails) == sorted(i["properties"]["email"] for i in inputs)
    assert emails != [i["properties"]["email"] for i in inputs]
    assert hs.object_count("contacts") == 30


def test_batch_create_with_one_conflict_fails_the_whole_batch_409(hs, api):
    existing = api.create(email="ann@example.com")
    inputs = [
        {"properties": {"email": "new@example.com"}},
        {"properties": {"email": "ann@example.com"}},
    ]
    status, _, body = api("POST", f"{CONTACTS}/batch/create", {"inputs": inputs})
    assert status == 409 and body["message"].endswith(f"Existing ID: {existing['id']}")
    assert hs.object_count("contacts") == 1


def test_batch_create_with_trace_ids_answers_207_naming_the_failing_input(hs, api):
    api.create(email="ann@example.com")
    inputs = [
        {"properties": {"email": "new@example.com"}, "objectWriteTraceId": "t1"},
        {"properties": {"email": "ann@example.com"}, "objectWriteTraceId": "t2"},
    ]
    status, _, body = api("POST", f"{CONTACTS}/batch/create", {"inputs": inputs})
    assert status == 207 and body["numErrors"] == 1
    (error,) = body["errors"]
    assert set(error) == {"status", "category", "message", "context", "errors", "links"}
    assert error["category"] == "CONFLICT" and error["context"] == {"objectWriteTraceId": ["t2"]}
    assert [r["properties"]["email"] for r in body["results"]] == ["new@example.com"]
    assert hs.object_count("contacts") == 2


def test_batch_create_with_an_unknown_property_answers_400_and_writes_nothing(hs, api):
    inputs = [{"properties": {"email": "a@b.co"}}, {"properties": {"bogus": "1"}}]
    status, _, body = api("POST", f"{CONTACTS}/batch/create", {"inputs": inputs})
    assert status == 400 and body["errors"][0]["code"] == "PROPERTY_DOESNT_EXIST"
    assert hs.object_count("contacts") == 0


def test_batch_read_with_missing_ids_answers_207_object_not_found(api):
    found = api.create(email="ann@example.com")
    body = {"inputs": [{"id": found["id"]}, {"id": "777"}], "properties": ["email"]}
    status, _, answer = api("POST", f"{CONTACTS}/batch/read", body)
    assert status == 207 and ids_of(answer) == [found["id"]]
    assert answer["results"][0]["properties"]["email"] == "ann@example.com"
    (error,) = answer["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND" and error["context"] == {"ids": ["777"]}


def test_batch_read_by_email_answers_200(api):
    found = api.create(email="ann@example.com")
    body = {"inputs": [{"id": "ann@example.com"}], "idProperty": "email"}
    status, _, answer = api("POST", f"{CONTACTS}/batch/read", body)
    assert status == 200 and ids_of(answer) == [found["id"]]


def test_batch_update_answers_200_and_207_for_missing_ids(api):
    found = api.create(email="ann@example.com")
    inputs = [
        {"id": found["id"], "properties": {"firstname": "Ann"}},
        {"id": "888", "properties": {"firstname": "Ghost"}},
    ]
    status, _, body = api("POST", f"{CONTACTS}/batch/update", {"inputs": inputs})
    assert status == 207 and body["results"][0]["properties"]["firstname"] == "Ann"
    (error,) = body["errors"]
    assert error["category"] == "OBJECT_NOT_FOUND" and error["context"] == {"ids": ["888"]}
    assert set(error) >= {"status", "message", "errors", "links"}


def test_batch_update_by_email_is_refused(api):
    api.create(email="ann@example.com")
    inputs = [{"id": "ann@example.com", "idProperty": "email", "properties": {"firstname": "A"}}]
    status, _, body = api("POST", f"{CONTACTS}/batch/update", {"inputs": inputs})
    assert status == 400
    assert body["message"].startswith("Unable to perform update/upsert by non-unique 0-1 property")


def test_batch_upsert_flags_created_and_updated_records_with_new(api):
    existing = api.create(email="ann@example.com", firstname="Ann")
    inputs = [
        {"id": "ANN@example.com", "idProperty": "email", "properties": {"lastname": "Lee"}},
        {"id": "bob@example.com", "idProperty": "email", "properties": {"firstname": "Bob"}},
    ]
    status, _, body = api("POST", f"{CONTACTS}/batch/upsert", {"inputs": inputs})
    assert status == 200 and body["status"] == "COMPLETE"
    by_email = {r["properties"]["email"]: r for r in body["results"]}
    assert by_email["ann@example.com"]["new"] is False
    assert by_email["ann@example.com"]["id"] == existing["id"]
    assert by_email["ann@example.com"]["properties"]["firstname"] == "Ann"
    assert by_email["ann@example.com"]["properties"]["lastname"] == "Lee"
    assert by_email["bob@example.com"]["new"] is True


def test_batch_upsert_by_non_unique_property_answers_400(api):
    inputs = [{"id": "Acme", "idProperty": "name", "properties": {}}]
    status, _, body = api("POST", "/crm/v3/objects/companies/batch/upsert", {"inputs": inputs})
    assert status == 400 and body["message"] == (
        "Unable to perform update/upsert by non-unique 0-2 property name in portal ID 12345678"
    )


def test_batch_upsert_by_declared_unique_property(hs, api):
    hs.define_property("companies", "external_id", unique=True)
    inputs = [{"id": "X1", "idProperty": "external_id", "properties": {"name": "Acme"}}]
    path = "/crm/v3/objects/companies/batch/upsert"
    first = api("POST", path, {"inputs": inputs})[2]["results"][0]
    again = api("POST", path, {"inputs": inputs})[2]["results"][0]
    assert first["new"] is True and again["new"] is False and first["id"] == again["id"]
    assert first["properties"]["external_id"] == "X1"


def test_batch_upsert_with_duplicate_ids_answers_400(api):
    item = {"id": "a@b.co", "idProperty": "email", "properties": {}}
    status, _, _ = api("POST", f"{CONTACTS}/batch/upsert", {"inputs": [item, dict(item)]})
    assert status == 400


def test_batch_archive_answers_204(hs, api):
    made = [api.create(firstname=str(n))["id"] for n in range(3)]
    inputs = [{"id": made[0]}, {"id": made[1]}, {"id": "404404"}]
    status, _, body = api("POST", f"{CONTACTS}/batch/archive", {"inputs": inputs})
    assert status == 204 and body is None
    assert [o["id"] for o in hs.objects("contacts")] == [made[2]]


# -- search -------------------------------------------------------------------------


@pytest.fixture
def people(api):
    rows = [
        ("ann@example.com", "Ann", "30", "lead"),
        ("bob@acme.io", "Bob", "40", "customer"),
        ("cid@acme.io", "Cid", "50", "lead"),
        ("dee@example.com", None, None, None),
    ]
    made = {}
    for email, first, revenue, stage in rows:
        props = {"email": email, "firstname": first, "annualrevenue": revenue}
        props["lifecyclestage"] = stage
        made[email.split("@")[0]] = api.create(**{k: v for k, v in props.items() if v})["id"]
    return made


def search_ids(api, *groups, **extra):
    status, _, body = api.search({"filterGroups": [{"filters": g} for g in groups], **extra})
    assert status == 200, body
    return ids_of(body)


def test_search_eq_ignores_case(api, people):
    assert search_ids(api, [eq("email", "ANN@EXAMPLE.COM")]) == [people["ann"]]
    assert search_ids(api, [eq("firstname", "bob")]) == [people["bob"]]


def test_search_ands_filters_within_a_group_and_ors_groups(api, people):
    both = [eq("email", "*@acme.io", "CONTAINS_TOKEN"), eq("lifecyclestage", "lead")]
    assert search_ids(api, both) == [people["cid"]]
    assert search_ids(api, [eq("firstname", "ann")], [eq("firstname", "cid")]) == sorted(
        [people["ann"], people["cid"]]
    )


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        (eq("firstname", "ann", "NEQ"), ["bob", "cid", "dee"]),
        ({"propertyName": "firstname", "operator": "IN", "values": ["ann", "bob"]}, ["ann", "bob"]),
        (
            {"propertyName": "firstname", "operator": "NOT_IN", "values": ["ann"]},
            ["bob", "cid", "dee"],
        ),
        ({"propertyName": "firstname", "operator": "HAS_PROPERTY"}, ["ann", "bob", "cid"]),
        ({"propertyName": "firstname", "operator": "NOT_HAS_PROPERTY"}, ["dee"]),
        (eq("annualrevenue", "40", "GT"), ["cid"]),
        (eq("annualrevenue", "40", "GTE"), ["bob", "cid"]),
        (eq("annualrevenue", "40", "LT"), ["ann"]),
        (eq("annualrevenue", "40", "LTE"), ["ann", "bob"]),
        (eq("email", "*@example.com", "CONTAINS_TOKEN"), ["ann", "dee"]),
        (eq("email", "acme", "CONTAINS_TOKEN"), ["bob", "cid"]),
    ],
)
def test_search_operator(api, people, filter_, expected):
    assert search_ids(api, [filter_]) == sorted(people[name] for name in expected)


def test_search_compares_numbers_numerically(api):
    api.create("deals", dealname="small", amount="9")
    big = api.create("deals", dealname="big", amount="10")["id"]
    _, _, body = api.search({"filterGroups": [{"filters": [eq("amount", "9", "GT")]}]}, "deals")
    assert ids_of(body) == [big]


def test_search_returns_default_properties_or_the_requested_ones(api, people):
    _, _, body = api.search({"filterGroups": [{"filters": [eq("firstname", "ann")]}]})
    props = body["results"][0]["properties"]
    assert set(props) == {
        "createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"
    }  # fmt: skip
    _, _, body = api.search(
        {"filterGroups": [{"filters": [eq("firstname", "ann")]}], "properties": ["annualrevenue"]}
    )
    props = body["results"][0]["properties"]
    assert set(props) == {"annualrevenue", "hs_object_id", "createdate", "lastmodifieddate"}


def test_search_pages_with_offset_after_and_reports_total(api):
    made = [api.create(firstname="x")["id"] for _ in range(5)]
    _, _, first = api.search({"limit": 2})
    assert first["total"] == 5 and first["paging"]["next"]["after"] == "2"
    _, _, last = api.search({"limit": 2, "after": "4"})
    assert [r["id"] for r in first["results"] + last["results"]] == made[:2] + made[4:]
    assert "paging" not in last


def test_search_sorts_by_one_property(api, people):
    _, _, body = api.search(
        {"sorts": [{"propertyName": "annualrevenue", "direction": "DESCENDING"}], "limit": 3}
    )
    assert [r["id"] for r in body["results"]] == [people["cid"], people["bob"], people["ann"]]
    assert api.search({"sorts": ["email", "-email"]})[0] == 400


def test_search_past_10000_results_answers_400(api):
    status, _, body = api.search({"after": "10000"})
    assert status == 400 and body["category"] == "VALIDATION_ERROR"


def test_search_body_over_3000_characters_answers_400(api):
    values = [f"user{n}@example.com" for n in range(200)]
    body = {
        "filterGroups": [
            {"filters": [{"propertyName": "email", "operator": "IN", "values": values}]}
        ]
    }
    assert api.search(body)[0] == 400


def test_search_limit_over_200_answers_400(api):
    assert api.search({"limit": 201})[0] == 400


@pytest.mark.parametrize(
    "groups",
    [
        [[eq("firstname", "a")]] * 6,  # six groups
        [[eq("firstname", "a")] * 7],  # seven filters in one group
        [[eq("firstname", "a")] * 6] * 3 + [[eq("firstname", "a")]],  # nineteen filters
    ],
)
def test_search_filter_limits_answer_400(api, groups):
    status, _, body = api.search({"filterGroups": [{"filters": g} for g in groups]})
    assert status == 400 and body["category"] == "VALIDATION_ERROR"


def test_search_hides_fresh_writes_during_index_lag():
    with FakeHubSpot(search_index_lag=0.3) as hs:
        api = Client(hs)
        api.create(email="ann@example.com")
        assert api.search({})[2]["total"] == 0
        time.sleep(0.35)
        assert api.search({})[2]["total"] == 1


def test_search_by_association(api):
    company = api.create("companies", name="Acme")["id"]
    contact = api.create(email="ann@example.com")["id"]
    api.create(email="bob@example.com")
    api("PUT", f"/crm/v4/objects/contact/{contact}/associations/default/company/{company}")
    assert search_ids(api, [eq("associations.company", company)]) == [contact]


# -- auth and rate limits -----------------------------------------------------------


@pytest.mark.parametrize("token", ["", "wrong", "Bearer x"])
def test_missing_or_wrong_token_answers_401(hs, token):
    status, headers, body = Client(hs, token=token)("GET", CONTACTS)
    assert status == 401
    assert headers["X-HubSpot-Auth-Failure"] == "401 Unauthorized"
    assert body["category"] == "INVALID_AUTHENTICATION" and body["status"] == "error"
    assert body["message"].startswith("Authentication credentials not found.")
    assert body["correlationId"] == headers["X-HubSpot-Correlation-Id"]


def test_given_token_is_the_accepted_one():
    with FakeHubSpot(token="pat-na1-fixed") as hs:
        assert hs.token == "pat-na1-fixed"
        assert Client(hs)("GET", CONTACTS)[0] == 200


def test_rate_limit_headers_count_down():
    with FakeHubSpot(rate_limit=5, rate_window=10.0) as hs:
        api = Client(hs)
        first, second = api("GET", CONTACTS)[1], api("GET", CONTACTS)[1]
        assert first["X-HubSpot-RateLimit-Max"] == "5"
        assert first["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
        assert first["X-HubSpot-RateLimit-Remaining"] == "4"
        assert second["X-HubSpot-RateLimit-Remaining"] == "3"
        assert int(first["X-HubSpot-RateLimit-Daily-Remaining"]) > 100_000


def test_default_rate_limits_are_a_professional_private_apps():
    assert (RATE_LIMIT, DAILY_LIMIT) == (190, 650_000)


def test_rate_limit_headers_are_sent_by_default(api):
    status, headers, _ = api("GET", CONTACTS)
    assert status == 200
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "189"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert headers["X-HubSpot-RateLimit-Daily"] == "650000"
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "649999"


def test_remaining_and_daily_remaining_count_down_by_default(api):
    answers = [api("POST", CONTACTS, {"properties": {}})[1] for _ in range(3)]
    assert [h["X-HubSpot-RateLimit-Remaining"] for h in answers] == ["189", "188", "187"]
    assert [h["X-HubSpot-RateLimit-Daily-Remaining"] for h in answers] == [
        "649999",
        "649998",
        "649997",
    ]


def test_default_window_answers_429_ten_secondly_rolling_with_headers_after_190(api):
    statuses = [api("GET", CONTACTS)[0] for _ in range(190)]
    status, headers, body = api("GET", CONTACTS)
    assert statuses == [200] * 190
    assert status == 429
    assert body["policyName"] == "TEN_SECONDLY_ROLLING" and body["errorType"] == "RATE_LIMIT"
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "0"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"
    assert headers["X-HubSpot-RateLimit-Daily"] == "650000"
    # The refused request is not counted against the day.
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(650_000 - 190)


def test_daily_cap_answers_429_daily_without_retry_after():
    with FakeHubSpot(daily_limit=1000, retry_after=2) as hs:
        api = Client(hs)
        hs.daily_used = 999
        last = api("GET", CONTACTS)
        status, headers, body = api("GET", CONTACTS)
        assert last[0] == 200 and last[1]["X-HubSpot-RateLimit-Daily-Remaining"] == "0"
        assert status == 429
        assert body["message"] == "You have reached your daily limit."
        assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "DAILY"
        assert body["status"] == "error" and body["requestId"]
        assert body["correlationId"] == headers["X-HubSpot-Correlation-Id"]
        assert "Retry-After" not in headers
        assert headers["X-HubSpot-RateLimit-Daily"] == "1000"
        assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "0"


def test_daily_429_carries_the_window_headers_without_spending_the_window(hs, api):
    api("GET", CONTACTS)
    hs.daily_used = DAILY_LIMIT
    status, headers, _ = api("GET", CONTACTS)
    assert status == 429
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Remaining"] == "189"
    assert headers["X-HubSpot-RateLimit-Interval-Milliseconds"] == "10000"


def test_daily_cap_holds_after_the_window_rolls_over():
    with FakeHubSpot(rate_limit=5, rate_window=0.2) as hs:
        api = Client(hs)
        hs.daily_used = DAILY_LIMIT
        assert api("GET", CONTACTS)[2]["policyName"] == "DAILY"
        time.sleep(0.25)
        assert api("GET", CONTACTS)[2]["policyName"] == "DAILY"


def test_daily_count_survives_window_roll_over():
    with FakeHubSpot(rate_limit=2, rate_window=0.3) as hs:
        api = Client(hs)
        assert [api("GET", CONTACTS)[0] for _ in range(3)] == [200, 200, 429]
        time.sleep(0.35)
        status, headers, _ = api("GET", CONTACTS)
        assert status == 200
        assert headers["X-HubSpot-RateLimit-Remaining"] == "1"
        assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(DAILY_LIMIT - 3)
        assert hs.daily_used == 3


def test_reset_restarts_the_daily_count(hs, api):
    hs.daily_used = DAILY_LIMIT
    assert api("GET", CONTACTS)[0] == 429
    hs.reset()
    status, headers, _ = api("GET", CONTACTS)
    assert status == 200
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(DAILY_LIMIT - 1)
    assert hs.daily_used == 1


def test_daily_used_counts_admitted_requests_only(hs, api):
    hs.fail_next(1, status=503)
    api("GET", CONTACTS)  # an injected fault
    Client(hs, token="wrong")("GET", CONTACTS)  # a 401
    api("GET", CONTACTS)
    assert hs.daily_used == 1


@pytest.mark.parametrize("value", [-1, 1.5, "3", True])
def test_daily_used_refuses_what_is_not_a_count(hs, value):
    with pytest.raises(ValueError, match="daily_used"):
        hs.daily_used = value


def test_search_counts_toward_the_daily_limit(hs, api):
    api.search({})
    headers = api("GET", CONTACTS)[1]
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(DAILY_LIMIT - 2)


def test_search_at_the_daily_cap_answers_429_daily_without_headers(hs, api):
    hs.daily_used = DAILY_LIMIT
    status, headers, body = api.search({})
    assert status == 429 and body["policyName"] == "DAILY"
    assert not any(k.lower().startswith("x-hubspot-ratelimit") for k in headers)


def test_rate_limit_none_sends_no_ten_second_headers():
    with FakeHubSpot(rate_limit=None) as hs:
        headers = Client(hs)("GET", CONTACTS)[1]
        assert not any(name in headers for name in TEN_SECOND_HEADERS)
        assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == str(DAILY_LIMIT - 1)


def test_rate_limit_none_does_not_throttle():
    with FakeHubSpot(rate_limit=None) as hs:
        api = Client(hs)
        assert {api("GET", CONTACTS)[0] for _ in range(RATE_LIMIT + 10)} == {200}


def test_daily_limit_none_sends_no_daily_headers():
    with FakeHubSpot(daily_limit=None) as hs:
        headers = Client(hs)("GET", CONTACTS)[1]
        assert not any(name in headers for name in DAILY_HEADERS)
        assert headers["X-HubSpot-RateLimit-Remaining"] == "189"


def test_no_limits_send_no_rate_limit_headers_at_all():
    with FakeHubSpot(rate_limit=None, daily_limit=None) as hs:
        headers = Client(hs)("GET", CONTACTS)[1]
        assert not any(k.lower().startswith("x-hubspot-ratelimit") for k in headers)


@pytest.mark.parametrize("option", ["rate_limit", "daily_limit"])
def test_a_limit_below_one_is_refused(option):
    with pytest.raises(ValueError, match=option):
        FakeHubSpot(**{option: 0})


def test_rate_window_answers_429_with_hubspot_body_once_spent():
    with FakeHubSpot(rate_limit=3, rate_window=0.5) as hs:
        api = Client(hs)
        assert [api("GET", CONTACTS)[0] for _ in range(3)] == [200, 200, 200]
        status, headers, body = api("GET", CONTACTS)
        assert status == 429
        assert body["message"] == "You have reached your ten_secondly_rolling limit."
        assert body["errorType"] == "RATE_LIMIT" and body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert body["correlationId"] and headers["X-HubSpot-RateLimit-Remaining"] == "0"
        assert "Retry-After" not in headers


def test_rate_window_recovers_and_429s_do_not_consume_budget():
    with FakeHubSpot(rate_limit=2, rate_window=0.4) as hs:
        api = Client(hs)
        statuses = [api("GET", CONTACTS)[0] for _ in range(6)]
        assert statuses == [200, 200, 429, 429, 429, 429]
        time.sleep(0.45)
        assert [api("GET", CONTACTS)[0] for _ in range(3)] == [200, 200, 429]


def test_retry_after_is_sent_only_when_configured():
    with FakeHubSpot(rate_limit=1, rate_window=5, retry_after=2) as hs:
        api = Client(hs)
        api("GET", CONTACTS)
        status, headers, _ = api("GET", CONTACTS)
        assert status == 429 and headers["Retry-After"] == "2"


def test_search_has_its_own_per_second_limit_and_no_rate_headers():
    with FakeHubSpot(rate_limit=100, search_rate_limit=2) as hs:
        api = Client(hs)
        answers = [api.search({}) for _ in range(3)]
        assert [a[0] for a in answers] == [200, 200, 429]
        assert not any(k.lower().startswith("x-hubspot-ratelimit") for k in answers[0][1])
        body = answers[2][2]
        assert body["message"] == "You have reached your secondly limit."
        assert body["policyName"] == "SECONDLY" and body["errorType"] == "RATE_LIMIT"
        assert api("GET", CONTACTS)[1]["X-HubSpot-RateLimit-Remaining"] == "99"
        time.sleep(1.05)
        assert api.search({})[0] == 200


# -- faults -------------------------------------------------------------------------


def outcomes(seed, n=60):
    with FakeHubSpot(seed=seed, error_rate=0.2, drop_rate=0.1, burst_429_rate=0.1) as hs:
        api = Client(hs)
        seen = []
        for _ in range(n):
            try:
                seen.append(api("GET", CONTACTS)[0])
            except urllib3.exceptions.HTTPError:
                seen.append("drop")
        return seen


def test_same_seed_gives_the_same_fault_sequence():
    first, again, other = outcomes(7), outcomes(7), outcomes(8)
    assert first == again and first != other
    assert {200, 429, "drop"} <= set(first) and {500, 502, 503} & set(first)


def test_faults_can_be_switched_at_run_time(hs, api):
    hs.faults(error_rate=1.0)
    assert api("GET", CONTACTS)[0] in (500, 502, 503)
    hs.faults(error_rate=0.0)
    assert api("GET", CONTACTS)[0] == 200


def test_burst_429_fault_carries_ten_secondly_body_and_retry_after():
    with FakeHubSpot(burst_429_rate=1.0, retry_after=1) as hs:
        status, headers, body = Client(hs)("GET", CONTACTS)
        assert status == 429 and body["policyName"] == "TEN_SECONDLY_ROLLING"
        assert headers["Retry-After"] == "1"


def test_fail_next_answers_that_status_n_times_then_recovers(hs, api):
    hs.fail_next(2, status=503)
    statuses = [api("POST", CONTACTS, {"properties": {"firstname": "x"}})[0] for _ in range(3)]
    assert statuses == [503, 503, 201]
    assert hs.object_count("contacts") == 1


def test_fail_next_uses_the_given_body_and_headers(hs, api):
    hs.fail_next(1, status=429, body={"message": "slow down"}, headers={"Retry-After": "3"})
    status, headers, body = api("GET", CONTACTS)
    assert (status, body, headers["Retry-After"]) == (429, {"message": "slow down"}, "3")


def test_dropped_connection_gets_no_answer(hs, api):
    hs.fail_next(1, status="drop")
    with pytest.raises(urllib3.exceptions.ProtocolError):
        api("POST", CONTACTS, {"properties": {"firstname": "x"}})
    assert hs.object_count("contacts") == 0
    assert hs.requests[-1].status is None
    assert api("GET", CONTACTS)[0] == 200


def test_fail_next_with_commit_writes_but_loses_the_answer(hs, api):
    hs.fail_next(1, status="drop", commit=True)
    with pytest.raises(urllib3.exceptions.ProtocolError):
        api("POST", CONTACTS, {"properties": {"email": "ann@example.com"}})
    assert hs.object_count("contacts") == 1
    assert api("POST", CONTACTS, {"properties": {"email": "ann@example.com"}})[0] == 409


def test_latency_delays_each_answer():
    with FakeHubSpot(latency=0.15) as hs:
        api = Client(hs)
        started = time.monotonic()
        api("GET", CONTACTS)
        assert time.monotonic() - started >= 0.15


# -- inspection, concurrency, associations, CLI ----------------------------------------


def test_requests_log_records_what_was_asked_and_answered(hs, api):
    api("POST", f"{CONTACTS}/search", {"limit": 1})
    api("GET", f"{CONTACTS}?limit=3&properties=a&properties=b")
    search, listing = hs.requests
    assert (search.method, search.path, search.body, search.status) == (
        "POST",
        f"{CONTACTS}/search",
        {"limit": 1},
        200,
    )
    assert listing.query == {"limit": "3", "properties": "a,b"} and listing.body is None
    assert search.time <= listing.time


def test_snapshots_are_copies(hs, api):
    api.create(email="ann@example.com")
    hs.objects("contacts")[0]["properties"]["email"] = "changed"
    hs.requests.clear()
    assert hs.objects("contacts")[0]["properties"]["email"] == "ann@example.com"
    assert len(hs.requests) == 1


def test_get_and_object_count_inspect_live_objects(hs, api):
    made = api.create(email="ann@example.com")
    assert hs.get("contacts", made["id"])["properties"]["email"] == "ann@example.com"
    assert hs.get("0-1", "1") is None and hs.object_count("contacts") == 1


def test_add_creates_an_object_directly(hs, api):
    made = hs.add("contacts", {"email": "Ann@example.com"})
    assert api("GET", f"{CONTACTS}/{made['id']}")[2]["properties"]["email"] == "ann@example.com"
    with pytest.raises(ValueError, match="Contact already exists"):
        hs.add("contacts", {"email": "ann@example.com"})


def test_reset_forgets_objects_and_requests_but_keeps_properties(hs, api):
    hs.define_property("contacts", "shoe_size", type="number")
    api.create(email="ann@example.com", shoe_size="9")
    hs.reset()
    assert hs.object_count("contacts") == 0 and hs.requests == []
    assert api.create(email="ann@example.com", shoe_size="10")["properties"]["shoe_size"] == "10"


def test_concurrent_creates_get_distinct_ids(hs):
    def work(n):
        client = Client(hs)
        for i in range(20):
            client.create(email=f"t{n}-{i}@example.com")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    objects = hs.objects("contacts")
    assert len(objects) == 160 == len({o["id"] for o in objects})


def test_v4_default_association_links_both_ways(api):
    contact = api.create(email="ann@example.com")["id"]
    company = api.create("companies", name="Acme")["id"]
    path = f"/crm/v4/objects/contact/{contact}/associations/default/company/{company}"
    status, _, body = api("PUT", path)
    assert status == 200 and body["status"] == "COMPLETE"
    assert body["results"][0]["associationSpec"]["associationTypeId"] == 279
    _, _, back = api("GET", f"/crm/v4/objects/companies/{company}/associations/contacts")
    assert back["results"][0]["toObjectId"] == int(contact)
    assert back["results"][0]["associationTypes"][0]["typeId"] == 280


def test_create_with_associations_links_the_records(api):
    company = api.create("companies", name="Acme")["id"]
    link = {
        "to": {"id": company},
        "types": [{"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": 279}],
    }
    status, _, made = api(
        "POST", CONTACTS, {"properties": {"email": "a@b.co"}, "associations": [link]}
    )
    assert status == 201
    _, _, read = api("GET", f"{CONTACTS}/{made['id']}?associations=companies")
    assert read["associations"]["companies"]["results"] == [
        {"id": company, "type": "contact_to_company"}
    ]


def serve_cli(*options):
    """Start the command line emulator; its process and URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "etlify.testing.hubspot", "--port", "0", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = re.search(r"http://127\.0\.0\.1:\d+", process.stdout.readline()).group(0)
    token = process.stdout.readline().strip().removeprefix("Token: ")
    return process, url, token


def cli_headers(*options):
    """The headers of the command line emulator's answer to one GET of contacts."""
    process, url, token = serve_cli(*options)
    try:
        response = urllib3.PoolManager(retries=False).request(
            "GET", url + CONTACTS, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status == 200
        return response.headers
    finally:
        process.terminate()
        process.communicate(timeout=10)


def test_cli_sends_the_default_rate_limit_headers():
    headers = cli_headers()
    assert headers["X-HubSpot-RateLimit-Max"] == "190"
    assert headers["X-HubSpot-RateLimit-Daily"] == "650000"


def test_cli_rate_limit_and_daily_limit_options():
    headers = cli_headers("--rate-limit", "0", "--daily-limit", "5000")
    assert not any(name in headers for name in TEN_SECOND_HEADERS)
    assert headers["X-HubSpot-RateLimit-Daily"] == "5000"
    assert headers["X-HubSpot-RateLimit-Daily-Remaining"] == "4999"


def test_cli_serves_until_terminated():
    process = subprocess.Popen(
        [sys.executable, "-m", "etlify.testing.hubspot", "--port", "0", "--token", "pat-na1-cli"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        url = re.search(r"http://127\.0\.0\.1:\d+", line).group(0)
        assert process.stdout.readline().strip() == "Token: pat-na1-cli"
        response = urllib3.PoolManager(retries=False).request(
            "GET", url + CONTACTS, headers={"Authorization": "Bearer pat-na1-cli"}
        )
        assert response.status == 200 and json.loads(response.data) == {"results": []}
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=10)
    assert process.returncode == 0 and "Traceback" not in stderr
