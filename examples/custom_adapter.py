"""A second CRM through the adapter protocol: a spreadsheet (a CSV file per object type).

``CsvCrm`` is a complete adapter: ``upsert`` and ``delete`` (required) plus
``batch_upsert`` (optional; batch sync uses it when present). It is
registered next to HubSpot (here FakeHubSpot, the local emulator), and one
model is synced to both. Runs as written:

    python examples/custom_adapter.py
"""

import csv
import itertools
import tempfile
import threading
from pathlib import Path

from peewee import CharField, DateTimeField, Model, SqliteDatabase

import etlify
from etlify.adapters import BatchResult, HubspotV3Adapter
from etlify.testing.hubspot import FakeHubSpot


class CsvCrm:
    """Keeps each object type in ``<directory>/<object_type>.csv``; the CRM id is a row number."""

    def __init__(self, directory):
        self.directory = Path(directory)
        self._ids = itertools.count(1)
        self._lock = threading.Lock()  # one instance serves every worker thread

    def upsert(self, object_type, payload, id_property=None, crm_id=None):
        """Create or update one object; return its CRM id (a string)."""
        if not payload.get("email"):
            # Raise an etlify.AdapterError subclass: Etlify records it on the sync row.
            raise etlify.ValidationFailed("a row needs an email", status=400)
        with self._lock:
            rows = self._read(object_type)
            crm_id = crm_id if crm_id in rows else self._match(rows, id_property, payload)
            crm_id = crm_id or str(next(self._ids))
            rows[crm_id] = {**rows.get(crm_id, {}), **payload}
            self._write(object_type, rows)
            return crm_id

    def delete(self, object_type, crm_id):
        """Delete one object; ``False`` when it was already gone."""
        with self._lock:
            rows = self._read(object_type)
            found = rows.pop(crm_id, None) is not None
            self._write(object_type, rows)
            return found

    def batch_upsert(self, object_type, records, id_property):
        """Upsert many payloads matched on ``id_property``: ``{value: crm id}`` plus ``.errors``."""
        result = BatchResult()
        for payload in records:
            key = str(payload.get(id_property))
            try:
                result[key] = self.upsert(object_type, payload, id_property)
            except etlify.AdapterError as error:
                result.errors[key] = error  # one bad row does not sink the others
        return result

    @staticmethod
    def _match(rows, id_property, payload):
        wanted = payload.get(id_property) if id_property else None
        return next((i for i, row in rows.items() if wanted and row[id_property] == wanted), None)

    def _read(self, object_type):
        path = self.directory / f"{object_type}.csv"
        if not path.exists():
            return {}
        with path.open(newline="") as file:
            return {row.pop("crm_id"): row for row in csv.DictReader(file)}

    def _write(self, object_type, rows):
        fields = ["crm_id", *sorted({key for row in rows.values() for key in row})]
        with (self.directory / f"{object_type}.csv").open("w", newline="") as file:
            writer = csv.DictWriter(file, fields)
            writer.writeheader()
            writer.writerows({"crm_id": crm_id, **row} for crm_id, row in rows.items())


tempdir = tempfile.TemporaryDirectory()
workdir = Path(tempdir.name)
db = SqliteDatabase(workdir / "app.db", pragmas={"journal_mode": "wal"}, timeout=30)
hubspot = FakeHubSpot().start()

etlify.configure(database=db)
etlify.register(
    "hubspot", adapter=HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url)
)
etlify.register("sheet", adapter=CsvCrm(workdir))


class User(etlify.Timestamped, etlify.EtlifyMixin, Model):
    email = CharField(null=True)
    name = CharField(default="")
    updated_at = DateTimeField(default=etlify.config.now)

    class Meta:
        database = db


class UserSerializer(etlify.BaseSerializer):
    def as_crm_payload(self):
        return {"email": self.record.email, "firstname": self.record.name}


# One model, two CRMs: the generated <crm>_etlified_with is the same as etlified_with(<crm>).
User.hubspot_etlified_with(
    serializer=UserSerializer,
    crm_object_type="contacts",
    id_property="email",
    sync_if=lambda user: bool(user.email),  # HubSpot gets only users with an email
)
User.sheet_etlified_with(serializer=UserSerializer, crm_object_type="people", id_property="email")
db.create_tables([User])
etlify.create_tables()

ada = User.create(email="ada@example.com", name="Ada")
results = ada.sync(async_=False)  # several CRMs: {crm_name: Status}
print("sync:", ", ".join(f"{crm} {status}" for crm, status in results.items()))

User.create(email="grace@example.com", name="Grace")
User.create(email="alan@example.com", name="Alan")
User.create(email=None, name="No email")
stats = etlify.BatchSync.call(async_=False)  # the stale records, through batch_upsert
print("batch sync:", {key: stats[key] for key in ("total", "synced", "skipped", "errors")})

for row in etlify.CrmSynchronisation.with_error():
    print(f"failed: {row.crm_name} {row.resource_type} #{row.resource_id}: {row.last_error}")
print((workdir / "people.csv").read_text().strip())
print("HubSpot contacts:", hubspot.object_count("contacts"))

hubspot.stop()
db.close()
tempdir.cleanup()
