"""Etlify in one file: a Peewee model mirrored in HubSpot.

Runs as written, with nothing to set up: the database is a SQLite file in a
temporary directory, and FakeHubSpot, a local HubSpot API emulator shipped
with Etlify, stands in for HubSpot.

    python examples/quickstart.py
"""

import tempfile
from pathlib import Path

from peewee import CharField, DateTimeField, Model, SqliteDatabase

import etlify
from etlify.adapters import HubspotV3Adapter
from etlify.testing.hubspot import FakeHubSpot

workdir = tempfile.TemporaryDirectory()
db = SqliteDatabase(Path(workdir.name) / "app.db", pragmas={"journal_mode": "wal"}, timeout=30)
hubspot = FakeHubSpot().start()

etlify.configure(database=db)
etlify.register(
    "hubspot",
    # In production: HubspotV3Adapter(access_token=os.environ["HUBSPOT_PRIVATE_APP_TOKEN"])
    adapter=HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url),
)


class User(etlify.Timestamped, etlify.EtlifyMixin, Model):
    email = CharField(unique=True)
    name = CharField(default="")
    updated_at = DateTimeField(default=etlify.config.now)

    class Meta:
        database = db


class UserSerializer(etlify.BaseSerializer):
    def as_crm_payload(self):
        return {"email": self.record.email, "firstname": self.record.name}


User.etlified_with(
    "hubspot", serializer=UserSerializer, crm_object_type="contacts", id_property="email"
)
db.create_tables([User])
etlify.create_tables()  # Etlify's sync-state tables, in the same database


@etlify.signals.synced.connect_via(User)
def announce(sender, record, crm_id, created, **extra):
    print(f"  {record.email} {'created' if created else 'updated'} as contact {crm_id}")


ada = User.create(email="ada@example.com", name="Ada")
print(ada.sync(async_=False))  # synced
print(ada.sync(async_=False))  # not_modified: same payload, no API call

ada.name = "Ada Lovelace"
ada.save()
print(ada.sync(async_=False))  # synced: the same contact, updated
print("CRM id:", ada.crm_synchronisation("hubspot").crm_id)

hubspot.stop()
db.close()
workdir.cleanup()
