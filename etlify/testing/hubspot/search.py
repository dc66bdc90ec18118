"""The CRM search endpoint of the HubSpot emulator (``POST .../{objectType}/search``)."""

from __future__ import annotations

import re
import time
from typing import Any, Callable

from .errors import validation
from .schema import QUERY_FIELDS, canonical_type, epoch_ms
from .store import Record, Store, TypeStore

MAX_GROUPS, MAX_FILTERS_PER_GROUP, MAX_FILTERS = 5, 6, 18
MAX_LIMIT, MAX_RESULTS, MAX_BODY_CHARS = 200, 10_000, 3_000

Predicate = Callable[[Record], bool]
_NEGATED = {"NEQ": "EQ", "NOT_IN": "IN", "NOT_CONTAINS_TOKEN": "CONTAINS_TOKEN"}
_OPERATORS = {"EQ", "IN", "CONTAINS_TOKEN", "HAS_PROPERTY", "NOT_HAS_PROPERTY", "BETWEEN",
              "GT", "GTE", "LT", "LTE", *_NEGATED}  # fmt: skip


def search(store: Store, types: TypeStore, body: Any, body_chars: int) -> dict[str, Any]:
    """Run a ``PublicObjectSearchRequest``; the ``CollectionResponseWithTotal`` answer."""
    if not isinstance(body, dict):
        raise validation("Invalid input JSON: the search request must be an object")
    if body_chars > MAX_BODY_CHARS:
        raise validation(f"The request body may not exceed {MAX_BODY_CHARS} characters")
    groups = _groups(store, types, body.get("filterGroups") or [])
    limit = _integer(body.get("limit", 10), "limit")
    offset = _integer(body.get("after", 0) or 0, "after")
    if not 0 <= limit <= MAX_LIMIT:
        raise validation(f"limit must be between 0 and {MAX_LIMIT}, got {limit}")
    if offset >= MAX_RESULTS:
        raise validation(f"Search results are limited to {MAX_RESULTS} records; after={offset}")
    found = _matches(types, groups, body.get("filterGroups") or [], _query(types, body))
    found = _sorted(types, found, body.get("sorts") or [])
    names = types.read_names(_names(body.get("properties")))
    answer: dict[str, Any] = {
        "total": len(found),
        "results": [record.view(names) for record in found[offset : offset + limit]],
    }
    if offset + limit < len(found) and limit:
        answer["paging"] = {"next": {"after": str(offset + limit)}}
    return answer


def _matches(
    types: TypeStore, groups: list[list[Predicate]], raw: list, query: Predicate | None
) -> list[Record]:
    now = time.monotonic()
    candidates = _candidates(types, raw)
    out = []
    for record in candidates:
        if record.visible_at > now:
            continue
        if groups and not any(all(test(record) for test in group) for group in groups):
            continue
        if query is None or query(record):
            out.append(record)
    return out


def _candidates(types: TypeStore, raw: list) -> list[Record]:
    """Records worth testing: unique-index hits when every group pins a unique value."""
    if not raw:
        return [types.records[str(i)] for i in types.order]
    ids: set[str] = set()
    for group in raw:
        hits = None
        for f in group.get("filters") or []:
            hits = _lookup(types, f)
            if hits is not None:
                break
        if hits is None:
            return [types.records[str(i)] for i in types.order]
        ids.update(hits)
    return [types.records[i] for i in sorted(ids, key=int) if i in types.records]


def _lookup(types: TypeStore, f: dict) -> list[str] | None:
    name, operator = f.get("propertyName"), f.get("operator")
    if operator == "EQ":
        values = [f.get("value")]
    elif operator == "IN":
        values = list(f.get("values") or [])
    else:
        return None
    if name == "hs_object_id":
        return [str(v) for v in values]
    if not types.schema.is_unique(name):
        return None
    index = types.index.get(name, {})
    hits = (index.get(str(v)) or index.get(str(v).lower()) for v in values)
    return [h for h in hits if h is not None]


def _groups(store: Store, types: TypeStore, raw: Any) -> list[list[Predicate]]:
    if not isinstance(raw, list) or len(raw) > MAX_GROUPS:
        raise validation(f"A search may have at most {MAX_GROUPS} filterGroups")
    total = 0
    groups = []
    for group in raw:
        filters = group.get("filters") if isinstance(group, dict) else None
        if not isinstance(filters, list) or len(filters) > MAX_FILTERS_PER_GROUP:
            raise validation(f"A filterGroup may have at most {MAX_FILTERS_PER_GROUP} filters")
        total += len(filters)
        groups.append([_predicate(store, types, f) for f in filters])
    if total > MAX_FILTERS:
        raise validation(f"A search may have at most {MAX_FILTERS} filters in total")
    return groups


def _predicate(store: Store, types: TypeStore, f: Any) -> Predicate:
    if not isinstance(f, dict):
        raise validation("Each filter must be an object")
    name, operator = f.get("propertyName"), f.get("operator")
    if operator not in _OPERATORS:
        raise validation(f"Unknown filter operator: {operator}")
    if not isinstance(name, str):
        raise validation("A filter needs a propertyName")
    if name.startswith("associations."):
        return _association(store, types, name, operator, f)
    if not types.schema.knows(name):
        raise validation(f"There was a problem with the request: property {name} does not exist")
    if operator in _NEGATED:
        positive = _predicate(store, types, dict(f, operator=_NEGATED[operator]))
        return lambda record: not positive(record)
    if operator == "HAS_PROPERTY":
        return lambda record: name in record.properties
    if operator == "NOT_HAS_PROPERTY":
        return lambda record: name not in record.properties
    spec = types.schema.spec(name)
    key = _key_function(spec.type if spec else "string")
    if operator == "CONTAINS_TOKEN":
        token = _token_matcher(str(f.get("value", "")))
        return lambda record: name in record.properties and token(record.properties[name])
    if operator == "IN":
        wanted = {_key(key, v) for v in f.get("values") or []}
        return lambda record: _has(record, name) and key(record.properties[name]) in wanted
    low = _key(key, f.get("value"))
    if operator == "BETWEEN":
        high = _key(key, f.get("highValue"))
        return lambda record: _has(record, name) and low <= key(record.properties[name]) <= high
    compare = {
        "EQ": lambda a: a == low, "GT": lambda a: a > low, "GTE": lambda a: a >= low,
        "LT": lambda a: a < low, "LTE": lambda a: a <= low,
    }[operator]  # fmt: skip
    return lambda record: _has(record, name) and compare(key(record.properties[name]))


def _association(store: Store, types: TypeStore, name: str, operator: str, f: dict) -> Predicate:
    other = canonical_type(name.split(".", 1)[1])
    if other is None or operator not in ("EQ", "IN"):
        raise validation(f"Unsupported association filter: {name} {operator}")
    wanted = {
        (other, str(v)) for v in ([f.get("value")] if operator == "EQ" else f.get("values") or [])
    }
    return lambda record: bool(wanted & store.links.get((types.name, record.id), {}).keys())


def _has(record: Record, name: str) -> bool:
    return name in record.properties


def _key_function(kind: str) -> Callable[[str], Any]:
    if kind == "number":
        return float
    if kind in ("date", "datetime"):
        return epoch_ms
    if kind == "enumeration":
        return str
    return lambda value: str(value).lower()


def _key(key: Callable[[str], Any], value: Any) -> Any:
    try:
        return key(str(value).lower() if isinstance(value, bool) else str(value))
    except ValueError:
        raise validation(f"Invalid filter value: {value}") from None


def _token_matcher(value: str) -> Callable[[str], bool]:
    """``CONTAINS_TOKEN``: the value equals a whole word-ish token; ``*`` is a wildcard."""
    needle = value.lower()
    if "*" in needle:
        pattern = re.compile(".*".join(re.escape(part) for part in needle.split("*")))
        return lambda text: any(pattern.fullmatch(t) for t in _tokens(text))
    return lambda text: needle in _tokens(text)


def _tokens(text: str) -> set[str]:
    lowered = text.lower()
    pieces = {p for p in re.split(r"[\s;,]+", lowered) if p}
    words = {w for w in re.split(r"[^0-9a-z]+", lowered) if w}
    return pieces | words | {lowered}


def _query(types: TypeStore, body: dict) -> Predicate | None:
    text = str(body.get("query") or "").strip().lower()
    if not text:
        return None
    fields = QUERY_FIELDS.get(types.name)

    def matches(record: Record) -> bool:
        values = (
            (record.properties.get(f, "") for f in fields) if fields else record.properties.values()
        )
        return any(text in value.lower() for value in values)

    return matches


def _sorted(types: TypeStore, records: list[Record], sorts: Any) -> list[Record]:
    if not isinstance(sorts, list) or len(sorts) > 1:
        raise validation("A search may have at most one sort")
    if not sorts:
        return records
    sort = sorts[0]
    if isinstance(sort, str):
        name, descending = sort.lstrip("-"), sort.startswith("-")
    elif isinstance(sort, dict):
        name = sort.get("propertyName", "")
        descending = str(sort.get("direction", "ASCENDING")).upper() == "DESCENDING"
    else:
        raise validation("Invalid sort")
    spec = types.schema.spec(name)
    key = _key_function(spec.type if spec else "string")
    present = [r for r in records if name in r.properties]
    missing = [r for r in records if name not in r.properties]
    present.sort(key=lambda r: _key(key, r.properties[name]), reverse=descending)
    return present + missing


def _integer(value: Any, field: str) -> int:
    try:
        return int(str(value))
    except ValueError:
        raise validation(f"{field} must be an integer, got {value!r}") from None


def _names(value: Any) -> list[str] | None:
    if isinstance(value, str):
        return [n.strip() for n in value.split(",") if n.strip()]
    if isinstance(value, list):
        return [str(n) for n in value]
    return None
