"""The models the tests sync: companies, users and their investments."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

from peewee import (
    CharField,
    DateTimeField,
    DecimalField,
    ForeignKeyField,
    IntegerField,
    Model,
)

from etlify import BaseSerializer, EtlifyMixin, config
from etlify.state import CrmLink, CrmSynchronisation, PendingSync, bind_database


def now() -> dt.datetime:
    return config.now()


def define_models(database):
    """Fresh model classes bound to ``database``, with empty tables."""

    class Base(Model):
        class Meta:
            database = None

    Base._meta.set_database(database)

    class Company(EtlifyMixin, Base):
        name = CharField()
        domain = CharField(null=True)
        updated_at = DateTimeField(default=now)

    class User(EtlifyMixin, Base):
        email = CharField(null=True)
        first_name = CharField(default="")
        last_name = CharField(default="")
        company = ForeignKeyField(Company, backref="users", null=True)
        updated_at = DateTimeField(default=now)

    class Investment(Base):
        user = ForeignKeyField(User, backref="investments")
        amount = DecimalField(decimal_places=2)
        updated_at = DateTimeField(default=now)

    class Tagged(EtlifyMixin, Base):
        code = CharField(primary_key=True)
        label = CharField()
        revision = IntegerField(default=0)

    class CompanySerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"name": self.record.name, "domain": self.record.domain}

    class UserSerializer(BaseSerializer):
        def as_crm_payload(self):
            user = self.record
            return {"email": user.email, "firstname": user.first_name, "lastname": user.last_name}

    models = [Company, User, Investment, Tagged]
    bind_database(database)
    database.drop_tables([CrmSynchronisation, PendingSync, CrmLink, *models])
    database.create_tables(models)
    return SimpleNamespace(
        db=database,
        Company=Company,
        User=User,
        Investment=Investment,
        Tagged=Tagged,
        CompanySerializer=CompanySerializer,
        UserSerializer=UserSerializer,
    )
