"""How a failed sync or delete is described, recorded and reported."""

from __future__ import annotations

import logging
from typing import Any

from ..errors import FREE_ERROR_KINDS, CircuitOpen, ValidationFailed, error_kind
from ..state import MAX_KEY_LENGTH
from ..status import Status
from .outcomes import announce
from .report import RunReport

__all__ = [
    "MAX_ERROR_LENGTH",
    "describe_error",
    "failure_fields",
    "long_key_error",
    "report_failure",
]

logger = logging.getLogger("etlify")

#: The longest error message stored on a sync row.
MAX_ERROR_LENGTH = 2000


def describe_error(error: BaseException, adapter: Any = None) -> str:
    """``"Type: message"`` for ``error``, with the adapter's token masked, bounded in length."""
    text = f"{type(error).__name__}: {error}"
    token = getattr(adapter, "access_token", None) or getattr(
        getattr(adapter, "adapter", None), "access_token", None
    )
    if isinstance(token, str) and token:
        text = text.replace(token, "[token]")
    return text[:MAX_ERROR_LENGTH]


def failure_fields(error_count: int, error: BaseException, adapter: Any = None) -> dict[str, Any]:
    """The sync-row fields recording ``error`` on a row with ``error_count`` errors.

    Rate-limit, transient and auth failures are recorded but do not spend the
    record's error budget: they are not the record's fault.
    """
    kind = error_kind(error)
    return {
        "last_error": describe_error(error, adapter),
        "last_error_kind": kind,
        "error_count": error_count if kind in FREE_ERROR_KINDS else error_count + 1,
    }


def report_failure(
    action: str,
    model: type,
    pk: Any,
    entry: Any,
    record: Any,
    error: BaseException,
    report: RunReport | None = None,
) -> None:
    """Log a failed sync or delete (token masked) and send the ``failed`` signal.

    With the ``report`` of a run, the failure is counted there and logged at
    WARNING only while its kind is among the first few (see
    :mod:`~etlify.engine.report`); one refused by an open circuit breaker is
    logged at DEBUG.
    """
    text = describe_error(error, entry.adapter)
    level = logging.DEBUG if isinstance(error, CircuitOpen) else logging.WARNING
    if report is not None:
        level = report.failed(
            entry.name, error_kind(error), f"{model.__name__} #{pk}: {text}", level
        )
    logger.log(
        level,
        "etlify: %s of %s #%s with %s failed: %s",
        action,
        model.__name__,
        pk,
        entry.name,
        text,
    )
    announce(Status.ERROR, model, record, entry.name, error=error)


def long_key_error(model: type, key: str) -> ValidationFailed | None:
    """The error refusing a record of ``model`` whose key, as text, is ``key``; None if it fits.

    The sync rows hold keys of at most :data:`~etlify.state.MAX_KEY_LENGTH`
    characters: a longer one could not be stored (PostgreSQL refuses it,
    MySQL/MariaDB would cut it), so the record is refused before any write.
    """
    if len(key) <= MAX_KEY_LENGTH:
        return None
    return ValidationFailed(
        f"{model.__name__} primary key {key[:40]!r}... is {len(key)} characters long: "
        f"Etlify's sync state holds keys of at most {MAX_KEY_LENGTH} characters "
        "(etlify.state.MAX_KEY_LENGTH)"
    )
