"""Exceptions raised by Etlify.

Every error Etlify raises derives from :class:`EtlifyError`. Adapter errors
follow the Ruby gem's hierarchy and carry the HTTP ``status``, HubSpot's error
``category``, the ``correlation_id`` and the parsed ``details`` of the answer.
None of them ever carries an access token.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "EtlifyError",
    "ConfigurationError",
    "SerializerError",
    "AdapterError",
    "TransportError",
    "ApiError",
    "Unauthorized",
    "NotFound",
    "RateLimited",
    "ReserveReached",
    "UnconfirmedCreate",
    "ValidationFailed",
    "DuplicateKey",
    "CircuitOpen",
    "error_kind",
]


class EtlifyError(Exception):
    """Base class of every Etlify error."""


class ConfigurationError(EtlifyError, ValueError):
    """Misuse of the API: an unknown CRM, a bad option, a model not configured."""


class SerializerError(EtlifyError):
    """A serializer failed or produced a payload that cannot be encoded."""


class AdapterError(EtlifyError):
    """An adapter could not complete a call to the CRM.

    :param message: what failed, without secrets.
    :param status: the HTTP status, when there was an answer.
    :param category: the CRM's error category (HubSpot's ``category``).
    :param correlation_id: the CRM's request id, for its support.
    :param details: the parsed error body (a dict) or a short text excerpt.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        category: str | None = None,
        correlation_id: str | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.category = category
        self.correlation_id = correlation_id
        self.details = details


class TransportError(AdapterError):
    """The request never got an answer: refused, dropped or timed out."""


class ApiError(AdapterError):
    """The CRM answered with an error status."""


class Unauthorized(ApiError):
    """401 or 403: the token is missing, invalid, expired or lacks a scope."""


class NotFound(ApiError):
    """404: the object does not exist (or no longer does)."""


class RateLimited(ApiError):
    """429: the CRM's rate limit was reached.

    :param retry_after: seconds to wait before the next request, when known.
    """

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class ReserveReached(RateLimited):
    """Not sent: the day's budget is down to the reserve kept for single syncs
    (the rate limit's ``daily_reserve``), and this request is a backfill's.
    It stops that run and no other work: single syncs still pass."""


class ValidationFailed(ApiError):
    """400, 409 or 422: the CRM refused the payload itself."""


class DuplicateKey(ValidationFailed):
    """Two records would mirror into one CRM object: their values of its unique
    key (``id_property``) are one value as the CRM compares them (HubSpot:
    emails lowercased and trimmed). The record refused is not sent while the
    key stays taken; it spends the retry budget like any refused payload."""


class UnconfirmedCreate(AdapterError):
    """A create whose answer was lost may have made an object, and the CRM shows
    several that could be it: Etlify does not guess. Costs no retry budget."""


class CircuitOpen(AdapterError):
    """Not sent: the CRM's circuit breaker is open after a failure that no
    record could pass (``reason``: a refused token, an unreachable host, a
    daily rate limit). Its kind is the reason's, so it spends no budget."""

    def __init__(self, message: str, *, reason: AdapterError) -> None:
        super().__init__(message, status=reason.status, category=reason.category)
        self.reason = reason


def error_kind(error: BaseException) -> str:
    """Classify an exception into the ``last_error_kind`` stored on a sync row.

    ``rate_limited`` and ``transient`` failures will likely pass on a later
    attempt and do not spend a record's error budget; ``auth`` is the
    configuration's fault, not the record's, and does not either.
    """
    if isinstance(error, CircuitOpen):
        return error_kind(error.reason)
    if isinstance(error, RateLimited):
        return "rate_limited"
    if isinstance(error, UnconfirmedCreate):
        return "unconfirmed_create"
    if isinstance(error, Unauthorized):
        return "auth"
    if isinstance(error, NotFound):
        return "not_found"
    if isinstance(error, ValidationFailed):
        return "validation"
    if isinstance(error, SerializerError):
        return "serializer"
    if isinstance(error, TransportError):
        return "transient"
    if isinstance(error, ApiError) and error.status is not None:
        # A server error, a lock, a migrating portal, or a 2xx answer garbled
        # on the way: the next attempt may well pass.
        if error.status >= 500 or error.status in (423, 477) or 200 <= error.status < 300:
            return "transient"
    # Anything else (an unknown 4xx, an adapter that returned no id, a bug)
    # would fail the same way every time: it spends the budget.
    return "unexpected"


#: Every ``last_error_kind`` :func:`error_kind` gives.
ERROR_KINDS = (
    "rate_limited",
    "transient",
    "auth",
    "validation",
    "not_found",
    "serializer",
    "unexpected",
    "unconfirmed_create",
)

#: Error kinds that never count against a record's retry budget.
FREE_ERROR_KINDS = frozenset({"rate_limited", "transient", "auth", "unconfirmed_create"})

#: Error kinds after which a create may have made its object at the CRM.
CREATE_UNCERTAIN_KINDS = frozenset({"transient", "unexpected"})
