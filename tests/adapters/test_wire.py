"""Payload values on the wire: every type HubSpot accepts, and the ones it cannot."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import pytest

from etlify.adapters.wire import encode_properties, encode_value
from etlify.errors import SerializerError


class Plan(str, enum.Enum):
    PRO = "pro"


class Level(enum.IntEnum):
    HIGH = 3


@pytest.mark.parametrize(
    ("value", "wire"),
    [
        ("Ada", "Ada"),
        ("", ""),
        (Plan.PRO, "pro"),
        (True, "true"),
        (False, "false"),
        (0, "0"),
        (-42, "-42"),
        (Level.HIGH, "3"),
        (12345678901234567890, "12345678901234567890"),
        (1.5, "1.5"),
        (1e20, "100000000000000000000"),
        (1e-7, "0.0000001"),
        (Decimal("19.90"), "19.90"),
        (Decimal("1E+3"), "1000"),
        (Decimal("-0.000001"), "-0.000001"),
        (dt.date(2015, 5, 1), "2015-05-01"),
        (dt.datetime(2015, 5, 1), "1430438400000"),
        (dt.datetime(2020, 2, 29, 3, 30, 17, 123456), "1582947017123"),
        (
            dt.datetime(2020, 2, 29, 5, 30, 17, tzinfo=dt.timezone(dt.timedelta(hours=2))),
            "1582947017000",
        ),
        (None, ""),
        (["a", "b"], "a;b"),
        (("x", 1, True), "x;1;true"),
        ({"b", "a", "c"}, "a;b;c"),
        (frozenset({2, 1}), "1;2"),
        ([], ""),
    ],
)
def test_encodes_every_supported_type(value, wire):
    assert encode_value("k", value) == wire


@pytest.mark.parametrize(
    "value",
    [
        {"street": "1 rue"},
        b"bytes",
        object(),
        dt.time(12, 0),
        float("nan"),
        float("inf"),
        Decimal("NaN"),
        Decimal("sNaN"),
        Decimal("-Infinity"),
        [["nested"]],
        [None],
        ["a;b"],
        ["", "a"],
    ],
)
def test_refuses_what_has_no_hubspot_form_and_names_the_key(value):
    with pytest.raises(SerializerError, match=r'payload\["address"\]'):
        encode_value("address", value)


def test_encode_properties_encodes_every_value():
    payload = {"email": "a@b.co", "vip": True, "score": 3, "born": dt.date(1990, 1, 2)}
    assert encode_properties(payload) == {
        "email": "a@b.co",
        "vip": "true",
        "score": "3",
        "born": "1990-01-02",
    }


def test_encode_properties_names_the_bad_key():
    with pytest.raises(SerializerError, match=r'payload\["address"\].*dict'):
        encode_properties({"email": "a@b.co", "address": {"city": "Paris"}})


def test_encode_properties_refuses_non_string_keys_and_non_mappings():
    with pytest.raises(SerializerError, match="keys"):
        encode_properties({1: "x"})
    with pytest.raises(SerializerError, match="mapping"):
        encode_properties([("email", "a@b.co")])
