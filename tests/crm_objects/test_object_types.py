"""Deals, tickets and custom objects, synced and linked end to end."""

from __future__ import annotations

from peewee import CharField, ForeignKeyField, Model

from etlify import Associate, BaseSerializer, BatchSync, EtlifyMixin, Status
from etlify.declarations import sync_config

from .conftest import define

PROJECTS = "p12345678_project"


def crm_id(record):
    return record.crm_synchronisation("hubspot").crm_id


def test_deals_and_companies_are_batch_upserted_on_their_external_id(any_database, hubspot, hs):
    for object_type in ("deals", "companies"):
        hs.define_property(object_type, "etlify_id", unique=True)
    app = define(any_database)
    for model, object_type in ((app.Company, "companies"), (app.Deal, "deals")):
        model.etlified_with(
            "hubspot",
            serializer=_serializer_of(model),
            crm_object_type=object_type,
            external_id_property="etlify_id",
            associations=[Associate("company")] if model is app.Deal else [],
            replace=True,
        )
    acme = app.Company.create(name="Acme")
    deals = [app.Deal.create(name=f"Deal {i}", company=acme) for i in range(3)]
    BatchSync.call(models=[app.Company, app.Deal], async_=False)
    paths = [r.path for r in hs.requests]
    assert "/crm/v3/objects/deals/batch/upsert" in paths
    assert hs.get("deals", crm_id(deals[0]))["properties"]["etlify_id"] == f"Deal:{deals[0].id}"
    for deal in deals:
        assert set(hs.associations("deals", crm_id(deal), "companies")) == {crm_id(acme)}


def test_a_custom_object_links_to_its_contact(any_database, hubspot, hs):
    app = define(any_database)

    class Project(EtlifyMixin, Model):
        title = CharField()
        owner = ForeignKeyField(app.User, backref="projects")

        class Meta:
            database = any_database
            table_name = "co_project"

    class ProjectSerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"title": self.record.title}

    any_database.drop_tables([Project])
    any_database.create_tables([Project])
    Project.etlified_with(
        "hubspot",
        serializer=ProjectSerializer,
        crm_object_type=PROJECTS,
        associations=[Associate("owner", to="contacts")],
    )
    ada = app.User.create(email="ada@example.com")
    project = Project.create(title="Rocket", owner=ada)
    assert project.sync(async_=False) is Status.SYNCED
    assert set(hs.associations(PROJECTS, crm_id(project), "contacts")) == {crm_id(ada)}
    assert set(hs.associations("contacts", crm_id(ada), PROJECTS)) == {crm_id(project)}
    any_database.drop_tables([Project])


def _serializer_of(model):
    return sync_config(model, "hubspot").serializer
