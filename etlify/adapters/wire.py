"""How payload values travel to HubSpot: every property value is a string.

================================  ===========================================
Python value                      sent as
================================  ===========================================
``str``                           as is (no lone surrogates)
``bool``                          ``"true"`` / ``"false"``
``int``, ``float``, ``Decimal``   decimal text, never an exponent (4300 digits
                                  at most before or after the point)
``datetime.date``                 ``"YYYY-MM-DD"``
``datetime.datetime``             epoch milliseconds (a naive value is UTC)
``None``                          ``""``, which clears the property
list, tuple, set of the above     values joined by ``;`` (multiple checkboxes)
================================  ===========================================

Anything else raises :class:`etlify.SerializerError` naming the key.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..errors import SerializerError

__all__ = ["encode_properties", "encode_value"]

#: The most digits a number may have before or after the point: as many as
#: Python writes for an ``int`` by default (``sys.get_int_max_str_digits()``).
MAX_DIGITS = 4300

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)
_MILLISECOND = dt.timedelta(milliseconds=1)


def encode_properties(payload: Mapping[str, Any]) -> dict[str, str]:
    """Encode a whole payload into HubSpot ``properties`` (string values).

    :raises SerializerError: for a non-string key or a value that has no
        HubSpot form, naming the key.
    """
    if not isinstance(payload, Mapping):
        raise SerializerError(f"A payload must be a mapping, not {type(payload).__name__}.")
    properties = {}
    for key, value in payload.items():
        if not isinstance(key, str):
            raise SerializerError(f"Payload keys must be strings, not {key!r}.")
        properties[key] = encode_value(key, value)
    return properties


def encode_value(key: str, value: Any) -> str:
    """Encode one property value; ``key`` only names it in errors."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [_encode_scalar(key, item) for item in value]
        for item in items:
            if ";" in item or item == "":
                raise SerializerError(
                    f'payload["{key}"]: a multiple-checkbox option cannot be empty '
                    f"or contain ';' (got {item!r})."
                )
        if isinstance(value, (set, frozenset)):
            items.sort()
        return ";".join(items)
    return _encode_scalar(key, value)


def _encode_scalar(key: str, value: Any) -> str:
    if isinstance(value, str):
        text = str.__str__(value)  # the plain value of a str subclass such as an enum
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise SerializerError(
                f'payload["{key}"]: {text!r:.60} is not valid Unicode text '
                "(it holds a lone surrogate), which HubSpot cannot store."
            ) from None
        return text
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        try:
            return int.__repr__(value)
        except ValueError:  # more digits than Python writes
            raise SerializerError(
                f'payload["{key}"]: a number of more than {MAX_DIGITS} digits has no HubSpot form.'
            ) from None
    if isinstance(value, (float, Decimal)):
        finite = value.is_finite() if isinstance(value, Decimal) else math.isfinite(value)
        if not finite:
            raise SerializerError(f'payload["{key}"]: HubSpot has no value for {value!r}.')
        number = value if isinstance(value, Decimal) else Decimal(repr(value))
        if number and abs(number.adjusted()) > MAX_DIGITS:
            # Written without an exponent it would take that many digits, or more.
            raise SerializerError(
                f'payload["{key}"]: {value!r:.40} would take more than {MAX_DIGITS} '
                "digits to write; HubSpot has no form for it."
            )
        return format(number, "f")
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.timezone.utc)
        return str((value - _EPOCH) // _MILLISECOND)
    if isinstance(value, dt.date):
        return value.isoformat()
    raise SerializerError(
        f'payload["{key}"]: cannot send a {type(value).__name__} to HubSpot; '
        "use a string, number, bool, date, datetime, None or a list of those."
    )
