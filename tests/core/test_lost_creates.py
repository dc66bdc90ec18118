"""A create whose answer was lost is never sent blind again.

A model with no unique key (HubSpot companies, deals, custom objects): the
create committed at HubSpot, the answer was lost. The sync row remembers
since when an object may exist; the next attempt looks it up first (one
match is adopted, several are refused). With ``external_id_property`` every
create is an upsert on the record's own key. Over HTTP against FakeHubSpot,
on SQLite, PostgreSQL and MariaDB.
"""

from __future__ import annotations

from etlify import BatchSync, Status

from ..conftest import make_app


def lose_the_next_answer(hubspot):
    """The next request is carried out, and its connection dropped before the answer."""
    hubspot.fail_next(status="drop", commit=True)


def row_of(record):
    return record.crm_synchronisation("hubspot")


def test_a_create_whose_answer_was_lost_is_adopted_by_the_next_sync(crm_app, hubspot):
    acme = crm_app.Company.create(name="Acme", domain="acme.example")
    lose_the_next_answer(hubspot)
    assert acme.sync(async_=False) == Status.ERROR
    assert row_of(acme).create_sent_at is not None

    assert acme.sync(async_=False) == Status.SYNCED

    (only,) = hubspot.objects("companies")
    assert row_of(acme).crm_id == only["id"]
    assert row_of(acme).create_sent_at is None


def test_a_batch_adopts_the_object_a_lost_create_made(crm_app, hubspot):
    companies = [crm_app.Company.create(name=f"Company {n}") for n in range(3)]
    lose_the_next_answer(hubspot)
    companies[0].sync(async_=False)

    stats = BatchSync.call(async_=False)

    assert stats["synced"] == 3
    assert hubspot.object_count("companies") == 3


def test_a_lost_create_that_made_nothing_is_created_once(crm_app, hubspot):
    acme = crm_app.Company.create(name="Acme")
    hubspot.fail_next(status=502)  # answered before anything was written
    assert acme.sync(async_=False) == Status.ERROR

    assert acme.sync(async_=False) == Status.SYNCED
    assert hubspot.object_count("companies") == 1


def test_several_objects_a_lost_create_could_be_are_refused_without_spending_the_budget(
    crm_app, hubspot, hubspot_adapter
):
    acme = crm_app.Company.create(name="Acme")
    lose_the_next_answer(hubspot)
    acme.sync(async_=False)
    hubspot_adapter.upsert("companies", {"name": "Acme", "domain": None})  # someone else's

    assert acme.sync(async_=False) == Status.ERROR

    row = row_of(acme)
    assert row.last_error_kind == "unconfirmed_create"
    assert "2 companies objects" in row.last_error
    assert row.error_count == 0
    assert hubspot.object_count("companies") == 2


def test_external_id_property_makes_a_lost_create_an_upsert(any_database, hubspot_adapter, hubspot):
    hubspot.define_property("companies", "etlify_key", unique=True)
    app = make_app(any_database, hubspot_adapter)
    app.Company.etlified_with(
        "hubspot",
        serializer=app.CompanySerializer,
        crm_object_type="companies",
        external_id_property="etlify_key",
        replace=True,
    )
    acme = app.Company.create(name="Acme")
    lose_the_next_answer(hubspot)
    assert acme.sync(async_=False) == Status.ERROR

    assert acme.sync(async_=False) == Status.SYNCED

    (only,) = hubspot.objects("companies")
    assert only["properties"]["etlify_key"] == f"Company:{acme.id}"
    assert row_of(acme).crm_id == only["id"]


def test_external_id_property_sends_new_records_through_batch_upsert(
    any_database, hubspot_adapter, hubspot
):
    hubspot.define_property("companies", "etlify_key", unique=True)
    app = make_app(any_database, hubspot_adapter)
    app.Company.etlified_with(
        "hubspot",
        serializer=app.CompanySerializer,
        crm_object_type="companies",
        external_id_property="etlify_key",
        replace=True,
    )
    for n in range(5):
        app.Company.create(name=f"Company {n}")

    assert BatchSync.call(models=[app.Company], async_=False)["synced"] == 5

    paths = [request.path for request in hubspot.requests]
    assert paths == ["/crm/v3/objects/companies/batch/upsert"]
