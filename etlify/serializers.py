"""Serializers turn a record into a CRM payload."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .errors import SerializerError

__all__ = ["BaseSerializer", "build_payload"]


class BaseSerializer:
    """Base class for serializers: keeps the record, asks for ``as_crm_payload``.

    Any class with ``__init__(record)`` and ``as_crm_payload()`` (or
    ``to_dict()``) returning a mapping of CRM property names to values will do.
    """

    def __init__(self, record: Any) -> None:
        self.record = record

    def as_crm_payload(self) -> Mapping[str, Any]:
        """Return the CRM payload of ``self.record`` (by default, ``self.to_dict()``)."""
        to_dict = getattr(self, "to_dict", None)
        if to_dict is None:
            raise NotImplementedError(
                f"{type(self).__name__} must define as_crm_payload() or to_dict()"
            )
        return to_dict()


def build_payload(serializer: type, record: Any) -> dict[str, Any]:
    """Run ``serializer`` on ``record`` and return its payload as a dict.

    Raises :class:`SerializerError` naming the model and the serializer when
    the serializer raises or returns something other than a mapping.
    """
    try:
        instance = serializer(record)
        method = getattr(instance, "as_crm_payload", None) or getattr(instance, "to_dict", None)
        if method is None:
            raise SerializerError(
                f"{_where(serializer, record)} has neither as_crm_payload() nor to_dict()"
            )
        payload = method()
    except SerializerError:
        raise
    except Exception as error:
        raise SerializerError(
            f"{_where(serializer, record)} raised {type(error).__name__}: {error}"
        ) from error
    if type(payload) is dict:
        return payload
    if not isinstance(payload, Mapping):
        raise SerializerError(
            f"{_where(serializer, record)} returned a {type(payload).__name__}, "
            "not a mapping of CRM properties"
        )
    return dict(payload)


def _where(serializer: type, record: Any) -> str:
    return f"{type(record).__name__} serializer {serializer.__name__}"
