"""The example's database and its one synced model."""

from __future__ import annotations

from peewee import CharField, DateTimeField, Model, SqliteDatabase

import etlify
from etlify import BaseSerializer, EtlifyMixin, Timestamped

# Initialised by create_app() with the file named in app.config["DATABASE"].
db = SqliteDatabase(None)


def now():
    """Etlify's clock (naive UTC), so ``updated_at`` compares with the sync times."""
    return etlify.config.now()


class User(Timestamped, EtlifyMixin, Model):
    """A user of the app; synced to HubSpot as a contact."""

    email = CharField(unique=True)
    first_name = CharField(default="")
    last_name = CharField(default="")
    updated_at = DateTimeField(default=now)

    class Meta:
        database = db



class UserSerializer(BaseSerializer):
    """The contact properties HubSpot receives for a user."""

    def as_crm_payload(self) -> dict:
        user = self.record
        return {"email": user.email, "firstname": user.first_name, "lastname": user.last_name}
