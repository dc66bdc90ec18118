"""Query-building helpers for the hot paths of batch sync."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from peewee import OP, SQL, Expression, NodeList, Tuple

__all__ = ["in_list", "in_pairs", "case_of", "execute_in"]


def in_list(field: Any, values: Iterable[Any]) -> Expression:
    """``field IN (values)`` with one placeholder per value.

    Equivalent to ``field.in_(values)``, but Peewee builds a node per value
    for that, which costs more than the query itself for a batch of a
    thousand ids. Values are converted with the field's ``db_value``.
    """
    params = [field.db_value(value) for value in values]
    placeholders = ", ".join([field.model._meta.database.param] * len(params))
    return Expression(field, OP.IN, SQL(f"({placeholders})", params))


def in_pairs(first: Any, second: Any, pairs: Iterable[tuple[Any, Any]]) -> Expression:
    """``first IN (a, ...) AND (first, second) IN ((a, b), ...)``.

    A row-value comparison matching many rows in one query; the plain
    ``IN`` on ``first`` lets SQLite use that column's index.
    """
    pairs = list(pairs)
    params: list[Any] = []
    for a, b in pairs:
        params.append(first.db_value(a))
        params.append(second.db_value(b))
    param = first.model._meta.database.param
    rows = ", ".join([f"({param}, {param})"] * len(pairs))
    both = Expression(Tuple(first, second), OP.IN, SQL(f"({rows})", params))
    return in_list(first, [a for a, _ in pairs]) & both


def case_of(field: Any, values: Mapping[Any, Any]) -> NodeList:
    """``CASE field WHEN key THEN value ... END`` for ``values`` (``{key: value}``).

    Like ``peewee.Case(field, values.items())`` with one placeholder per key
    and value instead of a node each. Keys are converted with the field's
    ``db_value``; values must be ready for the database.
    """
    params: list[Any] = []
    for key, value in values.items():
        params.append(field.db_value(key))
        params.append(value)
    param = field.model._meta.database.param
    branches = f" WHEN {param} THEN {param}" * len(values)
    return NodeList((SQL("CASE"), field, SQL(branches.strip(), params), SQL("END")))


def execute_in(query: Any, fields: Sequence[Any], keys: Sequence[tuple]) -> int:
    """Run the UPDATE ``query`` only on rows whose ``fields`` match one of ``keys``.

    The same rows as ``query.where(in_list(...))`` or ``in_pairs``, but the
    lists go straight to the driver as plain placeholders, past Peewee's
    per-parameter work, which costs more than the statement itself for the
    hundreds of rows a batch writes. ``query`` must already have a WHERE.
    """
    if not keys:
        return 0
    database = fields[0].model._meta.database
    sql, params = query.sql()
    if " WHERE " not in sql:
        raise ValueError("execute_in() needs a query with a WHERE clause")
    param = database.param
    names = [_quoted(field.column_name, database.quote) for field in fields]
    condition = f"{names[0]} IN ({', '.join([param] * len(keys))})"
    params = [*params, *(key[0] for key in keys)]
    if len(fields) > 1:
        row = "(" + ", ".join([param] * len(fields)) + ")"
        condition += f" AND ({', '.join(names)}) IN ({', '.join([row] * len(keys))})"
        params.extend(value for key in keys for value in key)
    cursor = database.execute_sql(f"{sql} AND {condition}", params)
    return cursor.rowcount


def _quoted(name: str, quotes: str) -> str:
    """``name`` as an SQL identifier, its quote characters doubled as Peewee's own do."""
    opening, closing = quotes
    return opening + name.replace(closing, closing * 2) + closing
