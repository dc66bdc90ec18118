"""Error answers of the HubSpot emulator, shaped like HubSpot's.

Bodies are built without a ``correlationId``; the HTTP layer adds the request's
id to every error body (see :func:`with_correlation_id`).
"""

from __future__ import annotations

import json
import uuid
from typing import Any

PORTAL_ID = 12345678

AUTH_MESSAGE = (
    "Authentication credentials not found. This API supports OAuth 2.0 authentication and you "
    "can find more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview"
)
BATCH_LIMIT_MESSAGE = (
    "The maximum number of inputs supported in a batch is 100. "
    "Please reduce the number of items and try again"
)


class ApiError(Exception):
    """A non-2xx answer: ``status`` and a HubSpot ``Error`` body (no correlation id yet)."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None):
        super().__init__(body.get("message", ""))
        self.status = status
        self.body = body
        self.headers = headers or {}


def error_body(message: str, category: str, **extra: Any) -> dict[str, Any]:
    """The top-level ``Error`` shape: status, message, correlationId, category, extras."""
    body: dict[str, Any] = {
        "status": "error",
        "message": message,
        "correlationId": None,
        "category": category,
    }
    body.update(extra)
    return body


def validation(message: str, **extra: Any) -> ApiError:
    """A 400 ``VALIDATION_ERROR``."""
    return ApiError(400, error_body(message, "VALIDATION_ERROR", **extra))


def not_found(message: str = "resource not found") -> ApiError:
    """A 404 ``OBJECT_NOT_FOUND``."""
    return ApiError(404, error_body(message, "OBJECT_NOT_FOUND"))


def conflict(message: str) -> ApiError:
    """A 409 ``CONFLICT`` (duplicate unique value)."""
    return ApiError(409, error_body(message, "CONFLICT"))


def rate_limited(policy: str, retry_after: float | None = None) -> ApiError:
    """A 429 with HubSpot's ``RATE_LIMIT`` body for ``policy``.

    ``policy`` is ``TEN_SECONDLY_ROLLING`` (the burst window), ``DAILY`` or
    ``SECONDLY`` (search). The body is the one HubSpot documents for the daily
    limit, ``requestId`` included; ``retry_after`` (seconds) adds a
    ``Retry-After`` header.
    """
    if policy == "SECONDLY":
        message = "You have reached your secondly limit."
    else:
        message = f"You have reached your {policy.lower()} limit."
    body = {
        "status": "error",
        "message": message,
        "errorType": "RATE_LIMIT",
        "correlationId": None,
        "policyName": policy,
        "requestId": str(uuid.uuid4()),
    }
    headers = {}
    if retry_after is not None:
        headers["Retry-After"] = _seconds(retry_after)
    return ApiError(429, body, headers)


def unauthorized() -> ApiError:
    """The 401 HubSpot answers for a missing or unknown bearer token."""
    return ApiError(
        401,
        error_body(AUTH_MESSAGE, "INVALID_AUTHENTICATION"),
        {"X-HubSpot-Auth-Failure": "401 Unauthorized"},
    )


def invalid_properties(problems: list[dict[str, Any]]) -> ApiError:
    """The 400 for invalid property values, one ``problem`` per bad property.

    Each problem is ``{"name", "error", "message"}``; the answer carries HubSpot's
    JSON-in-a-string ``message`` and the structured ``errors[]`` list.
    """
    return validation(invalid_properties_message(problems), errors=property_details(problems))


def invalid_properties_message(problems: list[dict[str, Any]]) -> str:
    """HubSpot's ``Property values were not valid: [...]`` message."""
    inner = [
        {
            "isValid": False,
            "message": p["message"],
            "error": p["error"],
            "name": p["name"],
            "localizedErrorMessage": p["message"],
            "portalId": PORTAL_ID,
        }
        for p in problems
    ]
    return "Property values were not valid: " + json.dumps(inner, separators=(",", ":"))


def property_details(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ``errors[]`` detail entries for invalid properties."""
    return [
        {"message": p["message"], "code": p["error"], "context": {"propertyName": [p["name"]]}}
        for p in problems
    ]


def standard_error(status_error: ApiError, context: dict[str, list[str]]) -> dict[str, Any]:
    """An ``errors[]`` entry of a 207 answer, built from a would-be top-level error."""
    body = status_error.body
    return {
        "status": "error",
        "category": body.get("category", "VALIDATION_ERROR"),
        "message": body.get("message", ""),
        "context": context,
        "errors": body.get("errors", []),
        "links": {},
    }


def with_correlation_id(body: Any, correlation_id: str) -> Any:
    """Fill the ``correlationId`` placeholder of an error body."""
    if isinstance(body, dict) and "correlationId" in body and body["correlationId"] is None:
        body = dict(body, correlationId=correlation_id)
    return body


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)
