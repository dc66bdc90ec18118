"""The v4 associations routes of the HubSpot emulator.

Per record (``/crm/v4/objects/{type}/{id}/associations/...``): read the
links to a type, link with the default type (``PUT .../default/{to}/{toId}``)
or with labels (``PUT .../{to}/{toId}``, 201, the labels sent replace those
the pair had), and unlink (``DELETE``, 204).

In bulk (``/crm/v4/associations/{from}/{to}/...``): ``batch/associate/default``
(200), ``batch/create`` (201, or 207 naming each refused input),
``batch/archive`` (204: every link between each pair), ``batch/labels/archive``
(204: the types named; the unlabeled default takes the labels with it),
``batch/read`` (200, or 207 for ids that do not exist) and ``labels`` (the
types between the two object types).
"""

from __future__ import annotations

import time
from typing import Any

from . import params
from .errors import ApiError, error_body, not_found, validation
from .schema import SINGULAR, TYPE_IDS, iso
from .store import HUBSPOT_DEFINED, Store, TypeStore

#: The most inputs of one batch create or archive request.
CREATE_LIMIT = 2000
#: The most inputs of one batch read request.
READ_LIMIT = 1000
CATEGORIES = ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED")


class AssociationRoutes:
    """The ``/crm/v4`` routes, mixed into the API (needs ``store``)."""

    store: Store

    # -- per record -------------------------------------------------------------------

    def _v4_object(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        """``parts``: ``[type, id, "associations", ...]``."""
        from_types = self.store.type(parts[0])
        from_id = parts[1]
        rest = parts[3:]
        if parts[2] != "associations" or not rest:
            raise not_found("No such route")
        if method == "GET" and len(rest) == 1:
            to_types = self.store.type(rest[0])
            return 200, {"results": self._linked_view(from_types.name, from_id, to_types.name)}
        if method == "PUT" and len(rest) == 3 and rest[0] == "default":
            to_types = self.store.type(rest[1])
            self._existing(from_types, [from_id])
            self._existing(to_types, [rest[2]])
            results = self._associate_default(from_types.name, from_id, to_types.name, rest[2])
            return 200, _complete(iso(time.time()), results)
        if len(rest) == 2 and method in ("PUT", "DELETE"):
            to_types = self.store.type(rest[0])
            to_id = rest[1]
            if method == "DELETE":
                self.store.dissociate(from_types.name, from_id, to_types.name, to_id)
                return 204, None
            self._existing(from_types, [from_id])
            self._existing(to_types, [to_id])
            specs = self._specs(from_types.name, to_types.name, body)
            self.store.dissociate(from_types.name, from_id, to_types.name, to_id)
            for spec in specs:
                self.store.associate(from_types.name, from_id, to_types.name, to_id, spec)
            return 201, self._labels_between(from_types.name, from_id, to_types.name, to_id)
        raise not_found("No such route")

    # -- in bulk ----------------------------------------------------------------------

    def _v4_batch(self, method: str, parts: list[str], body: Any) -> tuple[int, Any]:
        """``parts``: ``[from, to, "batch", operation...]`` or ``[from, to, "labels"]``."""
        from_types, to_types = self.store.type(parts[0]), self.store.type(parts[1])
        rest = parts[2:]
        if rest == ["labels"] and method == "GET":
            listed = self.store.association_types.listed(from_types.name, to_types.name)
            return 200, {"results": listed}
        operation = "/".join(rest[1:]) if rest[:1] == ["batch"] else None
        routes = {
            "create": self._batch_create_links,
            "associate/default": self._batch_default_links,
            "archive": self._batch_archive_links,
            "labels/archive": self._batch_archive_labels,
            "read": self._batch_read_links,
        }
        if operation not in routes:
            raise not_found("No such route")
        if method != "POST":
            raise ApiError(
                405, error_body(f"Method {method} is not allowed here", "METHOD_NOT_ALLOWED")
            )
        return routes[operation](from_types, to_types, body)

    def _batch_create_links(self, from_types: TypeStore, to_types: TypeStore, body: Any):
        started = iso(time.time())
        inputs = _inputs(body, CREATE_LIMIT)
        planned, errors = [], []
        for item in inputs:
            from_id, to_id = _id(item, "from"), _id(item, "to")
            specs = self._specs(from_types.name, to_types.name, item.get("types"))
            problem = self._missing(from_types, from_id, to_types, to_id)
            if problem is not None:
                errors.append(problem)
                continue
            planned.append((from_id, to_id, specs))
        results = []
        for from_id, to_id, specs in planned:
            for spec in specs:
                self.store.associate(from_types.name, from_id, to_types.name, to_id, spec)
            results.append(self._labels_between(from_types.name, from_id, to_types.name, to_id))
        return _batch_answer(started, results, errors, 201)

    def _batch_default_links(self, from_types: TypeStore, to_types: TypeStore, body: Any):
        started = iso(time.time())
        results, errors = [], []
        for item in _inputs(body, CREATE_LIMIT):
            from_id, to_id = _id(item, "from"), _id(item, "to")
            problem = self._missing(from_types, from_id, to_types, to_id)
            if problem is not None:
                errors.append(problem)
                continue
            results += self._associate_default(from_types.name, from_id, to_types.name, to_id)
        return _batch_answer(started, results, errors, 200)

    def _batch_archive_links(self, from_types: TypeStore, to_types: TypeStore, body: Any):
        for item in _inputs(body, CREATE_LIMIT):
            from_id = _id(item, "from")
            for target in params.json_objects(item.get("to") or [], "to"):
                to_id = str(target.get("id", ""))
                self.store.dissociate(from_types.name, from_id, to_types.name, to_id)
        return 204, None

    def _batch_archive_labels(self, from_types: TypeStore, to_types: TypeStore, body: Any):
        for item in _inputs(body, CREATE_LIMIT):
            from_id, to_id = _id(item, "from"), _id(item, "to")
            for spec in self._specs(from_types.name, to_types.name, item.get("types")):
                self.store.dissociate(from_types.name, from_id, to_types.name, to_id, spec)
        return 204, None

    def _batch_read_links(self, from_types: TypeStore, to_types: TypeStore, body: Any):
        started = iso(time.time())
        results, missing = [], []
        for item in _inputs(body, READ_LIMIT):
            from_id = str(item.get("id", ""))
            if from_id not in from_types.records:
                missing.append(from_id)
                continue
            linked = self._linked_view(from_types.name, from_id, to_types.name)
            results.append({"from": {"id": from_id}, "to": linked})
        errors = []
        if missing:
            label = SINGULAR.get(from_types.name, "Object")
            errors.append(
                _error(f"No {label} with id {', '.join(missing)} exists", {"ids": missing})
            )
        return _batch_answer(started, results, errors, 200)

    # -- helpers ----------------------------------------------------------------------

    def _associate_default(self, from_type: str, from_id: str, to_type: str, to_id: str):
        types = self.store.association_types
        forward = (HUBSPOT_DEFINED, types.default(from_type, to_type))
        self.store.associate(from_type, from_id, to_type, to_id, forward)
        back = types.default(to_type, from_type)
        return [_default_link(from_id, to_id, forward[1]), _default_link(to_id, from_id, back)]

    def _specs(self, from_type: str, to_type: str, raw: Any) -> list[tuple[str, int]]:
        """Validated association types of a write: ``[(category, type id)]``, or a 400."""
        specs = []
        for spec in params.json_objects(raw if raw is not None else [], "types"):
            category = spec.get("associationCategory")
            type_id = spec.get("associationTypeId")
            if category not in CATEGORIES:
                raise validation(
                    f"associationCategory must be one of {', '.join(CATEGORIES)}, got {category!r}"
                )
            if not isinstance(type_id, int) or isinstance(type_id, bool):
                raise validation(f"associationTypeId must be an integer, got {type_id!r}")
            if not self.store.association_types.exists(from_type, to_type, (category, type_id)):
                raise validation(
                    f"association type id {type_id} doesn't exist between "
                    f"{_singular(from_type)} and {_singular(to_type)}"
                )
            specs.append((category, type_id))
        if not specs:
            raise validation("Invalid input JSON: at least one association type is required")
        return specs

    def _existing(self, types: TypeStore, ids: list[str]) -> None:
        for record_id in ids:
            if record_id not in types.records:
                raise not_found(f"No {_singular(types.name)} with id {record_id} exists")

    def _missing(self, from_types, from_id, to_types, to_id) -> dict[str, Any] | None:
        """The 207 entry of an input whose records do not both exist, else ``None``."""
        for types, record_id, side in ((from_types, from_id, "from"), (to_types, to_id, "to")):
            if record_id not in types.records:
                label = SINGULAR.get(types.name, "Object")
                return _error(
                    f"No {label} with id {record_id} exists to associate",
                    {f"{side}ObjectId": [record_id]},
                )
        return None

    def _linked_view(self, from_type: str, from_id: str, to_type: str) -> list[dict[str, Any]]:
        types = self.store.association_types
        return [
            {
                "toObjectId": int(to_id),
                "associationTypes": [
                    {"category": c, "typeId": t, "label": types.label(from_type, to_type, (c, t))}
                    for c, t in sorted(specs)
                ],
            }
            for to_id, specs in self.store.associated(from_type, from_id, to_type)
        ]

    def _labels_between(self, from_type: str, from_id: str, to_type: str, to_id: str):
        types = self.store.association_types
        specs = self.store.links.get((from_type, from_id), {}).get((to_type, to_id), set())
        labels = sorted(
            label for label in (types.label(from_type, to_type, s) for s in specs) if label
        )
        return {
            "fromObjectTypeId": TYPE_IDS.get(from_type, from_type),
            "fromObjectId": int(from_id),
            "toObjectTypeId": TYPE_IDS.get(to_type, to_type),
            "toObjectId": int(to_id),
            "labels": labels,
        }


def _inputs(body: Any, limit: int) -> list[dict]:
    inputs = params.json_object(body).get("inputs")
    if not isinstance(inputs, list) or not all(isinstance(i, dict) for i in inputs):
        raise validation("Invalid input JSON: 'inputs' must be a list of objects")
    if len(inputs) > limit:
        raise validation(f"Too many inputs: at most {limit} inputs are allowed per request")
    return inputs


def _id(item: dict, side: str) -> str:
    value = item.get(side)
    if not isinstance(value, dict) or str(value.get("id", "")) == "":
        raise validation(f"Invalid input JSON: each input needs {side}.id")
    return str(value["id"])


def _error(message: str, context: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "status": "error",
        "category": "VALIDATION_ERROR",
        "subCategory": "crm.associations.INVALID_OBJECT_IDS",
        "message": message,
        "context": context,
        "errors": [],
        "links": {},
    }


def _batch_answer(started: str, results: list, errors: list, ok: int) -> tuple[int, Any]:
    answer = _complete(started, results)
    if errors:
        answer.update(numErrors=len(errors), errors=errors)
    return (207 if errors else ok), answer


def _complete(started: str, results: list) -> dict[str, Any]:
    return {
        "status": "COMPLETE",
        "results": results,
        "startedAt": started,
        "completedAt": iso(time.time()),
    }


def _default_link(from_id: str, to_id: str, type_id: int) -> dict[str, Any]:
    spec = {"associationCategory": HUBSPOT_DEFINED, "associationTypeId": type_id}
    return {"from": {"id": from_id}, "to": {"id": to_id}, "associationSpec": spec}


def _singular(object_type: str) -> str:
    return SINGULAR.get(object_type, object_type).lower()
