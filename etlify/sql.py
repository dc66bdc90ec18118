"""Query-building helpers for the hot paths of batch sync."""

from __future__ import annotations

import datetime as dt
import sqlite3
import weakref
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

from peewee import (
    OP,
    SQL,
    CharField,
    Expression,
    Field,
    IntegerField,
    Node,
    NodeList,
    PostgresqlDatabase,
    SqliteDatabase,
    Tuple,
)

from .transactions import unwrap

__all__ = [
    "Placeholders",
    "in_list",
    "in_pairs",
    "case_of",
    "execute_in",
    "prepared",
    "prepared_sql",
    "by_primary_key",
    "insert_ignoring",
    "update_returning",
    "fetch_tuples",
    "converted",
    "max_parameters",
    "returns_rows",
    "unflushed",
]


class Placeholders(Node):
    """SQL text and its parameters, handed to Peewee's context as they are.

    Like ``SQL(sql, params)``, which passes each parameter through Peewee's
    per-value conversion (and an ``IN`` compiles its right side twice): for
    the hundreds of values of a batch that costs more than the query.
    Parameters must be as the database takes them.
    """

    def __init__(self, sql: str, params: list[Any]) -> None:
        self.sql = sql
        self.params = params

    def __sql__(self, ctx: Any) -> Any:
        ctx.literal(self.sql)
        ctx._values.extend(self.params)
        return ctx


def in_list(field: Any, values: Iterable[Any]) -> Expression:
    """``field IN (values)`` with one placeholder per value.

    Equivalent to ``field.in_(values)``, but Peewee builds a node per value
    for that, which costs more than the query itself for a batch of a
    thousand ids. Values are converted with the field's ``db_value``.
    """
    params = [field.db_value(value) for value in values]
    placeholders = ", ".join([field.model._meta.database.param] * len(params))
    return Expression(field, OP.IN, Placeholders(f"({placeholders})", params))


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
    both = Expression(Tuple(first, second), OP.IN, Placeholders(f"({rows})", params))
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
    return NodeList((SQL("CASE"), field, Placeholders(branches.strip(), params), SQL("END")))


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


#: True on every row; turns ``synchronous_commit`` off for the statement's transaction alone.
_UNFLUSHED = SQL("set_config('synchronous_commit', 'off', true) IS NOT NULL")


def unflushed(model: Any) -> Any | None:
    """A condition, true on every row, that lets the commit of a statement run on its
    own (no transaction open) return before the server has flushed it to disk.

    Only for writes that the next sync repairs if a server crash loses them:
    a claim (lost, the row is free, as when its lease runs out) and the
    confirmation of an update the CRM already holds (lost, the next sync sends
    the same update again). PostgreSQL only, and outside transactions: inside
    one, the commit is the caller's and keeps the server's setting. ``None``
    where it does not apply. (SQLite in WAL mode with ``synchronous=normal``
    makes every commit so already.)
    """
    database = unwrap(model._meta.database)
    if isinstance(database, PostgresqlDatabase) and not database.in_transaction():
        return _UNFLUSHED
    return None


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
    query's shape and constants depend on, ``returning`` included), from
    stand-in arguments; later calls send that SQL with ``args`` as its
    parameters. ``args`` must be as the database takes them (no field
    converts them): text, numbers, datetimes or ``None``. A query whose
    shape may depend on an argument's value (``field == None`` compiles to
    ``IS NULL``) must not take it as an argument. A query whose parameters do
    not come out as the stand-ins (a number's is a number) or as constants is
    run as Peewee builds it, every time.
    ``returning`` (fields) ends an UPDATE with ``RETURNING`` those columns,
    where :func:`returns_rows`; the rows come as the driver gives them.
    """
    database = unwrap(model._meta.database)
    sql, params = prepared_sql(model, key, build, args)
    if returning:
        sql += _returning_once(database, key, returning)
    return database.execute_sql(sql, params)


def prepared_sql(
    model: Any, key: Hashable, build: Callable[..., Any], args: Sequence[Any]
) -> tuple[str, list[Any]]:
    """The SQL and parameters :func:`prepared` runs: ``build(*args).sql()``, its SQL
    compiled once per database and ``key``."""
    _, found = _compiled(model, key, build, args)
    if found is None:
        return build(*args).sql()
    sql, template = found
    return sql, [args[entry] if type(entry) is int else entry[0] for entry in template]


def by_primary_key(model: Any, pk: Any) -> Any | None:
    """The record of ``model`` whose primary key is ``pk``, or ``None``: what
    ``model.get_or_none(primary key == pk)`` reads, with SQL compiled once per
    database and model, and built as Peewee builds it (each column through its
    field's ``python_value``, nothing dirty) without resolving the columns of
    every answer anew."""
    field = model._meta.primary_key

    def build(value: Any) -> Any:
        return model.select().where(field == value)

    sql, params = prepared_sql(model, ("by_primary_key", model), build, (field.db_value(pk),))
    rows = unwrap(model._meta.database).execute_sql(sql, params).fetchall()
    if not rows:
        return None
    # ``model.select()`` selects the model's sorted fields, in that order.
    meta = model._meta
    values = zip(meta.sorted_field_names, meta.sorted_fields, rows[0])
    record = model(__no_default__=1, **{key: f.python_value(v) for key, f, v in values})
    record._dirty.clear()
    return record


def insert_ignoring(
    model: Any, rows: Sequence[Mapping[str, Any]], returning: Sequence[Any] = ()
) -> list[tuple]:
    """``model.insert_many(rows).on_conflict_ignore().execute()``, in few statements.

    Peewee builds a node per value of a multi-row INSERT, which costs more
    than the insert itself for the rows of a batch. Here the one-row
    statement is compiled once per database and column set (as
    :func:`prepared` does) and its ``VALUES`` group repeated per row; the
    values go through their fields' ``db_value``. Every row must have the
    same keys, in the same order. Rows past the placeholders one statement
    takes (:func:`max_parameters`) go in further statements. ``returning`` (fields, only where
    :func:`returns_rows`) asks for those columns of the rows inserted, which
    come back as the driver gives them; rows that existed are not among them.
    """
    if not rows:
        return []
    names = tuple(rows[0])
    fields = [model._meta.fields[name] for name in names]
    first = [field.db_value(rows[0][name]) for field, name in zip(fields, names)]

    def build(*args: Any) -> Any:
        query = model.insert(dict(zip(fields, args))).on_conflict_ignore()
        return query.returning(*returning) if returning else query

    returned_columns = _returning(returning, unwrap(model._meta.database)) if returning else ""
    key = ("insert_ignoring", model, names, returned_columns)
    database, found = _compiled(model, key, build, first)
    param = database.param
    group = "(" + ", ".join([param] * len(names)) + ")"
    returned: list[tuple] = []
    if found is None or found[0].count(group) != 1 or not all(type(e) is int for e in found[1]):
        # Peewee's own statements; a row holds at most a value per field.
        per_statement = max(1, max_parameters(database) // len(model._meta.fields))
        for start in range(0, len(rows), per_statement):
            query = model.insert_many(rows[start : start + per_statement]).on_conflict_ignore()
            cursor = database.execute(query.returning(*returning) if returning else query)
            if returning:
                returned.extend(cursor.fetchall())
        return returned
    sql, template = found
    # A value every row shares (the same object: a timestamp, a name) is converted once.
    shared = [rows[0][name] for name in names]
    values = [
        [
            converted if row[name] is same else field.db_value(row[name])
            for field, name, same, converted in zip(fields, names, shared, first)
        ]
        for row in rows
    ]
    per_statement = max(1, max_parameters(database) // len(template))
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        params = [row[entry] for row in chunk for entry in template]
        cursor = database.execute_sql(sql.replace(group, ", ".join([group] * len(chunk))), params)
        if returning:
            returned.extend(cursor.fetchall())
    return returned


def max_parameters(database: Any) -> int:
    """The placeholders one statement on ``database`` may hold: SQLite's limit as
    its build set it (32,766 by default since 3.32, 999 before), 65,535 elsewhere."""
    if not isinstance(database, SqliteDatabase):
        return 65_535
    getlimit = getattr(database.connection(), "getlimit", None)  # Python 3.11+
    if getlimit is not None:
        return getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    return 32_766 if sqlite3.sqlite_version_info >= (3, 32) else 999


def fetch_tuples(query: Any, fields: Sequence[Any]) -> list[tuple]:
    """``list(query.tuples())`` of a query selecting ``fields`` (in that order),
    converting only the values that need it.

    Peewee runs every value through its field's ``python_value``, which for
    the thousands of values of a batch costs more than the query. Here a
    text or integer field whose conversion is Peewee's own keeps the
    driver's ``str`` or ``int`` as it is; every other value is converted.
    """
    sql, params = query.sql()
    return converted(unwrap(query.model._meta.database).execute_sql(sql, params), fields)


def converted(rows: Iterable[Sequence[Any]], fields: Sequence[Any]) -> list[tuple]:
    """``rows`` as a driver gave them (values of ``fields``, in that order), converted
    as Peewee converts them, past the values that need no conversion (see
    :func:`fetch_tuples`)."""
    kinds = [(i, _plain_kind(field), field.python_value) for i, field in enumerate(fields)]
    result = []
    for row in rows:
        values = list(row)
        for i, kind, convert in kinds:
            value = values[i]
            if value is not None and type(value) is not kind:
                values[i] = convert(value)
        result.append(tuple(values))
    return result


def _plain_kind(field: Any) -> type | None:
    """``str`` or ``int``: the type a value of ``field`` already has when its
    conversion would leave it unchanged; ``None`` when it must be converted."""
    if type(field).python_value is not Field.python_value:
        return None
    if type(field).adapt is CharField.adapt:  # text fields: CharField, TextField, ...
        return str
    if type(field).adapt is IntegerField.adapt:  # IntegerField, AutoField, ...
        return int
    return None


def update_returning(query: Any, fields: Sequence[Any]) -> list[tuple]:
    """Run the UPDATE ``query`` ending with ``RETURNING`` those ``fields``, where
    :func:`returns_rows`; the rows changed, as the driver gives them."""
    database = unwrap(query.model._meta.database)
    sql, params = query.sql()
    return database.execute_sql(sql + _returning(fields, database), params).fetchall()


def _returning_once(database: Any, key: Hashable, fields: Sequence[Any]) -> str:
    """:func:`_returning` of ``fields`` for the query :func:`prepared` runs for ``key``,
    built once per database and key."""
    compiled = _compiled_on(database)
    clause = compiled.get(("returning", key))
    if clause is None:
        clause = compiled[("returning", key)] = _returning(fields, database)
    return clause


def _returning(fields: Sequence[Any], database: Any) -> str:
    names = ", ".join(_quoted(field.column_name, database.quote) for field in fields)
    return f" RETURNING {names}"


def _compiled(
    model: Any, key: Hashable, build: Callable[..., Any], args: Sequence[Any]
) -> tuple[Any, tuple[str, list[Any]] | None]:
    """``model``'s database, and the SQL and template :func:`prepared` runs for ``key``
    (compiled now if it was not yet); ``None`` in place of those when it cannot."""
    database = unwrap(model._meta.database)
    compiled = _compiled_on(database)
    found = compiled.get(key)
    if found is None:
        found = _compile(build, args)
        if found is not None:
            compiled[key] = found
    return database, found


def _compiled_on(database: Any) -> dict[Hashable, Any]:
    """The statements compiled for ``database`` so far (see :data:`_PREPARED`)."""
    compiled = _PREPARED.get(database)
    if compiled is None:
        compiled = _PREPARED.setdefault(database, {})
    return compiled


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
