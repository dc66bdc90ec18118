"""Routes of the HubSpot emulator: CRM v3 objects, search, batches and v4 default links.

:meth:`Api.handle` maps one request to ``(status, body)`` or raises
:class:`~etlify.testing._hubspot_errors.ApiError`; it holds the store lock
while it runs.
"""

from __future__ import annotations

import random
import time
from typing import Any, Callable
from urllib.parse import unquote

from etlify.testing._hubspot_errors import (
    BATCH_LIMIT_MESSAGE,
    ApiError,
    error_body,
    not_found,
    standard_error,
    validation,
)
from etlify.testing._hubspot_schema import SINGULAR, canonical_type, iso, unique_key
from etlify.testing._hubspot_search import search
from etlify.testing._hubspot_store import ASSOCIATION_TYPES, Record, Store, TypeStore

BATCH_LIMIT = 100
LIST_LIMIT = 100
_PRIMARY = {("contacts", "companies"): 1, ("companies", "contacts"): 2,
            ("deals", "companies"): 5, ("companies", "deals"): 6}  # fmt: skip


def is_search(method: str, path: str) -> bool:
    """Whether a request goes to a search endpoint (own rate limit, no rate headers)."""
    parts = path.strip("/").split("/")
    return (
        method == "POST"
        and len(parts) == 5
        and parts[:3] == ["crm", "v3", "objects"]
        and (parts[4] == "search")
    )


class Api:
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
                return self._v4(method, parts[3:], body)
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
        limit = max(1, min(_int(_first(query, "limit", "10"), "limit"), LIST_LIMIT))
        after = _int(_first(query, "after", "0"), "after")
        names = types.read_names(_names(query))
        if _first(query, "archived", "false") == "true":
            ids = sorted((int(i) for i in types.archived), key=int)
            chosen = [i for i in ids if i >= after][: limit + 1]
            records = [types.archived[str(i)] for i in chosen[:limit]]
            cursor = str(chosen[limit]) if len(chosen) > limit else None
        else:
            records, cursor = types.page_after(after, limit)
        answer: dict[str, Any] = {"results": [r.view(names) for r in records]}
        if cursor is not None:
            link = f"{self.base_url}/crm/v3/objects/{types.name}?after={cursor}"
            answer["paging"] = {"next": {"after": cursor, "link": link}}
        return 200, answer

    def _create(self, types: TypeStore, body: Any) -> tuple[int, Any]:
        values = types.values(_object(body).get("properties", {}))
        failure = types.conflict(values)
        if failure:
            raise failure
        links = self._planned_links(types, body.get("associations"))
        record = self.store.create(types, values)
        self._link(types, record, links)
        return 201, record.view()

    def _read(self, types: TypeStore, value: str, query: dict) -> tuple[int, Any]:
        record = self._find(types, value, query)
        view = record.view(types.read_names(_names(query)))
        associations = {}
        for name in _names(query, "associations") or []:
            other = canonical_type(name)
            linked = self.store.associated(types.name, record.id, other) if other else []
            if linked:
                kind = f"{_singular(types.name)}_to_{_singular(other)}"
                associations[name] = {"results": [{"id": i, "type": kind} for i, _ in linked]}
        if associations:
            view["associations"] = associations
        return 200, view

    def _update(self, types: TypeStore, value: str, query: dict, body: Any) -> tuple[int, Any]:
        record = self._find(types, value, query)
        values = types.values(_object(body).get("properties", {}))
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
        id_property = _first(query, "idProperty", None)
        if _first(query, "archived", "false") == "true":
            record = types.archived.get(value)
        else:
            record = types.find(value, id_property)
        if record is None:
            raise not_found()
        return record

    # -- batches --------------------------------------------------------------------

    def _batch_read(self, types: TypeStore, body: Any, query: dict) -> tuple[int, Any]:
        started = iso(time.time())
        inputs = _inputs(body)
        id_property = body.get("idProperty")
        if id_property and id_property != "hs_object_id":
            types.schema.check_id_property(id_property)
        names = types.read_names(_names({"properties": body.get("properties") or []}))
        archived = _first(query, "archived", "false") == "true"
        found: dict[str, Record] = {}
        missing: list[str] = []
        for item in inputs:
            value = str(item.get("id", ""))
            record = types.archived.get(value) if archived else types.find(value, id_property)
            if record is None:
                missing.append(value)
            else:
                found[record.id] = record
        errors = []
        if missing:
            label = SINGULAR.get(types.name, "OBJECT").upper()
            message = (
                f"Could not get some {label} objects, they may be deleted or not exist. "
                "Check that ids are valid."
            )
            errors.append(_entry("OBJECT_NOT_FOUND", message, {"ids": missing}))
        return self._batch_answer(started, [r.view(names) for r in found.values()], errors, 200)

    def _batch_create(self, types: TypeStore, body: Any, query: dict) -> tuple[int, Any]:
        started = iso(time.time())
        inputs = _inputs(body)
        traced = all(item.get("objectWriteTraceId") for item in inputs)
        claims: dict = {}
        planned, errors = [], []
        for position, item in enumerate(inputs):
            try:
                values = types.values(item.get("properties", {}))
                failure = types.conflict(values, claims=claims, claimant=position)
                if failure:
                    raise failure
                planned.append((values, self._planned_links(types, item.get("associations"))))
            except ApiError as exc:
                if not traced:
                    raise
                errors.append(standard_error(exc, _context(item, None)))
        results = []
        for values, links in planned:
            record = self.store.create(types, values)
            self._link(types, record, links)
            results.append(record.view())
        return self._batch_answer(started, results, errors, 201)

    def _batch_update(self, types: TypeStore, body: Any, query: dict) -> tuple[int, Any]:
        started = iso(time.time())
        inputs = _inputs(body)
        _no_duplicates([(item.get("idProperty"), str(item.get("id", ""))) for item in inputs])
        traced = all(item.get("objectWriteTraceId") for item in inputs)
        claims: dict = {}
        planned, errors = [], []
        for item in inputs:
            value, id_property = str(item.get("id", "")), item.get("idProperty")
            _check_update_key(types, id_property)
            try:
                values = types.values(item.get("properties", {}))
                record = types.find(value, id_property)
                if record is None:
                    errors.append(
                        _entry("OBJECT_NOT_FOUND", "resource not found", _context(item, value))
                    )
                    continue
                failure = types.conflict(values, record.id, claims, record.id)
                if failure:
                    raise failure
                planned.append((record, values))
            except ApiError as exc:
                if not traced:
                    raise
                errors.append(standard_error(exc, _context(item, value)))
        for record, values in planned:
            self.store.update(types, record, values)
        return self._batch_answer(started, [r.view() for r, _ in planned], errors, 200)

    def _batch_upsert(self, types: TypeStore, body: Any, query: dict) -> tuple[int, Any]:
        started = iso(time.time())
        inputs = _inputs(body)
        for item in inputs:
            if not item.get("idProperty"):
                raise validation("Each upsert input needs an idProperty")
            types.schema.check_id_property(item["idProperty"])
        keys = [
            (i["idProperty"], unique_key(i["idProperty"], str(i.get("id", "")))) for i in inputs
        ]
        _no_duplicates(keys)
        traced = all(item.get("objectWriteTraceId") for item in inputs)
        claims: dict = {}
        planned, errors = [], []
        for position, item in enumerate(inputs):
            value, id_property = str(item.get("id", "")), item["idProperty"]
            try:
                properties = dict(_object(item.get("properties", {}), "properties"))
                properties[id_property] = value
                values = types.values(properties)
                record = types.find(value, id_property)
                owner = record.id if record else None
                failure = types.conflict(values, owner, claims, owner or position)
                if failure:
                    raise failure
                planned.append((record, values))
            except ApiError as exc:
                if not traced:
                    raise
                errors.append(standard_error(exc, _context(item, value)))
        results = []
        for record, values in planned:
            created = record is None
            if created:
                record = self.store.create(types, values)
            else:
                self.store.update(types, record, values)
            results.append(dict(record.view(), new=created))
        return self._batch_answer(started, results, errors, 200)

    def _batch_archive(self, types: TypeStore, body: Any, query: dict) -> tuple[int, Any]:
        now = time.time()
        for item in _inputs(body):
            types.archive(str(item.get("id", "")), now)
        return 204, None

    def _batch_answer(self, started: str, results: list, errors: list, ok: int):
        self.shuffler.shuffle(results)
        answer: dict[str, Any] = {"status": "COMPLETE", "results": results}
        if errors:
            answer.update(numErrors=len(errors), errors=errors)
        answer.update(startedAt=started, completedAt=iso(time.time()))
        return (207 if errors else ok), answer

    # -- associations ---------------------------------------------------------------

    def _planned_links(self, types: TypeStore, raw: Any) -> list[tuple[str, str, tuple]]:
        """Validate create-time ``associations``: ``[(to_type, to_id, (category, type_id))]``."""
        planned = []
        for link in _objects(raw or [], "associations"):
            to_id = str(_object(link.get("to"), "association's to").get("id", ""))
            for spec in _objects(link.get("types") or [], "association types"):
                type_id = spec.get("associationTypeId")
                to_type = _target_type(types.name, type_id)
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

    def _v4(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        from_types = self.store.type(parts[0])
        from_id = parts[1]
        if parts[2] != "associations":
            raise not_found("No such route")
        if method == "PUT" and len(parts) == 6 and parts[3] == "default":
            started = iso(time.time())
            to_types = self.store.type(parts[4])
            to_id = parts[5]
            if from_id not in from_types.records or to_id not in to_types.records:
                raise not_found()
            pair = (from_types.name, to_types.name)
            forward = ASSOCIATION_TYPES.get(pair, 1)
            backward = ASSOCIATION_TYPES.get((pair[1], pair[0]), 1)
            self.store.associate(pair[0], from_id, pair[1], to_id, ("HUBSPOT_DEFINED", forward))
            results = [
                _default_link(from_id, to_id, forward),
                _default_link(to_id, from_id, backward),
            ]
            return 200, {
                "status": "COMPLETE",
                "results": results,
                "startedAt": started,
                "completedAt": iso(time.time()),
            }
        if method == "GET" and len(parts) == 4:
            to_type = self.store.type(parts[3]).name
            linked = self.store.associated(from_types.name, from_id, to_type)
            return 200, {
                "results": [
                    {
                        "toObjectId": int(to_id),
                        "associationTypes": [
                            {"category": c, "typeId": t, "label": None} for c, t in sorted(specs)
                        ],
                    }
                    for to_id, specs in linked
                ]
            }
        raise not_found("No such route")


def _check_update_key(types: TypeStore, id_property: str | None) -> None:
    """Batch update takes record ids or a custom unique property; contacts' email is refused."""
    if not id_property or id_property == "hs_object_id":
        return
    if types.name == "contacts" and id_property == "email":
        raise types.schema.non_unique("email")
    types.schema.check_id_property(id_property)


def _default_link(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    spec = {"associationCategory": "HUBSPOT_DEFINED", "associationTypeId": type_id}
    return {"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec}


def _target_type(from_type: str, type_id: Any) -> str | None:
    for table in (ASSOCIATION_TYPES, _PRIMARY):
        for (source, target), known in table.items():
            if source == from_type and known == type_id:
                return target
    return None


def _singular(object_type: str) -> str:
    return SINGULAR.get(object_type, object_type).lower()


def _entry(category: str, message: str, context: dict) -> dict[str, Any]:
    return {
        "status": "error",
        "category": category,
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def _context(item: dict, value: str | None) -> dict[str, list[str]]:
    context = {} if value is None else {"ids": [value]}
    if item.get("objectWriteTraceId"):
        context["objectWriteTraceId"] = [str(item["objectWriteTraceId"])]
    return context


def _inputs(body: Any) -> list[dict]:
    inputs = _object(body).get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation("Invalid input JSON: 'inputs' must be a list of objects")
    if len(inputs) > BATCH_LIMIT:
        raise validation(BATCH_LIMIT_MESSAGE)
    if any(not isinstance(i.get("idProperty", ""), str) for i in inputs):
        raise validation("Invalid input JSON: idProperty must be a string")
    return inputs


def _objects(value: Any, what: str) -> list[dict]:
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise validation(f"Invalid input JSON: {what} must be a list of objects")
    return value


def _no_duplicates(keys: list) -> None:
    seen, duplicates = set(), []
    for key in keys:
        if key in seen:
            duplicates.append(key[1])
        seen.add(key)
    if duplicates:
        raise validation(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")


def _object(body: Any, what: str = "request body") -> dict:
    if not isinstance(body, dict):
        raise validation(f"Invalid input JSON: the {what} must be a JSON object")
    return body


def _first(query: dict, name: str, default: Any) -> Any:
    values = query.get(name)
    return values[-1] if values else default


def _names(query: dict, name: str = "properties") -> list[str] | None:
    """A repeated and/or comma-separated list parameter."""
    values = query.get(name)
    if not values:
        return None
    return [n.strip() for v in values for n in str(v).split(",") if n.strip()]


def _int(value: Any, name: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise validation(f"{name} must be an integer, got {value!r}") from None
