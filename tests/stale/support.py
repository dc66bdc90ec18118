"""Helpers of the finder tests: declaring, writing sync rows, reading the finder."""

from __future__ import annotations

import datetime as dt

from etlify.declarations import sync_config
from etlify.stale import Finder
from etlify.state import CrmSynchronisation

from .models import Serializer

T = dt.datetime(2024, 5, 1, 12, 0, 0)
"""A whole-second instant the tests count from."""


def etlify_model(model, crm_name="hubspot", **options):
    """Declare ``model`` for ``crm_name`` with the test serializer."""
    return model.etlified_with(
        crm_name, serializer=Serializer, crm_object_type="contacts", **options
    )


def synced(record, at, crm_name="hubspot", **fields):
    """Write the sync row of ``record``: last synced ``at``, with the dependency
    signature a sync would store now (unless ``fields`` say otherwise)."""
    if "dependency_signature" not in fields:
        config = sync_config(type(record), crm_name)
        signatures = Finder.dependency_signatures(config, [record._pk])
        fields["dependency_signature"] = signatures.get(str(record._pk))
    return CrmSynchronisation.create(
        crm_name=crm_name,
        resource_type=type(record).__name__,
        resource_id=str(record._pk),
        last_synced_at=at,
        error_count=fields.pop("error_count", 0),
        **fields,
    )


def stale_ids(model, crm_name="hubspot"):
    """The primary keys the finder lists for ``model`` and ``crm_name``."""
    query = Finder.call([model], crm_name)[model][crm_name]
    return [pk for (pk,) in query.tuples()]
