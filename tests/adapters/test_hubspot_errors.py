"""Error translation, retries and secrecy of the HubSpot adapter, against FakeHubSpot."""

from __future__ import annotations

import logging
import time

import pytest

from etlify.adapters.http import AnswerLost, RetryPolicy, Transport
from etlify.adapters.hubspot import HubspotV3Adapter
from etlify.errors import (
    ApiError,
    ConfigurationError,
    NotFound,
    RateLimited,
    TransportError,
    Unauthorized,
    ValidationFailed,
)

from .conftest import FAST

CONTACT = {"email": "ada@example.com"}


def batch(adapter):
    return adapter.batch_upsert("contacts", [CONTACT], "email")


# -- translation --------------------------------------------------------------------


def test_unknown_token_is_unauthorized_with_hubspot_details(hs):
    client = HubspotV3Adapter(access_token="pat-na1-wrong", base_url=hs.url, retries=FAST)
    with pytest.raises(Unauthorized) as caught:
        client.upsert("contacts", CONTACT)
    error = caught.value
    assert error.status == 401
    assert error.category == "INVALID_AUTHENTICATION"
    assert error.correlation_id
    assert str(error).startswith(
        "POST /crm/v3/objects/contacts failed: HTTP 401 INVALID_AUTHENTICATION: "
        "Authentication credentials not found."
    )
    assert error.correlation_id in str(error)
    assert len(hs.requests) == 1


@pytest.mark.parametrize(
    ("status", "category", "expected"),
    [
        (403, "MISSING_SCOPES", Unauthorized),
        (404, "OBJECT_NOT_FOUND", NotFound),
        (400, "VALIDATION_ERROR", ValidationFailed),
        (409, "CONFLICT", ValidationFailed),
        (422, "VALIDATION_ERROR", ValidationFailed),
        (405, "METHOD_NOT_ALLOWED", ApiError),
    ],
)
def test_status_maps_to_its_error_class_and_is_not_retried(hs, adapter, status, category, expected):
    hs.fail_next(1, status=status, body={"status": "error", "message": "no", "category": category})
    with pytest.raises(expected) as caught:
        batch(adapter)
    assert type(caught.value) is expected
    assert (caught.value.status, caught.value.category) == (status, category)
    assert caught.value.details["message"] == "no"
    assert len(hs.requests) == 1


def test_correlation_id_comes_from_the_header_when_the_body_has_none(hs, adapter):
    hs.fail_next(1, status=400, body={"message": "bad", "category": "VALIDATION_ERROR"})
    with pytest.raises(ValidationFailed) as caught:
        batch(adapter)
    correlation_id = caught.value.correlation_id
    assert correlation_id and len(correlation_id) == 36  # the emulator's header, a UUID
    assert f"(correlation id {correlation_id})" in str(caught.value)


def test_html_error_body_becomes_a_short_excerpt(hs, adapter):
    page = "<html><body><h1>HTTP ERROR 404</h1>" + "x" * 5000 + "</body></html>"
    hs.fail_next(1, status=404, body=page)
    with pytest.raises(NotFound) as caught:
        batch(adapter)
    details = caught.value.details
    assert isinstance(details, str)
    assert details.startswith("<html><body><h1>HTTP ERROR 404</h1>")
    assert len(details) <= 203
    assert "not a JSON error body" in str(caught.value)


def test_gateway_html_after_the_last_retry_is_an_api_error(hs, adapter):
    hs.fail_next(10, status=502)
    with pytest.raises(ApiError) as caught:
        batch(adapter)
    assert caught.value.status == 502
    assert "Bad Gateway" in caught.value.details
    assert len(hs.requests) == FAST.total + 1


def test_truncated_json_success_is_an_api_error(hs, adapter):
    hs.fail_next(1, status=200, body='{"status": "COMPLETE", "results": [')
    with pytest.raises(ApiError, match="not JSON") as caught:
        batch(adapter)
    assert caught.value.details.startswith('{"status"')


def test_rate_limited_carries_retry_after(hs, adapter):
    hs.fail_next(10, status=429, headers={"Retry-After": "0.01"})
    with pytest.raises(RateLimited) as caught:
        batch(adapter)
    assert caught.value.retry_after == pytest.approx(0.01)
    assert caught.value.category == "RATE_LIMIT"


def test_rate_limited_without_retry_after_uses_hubspot_window(hs, adapter):
    hs.fail_next(
        1,
        status=429,
        headers={"X-HubSpot-RateLimit-Interval-Milliseconds": "100"},
    )
    started = time.monotonic()
    batch(adapter)
    assert time.monotonic() - started >= 0.1
    assert [r.status for r in hs.requests] == [429, 200]


def test_daily_limit_is_not_retried(hs, adapter):
    body = {
        "status": "error",
        "message": "You have reached your daily limit.",
        "errorType": "RATE_LIMIT",
        "policyName": "DAILY",
    }
    hs.fail_next(1, status=429, body=body)
    with pytest.raises(RateLimited) as caught:
        batch(adapter)
    assert caught.value.retry_after is None
    assert len(hs.requests) == 1


def test_a_retry_after_beyond_the_cap_is_left_to_the_caller(hs):
    policy = RetryPolicy(total=3, backoff_factor=0.001, retry_after_max=1.0)
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, retries=policy)
    hs.fail_next(1, status=429, headers={"Retry-After": "30"})
    with pytest.raises(RateLimited) as caught:
        batch(client)
    assert caught.value.retry_after == 30.0
    assert len(hs.requests) == 1


def test_refused_connection_is_a_transport_error():
    client = HubspotV3Adapter(access_token="t", base_url="http://127.0.0.1:9", retries=0)
    with pytest.raises(TransportError, match="got no answer") as caught:
        client.delete("contacts", "1")
    assert caught.value.status is None


def test_read_timeout_is_retried_for_reads_but_not_for_a_create(hs):
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, timeout=0.1, retries=FAST)
    hs.faults(latency=0.3)
    with pytest.raises(AnswerLost, match="ReadTimeoutError"):
        client.upsert("companies", {"name": "Acme"})
    assert [r.method for r in hs.requests] == ["POST"]
    with pytest.raises(TransportError):
        client.delete("companies", "1")
    assert [r.method for r in hs.requests][1:] == ["DELETE"] * (FAST.total + 1)


# -- retries ------------------------------------------------------------------------


def test_429_with_retry_after_is_honoured(hs, adapter):
    hs.fail_next(1, status=429, headers={"Retry-After": "0.2"})
    started = time.monotonic()
    result = batch(adapter)
    assert time.monotonic() - started >= 0.2
    assert set(result) == {"ada@example.com"}
    assert [r.status for r in hs.requests] == [429, 200]


def test_429_pauses_the_shared_rate_limiter(hs):
    client = HubspotV3Adapter(
        access_token=hs.token,
        base_url=hs.url,
        retries=FAST,
        rate_limit={"max_requests": 100, "period": 10},
    )
    hs.fail_next(1, status=429, headers={"Retry-After": "0.05"})
    batch(client)
    assert client.rate_limiter.pauses == 1
    assert client.rate_limiter.waited >= 0.04


@pytest.mark.parametrize("failure", [503, 502, 504, "drop"])
def test_batch_patch_get_and_delete_are_retried(hs, adapter, failure):
    crm_id = hs.add("contacts", CONTACT)["id"]
    for call in (
        lambda: batch(adapter),
        lambda: adapter.upsert("contacts", CONTACT, crm_id=crm_id),  # PATCH
        lambda: adapter.upsert("contacts", CONTACT, id_property="email"),  # GET then PATCH
        lambda: adapter.delete("contacts", crm_id),
    ):
        before = len(hs.requests)
        hs.fail_next(1, status=failure)
        call()
        statuses = [r.status for r in hs.requests[before:]]
        assert statuses[0] == (None if failure == "drop" else failure)
        assert all(s is not None and s < 300 for s in statuses[1:])
    assert hs.object_count("contacts") == 0


def test_search_is_retried(hs):
    transport = Transport(hs.token, hs.url, timeout=5.0, retries=FAST, pool_maxsize=1)
    hs.fail_next(1, status="drop")
    hs.fail_next(1, status=429, headers={"Retry-After": "0.01"})
    answer = transport.request("POST", "/crm/v3/objects/contacts/search", body={}, kind="search")
    assert answer.data["total"] == 0
    assert [r.status for r in hs.requests] == [None, 429, 200]


def test_retry_count_is_configurable(hs):
    client = HubspotV3Adapter(
        access_token=hs.token,
        base_url=hs.url,
        retries=RetryPolicy(total=1, backoff_factor=0.001, backoff_jitter=0.0),
    )
    hs.fail_next(5, status=503)
    with pytest.raises(ApiError) as caught:
        batch(client)
    assert caught.value.status == 503
    assert len(hs.requests) == 2


def test_no_retries_at_all(hs):
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, retries=0)
    hs.fail_next(1, status=503)
    with pytest.raises(ApiError):
        batch(client)
    assert len(hs.requests) == 1


def test_backoff_grows_between_retries(hs, monkeypatch):
    waits = []
    policy = RetryPolicy(total=4, backoff_factor=0.01, backoff_max=0.03, backoff_jitter=0.0)
    transport = Transport(
        hs.token, hs.url, timeout=5.0, retries=policy, pool_maxsize=1, sleep=waits.append
    )
    hs.fail_next(4, status=503)
    transport.request("GET", "/crm/v3/objects/contacts")
    assert waits == pytest.approx([0.01, 0.02, 0.03, 0.03])


# -- secrecy and logging ------------------------------------------------------------


def test_the_token_appears_in_no_log_message_or_error(hs, caplog):
    caplog.set_level(logging.DEBUG)
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, retries=FAST)
    wrong = HubspotV3Adapter(access_token="pat-na1-not-the-token", base_url=hs.url, retries=0)
    errors = []
    hs.fail_next(1, status="drop")
    hs.fail_next(1, status=503)
    client.upsert("contacts", CONTACT, id_property="email")
    hs.fail_next(1, status=400, body={"message": f"Bearer {hs.token} is odd", "token": hs.token})
    hs.fail_next(1, status=404, body=f"<html>{hs.token}</html>")
    for call in (
        lambda: client.upsert("contacts", CONTACT),
        lambda: batch(client),
        lambda: wrong.delete("contacts", "1"),
        lambda: HubspotV3Adapter(
            access_token=hs.token, base_url="http://127.0.0.1:9", retries=0
        ).delete("contacts", "1"),
    ):
        with pytest.raises(Exception) as caught:
            call()
        errors.append(caught.value)
    assert len(errors) == 4
    texts = [r.getMessage() for r in caplog.records]
    texts += [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [repr(e.details) for e in errors] + [repr(client), repr(wrong)]
    assert any("/crm/v3/objects/contacts" in t for t in texts)
    assert any(r.levelno == logging.DEBUG and r.name == "etlify.hubspot" for r in caplog.records)
    for text in texts:
        assert hs.token not in text
        assert "pat-na1-not-the-token" not in text
        assert "Authorization" not in text


def test_each_request_is_logged_at_debug(hs, adapter, caplog):
    caplog.set_level(logging.DEBUG, logger="etlify.hubspot")
    adapter.upsert("contacts", CONTACT, id_property="email")
    lines = [r.getMessage() for r in caplog.records if r.name == "etlify.hubspot"]
    assert lines[0].startswith("GET /crm/v3/objects/contacts/ada%40example.com -> 404 in ")
    assert lines[1].startswith("POST /crm/v3/objects/contacts -> 201 in ")
    assert all("idProperty" not in line for line in lines)


@pytest.mark.parametrize(("status", "category"), [(500, "INTERNAL_ERROR"), (423, "LOCKED")])
def test_server_errors_and_locks_are_retried_for_idempotent_calls(hs, adapter, status, category):
    hs.fail_next(1, status=status, body={"status": "error", "message": "no", "category": category})
    assert batch(adapter)
    assert len(hs.requests) == 2


@pytest.mark.parametrize(
    "token", ["pat-na1-abc\nSECRET", "pat-na1-abc SECRET", "pat-na1-abc\u201cSECRET"]
)
def test_a_token_a_header_cannot_carry_is_refused_without_being_echoed(token):
    with pytest.raises(ConfigurationError) as caught:
        HubspotV3Adapter(access_token=token)
    assert "SECRET" not in str(caught.value)
