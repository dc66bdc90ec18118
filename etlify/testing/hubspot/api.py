"""Routes of the HubSpot emulator: CRM v3 objects, search, batches and v4 associations.

:meth:`Api.handle` maps one request to ``(status, body)`` or raises
:class:`~etlify.testing.hubspot.errors.ApiError`; it holds the store lock
while it runs.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable
from urllib.parse import unquote

from . import params
from .associations import AssociationRoutes
from .batch import BatchRoutes
from .errors import (
    ApiError,
    error_body,
    not_found,
    validation,
)
from .schema import SINGULAR, canonical_type
from .search import search
from .store import Record, Store, TypeStore

LIST_LIMIT = 100


def is_search(method: str, path: str) -> bool:
    """Whether a request goes to a search endpoint (own rate limit, no rate headers)."""
    parts = path.strip("/").split("/")
    return (
        method == "POST"
        and len(parts) == 5
        and parts[:3] == ["crm", "v3", "objects"]
        and (parts[4] == "search")
    )


class Api(BatchRoutes, AssociationRoutes):
    """The emulated endpoints over a :class:`Store`."""

    def __init__(self, store: Store, shuffle_seed: int, base_url: str = "") -> None:
        self.store = store
        self.shuffle_seed = shuffle_seed
        self.shuffler = random.Random(shuffle_seed)
        self.base_url = base_url

    def reset(self) -> None:
        """Restart the result-shuffling sequence from its seed."""
        self.shuffler = random.Random(self.shuffle_seed)

    def handle(
        self, method: str, path: str, query: dict[str, list[str]], body: Any, body_chars: int
    ) -> tuple[int, Any]:
        """Answer one request: ``(status, JSON-able body or None)``."""
        parts = [unquote(p) for p in path.split("/") if p]
        with self.store.lock:
            if parts[:3] == ["crm", "v3", "objects"] and len(parts) >= 4:
                types = self.store.type(parts[3])
                return self._v3(method, types, parts[4:], query, body, body_chars)
            if parts[:3] == ["crm", "v4", "objects"] and len(parts) >= 6:
                return self._v4_object(method, parts[3:], body)
            if parts[:3] == ["crm", "v4", "associations"] and len(parts) >= 6:
                return self._v4_batch(method, parts[3:], body)
        raise ApiError(404, error_body(f"No route for {method} {path}", "OBJECT_NOT_FOUND"))

    # -- v3 objects -----------------------------------------------------------------

    def _v3(self, method, types, rest, query, body, body_chars) -> tuple[int, Any]:
        routes: dict[tuple[str, ...], Callable[[], tuple[int, Any]]]
        if not rest:
            routes = {
                ("GET",): lambda: self._list(types, query),
                ("POST",): lambda: self._create(types, body),
            }
        elif rest == ["search"]:
            routes = {("POST",): lambda: (200, search(self.store, types, body, body_chars))}
        elif len(rest) == 2 and rest[0] == "batch":
            operation = getattr(self, "_batch_" + rest[1], None)
            if operation is None:
                raise not_found(f"Unknown batch operation: {rest[1]}")
            routes = {("POST",): lambda: operation(types, body, query)}
        elif len(rest) == 1:
            routes = {
                ("GET",): lambda: self._read(types, rest[0], query),
                ("PATCH",): lambda: self._update(types, rest[0], query, body),
                ("DELETE",): lambda: self._archive(types, rest[0], query),
            }
        else:
            raise not_found("No such route")
        route = routes.get((method,))
        if route is None:
            raise ApiError(
                405, error_body(f"Method {method} is not allowed here", "METHOD_NOT_ALLOWED")
            )
        return route()

    def _list(self, types: TypeStore, query: dict) -> tuple[int, Any]:
        limit = max(1, min(params.integer(params.first(query, "limit", "10"), "limit"), LIST_LIMIT))
        after = params.integer(params.first(query, "after", "0"), "after")
        names = types.read_names(params.names(query))
        if params.first(query, "archived", "false") == "true":
            ids = sorted((int(i) for i in types.archived), key=int)
            chosen = [i for i in ids if i >= after][: limit + 1]
            records = [types.archived[str(i)] for i in chosen[:limit]]
            cursor = str(chosen[limit]) if len(chosen) > limit else None
        else:
            records, cursor = types.page_after(after, limit)
        answer: dict[str, Any] = {"results": [self._view(types, r, names, query) for r in records]}
        if cursor is not None:
            link = f"{self.base_url}/crm/v3/objects/{types.name}?after={cursor}"
            answer["paging"] = {"next": {"after": cursor, "link": link}}
        return 200, answer

    def _create(self, types: TypeStore, body: Any) -> tuple[int, Any]:
        values = types.values(params.json_object(body).get("properties", {}))
        failure = types.conflict(values)
        if failure:
            raise failure
        links = self._planned_links(types, body.get("associations"))
        record = self.store.create(types, values)
        self._link(types, record, links)
        return 201, record.view()

    def _read(self, types: TypeStore, value: str, query: dict) -> tuple[int, Any]:
        record = self._find(types, value, query)
        return 200, self._view(types, record, types.read_names(params.names(query)), query)

    def _view(self, types: TypeStore, record: Record, names: list[str], query: dict) -> dict:
        """A record as a read shows it, with the ``associations`` the query asks for."""
        view = record.view(names)
        associations = {}
        for name in params.names(query, "associations") or []:
            other = canonical_type(name)
            linked = self.store.associated(types.name, record.id, other) if other else []
            if linked:
                kind = f"{_singular(types.name)}_to_{_singular(other)}"
                associations[name] = {"results": [{"id": i, "type": kind} for i, _ in linked]}
        if associations:
            view["associations"] = associations
        return view

    def _update(self, types: TypeStore, value: str, query: dict, body: Any) -> tuple[int, Any]:
        record = self._find(types, value, query)
        values = types.values(params.json_object(body).get("properties", {}))
        failure = types.conflict(values, exclude=record.id)
        if failure:
            raise failure
        self.store.update(types, record, values)
        return 200, record.view()

    def _archive(self, types: TypeStore, value: str, query: dict) -> tuple[int, Any]:
        try:
            record = self._find(types, value, query)
        except ApiError as exc:
            if exc.status == 404:
                return 204, None
            raise
        types.archive(record.id, time.time())
        return 204, None

    def _find(self, types: TypeStore, value: str, query: dict) -> Record:
        id_property = params.first(query, "idProperty", None)
        if params.first(query, "archived", "false") == "true":
            record = types.archived.get(value)
        else:
            record = types.find(value, id_property)
        if record is None:
            raise not_found()
        return record

    # -- batches --------------------------------------------------------------------
    def _planned_links(self, types: TypeStore, raw: Any) -> list[tuple[str, str, tuple]]:
        """Validate create-time ``associations``: ``[(to_type, to_id, (category, type_id))]``."""
        planned = []
        for link in params.json_objects(raw or [], "associations"):
            to_id = str(params.json_object(link.get("to"), "association's to").get("id", ""))
            for spec in params.json_objects(link.get("types") or [], "association types"):
                type_id = spec.get("associationTypeId")
                to_type = self.store.association_types.target_of(types.name, type_id)
                if to_type is None:
                    raise validation(
                        f"association type id {type_id} doesn't exist from {types.name}"
                    )
                if to_id not in self.store.type(to_type).records:
                    raise validation(f"No {to_type} with id {to_id} to associate with")
                category = spec.get("associationCategory", "HUBSPOT_DEFINED")
                planned.append((to_type, to_id, (category, type_id)))
        return planned

    def _link(self, types: TypeStore, record: Record, links: list) -> None:
        for to_type, to_id, spec in links:
            self.store.associate(types.name, record.id, to_type, to_id, spec)


def _singular(object_type: str) -> str:
    return SINGULAR.get(object_type, object_type).lower()
