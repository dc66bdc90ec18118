"""Associations between synced records: what ``associations=[Associate(...)]`` declares.

``Associate("company", to="companies")`` links each record's CRM object to the
CRM objects of the records ``"company"`` reaches: a foreign key, a backref, a
many-to-many field, or a dotted path of them. The records reached must be of
a model etlified for the same CRM; their CRM ids come from the sync state.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError
from .relations import GenericDependency, resolve, steps
from .sql import in_list

__all__ = ["Associate", "CATEGORIES", "reached"]

#: HubSpot's association categories.
CATEGORIES = ("HUBSPOT_DEFINED", "USER_DEFINED", "INTEGRATOR_DEFINED")


@dataclass(frozen=True)
class Associate:
    """Link a record's CRM object to those of the records ``path`` reaches.

    :param path: a relation name or dotted path (``"company"``,
        ``"contacts"``, ``"account.company"``).
    :param to: the CRM object type of the records reached (``"companies"``);
        checked against that model's declaration, which it defaults to.
    :param type_id: a labelled association type, by ``associationTypeId``;
        HubSpot's default (unlabeled) type of the pair when neither it nor
        ``label`` is given.
    :param category: the category of ``type_id``.
    :param label: a labelled association type by its label, looked up once
        from the CRM (HubSpot's labels endpoint).
    """

    path: str
    to: str | None = None
    type_id: int | None = None
    category: str = "HUBSPOT_DEFINED"
    label: str | None = None

    def validate(self, model: type, where: str) -> None:
        """Raise :class:`ConfigurationError` naming ``where`` if the declaration is bad."""
        if isinstance(self.path, GenericDependency) or not isinstance(self.path, str):
            raise ConfigurationError(
                f"{where}: associations: {self.path!r} must be a relation name or dotted path"
            )
        try:
            resolve(model, self.path)
        except ConfigurationError as error:
            raise ConfigurationError(f"{where}: associations: {error}") from None
        if self.type_id is not None and self.label is not None:
            raise ConfigurationError(
                f"{where}: associations: {self.path!r} names both type_id and label; give one"
            )
        if self.type_id is not None and (
            not isinstance(self.type_id, int) or isinstance(self.type_id, bool)
        ):
            raise ConfigurationError(
                f"{where}: associations: {self.path!r}: type_id must be an integer "
                f"associationTypeId, not {self.type_id!r}"
            )
        if self.category not in CATEGORIES:
            raise ConfigurationError(
                f"{where}: associations: {self.path!r}: category must be one of "
                f"{', '.join(CATEGORIES)}, not {self.category!r}"
            )
        if self.to is not None and (not isinstance(self.to, str) or not self.to):
            raise ConfigurationError(
                f"{where}: associations: {self.path!r}: to must be a CRM object type, "
                f"not {self.to!r}"
            )

    def target(self, model: type) -> type:
        """The model of the records ``path`` reaches from ``model``."""
        return resolve(model, self.path)[-1].target


def reached(model: type, path: str, pks: Iterable[Any]) -> dict[str, set[str]]:
    """``{str(pk): {str(target pk)}}``: the records ``path`` reaches from each of ``pks``.

    One query (joins along the path); a record reaching nothing is absent.
    """
    pks = list(pks)
    if not pks:
        return {}
    owner_key = model._meta.primary_key
    query = model.select()
    previous: Any = model
    for step in steps(model, path)[0]:
        alias = step.model.alias()
        on = getattr(alias, step.field.name) == _column(previous, step.source_field)
        query = query.join_from(previous, alias, on=on)
        previous = alias
    target_key = getattr(previous, previous.model._meta.primary_key.name)
    query = query.select(owner_key, target_key).where(in_list(owner_key, pks))
    found: dict[str, set[str]] = {}
    for owner, target in query.tuples():
        if target is not None:
            found.setdefault(str(owner), set()).add(str(target))
    return found


def _column(node: Any, field: Any) -> Any:
    """``field`` as a column of ``node``: the model itself, or an alias of it."""
    return field if node is field.model else getattr(node, field.name)
