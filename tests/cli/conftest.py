"""Fixtures of the command-line tests: an app module in a temp dir, a HubSpot emulator."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

import pytest

from etlify.testing.hubspot import FakeHubSpot

APP = """
import os

from peewee import CharField, DateTimeField, Model
from playhouse.db_url import connect

import etlify
from etlify.adapters import HubspotV3Adapter

db = connect(os.environ.get("APP_DATABASE", "sqlite:///app.db"))
etlify.configure(database=db)
etlify.register(
    "hubspot",
    adapter=HubspotV3Adapter(
        access_token=os.environ["HUBSPOT_TOKEN"], base_url=os.environ["HUBSPOT_URL"], retries=0
    ),
    enabled=os.environ.get("HUBSPOT_ENABLED", "yes") == "yes",
)


class Person(etlify.EtlifyMixin, Model):
    email = CharField()
    name = CharField(default="")
    updated_at = DateTimeField(default=etlify.config.now)

    class Meta:
        database = db


class PersonSerializer(etlify.BaseSerializer):
    def as_crm_payload(self):
        if self.record.email.startswith("bad"):
            raise ValueError("this person cannot be sent")
        return {"email": self.record.email, "firstname": self.record.name}


Person.etlified_with(
    "hubspot", serializer=PersonSerializer, crm_object_type="contacts", id_property="email"
)
db.create_tables([Person])
"""


@pytest.fixture
def hubspot():
    """A HubSpot emulator the app module talks to."""
    with FakeHubSpot() as hs:
        yield hs


@pytest.fixture
def project(tmp_path, hubspot, monkeypatch):
    """A directory holding ``app.py`` (SQLite, one etlified model ``Person``)."""
    (tmp_path / "app.py").write_text(APP)
    monkeypatch.setenv("HUBSPOT_TOKEN", hubspot.token)
    monkeypatch.setenv("HUBSPOT_URL", hubspot.url)
    return tmp_path


def run(cwd, *args, app="app", env=None):
    """Run ``python -m etlify [--app APP] ARGS`` in ``cwd``; the completed process."""
    command = [sys.executable, "-m", "etlify"] + (["--app", app] if app else []) + list(args)
    environment = {key: value for key, value in os.environ.items() if key != "ETLIFY_APP"}
    environment.update(env or {})
    return subprocess.run(
        command, cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


def add_people(project, *emails):
    """Insert people straight into the app's database (creating its table if needed)."""
    with sqlite3.connect(project / "app.db") as connection:
        connection.execute(
            "CREATE TABLE IF NOT EXISTS person (id INTEGER PRIMARY KEY, email VARCHAR(255) "
            "NOT NULL, name VARCHAR(255) NOT NULL, updated_at DATETIME NOT NULL)"
        )
        connection.executemany(
            "INSERT INTO person (email, name, updated_at) VALUES (?, ?, '2024-01-01 00:00:00')",
            [(email, email.split("@")[0].title()) for email in emails],
        )


@pytest.fixture
def people(project):
    """The project with its sync-state tables and two people (ids 1 and 2)."""
    add_people(project, "ada@example.com", "alan@example.com")
    assert run(project, "create-tables").returncode == 0
    return project
