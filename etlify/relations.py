"""Resolving relation names (``"company"``, ``"investments"``, ``"company.owner"``).

A dependency path is a dotted chain of relation names, each one of: a
``ForeignKeyField`` (belongs-to), a backref (has-many / has-one), a
``ManyToManyField`` (either side), or a :class:`GenericDependency` (a
(type, id) pair of columns). Relations are read from ``Model._meta`` when
first needed, after every model class exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from peewee import ForeignKeyField, ManyToManyField

from .errors import ConfigurationError

__all__ = ["GenericDependency", "Hop", "Step", "resolve", "steps", "validate_dependency"]


class GenericDependency:
    """A relation held as a (type, id) pair of columns on the owner model.

    ``GenericDependency("subject_type", "subject_id", targets=[Post, Photo])``:
    the owner's ``subject_type`` column names the target model (by class name,
    or by the keys of a ``{type value: Model}`` mapping) and ``subject_id`` its
    primary key.
    """

    def __init__(self, type_field: str, id_field: str, targets: Any) -> None:
        if isinstance(targets, Mapping):
            self.targets = dict(targets)
        else:
            self.targets = {model.__name__: model for model in targets}
        if not self.targets:
            raise ConfigurationError("GenericDependency needs at least one target model")
        self.type_field = type_field
        self.id_field = id_field

    def __repr__(self) -> str:
        return f"GenericDependency({self.type_field!r}, {self.id_field!r}, {list(self.targets)!r})"


@dataclass(frozen=True)
class Hop:
    """One step of a dependency path, from ``source`` to ``target``.

    ``kind`` is ``"belongs_to"`` (``field`` is ``source``'s foreign key),
    ``"has_many"`` (``field`` is ``target``'s foreign key to ``source``),
    ``"many_to_many"`` (``through`` holds ``through_source`` → source and
    ``through_target`` → target), or ``"generic"`` (``generic`` on ``source``).
    """

    kind: str
    source: Any
    target: Any
    field: Any = None
    through: Any = None
    through_source: Any = None
    through_target: Any = None
    generic: GenericDependency | None = None


def _hops_for(model: Any, name: str) -> list[Hop]:
    field = model._meta.fields.get(name)
    if isinstance(field, ForeignKeyField):
        return [Hop("belongs_to", model, field.rel_model, field=field)]
    m2m = model._meta.manytomany.get(name)
    if isinstance(m2m, ManyToManyField):
        through = m2m.get_through_model()
        src = _fk_to(through, model, exclude=None)
        dst = _fk_to(through, m2m.rel_model, exclude=src)
        return [
            Hop(
                "many_to_many",
                model,
                m2m.rel_model,
                through=through,
                through_source=src,
                through_target=dst,
            )
        ]
    for fk in model._meta.backrefs:
        if fk.backref == name:
            return [Hop("has_many", model, fk.model, field=fk)]
    return []


def _fk_to(through: Any, model: Any, exclude: Any) -> Any:
    for fk in through._meta.refs:
        if fk.rel_model is model and fk is not exclude:
            return fk
    raise ConfigurationError(f"{through.__name__} has no foreign key to {model.__name__}")


def resolve(model: Any, path: Any) -> list[Hop]:
    """The hops of ``path`` from ``model``; :class:`ConfigurationError` if one is unknown."""
    if isinstance(path, GenericDependency):
        for attr in (path.type_field, path.id_field):
            if attr not in model._meta.fields:
                raise ConfigurationError(f"{model.__name__} has no field {attr!r} for {path!r}")
        return [Hop("generic", model, None, generic=path)]
    if not isinstance(path, str) or not path:
        raise ConfigurationError(
            f"a dependency must be a relation name or GenericDependency, not {path!r}"
        )
    hops: list[Hop] = []
    current = model
    for name in path.split("."):
        step = _hops_for(current, name)
        if not step:
            what = "a field, not a relation" if name in current._meta.fields else "not a relation"
            raise ConfigurationError(
                f"{name!r} in {path!r} is {what} of {current.__name__} "
                "(a foreign key, a backref or a many-to-many field; a backref exists only "
                "once the model declaring the foreign key is defined)"
            )
        hops.extend(step)
        current = step[-1].target
    return hops


@dataclass(frozen=True)
class Step:
    """One table reached along a dependency path, and how it joins the one before.

    A row of ``model`` belongs to the previous row when
    ``model.field == previous.source_field`` (and, for a generic relation,
    ``previous.<type_field> == type_value``). ``key`` names the table's place
    in the path (``"company.owner"``), so paths sharing a prefix share steps.
    ``to_many`` marks a step that can reach several rows; ``counted`` marks one
    whose rows can disappear without any remaining timestamp moving: a
    has-many row or many-to-many link deleted, a belongs-to or generic target
    deleted under ``on_delete="SET NULL"``, without a foreign key constraint,
    or (generic) with no constraint possible.
    """

    key: str
    model: Any
    field: Any
    source_field: Any
    to_many: bool = False
    counted: bool = False
    type_field: Any = None
    type_value: Any = None


def steps(model: Any, path: Any) -> list[tuple[Step, ...]]:
    """The tables ``path`` reaches from ``model``, as chains of :class:`Step`.

    A string path gives one chain (a many-to-many hop adds two steps: the
    through table, then the target); a :class:`GenericDependency` gives one
    single-step chain per target model.
    """
    if isinstance(path, GenericDependency):
        return [
            (
                Step(
                    f"{path.type_field}/{path.id_field}={value}",
                    target,
                    target._meta.primary_key,
                    model._meta.fields[path.id_field],
                    counted=True,
                    type_field=model._meta.fields[path.type_field],
                    type_value=value,
                ),
            )
            for value, target in path.targets.items()
        ]
    chain: list[Step] = []
    names: list[str] = []
    for hop, name in zip(resolve(model, path), path.split(".")):
        names.append(name)
        key = ".".join(names)
        if hop.kind == "belongs_to":
            chain.append(Step(key, hop.target, hop.field.rel_field, hop.field, counted=True))
        elif hop.kind == "has_many":
            chain.append(Step(key, hop.target, hop.field, hop.field.rel_field, True, True))
        else:
            source, target = hop.through_source, hop.through_target
            chain.append(Step(f"{key}[through]", hop.through, source, source.rel_field, True))
            chain.append(Step(key, hop.target, target.rel_field, target, True, True))
    return [tuple(chain)]


def validate_dependency(
    model: Any, path: Any, where: str, option: str, foreign_key_only: bool = False
) -> None:
    """Raise :class:`ConfigurationError` naming ``where`` and ``option`` if ``path`` is bad."""
    try:
        hops = resolve(model, path)
    except ConfigurationError as error:
        raise ConfigurationError(f"{where}: {option}: {error}") from None
    if foreign_key_only and (len(hops) != 1 or hops[0].kind != "belongs_to"):
        raise ConfigurationError(
            f"{where}: {option}: {path!r} must be a foreign key of {model.__name__} "
            "(a record this one points at)"
        )
