"""Two Flask apps in one process, each with its own HubSpot: each syncs to its own.

The app factory pattern builds one app per test, and a process may serve
several apps: each app's token and base URL live in that app
(``app.extensions["etlify"].crms``), and every sync inside its app context
(a request, a command, the pool's jobs it queues) goes to its HubSpot.
Outside any app context, the first app's registration is the default.
"""

from __future__ import annotations

import pytest
from flask import Flask

import etlify
from etlify.contrib.flask import Etlify
from etlify.testing.hubspot import FakeHubSpot

from ..models import define_models


@pytest.fixture
def two_hubspots():
    """Two portals whose object ids differ, as two real portals' do.

    Both apps keep their sync state in one database, where a CRM object id
    is unique per CRM name: two emulators would both start at the same id.
    """
    with FakeHubSpot() as first, FakeHubSpot() as second:
        for n in range(5):
            second.add("companies", {"name": f"existing {n}"})
        yield first, second


@pytest.fixture
def two_apps(two_hubspots, database, monkeypatch):
    """Two apps on one database, each with the token and URL of its own HubSpot."""
    monkeypatch.delenv("HUBSPOT_PRIVATE_APP_TOKEN", raising=False)
    apps = []
    for name, hubspot in zip(("first", "second"), two_hubspots):
        app = Flask(name)
        app.config.update(
            ETLIFY_HUBSPOT_TOKEN=hubspot.token,
            ETLIFY_HUBSPOT_BASE_URL=hubspot.url,
            ETLIFY_DATABASE=database,
        )
        Etlify(app)
        apps.append(app)
    models = define_models(database)
    models.User.etlified_with(
        "hubspot", serializer=models.UserSerializer, crm_object_type="contacts", id_property="email"
    )
    etlify.create_tables()
    return apps, models


def emails(hubspot):
    return sorted(contact["properties"]["email"] for contact in hubspot.objects("contacts"))


def test_each_app_keeps_the_token_of_its_own_settings(two_apps, two_hubspots):
    (first, second), _ = two_apps
    crms = [app.extensions["etlify"].crms["hubspot"] for app in (first, second)]

    assert [crm.adapter.base_url for crm in crms] == [hubspot.url for hubspot in two_hubspots]


def test_a_sync_inside_an_app_context_goes_to_that_apps_hubspot(two_apps, two_hubspots):
    (first, second), models = two_apps
    ada = models.User.create(email="ada@example.com")
    eve = models.User.create(email="eve@example.com")

    with first.app_context():
        assert ada.sync(async_=False) == etlify.Status.SYNCED
    with second.app_context():
        assert eve.sync(async_=False) == etlify.Status.SYNCED

    assert [emails(hubspot) for hubspot in two_hubspots] == [
        ["ada@example.com"],
        ["eve@example.com"],
    ]


def test_an_async_sync_queued_in_a_request_goes_to_that_apps_hubspot(two_apps, two_hubspots):
    (_, second), models = two_apps
    grace = models.User.create(email="grace@example.com")

    with second.test_request_context("/"):
        future = grace.sync()
    assert future.result(timeout=10) == etlify.Status.SYNCED

    assert [emails(hubspot) for hubspot in two_hubspots] == [[], ["grace@example.com"]]


def test_a_command_of_one_app_syncs_to_its_own_hubspot(two_apps, two_hubspots):
    (_, second), models = two_apps
    models.User.create(email="ada@example.com")

    result = second.test_cli_runner().invoke(args=["etlify", "sync", "--inline"])

    assert result.exit_code == 0, result.output
    assert [emails(hubspot) for hubspot in two_hubspots] == [[], ["ada@example.com"]]


def test_outside_any_app_context_the_first_apps_registration_is_the_default(
    two_apps, two_hubspots
):
    _, models = two_apps

    assert models.User.create(email="ada@example.com").sync(async_=False) == "synced"
    assert [emails(hubspot) for hubspot in two_hubspots] == [["ada@example.com"], []]


def test_a_later_app_asking_for_another_pool_size_is_warned(two_apps):
    app = Flask("third")
    app.config.update(ETLIFY_POOL_SIZE=9)

    with pytest.warns(UserWarning, match=r"ETLIFY_POOL_SIZE=9 of the Flask app 'third'"):
        Etlify(app)

    assert app.extensions["etlify"].jobs is two_apps[0][0].extensions["etlify"].jobs


def test_a_later_app_with_the_pools_own_size_is_not_warned(two_apps, recwarn):
    app = Flask("third")
    app.config.update(ETLIFY_POOL_SIZE=4)

    Etlify(app)

    assert [str(w.message) for w in recwarn] == []


def test_a_later_app_with_another_database_moves_the_sync_state_there(
    two_apps, tmp_path, caplog
):
    app = Flask("third")
    app.config.update(ETLIFY_DATABASE=f"sqlite:///{tmp_path / 'third.db'}")

    with caplog.at_level("INFO", logger="etlify"):
        Etlify(app)

    assert etlify.config.database is app.config["ETLIFY_DATABASE"]
    assert "Flask app 'third' moves Etlify's sync state" in caplog.text
