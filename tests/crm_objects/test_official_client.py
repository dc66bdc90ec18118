"""HubSpot's own Python client reads, from FakeHubSpot, the associations Etlify wrote."""

from __future__ import annotations

import pytest

from .conftest import define

hubspot_client = pytest.importorskip("hubspot.crm.associations.v4")


@pytest.fixture
def v4(hs):
    configuration = hubspot_client.Configuration(host=hs.url)
    configuration.access_token = hs.token
    with hubspot_client.ApiClient(configuration) as client:
        yield client


def test_the_official_client_reads_a_contacts_company(database, hubspot, hs, v4):
    app = define(database)
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    ada.sync(async_=False)
    ada_id = ada.crm_synchronisation("hubspot").crm_id
    page = hubspot_client.BasicApi(v4).get_page("contacts", ada_id, "companies")
    (linked,) = page.results
    assert linked.to_object_id == acme.crm_synchronisation("hubspot").crm_id
    assert [(t.category, t.type_id) for t in linked.association_types] == [("HUBSPOT_DEFINED", 279)]


def test_the_official_client_batch_reads_a_deals_contacts(database, hubspot, hs, v4):
    app = define(database)
    ada = app.User.create(email="ada@example.com")
    bob = app.User.create(email="bob@example.com")
    deal = app.Deal.create(name="Big deal")
    deal.contacts.add([ada, bob])
    deal.sync(async_=False)
    deal_id = deal.crm_synchronisation("hubspot").crm_id
    body = hubspot_client.BatchInputPublicFetchAssociationsBatchRequest(
        inputs=[hubspot_client.PublicFetchAssociationsBatchRequest(id=deal_id)]
    )
    answer = hubspot_client.BatchApi(v4).get_page("deals", "contacts", body)
    (result,) = answer.results
    assert result._from.id == deal_id
    assert {to.to_object_id for to in result.to} == {
        ada.crm_synchronisation("hubspot").crm_id,
        bob.crm_synchronisation("hubspot").crm_id,
    }


def test_the_official_client_creates_and_archives_labelled_links(database, hubspot, hs, v4):
    app = define(database, [])
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com")
    ada.sync(async_=False), acme.sync(async_=False)
    ada_id = ada.crm_synchronisation("hubspot").crm_id
    acme_id = acme.crm_synchronisation("hubspot").crm_id
    batch = hubspot_client.BatchApi(v4)
    spec = hubspot_client.AssociationSpec(
        association_category="HUBSPOT_DEFINED", association_type_id=1
    )
    link = hubspot_client.PublicAssociationMultiPost(
        _from=hubspot_client.PublicObjectId(id=ada_id),
        to=hubspot_client.PublicObjectId(id=acme_id),
        types=[spec],
    )
    created = batch.create(
        "contacts", "companies", hubspot_client.BatchInputPublicAssociationMultiPost(inputs=[link])
    )
    assert created.results[0].labels == ["Primary"]
    batch.archive_labels(
        "contacts", "companies", hubspot_client.BatchInputPublicAssociationMultiPost(inputs=[link])
    )
    assert hs.associations("contacts", ada_id, "companies") == {acme_id: {("HUBSPOT_DEFINED", 279)}}
