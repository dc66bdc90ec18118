"""etlify.digest: one digest per payload, whatever the process or ordering."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

import etlify
from etlify import Status
from etlify.digest import canonical_json, stable_sha256

ROOT = Path(__file__).resolve().parents[2]

PAYLOAD = {
    "email": "ada@example.com",
    "joined": dt.datetime(2024, 5, 6, 7, 8, 9, 123456),
    "birthday": dt.date(1815, 12, 10),
    "balance": Decimal("1234.50"),
    "ref": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "avatar": b"\x00\xffpng",
    "tags": {"vip", "beta", "early", "newsletter"},
    "frozen": frozenset({3, 1, 2}),
    "pair": ("a", 1),
    "nested": {"z": [1, 2.5, None, True], "a": {"deep": "x"}},
}


def test_digest_does_not_depend_on_key_order():
    forward = {"a": 1, "b": {"c": 2, "d": 3}}
    backward = {"b": {"d": 3, "c": 2}, "a": 1}

    assert stable_sha256(forward) == stable_sha256(backward)


def test_digest_changes_when_a_value_changes():
    assert stable_sha256({"a": 1}) != stable_sha256({"a": 2})


def test_digest_is_a_hex_sha256():
    digest = stable_sha256(PAYLOAD)

    assert len(digest) == 64
    int(digest, 16)


@pytest.mark.parametrize(
    "value, encoded",
    [
        (dt.datetime(2024, 5, 6, 7, 8, 9), {"$datetime": "2024-05-06T07:08:09"}),
        (dt.date(2024, 5, 6), {"$date": "2024-05-06"}),
        (Decimal("1.50"), {"$decimal": "1.5"}),
        (Decimal("100"), {"$decimal": "100"}),
        (uuid.UUID(int=1), {"$uuid": "00000000-0000-0000-0000-000000000001"}),
        (b"hi", {"$bytes": "aGk="}),
        (("a", 1), ["a", 1]),
        ({"b", "a", "c"}, {"$set": ["a", "b", "c"]}),
    ],
)
def test_each_value_type_has_one_fixed_encoding(value, encoded):
    assert json.loads(canonical_json({"v": value})) == {"v": encoded}


def test_equal_decimals_written_differently_have_one_digest():
    assert stable_sha256({"n": Decimal("1.5")}) == stable_sha256({"n": Decimal("1.500")})


def test_an_aware_datetime_is_encoded_as_the_same_instant_in_utc():
    naive_utc = dt.datetime(2024, 5, 6, 7, 0)
    paris = dt.datetime(2024, 5, 6, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))

    assert stable_sha256({"at": naive_utc}) == stable_sha256({"at": paris})


def test_a_set_digest_does_not_depend_on_insertion_order():
    assert stable_sha256({"s": {"x", "y", "z"}}) == stable_sha256({"s": {"z", "y", "x"}})


def test_digest_is_the_same_in_another_process_with_another_hash_seed():
    script = (
        "from tests.core.test_digest import PAYLOAD\n"
        "from etlify.digest import stable_sha256\n"
        "print(stable_sha256(PAYLOAD))\n"
    )
    digests = set()
    for seed in ("1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        )
        digests.add(out.stdout.strip())

    assert digests == {stable_sha256(PAYLOAD)}


def test_an_unencodable_value_raises_serializer_error_naming_the_key_path():
    payload = {"address": {"city": "Paris", "geo": object()}}

    with pytest.raises(etlify.SerializerError, match=r'payload\["address"\]\["geo"\]'):
        stable_sha256(payload)


def test_the_key_path_of_an_unencodable_list_item_has_its_index():
    with pytest.raises(etlify.SerializerError, match=r'payload\["tags"\]\[1\]'):
        stable_sha256({"tags": ["ok", complex(1, 2)]})


def test_a_non_finite_float_is_refused():
    with pytest.raises(etlify.SerializerError, match=r'payload\["score"\]'):
        stable_sha256({"score": float("nan")})


def test_a_non_string_key_is_refused():
    with pytest.raises(etlify.SerializerError, match="not a string"):
        stable_sha256({1: "one"})


def test_the_configured_digest_strategy_is_what_the_sync_row_stores(app, user):
    etlify.configure(digest_strategy=lambda payload: "v1:" + payload["email"])

    assert user.sync(async_=False) == Status.SYNCED

    assert user.crm_synchronisation("hubspot").last_digest == "v1:ada@example.com"


def test_an_unencodable_payload_is_a_recorded_serializer_failure(app, adapter):
    class GeoSerializer(etlify.BaseSerializer):
        def as_crm_payload(self):
            return {"address": {"geo": object()}}

    app.User.etlified_with(
        "hubspot", serializer=GeoSerializer, crm_object_type="contacts", replace=True,
    )
    user = app.User.create(email="a@example.com")

    assert user.sync(async_=False) == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert 'payload["address"]["geo"]' in row.last_error
    assert row.last_error_kind == "serializer"
    assert adapter.calls == []
