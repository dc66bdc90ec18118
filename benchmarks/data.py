"""The benchmark's data: regions, owners, companies and users.

Each user belongs to a company, each company to an owner, each owner to a
region: ``company`` is a one-hop dependency path, ``company.owner.region``
a three-hop one.
"""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from peewee import CharField, DateTimeField, ForeignKeyField, Model, PostgresqlDatabase

import etlify
from etlify import BaseSerializer, EtlifyMixin
from etlify.sql import insert_ignoring
from etlify.state import SyncRun


def define(database, keep: bool = False) -> SimpleNamespace:
    """Models bound to ``database``: fresh, empty tables, unless ``keep`` (use what is there)."""

    class Base(Model):
        class Meta:
            database = None

    Base._meta.set_database(database)

    class Region(Base):
        name = CharField()
        updated_at = DateTimeField(default=etlify.config.now)

    class Owner(Base):
        name = CharField()
        region = ForeignKeyField(Region, backref="owners")
        updated_at = DateTimeField(default=etlify.config.now)

    class Company(EtlifyMixin, Base):
        name = CharField()
        domain = CharField()
        owner = ForeignKeyField(Owner, backref="companies")
        updated_at = DateTimeField(default=etlify.config.now)

    class User(EtlifyMixin, Base):
        email = CharField()
        first_name = CharField()
        last_name = CharField()
        company = ForeignKeyField(Company, backref="users")
        updated_at = DateTimeField(default=etlify.config.now)

    class CompanySerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"name": self.record.name, "domain": self.record.domain}

    class UserSerializer(BaseSerializer):
        def as_crm_payload(self):
            user = self.record
            return {"email": user.email, "firstname": user.first_name, "lastname": user.last_name}

    etlify.configure(database=database)
    if not keep:
        # CASCADE on PostgreSQL: other tables of a shared database may refer to these.
        cascade = {"cascade": True} if isinstance(database, PostgresqlDatabase) else {}
        tables = [User, Company, Owner, Region]
        state = [etlify.CrmSynchronisation, etlify.PendingSync, SyncRun]
        database.drop_tables([*tables, *state], **cascade)
        database.create_tables([Region, Owner, Company, User])
        etlify.create_tables()
    return SimpleNamespace(
        db=database,
        Region=Region,
        Owner=Owner,
        Company=Company,
        User=User,
        CompanySerializer=CompanySerializer,
        UserSerializer=UserSerializer,
    )


def owners_for(companies: int) -> int:
    """How many owners ``companies`` companies share (ten companies each)."""
    return max(1, companies // 10)


def regions_for(owners: int) -> int:
    """How many regions ``owners`` owners share (ten owners each)."""
    return max(1, owners // 10)


def populate(app: SimpleNamespace, users: int, companies: int, at: dt.datetime) -> None:
    """Insert ``users`` users, ``companies`` companies (with their owners and regions,
    ten to one each), all updated at ``at``."""
    chunk = 10_000
    owners = owners_for(companies)
    regions = regions_for(owners)
    with app.db.atomic():
        app.Region.insert_many(
            [(i + 1, f"Region {i}", at) for i in range(regions)],
            fields=[app.Region.id, app.Region.name, app.Region.updated_at],
        ).execute()
        for start in range(0, owners, chunk):
            app.Owner.insert_many(
                [
                    (i + 1, f"Owner {i}", i % regions + 1, at)
                    for i in range(start, min(owners, start + chunk))
                ],
                fields=[app.Owner.id, app.Owner.name, app.Owner.region, app.Owner.updated_at],
            ).execute()
        for start in range(0, companies, chunk):
            app.Company.insert_many(
                [
                    (i + 1, f"Company {i}", f"company{i}.example", i % owners + 1, at)
                    for i in range(start, min(companies, start + chunk))
                ],
                fields=[
                    app.Company.id,
                    app.Company.name,
                    app.Company.domain,
                    app.Company.owner,
                    app.Company.updated_at,
                ],
            ).execute()
    with app.db.atomic():
        for start in range(0, users, chunk):
            app.User.insert_many(
                [
                    (i + 1, f"user{i}@example.com", f"First{i}", f"Last{i}", i % companies + 1, at)
                    for i in range(start, min(users, start + chunk))
                ],
                fields=[
                    app.User.id,
                    app.User.email,
                    app.User.first_name,
                    app.User.last_name,
                    app.User.company,
                    app.User.updated_at,
                ],
            ).execute()


def mark_synced(app: SimpleNamespace, model, count: int, at: dt.datetime) -> None:
    """Sync rows saying records 1..count were synced at ``at`` (digests are placeholders),
    with the dependency signatures a sync of the declared ``model`` stores (inserted
    past Peewee's per-value work: a million rows take minutes otherwise)."""
    chunk = 10_000
    name = model.__name__
    config_ = etlify.declarations.sync_config(model, "hubspot")
    with app.db.atomic():
        for start in range(0, count, chunk):
            ids = range(start + 1, min(count, start + chunk) + 1)
            signatures = etlify.Finder.dependency_signatures(config_, ids)
            insert_ignoring(
                etlify.CrmSynchronisation,
                [
                    {
                        "crm_name": "hubspot",
                        "resource_type": name,
                        "resource_id": str(i + 1),
                        "crm_object_type": "contacts" if name == "User" else "companies",
                        "crm_id": str(i + 1),
                        "last_digest": "x",
                        "last_synced_at": at,
                        "dependency_signature": signatures.get(str(i + 1)),
                        "error_count": 0,
                        "created_at": at,
                        "updated_at": at,
                    }
                    for i in range(start, min(count, start + chunk))
                ],
            )
