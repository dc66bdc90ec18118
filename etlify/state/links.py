"""The associations Etlify wrote, per record: what a later sync compares against.

Only links in this table are ever archived: a link someone made by hand in
the CRM is left alone.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ..config import config
from ..sql import in_list, in_pairs
from .tables import CrmLink, CrmSynchronisation

__all__ = ["LinkState", "Links", "object_holders"]

#: ``{association path: {target CRM id}}`` of one record.
Links = dict[str, frozenset[str]]

#: Rows read or written per statement (keeps SQLite under its parameter limit).
CHUNK = 100


class LinkState:
    """The written associations of one model's records in one CRM."""

    def __init__(self, crm_name: str, resource_type: str) -> None:
        self.crm_name = crm_name
        self.resource_type = resource_type
        self.where = (CrmLink.crm_name == crm_name) & (CrmLink.resource_type == resource_type)

    def of(self, resource_ids: Iterable[str]) -> dict[str, Links]:
        """``{resource_id: Links}`` of these records (records without links are absent)."""
        ids = sorted(set(resource_ids))
        found: dict[str, dict[str, set[str]]] = {}
        for start in range(0, len(ids), CHUNK):
            query = CrmLink.select(
                CrmLink.resource_id, CrmLink.association, CrmLink.to_crm_id
            ).where(self.where & in_list(CrmLink.resource_id, ids[start : start + CHUNK]))
            for rid, association, to_crm_id in query.tuples():
                found.setdefault(rid, {}).setdefault(association, set()).add(to_crm_id)
        return {
            rid: {path: frozenset(ids) for path, ids in links.items()}
            for rid, links in found.items()
        }

    def store(self, written: Mapping[str, tuple[Links, Links]]) -> None:
        """Per record, ``(links added, links removed)`` as the CRM confirmed them."""
        removed: dict[str, list[tuple[str, str]]] = {}
        for rid, (_, gone) in written.items():
            for path, ids in gone.items():
                removed.setdefault(path, []).extend((rid, to_id) for to_id in sorted(ids))
        for path, pairs in removed.items():
            for start in range(0, len(pairs), CHUNK):
                CrmLink.delete().where(
                    self.where
                    & (CrmLink.association == path)
                    & in_pairs(CrmLink.resource_id, CrmLink.to_crm_id, pairs[start : start + CHUNK])
                ).execute()
        now = config.now()
        rows = [
            {
                "crm_name": self.crm_name,
                "resource_type": self.resource_type,
                "resource_id": rid,
                "association": path,
                "to_crm_id": to_id,
                "created_at": now,
            }
            for rid, (added, _) in written.items()
            for path, ids in added.items()
            for to_id in sorted(ids)
        ]
        for start in range(0, len(rows), CHUNK):
            CrmLink.insert_many(rows[start : start + CHUNK]).on_conflict_ignore().execute()

    def forget(self, resource_ids: Iterable[str]) -> None:
        """Drop the links of records whose CRM objects are gone."""
        ids = sorted(set(resource_ids))
        for start in range(0, len(ids), CHUNK):
            CrmLink.delete().where(
                self.where & in_list(CrmLink.resource_id, ids[start : start + CHUNK])
            ).execute()


def object_holders(
    crm_name: str, object_type: str, crm_ids: Iterable[str]
) -> dict[str, tuple[str, str]]:
    """``{crm_id: (resource_type, resource_id)}``: the records these CRM objects mirror."""
    Sync = CrmSynchronisation
    ids = sorted(set(crm_ids))
    found: dict[str, tuple[str, str]] = {}
    for start in range(0, len(ids), CHUNK):
        query = Sync.select(Sync.crm_id, Sync.resource_type, Sync.resource_id).where(
            (Sync.crm_name == crm_name)
            & (Sync.crm_object_type == object_type)
            & in_list(Sync.crm_id, ids[start : start + CHUNK])
        )
        found.update((crm_id, (rtype, rid)) for crm_id, rtype, rid in query.tuples())
    return found
