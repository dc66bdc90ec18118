"""A CRM in a dict, for tests."""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from ..adapters.base import BatchResult
from ..errors import AdapterError, NotFound

__all__ = ["InMemoryAdapter"]


class InMemoryAdapter:
    """An adapter that keeps objects in memory and logs every call.

    ``upsert`` follows HubSpot's semantics: with a ``crm_id`` it updates that
    object; with an ``id_property`` it updates the object holding the same
    value (emails compared case-insensitively) or creates one; otherwise it
    creates. Thread-safe.

    :param latency: seconds each call sleeps, to make races visible.
    :ivar objects: ``{object_type: {crm_id: properties}}``.
    :ivar links: ``{(from type, from id, to type, to id): {association type}}``
        (``None`` is the default type).
    :ivar calls: ``[(method, object_type, argument), ...]`` in call order.
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.calls: list[tuple[str, str, Any]] = []
        self.links: dict[tuple[str, str, str, str], set] = {}
        self._ids = itertools.count(1)
        self._failures: list[BaseException] = []
        self._lock = threading.Lock()

    def fail_next(self, error: BaseException, times: int = 1) -> None:
        """Make the next ``times`` calls raise ``error``."""
        with self._lock:
            self._failures.extend([error] * times)

    def _pause(self) -> None:
        if self.latency:
            time.sleep(self.latency)

    def _enter(self, method: str, object_type: str, argument: Any) -> None:
        self.calls.append((method, object_type, copy.deepcopy(argument)))
        if self._failures:
            raise self._failures.pop(0)

    def upsert(
        self,
        object_type: str,
        payload: Mapping[str, Any],
        id_property: str | None = None,
        crm_id: str | None = None,
    ) -> str:
        """Create or update one object; returns its id."""
        self._pause()
        with self._lock:
            self._enter("upsert", object_type, dict(payload))
            return self._upsert(object_type, payload, id_property, crm_id)

    def _upsert(self, object_type, payload, id_property, crm_id) -> str:
        store = self.objects.setdefault(object_type, {})
        if crm_id and crm_id in store:
            store[crm_id].update(payload)
            return crm_id
        if id_property and payload.get(id_property) is not None:
            found = self._find(object_type, id_property, payload[id_property])
            if found is not None:
                store[found].update(payload)
                return found
        new_id = str(next(self._ids))
        store[new_id] = dict(payload)
        return new_id

    @staticmethod
    def match_key(object_type: str, id_property: str, value: Any) -> str:
        """How this CRM compares ``id_property`` values: lowercased and trimmed."""
        return str(value).strip().lower()

    def _find(self, object_type: str, id_property: str, value: Any) -> str | None:
        wanted = self.match_key(object_type, id_property, value)
        for crm_id, properties in self.objects.get(object_type, {}).items():
            if self.match_key(object_type, id_property, properties.get(id_property, "")) == wanted:
                return crm_id
        return None

    def delete(self, object_type: str, crm_id: str) -> bool:
        """Delete one object; ``False`` when it was already gone."""
        self._pause()
        with self._lock:
            self._enter("delete", object_type, crm_id)
            return self.objects.get(object_type, {}).pop(crm_id, None) is not None

    def batch_upsert(
        self, object_type: str, records: Iterable[Mapping[str, Any]], id_property: str
    ) -> BatchResult:
        """Upsert many payloads by ``id_property``; ``{value: crm_id}``."""
        records = [dict(record) for record in records]
        self._pause()
        with self._lock:
            self._enter("batch_upsert", object_type, records)
            result = BatchResult()
            for record in records:
                key = str(record.get(id_property))
                if record.get(id_property) is None:
                    result.errors[key] = AdapterError(f"input has no {id_property!r} value")
                    continue
                result[key] = self._upsert(object_type, record, id_property, None)
            return result

    def batch_update(
        self, object_type: str, updates: Mapping[str, Mapping[str, Any]]
    ) -> BatchResult:
        """Update many objects by CRM id; ``{crm_id: crm_id}``, missing ids in ``.errors``."""
        updates = {str(crm_id): dict(payload) for crm_id, payload in updates.items()}
        self._pause()
        with self._lock:
            self._enter("batch_update", object_type, updates)
            store = self.objects.setdefault(object_type, {})
            result = BatchResult()
            for crm_id, payload in updates.items():
                if crm_id in store:
                    store[crm_id].update(payload)
                    result[crm_id] = crm_id
                else:
                    result.errors[crm_id] = NotFound(f"{object_type} {crm_id} does not exist")
            return result

    def batch_delete(self, object_type: str, crm_ids: Iterable[str]) -> None:
        """Delete many objects."""
        crm_ids = list(crm_ids)
        self._pause()
        with self._lock:
            self._enter("batch_delete", object_type, crm_ids)
            store = self.objects.get(object_type, {})
            for crm_id in crm_ids:
                store.pop(crm_id, None)

    def batch_read(
        self,
        object_type: str,
        keys: Iterable[str],
        properties: Iterable[str],
        id_property: str | None = None,
    ) -> dict[str, dict[str, Any]]:
        """``{key: {property: value}}`` of the objects found by id or ``id_property``."""
        keys, names = [str(key) for key in keys], list(properties)
        self._pause()
        with self._lock:
            self._enter("batch_read", object_type, keys)
            store = self.objects.get(object_type, {})
            found = {}
            for key in keys:
                crm_id = self._find(object_type, id_property, key) if id_property else key
                if crm_id in store:
                    found[key] = {name: store[crm_id].get(name) for name in names}
            return found

    def batch_associate(
        self,
        from_type: str,
        to_type: str,
        pairs: Iterable[tuple[str, str]],
        association_type: tuple[str, int] | None = None,
    ) -> dict:
        """Link objects; returns the pairs refused (an object that does not exist)."""
        pairs = [(str(f), str(t)) for f, t in pairs]
        self._pause()
        with self._lock:
            self._enter("batch_associate", from_type, pairs)
            refused = {}
            for f, t in pairs:
                if f not in self.objects.get(from_type, {}) or t not in self.objects.get(
                    to_type, {}
                ):
                    refused[(f, t)] = NotFound(f"{from_type} {f} or {to_type} {t} does not exist")
                    continue
                self.links.setdefault((from_type, f, to_type, t), set()).add(association_type)
            return refused

    def batch_dissociate(
        self,
        from_type: str,
        to_type: str,
        pairs: Iterable[tuple[str, str]],
        association_type: tuple[str, int] | None = None,
    ) -> dict:
        """Remove links: every link of each pair, or those of ``association_type``."""
        pairs = [(str(f), str(t)) for f, t in pairs]
        self._pause()
        with self._lock:
            self._enter("batch_dissociate", from_type, pairs)
            for f, t in pairs:
                key = (from_type, f, to_type, t)
                if association_type is None:
                    self.links.pop(key, None)
                else:
                    self.links.get(key, set()).discard(association_type)
            return {}

    def count(self, object_type: str) -> int:
        """How many objects of ``object_type`` exist."""
        with self._lock:
            return len(self.objects.get(object_type, {}))

    def __repr__(self) -> str:
        return f"InMemoryAdapter(objects={sum(map(len, self.objects.values()))})"
