"""Models covering every dependency kind the finder supports."""

from __future__ import annotations

import uuid
from types import SimpleNamespace

from peewee import (
    CharField,
    DateTimeField,
    DeferredThroughModel,
    ForeignKeyField,
    IntegerField,
    ManyToManyField,
    Model,
    UUIDField,
)

from etlify import BaseSerializer, EtlifyMixin
from etlify.state import CrmSynchronisation, PendingSync, SyncRun, bind_database


class Serializer(BaseSerializer):
    """A payload of the primary key only: the finder never builds payloads."""

    def as_crm_payload(self):
        return {"id": str(self.record._pk)}


def define_models(database):
    """Fresh model classes bound to ``database``, with empty tables."""

    class Base(EtlifyMixin, Model):
        class Meta:
            database = None

    Base._meta.set_database(database)

    class Person(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Region(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Company(Base):
        name = CharField(default="")
        owner = ForeignKeyField(Person, backref="companies", null=True)
        region = ForeignKeyField(Region, backref="companies", null=True)
        updated_at = DateTimeField(null=True)

    class Tag(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Fund(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    HoldingThrough = DeferredThroughModel()

    class User(Base):
        email = CharField(default="")
        active = IntegerField(default=1)
        company = ForeignKeyField(Company, backref="users", null=True, on_delete="SET NULL")
        manager = ForeignKeyField("self", backref="reports", null=True)
        tags = ManyToManyField(Tag, backref="users")
        funds = ManyToManyField(Fund, backref="holders", through_model=HoldingThrough)
        updated_at = DateTimeField(null=True)

    class Holding(Base):
        user = ForeignKeyField(User, backref="holdings")
        fund = ForeignKeyField(Fund, backref="holdings")
        created_at = DateTimeField(null=True)

    HoldingThrough.set_model(Holding)

    class Investment(Base):
        user = ForeignKeyField(User, backref="investments")
        amount = IntegerField(default=0)
        updated_at = DateTimeField(null=True)

    class Profile(Base):
        user = ForeignKeyField(User, backref="profile", unique=True)
        bio = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Member(Base):
        company = ForeignKeyField(Company, backref="members", null=True)
        updated_at = DateTimeField(null=True)

    class Admin(Member):
        level = IntegerField(default=1)

    class Post(Base):
        title = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Photo(Base):
        url = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Comment(Base):
        subject_type = CharField(null=True)
        subject_id = IntegerField(null=True)
        updated_at = DateTimeField(null=True)

    class Attachment(Base):
        owner_type = CharField(null=True)
        owner_id = CharField(null=True)
        updated_at = DateTimeField(null=True)

    class Event(Base):
        name = CharField(default="")
        created_at = DateTimeField(null=True)

    class Note(Base):
        text = CharField(default="")

    class Label(Base):
        code = CharField(primary_key=True)
        updated_at = DateTimeField(null=True)

    class Account(Base):
        id = UUIDField(primary_key=True, default=uuid.uuid4)
        updated_at = DateTimeField(null=True)

    models = [
        Person,
        Region,
        Company,
        Tag,
        Fund,
        User,
        User.tags.get_through_model(),
        Holding,
        Investment,
        Profile,
        Member,
        Admin,
        Post,
        Photo,
        Comment,
        Attachment,
        Event,
        Note,
        Label,
        Account,
    ]
    bind_database(database)
    database.drop_tables([CrmSynchronisation, PendingSync, SyncRun, *models])
    database.create_tables([CrmSynchronisation, PendingSync, SyncRun, *models])
    return SimpleNamespace(db=database, **{model.__name__: model for model in models})
