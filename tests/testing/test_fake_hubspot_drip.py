"""FakeHubSpot's drip fault: answers written a few bytes at a time (plain urllib3)."""

from __future__ import annotations

import threading
import time

import pytest
import urllib3

from etlify.testing.hubspot import FakeHubSpot

CONTACTS = "/crm/v3/objects/contacts"


@pytest.fixture
def hs():
    with FakeHubSpot() as fake:
        yield fake


def send(hs, method, path, body=None, timeout=5.0, preload=True):
    pool = urllib3.PoolManager(retries=False)
    headers = {"Authorization": f"Bearer {hs.token}", "Content-Type": "application/json"}
    return pool.request(
        method, hs.url + path, json=body, headers=headers, timeout=timeout,
        preload_content=preload,
    )


def test_the_real_answer_drips_and_the_request_is_carried_out(hs):
    hs.drip_next(1, interval=0.05, step=40)
    started = time.monotonic()
    answer = send(hs, "POST", CONTACTS, {"properties": {"email": "ada@example.com"}})
    elapsed = time.monotonic() - started

    created = answer.json()
    assert answer.status == 201 and created["properties"]["email"] == "ada@example.com"
    assert elapsed >= 0.05 * (len(answer.data) // 40)
    assert hs.object_count("contacts") == 1 and hs.requests[-1].status == 201


def test_a_read_timeout_never_fires_however_long_the_answer_takes(hs):
    # urllib3's read timeout, even with a total, restarts with each byte.
    hs.drip_next(1, interval=0.1, status=502, body="x" * 12)
    started = time.monotonic()
    answer = send(hs, "GET", CONTACTS, timeout=urllib3.Timeout(read=0.3, total=0.3))

    assert (answer.status, answer.data) == (502, b"x" * 12)
    assert time.monotonic() - started >= 1.2


def test_a_replaced_answer_drips_and_nothing_is_written(hs):
    hs.drip_next(1, interval=0.01, status=429, headers={"Retry-After": "2"}, step=10)
    answer = send(hs, "POST", CONTACTS, {"properties": {"email": "ada@example.com"}})

    assert answer.status == 429 and answer.headers["Retry-After"] == "2"
    assert answer.json()["policyName"] == "TEN_SECONDLY_ROLLING"
    assert hs.object_count("contacts") == 0


@pytest.mark.parametrize(("head", "slow_headers"), [(False, False), (True, True)])
def test_the_headers_come_at_once_unless_head_is_set(hs, head, slow_headers):
    hs.drip_next(1, interval=0.02, status=503, body="y" * 10, head=head, step=5)
    started = time.monotonic()
    answer = send(hs, "GET", CONTACTS, preload=False)
    to_headers = time.monotonic() - started
    body = answer.read()

    assert answer.status == 503 and body == b"y" * 10
    assert (to_headers > 0.4) is slow_headers  # > 150 header bytes, 5 per 20 ms
    assert time.monotonic() - started >= 0.04


def test_only_the_next_n_answers_drip(hs):
    hs.drip_next(2, interval=0.01, step=50)
    times = []
    for _ in range(3):
        started = time.monotonic()
        assert send(hs, "GET", CONTACTS).status == 200
        times.append(time.monotonic() - started)
    assert min(times[:2]) > times[2]


def test_reset_forgets_queued_drips(hs):
    hs.drip_next(5, interval=1.0)
    hs.reset()
    started = time.monotonic()
    assert send(hs, "GET", CONTACTS).status == 200
    assert time.monotonic() - started < 0.5


def test_a_client_hanging_up_mid_drip_leaves_the_server_serving(hs):
    hs.drip_next(1, interval=0.05, status=200, body="z" * 200)
    with pytest.raises(urllib3.exceptions.ReadTimeoutError):
        send(hs, "GET", CONTACTS, timeout=0.01)
    assert send(hs, "GET", CONTACTS).status == 200


def test_stop_ends_a_drip_in_progress():
    hs = FakeHubSpot().start()
    hs.drip_next(1, interval=0.2, status=200, body="z" * 500)  # 100 s
    failures = []

    def read():
        try:
            send(hs, "GET", CONTACTS, timeout=5.0)
        except urllib3.exceptions.HTTPError as exc:
            failures.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    started = time.monotonic()
    hs.stop()
    reader.join(5)
    assert not reader.is_alive() and time.monotonic() - started < 2.0
    assert failures


@pytest.mark.parametrize(
    "settings", [{"status": "drop"}, {"interval": 0}, {"interval": -1.0}, {"step": 0}]
)
def test_drip_next_refuses_nonsense(hs, settings):
    with pytest.raises(ValueError):
        hs.drip_next(1, **settings)
