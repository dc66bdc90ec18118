"""The stale-record finder: which records need a sync, decided in SQL alone.

A record is stale for a CRM when it has no sync row for that CRM, when the
row was never synced (``last_synced_at`` NULL), when its own timestamp or the
timestamp of any record along a declared dependency is at or after
``last_synced_at``, or when the related rows it reaches are not the ones its
last sync reached: their ``dependency_signature`` differs from the one stored
(a deleted row, or a many-to-many swap, moves no remaining timestamp).
Records whose ``error_count`` reached the CRM's budget are left out.

A model's timestamp is its ``updated_at`` field, else its ``created_at``;
a model with neither only ever counts as "never synced". A NULL timestamp
never makes anything stale. Equal timestamps count as stale: the sync read
may have missed a change made in the same instant, and MySQL/MariaDB
``DATETIME`` columns keep whole seconds only.

On SQLite, timestamps are compared as the text Peewee writes
(``YYYY-MM-DD HH:MM:SS[.ffffff]``, ordered correctly with or without the
fraction); write them through Peewee (or in that format) and in one time
zone, the one of ``etlify.config.now()``.

Every record along a dependency path counts: ``"company.owner"`` makes a
user stale when its company or that company's owner changed. What no
timestamp shows is caught through the dependency signature (see
:meth:`Finder.dependency_signatures`): a deleted has-many row or
many-to-many link, a link swapped for another (``remove([a]); add([b])``),
and a deleted belongs-to or generic target, which leaves the owner pointing
at nothing (no foreign key constraint, or a generic relation) or at NULL
(``on_delete="SET NULL"``) without moving the owner's ``updated_at``.

The signature adds up, over the rows reached, one plus a mix of each row's
integer key (the through row's key for a many-to-many target whose own key is
not an integer; none when neither is) and a number of the path step's own, so
that edits on two paths cannot cancel out by reaching the same keys. It is a
checksum: edits that cancel
out exactly (rows without an integer key swapped, or several swaps whose
mixed keys add up to the same) can hide from it, as they hide from a count.
"""

from __future__ import annotations

import operator
import zlib
from functools import reduce
from typing import Any

from peewee import (
    JOIN,
    OP,
    SQL,
    Case,
    Cast,
    Expression,
    ModelAlias,
    MySQLDatabase,
    NodeList,
    PostgresqlDatabase,
    Proxy,
    SqliteDatabase,
    Value,
    fn,
)

from . import declarations, registry
from .declarations import SyncConfig
from .errors import ConfigurationError
from .relations import Step, steps
from .sql import in_list
from .state import KEY_CHARSET, KEY_COLLATION
from .state import CrmSynchronisation as Sync

__all__ = ["Finder"]

_TEXT_TYPES = {"VARCHAR", "TEXT", "CHAR"}


class Finder:
    """Finds stale records with one SQL query per model and CRM; loads no record."""

    @classmethod
    def call(cls, models: Any = None, crm_name: str | None = None) -> dict[type, dict[str, Any]]:
        """``{Model: {crm_name: query}}`` for ``models`` (default: all etlified) and CRMs.

        Each query selects only the primary keys of the stale records, ordered
        by primary key. A model not configured for ``crm_name`` is left out.
        """
        found: dict[type, dict[str, Any]] = {}
        for config in declarations.configs(models, crm_name):
            found.setdefault(config.model, {})[config.crm_name] = cls.query(config)
        return found

    @staticmethod
    def query(sync_config: SyncConfig) -> Any:
        """The query of the stale primary keys of one model for one CRM, in order."""
        plan = _Plan(sync_config)
        pk = sync_config.model._meta.primary_key
        return plan.query.where(plan.within_budget & plan.stale).order_by(pk)

    @classmethod
    def status(
        cls, models: Any = None, crm_name: str | None = None
    ) -> dict[type, dict[str, dict[str, int]]]:
        """``{Model: {crm_name: counts}}``, with :meth:`counts` for each model and CRM."""
        found: dict[type, dict[str, dict[str, int]]] = {}
        for config in declarations.configs(models, crm_name):
            found.setdefault(config.model, {})[config.crm_name] = cls.counts(config)
        return found

    @staticmethod
    def counts(sync_config: SyncConfig) -> dict[str, int]:
        """How the records of one model (within ``stale_scope``) stand with one CRM.

        One SQL query. ``total`` = ``synced`` + ``stale`` + ``exhausted``;
        ``failing`` counts the records whose last attempt failed but which
        still have retries left (they are stale too).
        """
        plan = _Plan(sync_config)
        has_errors = Sync.last_error.is_null(False)
        total, stale, failing, exhausted = (
            plan.query.select(
                fn.COUNT(SQL("*")),
                _count_if(plan.within_budget & plan.stale),
                _count_if(plan.within_budget & has_errors),
                _count_if(~plan.within_budget),
            )
            .order_by()
            .tuples()
            .get()
        )
        total, stale, failing, exhausted = (int(n or 0) for n in (total, stale, failing, exhausted))
        return {
            "total": total,
            "synced": total - stale - exhausted,
            "stale": stale,
            "failing": failing,
            "exhausted": exhausted,
        }

    @staticmethod
    def tracks_signatures(sync_config: SyncConfig) -> bool:
        """Whether the model has a dependency whose rows can vanish unseen, so that
        :meth:`dependency_signatures` has something to read."""
        return any(prefix[-1].counted for prefix in _prefixes(sync_config))

    @staticmethod
    def dependency_signatures(sync_config: SyncConfig, pks: Any) -> dict[str, int]:
        """``{str(pk): signature}`` of the related rows each record of ``pks`` reaches now.

        The signature adds up, over every step of every dependency path, a
        weight per row reached (see the module docstring): has-many rows,
        many-to-many targets, belongs-to and generic targets (one deleted
        under ``on_delete="SET NULL"`` or with no constraint weighs 0). Store
        it as the sync row's ``dependency_signature``; the finder flags the
        record when it changes. Read it before the record itself, so that a
        deletion racing the sync errs towards one more sync. One grouped
        query per path step; ``{}`` when the model has no dependency whose
        rows can vanish unseen (store NULL: not tracked).
        """
        prefixes = [prefix for prefix in _prefixes(sync_config) if prefix[-1].counted]
        pks = list(pks)
        if not prefixes or not pks:
            return {}
        model = sync_config.model
        pk = model._meta.primary_key
        database = _database(model)
        totals = {str(pk.python_value(pk.db_value(value))): 0 for value in pks}
        for prefix in prefixes:
            aliases = [step.model.alias() for step in prefix]
            weight = fn.SUM(_weight(prefix[-1], aliases, database))
            query = model.select(pk, weight).join_from(
                model, aliases[0], on=_link(prefix[0], model, aliases[0], database)
            )
            query = _join_rest(query, prefix, aliases, database)
            for value, signature in query.where(in_list(pk, pks)).group_by(pk).tuples():
                totals[str(value)] += int(signature)
        return totals


class _Plan:
    """The parts of one model-and-CRM finder query.

    ``query`` selects the primary key from the model (narrowed by
    ``stale_scope``), left-joined to its sync row and to every table reached
    through belongs-to steps only; ``stale`` and ``within_budget`` are
    conditions over those.
    """

    def __init__(self, config: SyncConfig) -> None:
        model = config.model
        database = _database(model)
        pk = model._meta.primary_key
        query = model.select(pk)
        if config.stale_scope is not None:
            query = config.stale_scope(query)
        query = query.join_from(
            model,
            Sync,
            JOIN.LEFT_OUTER,
            on=(Sync.crm_name == config.crm_name)
            & (Sync.resource_type == config.resource_type)
            & (Sync.resource_id == _as_text(pk, pk, database)),
        )
        synced_at = Sync.last_synced_at
        signs = [Sync.id.is_null(), synced_at.is_null()]
        own = _timestamp(model)
        if own is not None:
            signs.append(own >= synced_at)
        weights = []
        direct = [prefix for prefix in _prefixes(config) if not any(s.to_many for s in prefix)]
        for number, group in enumerate(_by_first_step(direct)):
            query, stamps, weight = _join_reached(query, model, group, database, number)
            signs.extend(stamp >= synced_at for stamp in stamps)
            if weight is not None:
                weights.append(weight)
        for prefix in _prefixes(config):
            step = prefix[-1]
            if prefix in direct:
                continue
            exists, aliases = _correlated(model, prefix, database)
            stamp = _timestamp(aliases[-1])
            if stamp is not None:
                signs.append(fn.EXISTS(exists.select(SQL("1")).where(stamp >= synced_at)))
            if step.counted:
                signature = exists.select(fn.COALESCE(fn.SUM(_weight(step, aliases, database)), 0))
                weights.append(signature)
        if weights:
            # ``+`` between two queries would be a UNION in Peewee.
            current = reduce(lambda total, weight: Expression(total, OP.ADD, weight), weights)
            # A row written before signatures existed, or before the
            # dependencies were declared, is unknown: one sync tells.
            signature = Sync.dependency_signature
            signs.append(signature.is_null() | (signature != current))
        self.query = query
        self.stale = reduce(operator.or_, signs)
        budget = registry.error_budget(config.crm_name)
        self.within_budget = Sync.error_count.is_null() | (Sync.error_count < budget)


def _prefixes(config: SyncConfig) -> list[tuple[Step, ...]]:
    """Every distinct path prefix of the declared dependencies, shortest first."""
    seen: dict[str, tuple[Step, ...]] = {}
    for dependency in config.dependencies:
        for chain in steps(config.model, dependency):
            for end in range(1, len(chain) + 1):
                seen.setdefault(chain[end - 1].key, chain[:end])
    return list(seen.values())


def _by_first_step(prefixes: list[tuple[Step, ...]]) -> list[list[tuple[Step, ...]]]:
    """``prefixes`` grouped by their first step, each group shortest first."""
    groups: dict[str, list[tuple[Step, ...]]] = {}
    for prefix in prefixes:
        groups.setdefault(prefix[0].key, []).append(prefix)
    return list(groups.values())


def _join_reached(
    query: Any, model: Any, group: list[tuple[Step, ...]], database: Any, number: int
) -> tuple[Any, list[Any], Any]:
    """``query`` left-joined to the tables ``group`` reaches (path prefixes through
    belongs-to steps alone, sharing their first step): at most one row of each per record.

    Returns the joined query, the timestamp columns of those tables, and what
    they add to the dependency signature (None when no step is counted).

    One table is joined as it is. Two or more are first joined among
    themselves in a derived table, one row per row of the first, holding
    their timestamps and signature: each record then costs one lookup, and
    the signature is mixed once per row of the first table rather than once
    per record (SQLite would otherwise look up every table and mix every key
    for each record).
    """
    first = group[0][0]
    nodes: dict[str, Any] = {}
    stamps, weights = [], []
    for prefix in group:
        step = prefix[-1]
        node = nodes[step.key] = step.model.alias()
        if len(prefix) == 1:
            rows = node.select()
        else:
            source = nodes[prefix[-2].key]
            rows = rows.join_from(
                source, node, JOIN.LEFT_OUTER, on=_link(step, source, node, database)
            )
        stamp = _timestamp(node)
        if stamp is not None:
            stamps.append(stamp)
        if step.counted:
            weight = _weight(step, [node], database)
            weights.append(weight if len(prefix) == 1 else _if_present(node, weight))
    weight = reduce(operator.add, weights) if weights else None
    if len(group) == 1:
        node = nodes[first.key]
        query = query.join_from(
            model, node, JOIN.LEFT_OUTER, on=_link(first, model, node, database)
        )
        return query, stamps, None if weight is None else _if_present(node, weight)
    link = getattr(nodes[first.key], first.field.name)
    columns = [link.alias(first.field.name)]
    columns += [stamp.alias(f"etlify_stamp_{n}") for n, stamp in enumerate(stamps)]
    if weight is not None:
        columns.append(weight.alias("etlify_signature"))
    table = rows.select(*columns).alias(f"etlify_reached_{number}")
    query = query.join_from(
        model, table, JOIN.LEFT_OUTER, on=_link(first, model, table.c, database)
    )
    stamps = [getattr(table.c, f"etlify_stamp_{n}") for n in range(len(stamps))]
    if weight is not None:
        weight = fn.COALESCE(table.c.etlify_signature, 0)
    return query, stamps, weight


def _if_present(node: Any, weight: Any) -> Any:
    """``weight`` where a left-joined ``node`` has a row, else 0."""
    return Case(None, [(_key(node).is_null(False), weight)], 0)


def _correlated(owner: Any, prefix: tuple[Step, ...], database: Any):
    """``SELECT 1 FROM <prefix> WHERE <first step joins the outer owner row>``.

    Returns the query (to ``select()`` what is wanted) and the aliases of
    the prefix's tables.
    """
    aliases = [step.model.alias() for step in prefix]
    query = aliases[0].select(SQL("1")).where(_link(prefix[0], owner, aliases[0], database))
    return _join_rest(query, prefix, aliases, database), aliases


def _join_rest(query: Any, prefix: tuple[Step, ...], aliases: list, database: Any) -> Any:
    for step, source, node in zip(prefix[1:], aliases, aliases[1:]):
        query = query.join_from(source, node, on=_link(step, source, node, database))
    return query


def _link(step: Step, source: Any, node: Any, database: Any) -> Any:
    """The condition joining ``node`` (a table of ``step``) to ``source``, the one before."""
    condition = _equal(
        getattr(node, step.field.name),
        step.field,
        getattr(source, step.source_field.name),
        step.source_field,
        database,
    )
    if step.type_field is not None:
        condition = (getattr(source, step.type_field.name) == step.type_value) & condition
    return condition


def _equal(left: Any, left_field: Any, right: Any, right_field: Any, database: Any) -> Any:
    """``left = right``, comparing as text when one side is text and the other is not.

    A text column is compared as it is, in its own collation: the side turned
    into text takes it (see :func:`_text`), and an index on the column serves.
    """
    if _kind(left_field) == _kind(right_field):
        return left == right
    return _text(left, left_field, database) == _text(right, right_field, database)


def _kind(field: Any) -> str:
    if field.field_type in _TEXT_TYPES:
        return "text"
    return "uuid" if field.field_type == "UUID" else "number"


def _as_text(expr: Any, field: Any, database: Any) -> Any:
    """``expr`` (a value of ``field``) as the text the sync rows store in ``resource_id``.

    On MySQL/MariaDB the text is cast to the key columns' character set and
    given their collation (:data:`~etlify.state.KEY_COLLATION`) explicitly: it
    then compares with ``resource_id`` whatever the collation of the
    application's column or of the connection, and, being the column's own
    collation, lets the lookup use the unique index on it.
    """
    text = _text(expr, field, database)
    if isinstance(database, MySQLDatabase):
        cast = fn.CAST(NodeList((text, SQL("AS CHAR CHARACTER SET"), SQL(KEY_CHARSET))))
        return cast.collate(KEY_COLLATION)
    return text


def _text(expr: Any, field: Any, database: Any) -> Any:
    """``expr`` (a value of ``field``) as the text ``str()`` gives its Python value.

    UUIDs are hyphenated: Peewee stores them as 32 hex digits except on
    PostgreSQL. On MySQL/MariaDB a number becomes text through ``CONCAT``,
    which gives a coercible string: compared with a text column, it takes
    that column's collation, where ``CAST(... AS CHAR)`` would take the
    connection's and clash with a column in another one ("Illegal mix of
    collations").
    """
    kind = _kind(field)
    if kind == "text":
        return expr
    if field.field_type == "UUIDB":
        raise ConfigurationError(
            f"{field.model.__name__}.{field.name}: binary UUID keys are not supported"
        )
    if kind == "uuid" and not isinstance(database, PostgresqlDatabase):
        parts = [fn.SUBSTR(expr, start, size) for start, size in _UUID_GROUPS]
        if isinstance(database, MySQLDatabase):
            return fn.CONCAT_WS("-", *parts)
        return reduce(lambda text, part: text.concat("-").concat(part), parts)
    if isinstance(database, MySQLDatabase):
        return fn.CONCAT(expr)
    return Cast(expr, "TEXT")


_UUID_GROUPS = ((1, 8), (9, 4), (13, 4), (17, 4), (21, 12))


def _timestamp(model: Any) -> Any:
    """The timestamp column of ``model`` (a model or an alias), or None."""
    fields = (model.model if isinstance(model, ModelAlias) else model)._meta.fields
    for name in ("updated_at", "created_at"):
        if name in fields:
            return getattr(model, name)
    return None


def _database(model: Any) -> Any:
    database = model._meta.database
    return database.obj if isinstance(database, Proxy) else database


def _one_if(condition: Any) -> Any:
    return Case(None, [(condition, 1)], 0)


#: A prime below 2**31: a key modulo it, squared, stays within 64 bits.
_MODULUS = 2147483647
_INTEGER_TYPES = {"AUTO", "BIGAUTO", "INT", "BIGINT", "SMALLINT"}


def _key(node: Any) -> Any:
    """The primary key column of ``node`` (an alias of a model)."""
    return getattr(node, node.model._meta.primary_key.name)


def _weight(step: Step, aliases: list, database: Any) -> Any:
    """What one row reached by ``step`` through ``aliases`` (its path's tables)
    adds to a signature.

    One, plus ``r + r² mod p`` where ``r = (k + s) mod p``, ``k`` is its
    integer key (the key of the last table, else of the table before it, a
    many-to-many through row) and ``s`` the step's salt; one alone when
    there is no integer key to mix.
    """
    for node in reversed(aliases[-2:]):
        if node.model._meta.primary_key.field_type in _INTEGER_TYPES:
            key = _key(node)
            if isinstance(database, PostgresqlDatabase):
                key = Cast(key, "BIGINT")  # integer * integer overflows int4
            rest = _modulo(key + _salt(step), database)
            return 1 + rest + _modulo(rest * rest, database)
    return Value(1)


def _salt(step: Step) -> int:
    """A number of the step's own, from its path (``"tags"``, ``"tags[through]"``)."""
    return zlib.crc32(step.key.encode()) % 65521 + 1


def _modulo(expr: Any, database: Any) -> Any:
    if isinstance(database, SqliteDatabase):  # SQLite may lack MOD()
        return Expression(expr, OP.MOD, _MODULUS)
    return fn.MOD(expr, _MODULUS)  # '%' would read as a placeholder


def _count_if(condition: Any) -> Any:
    return fn.SUM(_one_if(condition))
