"""One CRM object per record: the unique keys new records are matched on.

A new record with an ``id_property`` value is upserted on it: the CRM
updates the object holding that key, or creates one. If another record's
object holds the key as the CRM compares it (HubSpot: emails lowercased and
trimmed, the adapter's ``match_key``), the upsert would write this record's
payload to that object. So each sync row remembers the key its object holds
(``crm_key``), and a new record is refused before sending, with a
:class:`~etlify.DuplicateKey`, when another record's object holds its key or
another record of the same run has it too. An update by CRM id never writes
to another record's object and is never refused here.

When the collision shows only in the CRM's answer (the other row was synced
before keys were stored, or by a worker racing this one), the payload has
reached the other record's object: that record is made stale, so its next
sync restores the object, and its row takes the key, so that the colliding
record is refused from then on without being sent.
"""

from __future__ import annotations

from typing import Any

from ..declarations import SyncConfig
from ..errors import DuplicateKey
from ..state import MAX_CRM_KEY_LENGTH
from ..state.rows import Scope
from .item import Item

__all__ = ["crm_key", "refuse_shared_keys", "overwritten"]


def crm_key(config_: SyncConfig, adapter: Any, payload: dict[str, Any]) -> str | None:
    """The unique key of ``payload`` as the CRM compares it: ``"email:ada@example.com"``.

    ``None`` when the model has no unique key, the payload no value for it, or
    the key is longer than :data:`~etlify.state.MAX_CRM_KEY_LENGTH`.
    """
    name = config_.upsert_key
    value = payload.get(name) if name else None
    if value is None or str(value).strip() == "":
        return None
    match_key = getattr(adapter, "match_key", None)
    text = str(value) if match_key is None else match_key(config_.crm_object_type, name, value)
    key = f"{name}:{text}"
    return key if len(key) <= MAX_CRM_KEY_LENGTH else None


def refuse_shared_keys(
    config_: SyncConfig, scope: Scope, to_send: list[Item], unchanged: list[Item]
) -> dict[str, DuplicateKey]:
    """``{resource_id: error}`` for the new records of ``to_send`` that must not be sent.

    A new record is refused when its key is held by the object of another
    record (of any model synced to this object type), or when another record
    of this run (``to_send`` and ``unchanged``) has the same key.
    """
    new = [item for item in to_send if item.key is not None and not item.row.crm_id]
    if not new:
        return {}
    holders = scope.key_holders(item.key for item in new)
    in_run: dict[str, list[Item]] = {}
    for item in (*to_send, *unchanged):
        if item.key is not None:
            in_run.setdefault(item.key, []).append(item)
    me = config_.resource_type
    refused: dict[str, DuplicateKey] = {}
    for item in new:
        held = [h for h in holders.get(item.key, []) if (h[0], h[1]) != (me, item.resource_id)]
        if held:
            holder_type, holder_id, crm_id = held[0]
            refused[item.resource_id] = DuplicateKey(
                f"{_named(config_, item)}: its {_value(config_, item)} is, as "
                f"{config_.crm_name} compares it, the key of {config_.crm_object_type} object "
                f"{crm_id}, linked to {holder_type} #{holder_id}; one CRM object cannot mirror "
                f"two records, so it is not sent. Change one of the two {config_.upsert_key} values"
            )
            continue
        others = [other for other in in_run[item.key] if other is not item]
        if others:
            names = ", ".join(_named(config_, other) for other in others)
            refused[item.resource_id] = DuplicateKey(
                f"{_named(config_, item)} and {names} have the same {config_.upsert_key} as "
                f"{config_.crm_name} compares it ({_value(config_, item)}): one CRM object "
                f"cannot mirror both, so {_named(config_, item)} is not sent"
            )
    return refused


def overwritten(
    config_: SyncConfig, item: Item, crm_id: str, holder: tuple[str, str] | None
) -> DuplicateKey:
    """The error of ``item``, whose payload the CRM wrote to object ``crm_id``,
    linked to ``holder`` (``(resource_type, resource_id)``) and made stale."""
    linked = "another record" if holder is None else f"{holder[0]} #{holder[1]}"
    if item.key is None:
        matched, refused = "answered with", "is not linked to it"
    else:
        matched = f"matched its {_value(config_, item)} to"
        refused = "is not sent while the key stays taken"
    return DuplicateKey(
        f"{_named(config_, item)}: {config_.crm_name} {matched} {config_.crm_object_type} "
        f"object {crm_id}, already linked to {linked}, and wrote this record's payload to it; "
        f"{linked} is stale, and its next sync restores the object. One CRM object cannot "
        f"mirror two records: {_named(config_, item)} {refused}"
    )


def _named(config_: SyncConfig, item: Item) -> str:
    return f"{config_.model.__name__} #{item.resource_id}"


def _value(config_: SyncConfig, item: Item) -> str:
    name = config_.upsert_key
    return f"{name} {item.payload.get(name)!r}"
