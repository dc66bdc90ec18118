"""Query-building helpers for the hot paths of batch sync."""

from __future__ import annotations

import datetime as dt
import sqlite3
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

from peewee import OP, SQL, Expression, NodeList, PostgresqlDatabase, SqliteDatabase, Tuple

from .transactions import unwrap

__all__ = [
    "in_list",
    "in_pairs",
    "case_of",
    "execute_in",
    "prepared",
    "insert_ignoring",
    "returns_rows",
]


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


def execute_in(
    query: Any,
    fields: Sequence[Any],
    keys: Sequence[tuple],
    cases: Mapping[Any, Mapping[Any, Any]] | None = None,
) -> int:
    """Run the UPDATE ``query`` only on rows whose ``fields`` match one of ``keys``.

    The same rows as ``query.where(in_list(...))`` or ``in_pairs``, but the
    lists go straight to the driver as plain placeholders, past Peewee's
    per-parameter work, which costs more than the statement itself for the
    hundreds of rows a batch writes. ``query`` must already have a WHERE.
    ``cases`` (``{column: {key: value}}``, values ready for the database)
    adds per-row assignments, ``column = CASE fields[0] WHEN key THEN value
    ... END``, built the same way. Keys must be as the database takes them.
    """
    if not keys:
        return 0
    database = fields[0].model._meta.database
    sql, params = query.sql()
    if " WHERE " not in sql or " SET " not in sql:
        raise ValueError("execute_in() needs an UPDATE query with a WHERE clause")
    param = database.param
    names = [_quoted(field.column_name, database.quote) for field in fields]
    if cases:
        assigned, values = [], []
        for column, by_key in cases.items():
            branches = f" WHEN {param} THEN {param}" * len(by_key)
            name = _quoted(column.column_name, database.quote)
            assigned.append(f"{name} = CASE {names[0]}{branches} END")
            values.extend(value for pair in by_key.items() for value in pair)
        head, tail = sql.split(" SET ", 1)
        sql, params = f"{head} SET {', '.join(assigned)}, {tail}", [*values, *params]
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


#: ``{database: {key: (sql, template)}}`` of :func:`prepared`; a template entry is an
#: argument's position (int) or a constant (a one-tuple holding its value).
_PREPARED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def returns_rows(model: Any) -> bool:
    """Whether ``model``'s database takes ``UPDATE ... RETURNING`` (PostgreSQL, SQLite
    3.35 and later; not MySQL or MariaDB)."""
    database = unwrap(model._meta.database)
    if isinstance(database, PostgresqlDatabase):
        return True
    return isinstance(database, SqliteDatabase) and sqlite3.sqlite_version_info >= (3, 35)


def prepared(
    model: Any,
    key: Hashable,
    build: Callable[..., Any],
    args: Sequence[Any],
    returning: Sequence[Any] = (),
) -> Any:
    """Run the query ``build(*args)`` on ``model``'s database; return the cursor.

    Peewee compiles a query's SQL anew on every execution, which costs more
    than running it for the one-row statements of a single sync. Here it is
    compiled once per database and ``key`` (which must name everything the
    query's shape and constants depend on), from stand-in arguments; later
    calls send that SQL with ``args`` as its parameters. ``args`` must be
    as the database takes them (no field converts them): text, numbers,
    datetimes or ``None``. A query whose shape may depend on an argument's
    value (``field == None`` compiles to ``IS NULL``) must not take it as an
    argument. A query whose parameters do not come out as the stand-ins (a
    number's is a number) or as constants is run as Peewee builds it, every time.
    ``returning`` (fields) ends an UPDATE with ``RETURNING`` those columns,
    where :func:`returns_rows`; the rows come as the driver gives them.
    """
    database, found = _compiled(model, key, build, args)
    if found is None:
        query = build(*args)
        if not returning:
            return database.execute(query)
        sql, params = query.sql()
        sql += _returning(returning, database)
        return database.execute_sql(sql, params)
    sql, template = found
    if returning:
        sql += _returning(returning, database)
    params = [args[entry] if type(entry) is int else entry[0] for entry in template]
    return database.execute_sql(sql, params)


def insert_ignoring(model: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """``model.insert_many(rows).on_conflict_ignore().execute()``, in one statement.

    Peewee builds a node per value of a multi-row INSERT, which costs more
    than the insert itself for the rows of a batch. Here the one-row
    statement is compiled once per database and column set (as
    :func:`prepared` does) and its ``VALUES`` group repeated per row; the
    values go through their fields' ``db_value``. Every row must have the
    same keys, in the same order.
    """
    if not rows:
        return
    names = tuple(rows[0])
    fields = [model._meta.fields[name] for name in names]
    first = [field.db_value(rows[0][name]) for field, name in zip(fields, names)]

    def build(*args: Any) -> Any:
        return model.insert(dict(zip(fields, args))).on_conflict_ignore()

    database, found = _compiled(model, ("insert_ignoring", model, names), build, first)
    param = database.param
    group = "(" + ", ".join([param] * len(names)) + ")"
    if found is None or found[0].count(group) != 1 or not all(type(e) is int for e in found[1]):
        model.insert_many(rows).on_conflict_ignore().execute()
        return
    sql, template = found
    values = [[field.db_value(row[name]) for field, name in zip(fields, names)] for row in rows]
    params = [row[entry] for row in values for entry in template]
    database.execute_sql(sql.replace(group, ", ".join([group] * len(rows))), params)


def _returning(fields: Sequence[Any], database: Any) -> str:
    names = ", ".join(_quoted(field.column_name, database.quote) for field in fields)
    return f" RETURNING {names}"


def _compiled(
    model: Any, key: Hashable, build: Callable[..., Any], args: Sequence[Any]
) -> tuple[Any, tuple[str, list[Any]] | None]:
    """``model``'s database, and the SQL and template :func:`prepared` runs for ``key``
    (compiled now if it was not yet); ``None`` in place of those when it cannot."""
    database = unwrap(model._meta.database)
    compiled = _PREPARED.get(database)
    if compiled is None:
        compiled = _PREPARED.setdefault(database, {})
    found = compiled.get(key)
    if found is None:
        found = _compile(build, args)
        if found is not None:
            compiled[key] = found
    return database, found


def _compile(build: Callable[..., Any], args: Sequence[Any]) -> tuple[str, list[Any]] | None:
    """The SQL of ``build(*stand-ins)`` and its parameters' template, or ``None``."""
    count = len(args)
    stand_ins = [_stand_in(position, arg) for position, arg in enumerate(args)]
    try:
        sql, params = build(*stand_ins).sql()
    except (TypeError, ValueError):  # a field refused a stand-in
        return None
    positions = {stand_in: position for position, stand_in in enumerate(stand_ins)}
    template: list[Any] = []
    for param in params:
        if isinstance(param, (str, int)) and param in positions:
            template.append(positions[param])
        elif param is None or isinstance(param, (str, int, float, dt.datetime)):
            template.append((param,))
        else:
            return None
        if isinstance(param, str) and "\x00etlify-argument-" in param and param not in positions:
            return None  # a stand-in changed on its way (converted or concatenated)
    if {entry for entry in template if type(entry) is int} != set(range(count)):
        return None  # an argument unused
    return sql, template


def _stand_in(position: int, arg: Any) -> Any:
    """A value no query holds, of the kind of ``arg`` (a number for a number)."""
    if isinstance(arg, int) and not isinstance(arg, bool):
        return -(1 << 52) - position
    if isinstance(arg, float):
        return -float(1 << 52) - position - 0.5
    return f"\x00etlify-argument-{position}\x00"
