"""Object types and property registries of the HubSpot emulator.

A type with a registry rejects unknown property names; custom types
(``p<portal>_<name>``, ``2-<digits>``) start with an open schema that accepts
any name until a property is defined for them.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from .errors import PORTAL_ID, ApiError, validation

TYPES = ("string", "number", "bool", "date", "datetime", "enumeration")

ALIASES = {
    "contacts": "contacts", "contact": "contacts", "0-1": "contacts",
    "companies": "companies", "company": "companies", "0-2": "companies",
    "deals": "deals", "deal": "deals", "0-3": "deals",
    "tickets": "tickets", "ticket": "tickets", "0-5": "tickets",
}  # fmt: skip
TYPE_IDS = {"contacts": "0-1", "companies": "0-2", "deals": "0-3", "tickets": "0-5"}
SINGULAR = {"contacts": "Contact", "companies": "Company", "deals": "Deal", "tickets": "Ticket"}
_CUSTOM = re.compile(r"^(p\d+_[A-Za-z][A-Za-z0-9_]*|2-\d+)$")

# Returned by reads that name no properties (plus the system properties).
DEFAULT_READ = {
    "contacts": ("firstname", "lastname", "email"),
    "companies": ("name", "domain"),
    "deals": ("dealname", "amount", "closedate", "pipeline", "dealstage"),
    "tickets": ("subject", "content", "hs_pipeline", "hs_pipeline_stage"),
}
# Searched by the free-text ``query`` of a search request.
QUERY_FIELDS = {
    "contacts": ("firstname", "lastname", "email", "phone", "hs_additional_emails", "fax",
                 "mobilephone", "company"),
    "companies": ("name", "domain", "website", "phone"),
    "deals": ("dealname",),
    "tickets": ("subject", "content"),
}  # fmt: skip

_S, _N, _E = "string", "number", "enumeration"
_DEFAULTS: dict[str, dict[str, str]] = {
    "contacts": {
        "email": _S, "firstname": _S, "lastname": _S, "phone": _S, "mobilephone": _S, "fax": _S,
        "company": _S, "website": _S, "jobtitle": _S, "address": _S, "city": _S, "state": _S,
        "zip": _S, "country": _S, "industry": _S, "hs_additional_emails": _S,
        "lifecyclestage": _E, "hs_lead_status": _E, "hubspot_owner_id": _E,
        "annualrevenue": _N, "date_of_birth": _S,
    },
    "companies": {
        "name": _S, "domain": _S, "website": _S, "phone": _S, "address": _S, "city": _S,
        "state": _S, "zip": _S, "country": _S, "industry": _E, "description": _S,
        "numberofemployees": _N, "annualrevenue": _N, "lifecyclestage": _E, "type": _E,
        "hubspot_owner_id": _E,
    },
    "deals": {
        "dealname": _S, "amount": _N, "dealstage": _E, "pipeline": _E, "closedate": "datetime",
        "dealtype": _E, "description": _S, "hubspot_owner_id": _E,
    },
    "tickets": {
        "subject": _S, "content": _S, "hs_pipeline": _E, "hs_pipeline_stage": _E,
        "hs_ticket_priority": _E, "hubspot_owner_id": _E,
    },
}  # fmt: skip


def canonical_type(name: str) -> str | None:
    """The emulator's name for an object type (``0-1`` -> ``contacts``), or None if unknown."""
    if name in ALIASES:
        return ALIASES[name]
    if _CUSTOM.match(name):
        return name
    return None


def system_names(object_type: str) -> tuple[str, str]:
    """The (created, last-modified) date property names of a type."""
    if object_type == "contacts":
        return "createdate", "lastmodifieddate"
    if object_type in TYPE_IDS:
        return "createdate", "hs_lastmodifieddate"
    return "hs_createdate", "hs_lastmodifieddate"


class PropertySpec:
    """One property of a registry: its value ``type``, ``unique`` flag and enum ``options``."""

    __slots__ = ("name", "type", "unique", "options", "read_only")

    def __init__(
        self,
        name: str,
        type: str = "string",
        unique: bool = False,
        options: Any = None,
        read_only: bool = False,
    ) -> None:
        if type not in TYPES:
            raise ValueError(f"unknown property type {type!r} for {name!r}; use one of {TYPES}")
        self.name = name
        self.type = type
        self.unique = bool(unique)
        self.options = frozenset(options) if options else None
        self.read_only = read_only


class Schema:
    """The property registry of one object type.

    Unknown names are refused unless the schema is ``open`` (a custom type nobody
    defined properties for) or not ``strict`` (the emulator accepts any name).
    """

    def __init__(self, object_type: str, strict: bool = True) -> None:
        self.object_type = object_type
        self.strict = strict
        created, modified = system_names(object_type)
        self.system = {
            "hs_object_id": PropertySpec("hs_object_id", "number", read_only=True),
            created: PropertySpec(created, "datetime", read_only=True),
            modified: PropertySpec(modified, "datetime", read_only=True),
        }
        self.props: dict[str, PropertySpec] = {}
        self.open = object_type not in _DEFAULTS
        for name, type_ in _DEFAULTS.get(object_type, {}).items():
            self.define(name, type_, unique=(object_type == "contacts" and name == "email"))

    def define(self, name: str, type: str = "string", unique: bool = False, **kw: Any) -> None:
        """Add or replace a property; the type then rejects names it does not know."""
        self.open = False
        self.props[name] = PropertySpec(name, type, unique, **kw)

    def spec(self, name: str) -> PropertySpec | None:
        """The spec of ``name`` (a string spec for any new name in an open schema)."""
        found = self.system.get(name) or self.props.get(name)
        return found or (_OPEN if self.open or not self.strict else None)

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a property of this type (always true for an open schema)."""
        return self.spec(name) is not None

    def unique_names(self) -> list[str]:
        """Names of the unique properties, indexed by the store."""
        return [p.name for p in self.props.values() if p.unique]

    def is_unique(self, name: str) -> bool:
        """Whether ``name`` may serve as ``idProperty``."""
        spec = self.props.get(name)
        return bool(spec and spec.unique)

    def check_id_property(self, name: str) -> None:
        """Raise HubSpot's 400 unless ``name`` is a unique property usable as ``idProperty``."""
        if not self.is_unique(name):
            raise self.non_unique(name)

    def non_unique(self, name: str) -> ApiError:
        """HubSpot's 400 for an ``idProperty`` it will not look records up by."""
        type_id = TYPE_IDS.get(self.object_type, self.object_type)
        return validation(
            f"Unable to perform update/upsert by non-unique {type_id} property {name} "
            f"in portal ID {PORTAL_ID}"
        )


_OPEN = PropertySpec("*")


def normalize(schema: Schema, properties: Any) -> tuple[dict[str, str], list[dict[str, str]]]:
    """Convert write input to stored strings; returns ``(values, problems)``.

    ``""`` (or JSON null) means "clear". Problems are ``{"name", "error", "message"}``.
    """
    if not isinstance(properties, dict):
        raise validation("Invalid input JSON: 'properties' must be an object")
    values: dict[str, str] = {}
    problems: list[dict[str, str]] = []
    for name, raw in properties.items():
        spec = schema.spec(name)
        if spec is None:
            problems.append(
                _problem(name, "PROPERTY_DOESNT_EXIST", f'Property "{name}" does not exist')
            )
            continue
        if spec.read_only:
            problems.append(_problem(name, "READ_ONLY_VALUE", f'"{name}" is a read only property'))
            continue
        text = _as_text(raw)
        if text == "":
            values[name] = ""
            continue
        try:
            values[name] = _convert(schema.object_type, spec, name, text)
        except _Invalid as exc:
            problems.append(_problem(name, exc.code, exc.message))
    return values, problems


def unique_key(name: str, value: str) -> str:
    """The index key of a unique value (emails match case-insensitively)."""
    return value.lower() if name == "email" else value


class _Invalid(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _problem(name: str, code: str, message: str) -> dict[str, str]:
    return {"name": name, "error": code, "message": message}


def _as_text(raw: Any) -> str:
    if raw is None:
        return ""
    if isinstance(raw, bool):
        return "true" if raw else "false"
    if isinstance(raw, float) and raw.is_integer():
        return str(int(raw))
    if isinstance(raw, (int, float, str)):
        return str(raw)
    return str(raw)


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def _convert(object_type: str, spec: PropertySpec, name: str, text: str) -> str:
    if object_type == "contacts" and name == "email":
        if not _EMAIL.match(text):
            raise _Invalid("INVALID_EMAIL", f"Email address {text} is invalid")
        return text.lower()
    if spec.type == "string":
        if len(text) > 65536:
            raise _Invalid("INVALID_STRING", f"{name} is longer than 65536 characters")
        return text
    if text != text.strip():
        raise _Invalid(
            "LEADING_TRAILING_WHITESPACE", f"{text!r} has leading or trailing whitespace"
        )
    if spec.type == "number":
        if not _NUMBER.match(text):
            raise _Invalid("INVALID_INTEGER", f"{name} was not a valid number")
        return text
    if spec.type == "bool":
        if text.lower() not in ("true", "false"):
            raise _Invalid("INVALID_BOOLEAN", f"{text} was not a valid boolean")
        return text.lower()
    if spec.type == "date":
        return _date(text)
    if spec.type == "datetime":
        return _datetime(text)
    if spec.options is not None and text not in spec.options:
        raise _Invalid("INVALID_OPTION", f"{text} was not one of the allowed options")
    return text


def _date(text: str) -> str:
    """A date property: ``YYYY-MM-DD`` or epoch ms at midnight UTC; stored as ``YYYY-MM-DD``."""
    if text.isdigit():
        ms = int(text)
        moment = dt.datetime.fromtimestamp(ms / 1000, dt.timezone.utc)
        if ms % 86_400_000:
            clock = moment.strftime("%H:%M:%S.") + f"{ms % 1000:03d}"
            raise _Invalid("INVALID_DATE", f"{text} is at {clock} UTC, not midnight!")
        return moment.strftime("%Y-%m-%d")
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise _Invalid("INVALID_DATE", f"{text} is not a valid date") from None


def _datetime(text: str) -> str:
    """A datetime property: ISO 8601 or epoch ms; stored as ISO 8601 with ms and ``Z``."""
    try:
        return iso(epoch_ms(text) / 1000)
    except ValueError:
        raise _Invalid("INVALID_DATETIME", f"{text} is not a valid datetime") from None


def epoch_ms(text: str) -> int:
    """Epoch milliseconds of a date, datetime or epoch-ms string (ValueError otherwise)."""
    if text.lstrip("-").isdigit():
        return int(text)
    value = text[:-1] + "+00:00" if text.endswith("Z") else text
    if len(value) == 10:
        moment = dt.datetime.combine(dt.date.fromisoformat(value), dt.time(), dt.timezone.utc)
    else:
        moment = dt.datetime.fromisoformat(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.timezone.utc)
    return int(round(moment.timestamp() * 1000))


def iso(seconds: float) -> str:
    """HubSpot's timestamp form: ``2026-01-02T03:04:05.678Z``."""
    ms = int(round(seconds * 1000))
    moment = dt.datetime.fromtimestamp(ms // 1000, dt.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
