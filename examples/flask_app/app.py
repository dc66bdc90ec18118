"""The example app: create and edit users, and see how each one is synced.

Run it against a local HubSpot emulator as the README of this directory shows.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Blueprint, Flask, abort, redirect, render_template_string, request, url_for

import etlify
from etlify.contrib.flask import Etlify

from .models import User, UserSerializer, db

etlify_ext = Etlify()
views = Blueprint("users", __name__)

LIST_PAGE = """<!doctype html>
<title>Users</title>
<h1>Users</h1>
<p><a href="{{ url_for('users.new') }}">New user</a></p>
<table border="1" cellpadding="4">
  <tr>
    <th>Email</th><th>Name</th><th>HubSpot id</th><th>Last synced</th><th>Last error</th><th></th>
  </tr>
  {% for user, state in rows %}
  <tr>
    <td>{{ user.email }}</td>
    <td>{{ user.first_name }} {{ user.last_name }}</td>
    <td class="crm-id">{{ state.crm_id if state and state.crm_id else "not yet" }}</td>
    <td>{{ state.last_synced_at if state and state.last_synced_at else "" }}</td>
    <td>{{ state.last_error if state and state.last_error else "" }}</td>
    <td><a href="{{ url_for('users.edit', user_id=user.id) }}">Edit</a></td>
  </tr>
  {% endfor %}
</table>
"""

FORM_PAGE = """<!doctype html>
<title>{{ "Edit" if user.id else "New" }} user</title>
<h1>{{ "Edit" if user.id else "New" }} user</h1>
<form method="post">
  <p><label>Email <input name="email" type="email" required value="{{ user.email or '' }}"></label>
  <p><label>First name <input name="first_name" value="{{ user.first_name }}"></label>
  <p><label>Last name <input name="last_name" value="{{ user.last_name }}"></label>
  <p><button type="submit">Save</button> <a href="{{ url_for('users.index') }}">Back</a>
</form>
"""


@views.get("/")
def index() -> str:
    """Every user with its HubSpot sync state."""
    users = User.select().order_by(User.id)
    rows = [(user, user.crm_synchronisation("hubspot")) for user in users]
    return render_template_string(LIST_PAGE, rows=rows)


@views.route("/users/new", methods=["GET", "POST"])
def new() -> Any:
    """Create a user, then sync it."""
    return _form(User())


@views.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
def edit(user_id: int) -> Any:
    """Edit a user, then sync it."""
    user = User.get_or_none(User.id == user_id)
    if user is None:
        abort(404)
    return _form(user)


def _form(user: User) -> Any:
    if request.method == "GET":
        return render_template_string(FORM_PAGE, user=user)
    user.email = request.form["email"].strip()
    user.first_name = request.form.get("first_name", "").strip()
    user.last_name = request.form.get("last_name", "").strip()
    with db.atomic():
        user.save()
        # Queued now, handed to a worker thread only once the transaction commits.
        user.sync()
    return redirect(url_for("users.index"))


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app; ``config`` overrides the defaults and ``FLASK_*`` environment variables.

    ``DATABASE`` is the SQLite file (default ``users.db`` in the instance
    folder); ``ETLIFY_*`` settings go to the Etlify extension.
    """
    app = Flask(__name__, instance_relative_config=True)
    app.config["DATABASE"] = os.path.join(app.instance_path, "users.db")
    app.config.from_prefixed_env()
    app.config.update(config or {})

    os.makedirs(os.path.dirname(os.path.abspath(app.config["DATABASE"])), exist_ok=True)
    db.init(app.config["DATABASE"], pragmas={"journal_mode": "wal", "busy_timeout": 5000})
    app.config.setdefault("ETLIFY_DATABASE", db)
    etlify_ext.init_app(app)
    User.etlified_with(
        "hubspot", serializer=UserSerializer, crm_object_type="contacts", id_property="email"
    )
    with db.connection_context():
        db.create_tables([User])
        etlify.create_tables()

    app.before_request(_open_database)
    app.teardown_request(_close_database)
    app.register_blueprint(views)
    return app


def _open_database() -> None:
    db.connect(reuse_if_open=True)


def _close_database(_error: BaseException | None) -> None:
    db.close()
