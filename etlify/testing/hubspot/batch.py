"""Batch endpoints of the HubSpot emulator: read, create, update, upsert, archive.

A validation error or a conflict fails the whole batch unless every input
carries an ``objectWriteTraceId``; missing ids are 207 ``OBJECT_NOT_FOUND``
entries. Results come back in a seeded shuffled order.
"""

from __future__ import annotations

import random
import time
from typing import Any

from . import params
from .errors import BATCH_LIMIT_MESSAGE, ApiError, standard_error, validation
from .schema import SINGULAR, iso, unique_key
from .store import Record, Store, TypeStore

BATCH_LIMIT = 100


class BatchRoutes:
    """The ``batch/*`` routes, mixed into the API.

    Needs ``store``, ``shuffler`` (a ``random.Random``) and the API's
    ``_planned_links`` / ``_link`` association helpers.
    """

    store: Store
    shuffler: random.Random

    def _batch_read(self, types: TypeStore, body: Any, query: dict) -> tuple[int, Any]:
        started = iso(time.time())
        inputs = _inputs(body)
        id_property = body.get("idProperty")
        if id_property and id_property != "hs_object_id":
            types.schema.check_id_property(id_property)
        names = types.read_names(params.names({"properties": body.get("properties") or []}))
        archived = params.first(query, "archived", "false") == "true"
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
                properties = dict(params.json_object(item.get("properties", {}), "properties"))
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


def _check_update_key(types: TypeStore, id_property: str | None) -> None:
    """Batch update takes record ids or a custom unique property; contacts' email is refused."""
    if not id_property or id_property == "hs_object_id":
        return
    if types.name == "contacts" and id_property == "email":
        raise types.schema.non_unique("email")
    types.schema.check_id_property(id_property)


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
    inputs = params.json_object(body).get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation("Invalid input JSON: 'inputs' must be a list of objects")
    if len(inputs) > BATCH_LIMIT:
        raise validation(BATCH_LIMIT_MESSAGE)
    if any(not isinstance(i.get("idProperty", ""), str) for i in inputs):
        raise validation("Invalid input JSON: idProperty must be a string")
    return inputs


def _no_duplicates(keys: list) -> None:
    seen, duplicates = set(), []
    for key in keys:
        if key in seen:
            duplicates.append(key[1])
        seen.add(key)
    if duplicates:
        raise validation(f"Duplicate IDs found in batch input: {duplicates}. IDs must be unique")
