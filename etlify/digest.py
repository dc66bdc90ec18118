"""Stable digests of CRM payloads.

The digest of a payload is the same in every process and on every run: keys
are sorted, and each value type has one fixed encoding, independent of
``PYTHONHASHSEED`` and of dict or set ordering.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import math
import uuid
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from .errors import SerializerError

__all__ = ["canonical", "canonical_json", "stable_sha256", "MAX_DIGEST_LENGTH"]

#: The longest digest the sync-state table stores.
MAX_DIGEST_LENGTH = 128


def canonical(value: Any, path: str = "payload") -> Any:
    """Return ``value`` as plain JSON data with one encoding per type.

    Raises :class:`SerializerError` naming the key path (``payload["a"]["b"]``)
    of a value it cannot encode.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise SerializerError(f"{path} is {value!r}, which has no JSON form")
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise SerializerError(f"{path} is {value!r}, which has no JSON form")
        return {"$decimal": format(value.normalize() if value else Decimal(0), "f")}
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return {"$datetime": value.isoformat()}
    if isinstance(value, dt.date):
        return {"$date": value.isoformat()}
    if isinstance(value, dt.time):
        return {"$time": value.isoformat()}
    if isinstance(value, uuid.UUID):
        return {"$uuid": str(value)}
    if isinstance(value, (bytes, bytearray, memoryview)):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise SerializerError(f"{path} has a key {key!r} that is not a string")
            out[key] = canonical(item, f"{path}[{json.dumps(key, ensure_ascii=False)}]")
        return out
    if isinstance(value, (list, tuple)):
        return [canonical(item, f"{path}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, (set, frozenset)):
        items = [canonical(item, f"{path}[*]") for item in value]
        return {"$set": sorted(items, key=_sort_key)}
    raise SerializerError(
        f"{path} is of type {type(value).__name__}, which Etlify cannot encode; "
        "return str, int, float, bool, None, Decimal, date, datetime, UUID, bytes, "
        "or lists and dicts of those"
    )


def _sort_key(item: Any) -> str:
    return json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(payload: Any) -> str:
    """The canonical JSON text of ``payload`` (sorted keys, no spaces)."""
    return json.dumps(canonical(payload), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def stable_sha256(payload: Any) -> str:
    """The hex SHA-256 of ``canonical_json(payload)``: the default digest strategy."""
    try:
        return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
    except (UnicodeEncodeError, ValueError) as error:
        # Rare enough to look for the culprit only now: a string with a lone
        # surrogate, or an int too long for Python to print.
        where = _unencodable(payload, "payload") or "payload cannot be encoded"
        raise SerializerError(f"{where} ({error})") from None


def _unencodable(value: Any, path: str) -> str:
    """The key path of the first value in ``value`` that has no UTF-8 JSON form."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            found = _unencodable(item, f"{path}[{json.dumps(key, ensure_ascii=False)}]")
            if found:
                return found
    elif isinstance(value, (list, tuple, set, frozenset)):
        for index, item in enumerate(value):
            found = _unencodable(item, f"{path}[{index}]")
            if found:
                return found
    elif isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path} is a string that is not valid Unicode"
    elif isinstance(value, int) and not isinstance(value, bool):
        try:
            str(value)
        except ValueError:
            return f"{path} is an integer too long to encode"
    return ""
