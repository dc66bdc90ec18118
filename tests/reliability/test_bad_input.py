"""Bad input: whatever a serializer returns, each record either syncs or fails with a
``SerializerError`` naming its key, without harming its batch or any other record; and
malformed CRM answers become clear ``ApiError``\\ s.
"""

from __future__ import annotations

import datetime as dt
import math
import re
import string
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import etlify
from etlify import BaseSerializer, BatchSync, SerializerError, Status
from etlify import CrmSynchronisation as Sync
from etlify.adapters import HubspotV3Adapter
from etlify.adapters.http import AnswerLost, RetryPolicy
from etlify.adapters.wire import encode_properties
from etlify.digest import stable_sha256
from etlify.errors import ApiError
from etlify.state import PendingSync
from etlify.testing.hubspot import FakeHubSpot

from ._app import FAST_RETRIES, database_for, define
from .conftest import assert_secret_absent, database_url


class Unknown:
    """An object no encoder knows."""

    def __repr__(self) -> str:
        return "<Unknown>"


KEYS = st.text(string.ascii_lowercase + string.digits + "_", min_size=1, max_size=10).map(
    lambda name: f"p_{name}"
)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True, places=3),
    TEXT,
    st.binary(max_size=8),
    st.dates(),
    st.datetimes(timezones=st.sampled_from([None, dt.timezone.utc])),
    st.builds(Unknown),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(KEYS, inner, max_size=3),
    max_leaves=6,
)
PAYLOADS = st.dictionaries(KEYS, VALUES, max_size=4)

NAMED_KEY = re.compile(r'payload\["([^"]+)"\]')


def outcome_of(payload):
    """What syncing ``payload`` must end in: ("synced", wire properties) or ("failed", error)."""
    try:
        stable_sha256(payload)
        return "synced", encode_properties(payload)
    except SerializerError as error:
        return "failed", error


def assert_names_a_key(message, payload):
    named = NAMED_KEY.search(message)
    assert named and named.group(1) in payload, message


# -- digest and wire encoding, alone ------------------------------------------------


@given(PAYLOADS)
@settings(max_examples=300, deadline=None)
def test_the_digest_of_any_payload_is_a_sha256_or_a_serializer_error_naming_its_key(payload):
    try:
        digest = stable_sha256(payload)
    except SerializerError as error:
        assert_names_a_key(str(error), payload)
    else:
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
        assert stable_sha256(dict(reversed(list(payload.items())))) == digest


@given(PAYLOADS)
@settings(max_examples=300, deadline=None)
def test_the_wire_encoding_of_any_payload_is_strings_or_a_serializer_error_naming_its_key(
    payload,
):
    try:
        properties = encode_properties(payload)
    except SerializerError as error:
        assert_names_a_key(str(error), payload)
    else:
        assert set(properties) == set(payload)
        assert all(isinstance(value, str) for value in properties.values())


HOSTILE = {
    "a lone surrogate": "caf\udce9",
    "an int of 5000 digits": 10**5000,
}


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_wire_encoding_refuses_values_beyond_text_with_a_serializer_error(value):
    with pytest.raises(SerializerError, match=re.escape('payload["p_bad"]')):
        encode_properties({"p_bad": value})


@pytest.mark.parametrize(
    "value",
    [
        HOSTILE["a lone surrogate"],
        HOSTILE["an int of 5000 digits"],
    ],
    ids=HOSTILE.keys(),
)
def test_the_digest_refuses_values_beyond_text_with_a_serializer_error(value):
    with pytest.raises(SerializerError, match=re.escape('payload["p_bad"]')):
        stable_sha256({"p_bad": value})


# -- through a sync, against FakeHubSpot --------------------------------------------


@pytest.fixture
def crm(tmp_path, etlify_log):
    """Etlify syncing whatever ``crm.payloads[record id]`` holds, to a FakeHubSpot."""
    with FakeHubSpot(strict_properties=False) as hubspot:
        database = database_for(database_url("sqlite", tmp_path))
        app = define(database)
        payloads = {}

        class GivenPayload(BaseSerializer):
            def as_crm_payload(self):
                return payloads[self.record.id]

        etlify.configure(database=database)
        etlify.register("hubspot", adapter=HubspotV3Adapter(
            access_token=hubspot.token, base_url=hubspot.url, retries=FAST_RETRIES))
        app.Person.etlified_with("hubspot", serializer=GivenPayload,
                                 crm_object_type="contacts", id_property="email")
        app.hubspot, app.payloads = hubspot, payloads
        yield app
        assert_secret_absent(hubspot.token, etlify_log.lines)
        database.close()


def load(crm, payloads):
    """Fresh tables holding one person per payload (with a unique email added)."""
    db = crm.db
    db.drop_tables([Sync, PendingSync, crm.Person])
    db.create_tables([crm.Person])
    etlify.create_tables()
    crm.hubspot.reset()
    crm.payloads.clear()
    for index, payload in enumerate(payloads):
        person = crm.Person.create(email=f"person{index}@example.com")
        crm.payloads[person.id] = {"email": person.email, **payload}
    return dict(crm.payloads)


def assert_each_record_synced_or_failed_on_its_own(crm, payloads):
    rows = {int(row.resource_id): row for row in Sync.select()}
    contacts = {c["id"]: c["properties"] for c in crm.hubspot.objects("contacts")}
    synced = 0
    for pk, payload in payloads.items():
        row = rows[pk]
        expected, detail = outcome_of(payload)
        if expected == "synced":
            assert (row.last_error, row.claim_token) == (None, None)
            properties = contacts[row.crm_id]
            assert {name: properties.get(name) or "" for name in detail} == detail
            synced += 1
        else:
            assert row.crm_id is None and row.error_count == 1
            assert row.last_error_kind == "serializer"
            assert str(detail) in row.last_error
            assert_names_a_key(row.last_error, payload)
    assert len(contacts) == synced


def test_any_payloads_in_one_batch_sync_or_fail_each_on_its_own(crm, soak):
    @given(st.lists(PAYLOADS, min_size=1, max_size=6))
    @settings(max_examples=300 if soak else 40, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    def check(generated):
        payloads = load(crm, generated)
        stats = BatchSync.call(async_=False)
        assert stats["total"] == len(payloads)
        assert stats["synced"] + stats["errors"] == len(payloads)
        assert_each_record_synced_or_failed_on_its_own(crm, payloads)

    with crm.db.connection_context():
        check()


def test_any_payload_synced_alone_syncs_or_fails_without_raising(crm, soak):
    @given(PAYLOADS)
    @settings(max_examples=200 if soak else 30, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    def check(payload):
        payloads = load(crm, [payload])
        [pk] = payloads
        status = crm.Person(id=pk).sync("hubspot", async_=False)
        assert status in (Status.SYNCED, Status.ERROR)
        assert_each_record_synced_or_failed_on_its_own(crm, payloads)

    with crm.db.connection_context():
        check()


def test_a_bad_record_amid_99_good_ones_costs_its_batch_nothing(crm):
    with crm.db.connection_context():
        good = [{"p_name": f"name {i}", "p_score": i * 1.5} for i in range(99)]
        payloads = load(crm, [*good[:50], {"p_nested": {"deep": [1, 2]}}, *good[50:]])
        stats = BatchSync.call(async_=False)
        assert (stats["synced"], stats["errors"]) == (99, 1)
        assert_each_record_synced_or_failed_on_its_own(crm, payloads)
    upserts = [r for r in crm.hubspot.requests if r.path.endswith("/batch/upsert")]
    assert len(upserts) == 1


@pytest.mark.parametrize(
    "value", [math.nan, math.inf, -math.inf, Decimal("NaN"), b"\x00\xff", Unknown(),
              {"nested": "dict"}, [None], ["a;b"]],
    ids=["nan", "inf", "-inf", "decimal-nan", "bytes", "unknown", "dict", "list-of-none",
         "option-with-semicolon"],
)
def test_a_value_with_no_hubspot_form_fails_its_record_naming_the_key(crm, value):
    with crm.db.connection_context():
        payloads = load(crm, [{"p_fine": "ok"}, {"p_bad": value}])
        stats = BatchSync.call(async_=False)
        assert (stats["synced"], stats["errors"]) == (1, 1)
        assert_each_record_synced_or_failed_on_its_own(crm, payloads)
        [failed] = Sync.with_error()
        assert 'payload["p_bad"]' in failed.last_error


# -- malformed answers ---------------------------------------------------------------


@pytest.fixture
def hubspot():
    with FakeHubSpot() as fake:
        yield fake


@pytest.fixture
def adapter(hubspot):
    client = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url,
                              retries=RetryPolicy(total=0))
    yield client
    client.close()


MALFORMED = {
    "truncated JSON": (200, '{"id": "12", "properties": {"firstn'),
    "an HTML error page": (500, "<html><body><h1>500 Internal Server Error</h1></body></html>"),
    "an HTML page with a 200": (200, "<!DOCTYPE html><html><body>Maintenance</body></html>"),
    "a 201 without an id": (201, {"properties": {"firstname": "Ada"}, "archived": False}),
    "a 200 with an empty id": (200, {"id": "", "properties": {}}),
    "a JSON list": (201, [1, 2, 3]),
}


@pytest.mark.parametrize("status, body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_to_a_create_is_a_clear_error(hubspot, adapter, status, body):
    """A clear ``ApiError``; after a 500 an ``AnswerLost`` (the create may have been made)."""
    hubspot.fail_next(1, status=status, body=body)
    with pytest.raises(ApiError if status < 500 else AnswerLost) as caught:
        adapter.upsert("contacts", {"firstname": "Ada"})
    message = str(caught.value)
    assert "POST /crm/v3/objects/contacts" in message
    assert re.search(r"not JSON|without an id|HTTP 500", message)
    assert caught.value.status in (None, status)
    assert hubspot.token not in message + repr(caught.value.details)


@pytest.mark.parametrize("status, body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_answer_to_a_batch_upsert_fails_each_input_clearly(
    hubspot, adapter, status, body
):
    hubspot.fail_next(1, status=status, body=body)
    try:
        result = adapter.batch_upsert(
            "contacts", [{"email": "a@example.com"}, {"email": "b@example.com"}], "email"
        )
    except ApiError as error:  # the whole request failed
        assert "POST /crm/v3/objects/contacts/batch/upsert" in str(error)
    else:  # or each input is in .errors, none silently missing
        assert dict(result) == {}
        assert set(result.errors) == {"a@example.com", "b@example.com"}
        assert all(isinstance(e, ApiError) for e in result.errors.values())


def test_a_malformed_answer_during_a_sync_is_recorded_on_the_row_and_retried_next_time(
    tmp_path, hubspot
):
    database = database_for(database_url("sqlite", tmp_path))
    app = define(database)
    etlify.configure(database=database)
    etlify.register("hubspot", adapter=HubspotV3Adapter(
        access_token=hubspot.token, base_url=hubspot.url, retries=RetryPolicy(total=0)))
    app.Person.etlified_with("hubspot", serializer=app.AnonymousSerializer,
                             crm_object_type="contacts")
    with database.connection_context():
        database.create_tables([app.Person])
        etlify.create_tables()
        person = app.Person.create(first_name="Ada")
        hubspot.fail_next(1, status=200, body="<html>Gateway hiccup</html>")

        assert person.sync("hubspot", async_=False) is Status.ERROR
        row = person.crm_synchronisation("hubspot")
        assert row.crm_id is None and row.last_digest is None
        assert "not JSON" in row.last_error and row.last_error_kind == "transient"

        assert person.sync("hubspot", async_=False) is Status.SYNCED
        assert person.crm_synchronisation("hubspot").last_error is None


@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_value_the_digest_cannot_encode_fails_its_record_alone(crm, value):
    with crm.db.connection_context():
        load(crm, [{"p_fine": "ok"}, {"p_bad": value}, {"p_fine": "ok too"}])
        stats = BatchSync.call(async_=False)
        assert (stats["synced"], stats["errors"]) == (2, 1)
        [failed] = Sync.with_error()
        assert failed.crm_id is None and failed.error_count == 1
    assert crm.hubspot.object_count("contacts") == 2
