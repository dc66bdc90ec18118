"""Reading request parameters and JSON bodies for the HubSpot emulator (400 on bad input)."""

from __future__ import annotations

from typing import Any

from .errors import validation


def json_objects(value: Any, what: str) -> list[dict]:
    """``value`` if it is a list of JSON objects, else a 400."""
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise validation(f"Invalid input JSON: {what} must be a list of objects")
    return value


def json_object(body: Any, what: str = "request body") -> dict:
    """``body`` if it is a JSON object, else a 400."""
    if not isinstance(body, dict):
        raise validation(f"Invalid input JSON: the {what} must be a JSON object")
    return body


def first(query: dict, name: str, default: Any) -> Any:
    """The last value of a query parameter, or ``default``."""
    values = query.get(name)
    return values[-1] if values else default


def names(query: dict, name: str = "properties") -> list[str] | None:
    """A repeated and/or comma-separated list parameter."""
    values = query.get(name)
    if not values:
        return None
    return [n.strip() for v in values for n in str(v).split(",") if n.strip()]


def integer(value: Any, name: str) -> int:
    """``value`` as an int, else a 400 naming the parameter."""
    try:
        return int(value)
    except (TypeError, ValueError):
        raise validation(f"{name} must be an integer, got {value!r}") from None
