"""The models of the finder oracle test (``test_finder_oracle.py``).

Every dependency kind the finder supports, on one small graph:

- ``Contact`` depends on ``company.owner`` (two belongs-to hops), ``deals``
  (has-many), ``tags`` (many-to-many through Peewee's generated table, which has
  no timestamp) and ``segments`` (many-to-many through ``Subscription``, whose
  ``created_at`` is stamped when a link is added);
- ``Company`` depends on ``owner`` (belongs-to) and ``contacts`` (has-many);
- ``Tag`` depends on ``contacts`` (the many-to-many seen from its other side);
- ``Comment`` depends on a generic relation (``subject_type``/``subject_id``,
  a text id) to ``Post`` or ``Photo``.

Every payload reads the related rows, so a change along a dependency changes
the payload. Every model stamps ``updated_at`` on ``save()`` (``Timestamped``).
"""

from __future__ import annotations

from types import SimpleNamespace

from peewee import (
    CharField,
    DateTimeField,
    DeferredThroughModel,
    ForeignKeyField,
    ManyToManyField,
    Model,
    sort_models,
)

from etlify import BaseSerializer, EtlifyMixin, GenericDependency, Timestamped
from etlify.config import config
from etlify.state import CrmSynchronisation, PendingSync, SyncRun, bind_database

#: The etlified models, by name.
ETLIFIED = ("Contact", "Company", "Tag", "Comment")
#: Every model, by name.
KINDS = ("Person", "Company", "Contact", "Deal", "Tag", "Segment", "Post", "Photo", "Comment")


def _now():
    return config.now()


def define_models(database) -> SimpleNamespace:
    """Fresh model classes bound to ``database``, with empty tables (state tables too)."""

    class Base(Timestamped, EtlifyMixin, Model):
        class Meta:
            database = None

    Base._meta.set_database(database)

    class Person(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Company(Base):
        name = CharField(default="")
        owner = ForeignKeyField(Person, backref="companies", null=True, on_delete="SET NULL")
        updated_at = DateTimeField(null=True)

    class Tag(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Segment(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    Subscriptions = DeferredThroughModel()

    class Contact(Base):
        name = CharField(default="")
        company = ForeignKeyField(Company, backref="contacts", null=True, on_delete="SET NULL")
        tags = ManyToManyField(Tag, backref="contacts")
        segments = ManyToManyField(Segment, backref="contacts", through_model=Subscriptions)
        updated_at = DateTimeField(null=True)

    class Subscription(Base):
        contact = ForeignKeyField(Contact, backref="subscriptions", on_delete="CASCADE")
        segment = ForeignKeyField(Segment, backref="subscriptions", on_delete="CASCADE")
        # ``contact.segments.add()`` inserts without ``save()``: the default stamps it.
        created_at = DateTimeField(default=_now)

    Subscriptions.set_model(Subscription)

    class Deal(Base):
        name = CharField(default="")
        contact = ForeignKeyField(Contact, backref="deals", on_delete="CASCADE")
        updated_at = DateTimeField(null=True)

    class Post(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Photo(Base):
        name = CharField(default="")
        updated_at = DateTimeField(null=True)

    class Comment(Base):
        name = CharField(default="")
        subject_type = CharField(null=True)
        subject_id = CharField(null=True)
        updated_at = DateTimeField(null=True)

    targets = {"Post": Post, "Photo": Photo}

    def name_of(model, pk):
        row = model.get_or_none(model.id == pk) if pk is not None else None
        return None if row is None else row.name

    class ContactSerializer(BaseSerializer):
        def as_crm_payload(self):
            contact = self.record
            company = (
                Company.get_or_none(Company.id == contact.company_id)
                if contact.company_id is not None
                else None
            )
            return {
                "name": contact.name,
                "company": None if company is None else company.name,
                "owner": None if company is None else name_of(Person, company.owner_id),
                "deals": sorted(deal.name for deal in contact.deals),
                "tags": sorted(tag.name for tag in contact.tags),
                "segments": sorted(segment.name for segment in contact.segments),
            }

    class CompanySerializer(BaseSerializer):
        def as_crm_payload(self):
            company = self.record
            return {
                "name": company.name,
                "owner": name_of(Person, company.owner_id),
                "contacts": sorted(contact.name for contact in company.contacts),
            }

    class TagSerializer(BaseSerializer):
        def as_crm_payload(self):
            return {
                "name": self.record.name,
                "contacts": sorted(contact.name for contact in self.record.contacts),
            }

    class CommentSerializer(BaseSerializer):
        def as_crm_payload(self):
            comment = self.record
            target = targets.get(comment.subject_type)
            subject = None
            if target is not None and comment.subject_id is not None:
                found = name_of(target, int(comment.subject_id))
                subject = None if found is None else f"{comment.subject_type}:{found}"
            return {"name": comment.name, "subject": subject}

    TagLink = Contact.tags.get_through_model()
    models = sort_models(
        [Person, Company, Tag, Segment, Contact, TagLink, Subscription, Deal, Post, Photo, Comment]
    )
    bind_database(database)
    database.drop_tables([CrmSynchronisation, PendingSync, SyncRun, *models])
    database.create_tables([CrmSynchronisation, PendingSync, SyncRun, *models])

    def etlify_all() -> None:
        """Declare the four etlified models for "hubspot" (a CRM registered before)."""
        Contact.etlified_with(
            "hubspot",
            serializer=ContactSerializer,
            crm_object_type="contacts",
            dependencies=["company.owner", "deals", "tags", "segments"],
        )
        Company.etlified_with(
            "hubspot",
            serializer=CompanySerializer,
            crm_object_type="companies",
            dependencies=["owner", "contacts"],
        )
        Tag.etlified_with(
            "hubspot", serializer=TagSerializer, crm_object_type="tags", dependencies=["contacts"]
        )
        Comment.etlified_with(
            "hubspot",
            serializer=CommentSerializer,
            crm_object_type="notes",
            dependencies=[GenericDependency("subject_type", "subject_id", targets=[Post, Photo])],
        )

    return SimpleNamespace(
        db=database,
        models=models,
        by_name={model.__name__: model for model in models},
        TagLink=TagLink,
        targets=targets,
        etlify_all=etlify_all,
        **{model.__name__: model for model in models},
    )
