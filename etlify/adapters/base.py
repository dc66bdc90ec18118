"""The adapter protocol: what Etlify asks of a CRM client.

An adapter is any *instance* with ``upsert`` and ``delete``. Batch methods are
optional; batch sync uses them when present. So is ``match_key(object_type,
id_property, value) -> str``, which says how the CRM compares values of a
unique property when it matches an upsert (HubSpot: emails lowercased and
trimmed); without it, values are compared exactly, as text.

Associations (``associations=[Associate(...)]``) need ``batch_associate`` and
``batch_dissociate`` (:class:`AssociationAdapter`); a write policy with
``if_empty`` fields needs ``batch_read``; an ``Associate(label=...)`` needs
``association_type``. Adapters raise
subclasses of :class:`etlify.AdapterError` and never put credentials in a
message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol, runtime_checkable

from ..errors import AdapterError, SerializerError

__all__ = ["Adapter", "AssociationAdapter", "BatchAdapter", "BatchResult"]


@runtime_checkable
class Adapter(Protocol):
    """The two calls every adapter answers."""

    def upsert(
        self,
        object_type: str,
        payload: Mapping[str, Any],
        id_property: str | None = None,
        crm_id: str | None = None,
    ) -> str:
        """Create or update one object and return its CRM id.

        With ``crm_id`` the adapter updates that object (identity survives a
        change of the ``id_property`` value); otherwise it matches on
        ``id_property`` when given, else creates.
        """
        ...

    def delete(self, object_type: str, crm_id: str) -> bool:
        """Delete one object; return ``False`` when it was already gone."""
        ...


@runtime_checkable
class BatchAdapter(Adapter, Protocol):
    """An adapter with batch endpoints."""

    def batch_upsert(
        self, object_type: str, records: Iterable[Mapping[str, Any]], id_property: str
    ) -> dict[str, str]:
        """Upsert many payloads keyed on ``id_property``.

        Returns ``{id_property value: crm id}`` for the inputs the CRM
        confirmed, keyed by the value exactly as given in the payload (as
        ``str``). Inputs the CRM rejected are absent from the mapping; a
        :class:`BatchResult` names their errors in ``.errors``.
        """
        ...

    def batch_delete(self, object_type: str, crm_ids: Iterable[str]) -> None:
        """Delete many objects by CRM id."""
        ...


@runtime_checkable
class AssociationAdapter(Protocol):
    """An adapter that links CRM objects to each other."""

    def batch_associate(
        self,
        from_type: str,
        to_type: str,
        pairs: Iterable[tuple[str, str]],
        association_type: tuple[str, int] | None = None,
    ) -> Mapping[tuple[str, str], AdapterError]:
        """Link each ``(from id, to id)`` with ``association_type`` (``(category,
        type id)``; ``None``: the CRM's default type of the pair). Returns the
        pairs the CRM refused, with why; raises for a request that failed whole."""
        ...

    def batch_dissociate(
        self,
        from_type: str,
        to_type: str,
        pairs: Iterable[tuple[str, str]],
        association_type: tuple[str, int] | None = None,
    ) -> Mapping[tuple[str, str], AdapterError]:
        """Remove the links of each pair (of ``association_type`` only, when given)."""
        ...

    def batch_read(
        self,
        object_type: str,
        keys: Iterable[str],
        properties: Iterable[str],
        id_property: str | None = None,
    ) -> Mapping[str, Mapping[str, Any]]:
        """``{key: {property: value}}`` of the objects found, by CRM id or ``id_property``."""
        ...


class BatchResult(dict):
    """A batch answer: ``{key: crm_id}`` for confirmed inputs, ``.errors`` for the rest.

    ``errors`` maps the key of each rejected input to the error that says
    why: an :class:`~etlify.AdapterError` from the CRM, or a
    :class:`~etlify.SerializerError` for an input that could not be encoded.
    """

    def __init__(
        self,
        results: Mapping[str, str] | None = None,
        errors: Mapping[str, AdapterError | SerializerError] | None = None,
    ) -> None:
        super().__init__(results or {})
        self.errors: dict[str, AdapterError | SerializerError] = dict(errors or {})
