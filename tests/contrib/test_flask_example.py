"""The Flask example app, driven through its test client against FakeHubSpot."""

from __future__ import annotations

import pytest

import etlify
from examples.flask_app.app import create_app
from examples.flask_app.models import User, db


@pytest.fixture
def client(tmp_path, hubspot, monkeypatch):
    monkeypatch.delenv("HUBSPOT_PRIVATE_APP_TOKEN", raising=False)
    app = create_app(
        {
            "TESTING": True,
            "DATABASE": str(tmp_path / "users.db"),
            "ETLIFY_HUBSPOT_TOKEN": hubspot.token,
            "ETLIFY_HUBSPOT_BASE_URL": hubspot.url,
        }
    )
    yield app.test_client()
    etlify.jobs.shutdown()
    db.close()


def test_a_user_created_through_the_form_reaches_hubspot_and_shows_its_id(client, hubspot):
    form = {"email": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace"}
    assert client.post("/users/new", data=form).status_code == 302
    assert etlify.jobs.wait(timeout=10)

    [contact] = hubspot.objects("contacts")
    assert contact["properties"]["email"] == "ada@example.com"
    assert contact["properties"]["firstname"] == "Ada"
    page = client.get("/").get_data(as_text=True)
    assert f'<td class="crm-id">{contact["id"]}</td>' in page


def test_editing_a_user_updates_the_same_contact(client, hubspot):
    client.post("/users/new", data={"email": "ada@example.com", "first_name": "Ada"})
    assert etlify.jobs.wait(timeout=10)
    with db.connection_context():
        user_id = User.get(User.email == "ada@example.com").id

    form = {"email": "ada@example.com", "first_name": "Augusta Ada", "last_name": "King"}
    assert client.post(f"/users/{user_id}/edit", data=form).status_code == 302
    assert etlify.jobs.wait(timeout=10)

    [contact] = hubspot.objects("contacts")
    assert contact["properties"]["firstname"] == "Augusta Ada"
    assert contact["properties"]["lastname"] == "King"


def test_the_status_page_shows_the_last_error(client, hubspot):
    hubspot.fail_next(n=10, status=400)
    client.post("/users/new", data={"email": "ada@example.com"})
    assert etlify.jobs.wait(timeout=10)

    page = client.get("/").get_data(as_text=True)
    assert "not yet" in page
    assert "ValidationFailed" in page


def test_editing_an_unknown_user_is_not_found(client):
    assert client.get("/users/99/edit").status_code == 404
