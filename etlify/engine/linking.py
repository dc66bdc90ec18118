"""Writing a run's associations: after the records sync, their links follow.

Each ``Associate`` declaration gives every record the set of CRM ids it
should be linked to (those of the records its path reaches, from their sync
rows). The set is compared with the links Etlify last wrote for the record
(:class:`~etlify.state.links.LinkState`): an unchanged set costs nothing;
otherwise the new links are created and the ones that went away archived,
100 per request, through the same rate budget and circuit breaker as the
payloads. A link is only ever made between the record's own object and an
object the sync state gives to the record reached.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..associations import Associate, reached
from ..declarations import SyncConfig, sync_config
from ..errors import ConfigurationError
from ..state.links import Links, LinkState, object_holders
from ..state.rows import Scope
from .item import Item

__all__ = ["Linker", "Target"]

#: Pairs of one association request.
CHUNK = 100


class Target:
    """One ``Associate`` declaration of a model, resolved: its target's sync config."""

    def __init__(self, config_: SyncConfig, association: Associate) -> None:
        self.association = association
        self.path = association.path
        self.config = sync_config(association.target(config_.model), config_.crm_name)
        to = association.to
        if to is not None and to != self.config.crm_object_type:
            raise ConfigurationError(
                f"{config_.model.__name__}.etlified_with({config_.crm_name!r}): associations: "
                f"{self.path!r} says to={to!r}, but {self.config.model.__name__} syncs to "
                f"{self.config.crm_object_type!r}"
            )
        self.scope = Scope.of(self.config)


class Linker:
    """The associations of one run of the engine."""

    def __init__(self, config_: SyncConfig, adapter: Any) -> None:
        self.config = config_
        self.adapter = adapter
        self.targets = [Target(config_, a) for a in config_.associations]
        self.state = LinkState(config_.crm_name, config_.resource_type)
        #: ``{resource_id: (links added, links removed)}`` the CRM confirmed.
        self.written: dict[str, tuple[Links, Links]] = {}
        #: ``{resource_id: error}`` of records some of whose links were refused.
        self.refused: dict[str, BaseException] = {}
        self._types: dict[str, tuple[str, int] | None] = {}

    def reached(self, items: list[Item]) -> dict[str, dict[str, set[str]]]:
        """``{path: {resource_id: {target resource id}}}``: one query per declaration."""
        pks = [item.record._pk for item in items]
        return {t.path: reached(self.config.model, t.path, pks) for t in self.targets}

    def wanted(self, items: list[Item], reach: dict[str, dict[str, set[str]]]) -> None:
        """Set each item's ``links`` (to the targets' CRM ids) and ``stored_links``."""
        crm_ids: dict[str, dict[str, str]] = {}
        for target in self.targets:
            ids = {rid for found in reach[target.path].values() for rid in found}
            rows = target.scope.linked_rows(sorted(ids)) if ids else {}
            crm_ids[target.path] = {rid: row.crm_id for rid, row in rows.items()}
        stored = self.state.of(item.resource_id for item in items)
        for item in items:
            links = {
                t.path: frozenset(
                    crm_ids[t.path][rid]
                    for rid in reach[t.path].get(item.resource_id, ())
                    if rid in crm_ids[t.path]
                )
                for t in self.targets
            }
            # As stored: a declaration reaching nothing has no entry.
            item.links = {path: ids for path, ids in links.items() if ids}
            item.stored_links = stored.get(item.resource_id, {})

    def write(self, linked: list[tuple[Item, str, bool]], call: Callable[..., Any]) -> None:
        """Write the links of the records the CRM confirmed: ``(item, crm id, the
        object is new)``. ``call(fn)`` makes one CRM request, ``fn()``, under the
        run's rules (rate budget, 429 rule, circuit breaker)."""
        changes: dict[str, tuple[str, Links, Links]] = {}
        for item, crm_id, new in linked:
            # A new object has none of the links the old one had.
            old = {} if new else item.stored_links
            added = {p: ids - old.get(p, frozenset()) for p, ids in item.links.items()}
            removed = {p: ids - item.links.get(p, frozenset()) for p, ids in old.items()}
            forgotten = item.stored_links if new else removed
            if any(added.values()) or any(forgotten.values()):
                changes[item.resource_id] = (crm_id, added, removed)
                self.written[item.resource_id] = (added, forgotten)
        holders = object_holders(
            self.config.crm_name, self.config.crm_object_type, (c[0] for c in changes.values())
        )
        me = self.config.resource_type
        for rid, (crm_id, _, _) in list(changes.items()):
            if holders.get(crm_id, (me, rid)) != (me, rid):
                # Another record's object: no link from it; the sync fails as overwritten.
                del changes[rid], self.written[rid]
        for target in self.targets:
            try:
                kind = self._type(target, call) if changes else None
            except Exception as error:
                for rid, change in changes.items():
                    if change[1].get(target.path) or change[2].get(target.path):
                        self.refused.setdefault(rid, error)
                continue
            for operation, side in (("batch_associate", 1), ("batch_dissociate", 2)):
                pairs = {
                    (change[0], to_id): rid
                    for rid, change in changes.items()
                    for to_id in sorted(change[side].get(target.path, ()))
                }
                self._send(target, kind, getattr(self.adapter, operation), pairs, call)
        for rid in self.refused:
            self.written.pop(rid, None)

    def _send(
        self,
        target: Target,
        kind: tuple[str, int] | None,
        method: Callable[..., Any],
        pairs: dict[tuple[str, str], str],
        call: Callable[..., Any],
    ) -> None:
        """Send ``pairs`` (``{(from id, to id): resource id}``) through ``method``."""
        ordered = list(pairs)
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]

            def one(chunk: list = chunk) -> Any:
                return method(
                    self.config.crm_object_type, target.config.crm_object_type, chunk, kind
                )

            try:
                refused = call(one) or {}
            except Exception as error:
                for pair in chunk:
                    self.refused.setdefault(pairs[pair], error)
                continue
            for pair, error in refused.items():
                rid = pairs.get((str(pair[0]), str(pair[1])))
                if rid is not None:
                    self.refused.setdefault(rid, error)

    def _type(self, target: Target, call: Callable[..., Any]) -> tuple[str, int] | None:
        """The ``(category, type id)`` of a declaration; ``None`` for the default type."""
        association = target.association
        if association.type_id is not None:
            return (association.category, association.type_id)
        if association.label is None:
            return None
        if target.path not in self._types:
            lookup = getattr(self.adapter, "association_type", None)
            if lookup is None:
                raise ConfigurationError(
                    f"{self.config.model.__name__}: associations: {target.path!r} names "
                    f"label {association.label!r}, but {type(self.adapter).__name__} cannot "
                    "look labels up; give type_id"
                )
            self._types[target.path] = call(
                lambda: lookup(
                    self.config.crm_object_type, target.config.crm_object_type, association.label
                )
            )
        return self._types[target.path]
