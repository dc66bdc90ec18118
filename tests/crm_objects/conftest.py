"""Fixtures: contacts, companies, deals and tickets synced to FakeHubSpot, on every backend."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import pytest
from peewee import (
    CharField,
    DateTimeField,
    DeferredThroughModel,
    ForeignKeyField,
    ManyToManyField,
    Model,
)

import etlify
from etlify import Associate, BaseSerializer, EtlifyMixin
from etlify.adapters.http import RetryPolicy
from etlify.adapters.hubspot import HubspotV3Adapter
from etlify.state import CrmLink, CrmSynchronisation, PendingSync, bind_database
from etlify.testing.hubspot import FakeHubSpot

FAST = RetryPolicy(total=2, backoff_factor=0.001, backoff_max=0.01, backoff_jitter=0.001)


def now() -> dt.datetime:
    return etlify.config.now()


@pytest.fixture
def hs():
    with FakeHubSpot(rate_limit=None, daily_limit=None) as server:
        yield server


@pytest.fixture
def hubspot(hs):
    client = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, timeout=5.0, retries=FAST)
    etlify.register("hubspot", adapter=client)
    yield client
    client.close()


def define(database, user_associations=None, **user_options):
    """Company, User (a contact of one company), Deal (contacts and a company) and
    Ticket (about a user), synced to "hubspot" in empty tables; users associate
    with their company."""
    return declare(database, user_associations, fresh=True, **user_options)


def declare(database, user_associations=None, fresh=False, **user_options):
    """The models of :func:`define`, on tables that exist (made anew with ``fresh``)."""

    class Base(Model):
        class Meta:
            database = None
            # Tables of their own: the other tests' "user" and "company" have other
            # tables pointing at them.
            table_function = lambda model: f"co_{model.__name__.lower()}"  # noqa: E731

    Base._meta.set_database(database)

    class Company(EtlifyMixin, Base):
        name = CharField()
        updated_at = DateTimeField(default=now)

    class User(EtlifyMixin, Base):
        email = CharField()
        first_name = CharField(default="")
        phone = CharField(null=True)
        company = ForeignKeyField(Company, backref="users", null=True, on_delete="SET NULL")
        updated_at = DateTimeField(default=now)

    DealContactDeferred = DeferredThroughModel()

    class Deal(EtlifyMixin, Base):
        name = CharField()
        company = ForeignKeyField(Company, backref="deals", null=True)
        contacts = ManyToManyField(User, backref="deals", through_model=DealContactDeferred)
        updated_at = DateTimeField(default=now)

    class DealContact(Base):
        deal = ForeignKeyField(Deal)
        user = ForeignKeyField(User)

    DealContactDeferred.set_model(DealContact)

    class Ticket(EtlifyMixin, Base):
        subject = CharField()
        user = ForeignKeyField(User, backref="tickets")
        updated_at = DateTimeField(default=now)

    class Payload(BaseSerializer):
        fields: tuple = ()

        def as_crm_payload(self):
            return {crm: getattr(self.record, name) for crm, name in self.fields}

    class CompanySerializer(Payload):
        fields = (("name", "name"),)

    class UserSerializer(Payload):
        fields = (("email", "email"), ("firstname", "first_name"), ("phone", "phone"))

    class DealSerializer(Payload):
        fields = (("dealname", "name"),)

    class TicketSerializer(Payload):
        fields = (("subject", "subject"),)

    models = [Company, User, Deal, DealContact, Ticket]
    bind_database(database)
    if fresh:
        database.drop_tables([CrmSynchronisation, PendingSync, CrmLink, *models])
        database.create_tables(models)
        etlify.create_tables()
    Company.etlified_with("hubspot", serializer=CompanySerializer, crm_object_type="companies")
    User.etlified_with(
        "hubspot",
        serializer=UserSerializer,
        crm_object_type="contacts",
        id_property="email",
        associations=(
            [Associate("company", to="companies")]
            if user_associations is None
            else user_associations
        ),
        **user_options,
    )
    Deal.etlified_with(
        "hubspot",
        serializer=DealSerializer,
        crm_object_type="deals",
        associations=[Associate("contacts", to="contacts"), Associate("company")],
    )
    Ticket.etlified_with(
        "hubspot",
        serializer=TicketSerializer,
        crm_object_type="tickets",
        associations=[Associate("user", to="contacts")],
    )
    return SimpleNamespace(
        db=database, Company=Company, User=User, Deal=Deal, DealContact=DealContact, Ticket=Ticket
    )


@pytest.fixture
def app(any_database, hubspot):
    return define(any_database)


@pytest.fixture
def requests(hs):
    """``requests(since)``: ``"METHOD path"`` of the requests after the first ``since``."""

    def seen(since=0):
        return [f"{r.method} {r.path}" for r in hs.requests[since:]]

    return seen
