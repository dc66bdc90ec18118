"""In-memory CRM state of the HubSpot emulator: records, unique indexes, associations.

The store itself is not locked; callers hold ``Store.lock`` around every use.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections.abc import Iterable
from typing import Any

from .errors import ApiError, conflict, invalid_properties, validation
from .schema import (
    DEFAULT_READ,
    SINGULAR,
    Schema,
    canonical_type,
    iso,
    normalize,
    system_names,
    unique_key,
)


class Record:
    """One CRM object; ``properties`` hold strings only."""

    __slots__ = ("id", "properties", "created_at", "updated_at", "visible_at", "archived_at")

    def __init__(self, id: str, properties: dict[str, str], now: float, visible_at: float):
        self.id = id
        self.properties = properties
        self.created_at = self.updated_at = iso(now)
        self.visible_at = visible_at
        self.archived_at: str | None = None

    def view(self, names: Iterable[str] | None = None) -> dict[str, Any]:
        """The ``SimplePublicObject`` shape, with all or only the ``names`` properties."""
        if names is None:
            properties: dict[str, Any] = dict(self.properties)
        else:
            properties = {name: self.properties.get(name) for name in names}
        body = {
            "id": self.id,
            "properties": properties,
            "createdAt": self.created_at,
            "updatedAt": self.updated_at,
            "archived": self.archived_at is not None,
        }
        if self.archived_at is not None:
            body["archivedAt"] = self.archived_at
        return body


class TypeStore:
    """Records of one object type, in creation (= id) order, with unique-value indexes."""

    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.records: dict[str, Record] = {}
        self.order: list[int] = []
        self.archived: dict[str, Record] = {}
        self.index: dict[str, dict[str, str]] = {}

    @property
    def name(self) -> str:
        """The canonical object type name."""
        return self.schema.object_type

    def find(self, value: str, id_property: str | None = None) -> Record | None:
        """The live record whose id (or unique ``id_property``) is ``value``."""
        if not id_property or id_property == "hs_object_id":
            return self.records.get(str(value))
        self.schema.check_id_property(id_property)
        found = self.index.get(id_property, {}).get(unique_key(id_property, str(value)))
        return self.records.get(found) if found else None

    def values(self, properties: Any) -> dict[str, str]:
        """Validated stored-string values of a write, or raise the 400."""
        values, problems = normalize(self.schema, properties)
        if problems:
            raise invalid_properties(problems)
        return values

    def conflict(
        self,
        values: dict[str, str],
        exclude: str | None = None,
        claims: dict | None = None,
        claimant: object = None,
    ) -> ApiError | None:
        """The 409 a write of ``values`` would cause (``exclude``: the record being updated).

        In a batch, ``claims`` maps unique values already taken by earlier inputs to
        their ``claimant``; a second input with the same value is a 400.
        """
        for name in self.schema.unique_names():
            value = values.get(name)
            if not value:
                continue
            key = unique_key(name, value)
            owner = self.index.get(name, {}).get(key)
            if owner is not None and owner != exclude:
                label = SINGULAR.get(self.name, "Object")
                return conflict(f"{label} already exists. Existing ID: {owner}")
            if claims is not None:
                if claims.setdefault((name, key), claimant) != claimant:
                    return validation(f"Duplicate {name} values found in batch input: [{value}]")
        return None

    def insert(self, id: str, values: dict[str, str], now: float, visible_at: float) -> Record:
        """Create a record with system properties set."""
        created, modified = system_names(self.name)
        stamp = iso(now)
        properties = {k: v for k, v in values.items() if v != ""}
        properties.update({"hs_object_id": id, created: stamp, modified: stamp})
        record = Record(id, properties, now, visible_at)
        self.records[id] = record
        self.order.append(int(id))
        self._index(record, properties)
        return record

    def apply(self, record: Record, values: dict[str, str], now: float, visible_at: float) -> None:
        """Update ``record`` with ``values`` (``""`` clears), stamping it modified."""
        self._unindex(record, values)
        for name, value in values.items():
            if value == "":
                record.properties.pop(name, None)
            else:
                record.properties[name] = value
        self._index(record, values)
        record.updated_at = iso(now)
        record.properties[system_names(self.name)[1]] = record.updated_at
        record.visible_at = visible_at

    def archive(self, id: str, now: float) -> bool:
        """Move a record to the recycle bin; False when there was none."""
        record = self.records.pop(id, None)
        if record is None:
            return False
        position = bisect.bisect_left(self.order, int(id))
        del self.order[position]
        self._unindex(record, record.properties)
        record.archived_at = iso(now)
        self.archived[id] = record
        return True

    def page_after(self, after: int, limit: int) -> tuple[list[Record], str | None]:
        """Up to ``limit`` records with id >= ``after`` and the next page's cursor."""
        start = bisect.bisect_left(self.order, after)
        ids = self.order[start : start + limit + 1]
        records = [self.records[str(i)] for i in ids[:limit]]
        return records, (str(ids[limit]) if len(ids) > limit else None)

    def read_names(self, requested: list[str] | None) -> list[str]:
        """Property names a read returns: requested known ones, or the defaults, plus system."""
        created, modified = system_names(self.name)
        if requested:
            names = [n for n in requested if self.schema.knows(n)]
        else:
            names = list(DEFAULT_READ.get(self.name, ()))
        return list(dict.fromkeys([*names, "hs_object_id", created, modified]))

    def _index(self, record: Record, values: dict[str, str]) -> None:
        for name in self.schema.unique_names():
            value = values.get(name)
            if value:
                self.index.setdefault(name, {})[unique_key(name, value)] = record.id

    def _unindex(self, record: Record, values: dict[str, str]) -> None:
        for name in self.schema.unique_names():
            old = record.properties.get(name)
            if name in values and old:
                self.index.get(name, {}).pop(unique_key(name, old), None)


# Default (unlabeled) association type ids, by direction.
ASSOCIATION_TYPES = {
    ("contacts", "companies"): 279, ("companies", "contacts"): 280,
    ("deals", "contacts"): 3, ("contacts", "deals"): 4,
    ("deals", "companies"): 341, ("companies", "deals"): 342,
    ("contacts", "contacts"): 449, ("companies", "companies"): 450,
    ("contacts", "tickets"): 15, ("tickets", "contacts"): 16,
    ("tickets", "companies"): 339, ("companies", "tickets"): 340,
    ("deals", "tickets"): 27, ("tickets", "deals"): 28,
}  # fmt: skip
#: HubSpot-defined "Primary" labels, by direction.
PRIMARY_TYPES = {("contacts", "companies"): 1, ("companies", "contacts"): 2,
                 ("deals", "companies"): 5, ("companies", "deals"): 6}  # fmt: skip
HUBSPOT_DEFINED = "HUBSPOT_DEFINED"
USER_DEFINED = "USER_DEFINED"
#: The first type id given to a pair of types HubSpot defines no default for, and to labels.
FIRST_ALLOCATED_TYPE = 100001


class AssociationTypes:
    """The association types between each pair of object types: the unlabeled
    default, HubSpot's "Primary" labels, and labels defined by the portal."""

    def __init__(self) -> None:
        self.allocated: dict[tuple[str, str], int] = {}
        self.labels: dict[tuple[str, str], dict[int, str]] = {}
        self.next_id = FIRST_ALLOCATED_TYPE

    def default(self, from_type: str, to_type: str) -> int:
        """The unlabeled type id from ``from_type`` to ``to_type``; pairs HubSpot
        defines none for (custom objects) get one on first use, both ways."""
        pair = (from_type, to_type)
        known = ASSOCIATION_TYPES.get(pair) or self.allocated.get(pair)
        if known is None:
            known = self.allocated[pair] = self._allocate()
            if from_type != to_type:
                self.allocated[(to_type, from_type)] = self._allocate()
        return known

    def define(self, from_type: str, to_type: str, label: str) -> int:
        """Define a ``USER_DEFINED`` label from ``from_type`` to ``to_type``; its type id."""
        labels = self.labels.setdefault((from_type, to_type), {})
        for type_id, name in labels.items():
            if name == label:
                return type_id
        type_id = self._allocate()
        labels[type_id] = label
        return type_id

    def listed(self, from_type: str, to_type: str) -> list[dict[str, Any]]:
        """Every type from ``from_type`` to ``to_type``, as the labels endpoint lists them."""
        found = [{"category": HUBSPOT_DEFINED, "typeId": self.default(from_type, to_type),
                  "label": None}]  # fmt: skip
        primary = PRIMARY_TYPES.get((from_type, to_type))
        if primary is not None:
            found.append({"category": HUBSPOT_DEFINED, "typeId": primary, "label": "Primary"})
        for type_id, label in self.labels.get((from_type, to_type), {}).items():
            found.append({"category": USER_DEFINED, "typeId": type_id, "label": label})
        return found

    def label(self, from_type: str, to_type: str, spec: tuple[str, int]) -> str | None:
        """The label of type ``spec`` (``(category, type id)``); ``None`` when unlabeled."""
        for known in self.listed(from_type, to_type):
            if (known["category"], known["typeId"]) == spec:
                return known["label"]
        return None

    def exists(self, from_type: str, to_type: str, spec: tuple[str, int]) -> bool:
        """Whether ``spec`` is a type from ``from_type`` to ``to_type``."""
        return any(
            (known["category"], known["typeId"]) == spec
            for known in self.listed(from_type, to_type)
        )

    def target_of(self, from_type: str, type_id: Any) -> str | None:
        """The object type a link of ``type_id`` from ``from_type`` goes to, if any."""
        for table in (ASSOCIATION_TYPES, PRIMARY_TYPES, self.allocated):
            for (source, target), known in table.items():
                if source == from_type and known == type_id:
                    return target
        for (source, target), labels in self.labels.items():
            if source == from_type and type_id in labels:
                return target
        return None

    def _allocate(self) -> int:
        self.next_id += 1
        return self.next_id - 1


class Store:
    """Every object type's records, id allocation, associations and the state lock."""

    def __init__(self, search_lag: float = 0.0, strict: bool = True) -> None:
        self.lock = threading.RLock()
        self.search_lag = search_lag
        self.strict = strict
        self.schemas: dict[str, Schema] = {}
        self.association_types = AssociationTypes()
        self.reset()

    def reset(self) -> None:
        """Forget every record and association (property and label definitions stay)."""
        self.types: dict[str, TypeStore] = {}
        self.next_id = 1000001
        # (type, id) -> {(to_type, to_id): {(category, type_id)}}
        self.links: dict[tuple[str, str], dict[tuple[str, str], set]] = {}

    def schema(self, object_type: str) -> Schema:
        """The registry of a canonical type, created with its defaults on first use."""
        if object_type not in self.schemas:
            self.schemas[object_type] = Schema(object_type, self.strict)
        return self.schemas[object_type]

    def type(self, name: str) -> TypeStore:
        """The records of object type ``name`` (an alias is fine); 400 for an unknown type."""
        canonical = canonical_type(name)
        if canonical is None:
            raise validation(f"Unable to infer object type from: {name}")
        store = self.types.get(canonical)
        if store is None:
            store = self.types[canonical] = TypeStore(self.schema(canonical))
        return store

    def create(self, store: TypeStore, values: dict[str, str]) -> Record:
        """Insert a new record with the next id."""
        now = time.time()
        record_id = str(self.next_id)
        self.next_id += 1
        return store.insert(record_id, values, now, time.monotonic() + self.search_lag)

    def update(self, store: TypeStore, record: Record, values: dict[str, str]) -> None:
        """Apply ``values`` to ``record``."""
        store.apply(record, values, time.time(), time.monotonic() + self.search_lag)

    def associate(self, from_type: str, from_id: str, to_type: str, to_id: str, spec: tuple):
        """Link two records both ways with type ``spec`` (``(category, type id)``).

        Every link has its unlabeled default type too, as in HubSpot; the way
        back gets the reverse pair's default.
        """
        types = self.association_types
        forward = self.links.setdefault((from_type, from_id), {}).setdefault(
            (to_type, to_id), set()
        )
        forward.update({spec, (HUBSPOT_DEFINED, types.default(from_type, to_type))})
        back = self.links.setdefault((to_type, to_id), {}).setdefault((from_type, from_id), set())
        back.add((HUBSPOT_DEFINED, types.default(to_type, from_type)))

    def dissociate(
        self, from_type: str, from_id: str, to_type: str, to_id: str, spec: tuple | None = None
    ) -> None:
        """Remove the link of type ``spec``; without one (or for the unlabeled
        default type) remove every link between the two records, both ways."""
        default = (HUBSPOT_DEFINED, self.association_types.default(from_type, to_type))
        forward = self.links.get((from_type, from_id), {})
        if spec is not None and spec != default:
            forward.get((to_type, to_id), set()).discard(spec)
            return
        forward.pop((to_type, to_id), None)
        self.links.get((to_type, to_id), {}).pop((from_type, from_id), None)

    def associated(self, object_type: str, record_id: str, to_type: str) -> list[tuple[str, set]]:
        """Live records of ``to_type`` linked to a record: ``[(to_id, {(category, id)})]``."""
        targets = self.types.get(to_type)
        linked = self.links.get((object_type, record_id), {})
        return sorted(
            (
                (to_id, specs)
                for (kind, to_id), specs in linked.items()
                if kind == to_type and targets is not None and to_id in targets.records
            ),
            key=lambda item: int(item[0]),
        )
