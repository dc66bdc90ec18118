"""Security: the access token never leaks; TLS is verified; crafted names cannot reach
another endpoint or another table; no SQL is built by formatting names.
"""

from __future__ import annotations

import ast
import http.server
import shutil
import ssl
import subprocess
import threading
from pathlib import Path
from urllib.parse import quote

import pytest
from peewee import CharField, DateTimeField, Model
from urllib3.util.ssl_ import resolve_cert_reqs

import etlify
from etlify import BaseSerializer, BatchSync, EtlifyMixin, Finder, Status, registry, signals
from etlify import CrmSynchronisation as Sync
from etlify.adapters import HubspotV3Adapter
from etlify.adapters.http import RetryPolicy
from etlify.errors import TransportError
from etlify.testing.hubspot import FakeHubSpot

from ._app import FAST_RETRIES, create_people, database_for, define, now, setup
from .conftest import assert_secret_absent, database_url

ETLIFY = Path(etlify.__file__).resolve().parent


@pytest.fixture
def hubspot():
    with FakeHubSpot() as fake:
        yield fake


# -- the access token ----------------------------------------------------------------


def echoing(token):
    """``(status, body[, headers])`` of a server echoing the credentials in its errors."""
    return [
        (400, {"status": "error", "category": "VALIDATION_ERROR",
               "message": f"Header 'Authorization: Bearer {token}' rejected"}),
        (401, {"status": "error", "category": "INVALID_AUTHENTICATION",
               "message": f"token {token} is expired", "context": {"token": [token]}}),
        (500, f"<html><body>Authorization: Bearer {token}</body></html>"),
        (503, f"<html><body>upstream said {token}</body></html>"),
        (429, {"status": "error", "category": "RATE_LIMITS", "message": f"limit for {token}"},
         {"Retry-After": "0.1"}),
        ("drop", None),
    ]


def test_the_token_appears_in_no_log_line_error_message_last_error_or_repr(
    tmp_path, hubspot, etlify_log
):
    app = setup(database_for(database_url("sqlite", tmp_path)), hubspot.url, hubspot.token,
                unique=True, retries=RetryPolicy(total=0))
    token = hubspot.token
    errors, last_errors = [], []

    def on_failed(sender, record, error, **kwargs):
        errors.append(error)
        last_errors.append(record.crm_synchronisation("hubspot").last_error)

    with app.db.connection_context(), signals.failed.connected_to(on_failed):
        ids = create_people(app, 20)
        for (status, body, *headers), pk in zip(echoing(token), ids):
            hubspot.fail_next(1, status=status, body=body, headers=headers[0] if headers else None)
            assert app.Person(id=pk).sync("hubspot", async_=False) is Status.ERROR
        for status, body, *headers in echoing(token):
            hubspot.fail_next(1, status=status, body=body, headers=headers[0] if headers else None)
            BatchSync.call(async_=False)
        row_reprs = [repr(row) for row in Sync.select()]

    assert len(errors) >= len(echoing(token)) + 3
    assert all(last_errors)
    assert_secret_absent(
        token,
        etlify_log.lines,
        last_errors,
        row_reprs,
        [f"{error} {error!r} {error.details!r} {error.__cause__!r}" for error in errors],
        repr(app.adapter),
        repr(etlify.config),
        repr(registry.crm("hubspot")),
    )


def test_a_rejected_token_is_not_repeated_in_the_error(tmp_path, hubspot, etlify_log):
    wrong = "pat-na1-00000000-1111-2222-3333-444444444444"
    app = setup(database_for(database_url("sqlite", tmp_path)), hubspot.url, wrong)
    with app.db.connection_context():
        [pk] = create_people(app, 1)
        assert app.Person(id=pk).sync("hubspot", async_=False) is Status.ERROR
        row = Sync.get()
    assert row.last_error_kind == "auth" and "401" in row.last_error
    assert_secret_absent(wrong, etlify_log.lines, row.last_error)


# -- TLS ------------------------------------------------------------------------------


def test_the_adapter_verifies_certificates_by_default():
    adapter = HubspotV3Adapter(access_token="pat-na1-x")
    pool = adapter._transport._pool.connection_from_url("https://api.hubapi.com")
    assert resolve_cert_reqs(pool.cert_reqs) == ssl.CERT_REQUIRED
    assert pool.assert_hostname is not False


@pytest.fixture
def self_signed_server(tmp_path):
    """An HTTPS server on 127.0.0.1 with a certificate nobody vouches for."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    hits = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            hits.append(self.path)
            self.send_response(201)
            self.end_headers()
            self.wfile.write(b'{"id": "1"}')

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.hits = hits
    yield server
    server.shutdown()
    server.server_close()


def test_a_server_with_an_untrusted_certificate_is_refused_and_never_sent_the_payload(
    self_signed_server,
):
    url = f"https://127.0.0.1:{self_signed_server.server_address[1]}"
    adapter = HubspotV3Adapter(access_token="pat-na1-secret", base_url=url, timeout=5)
    with pytest.raises(TransportError) as caught:
        adapter.upsert("contacts", {"firstname": "Ada"})
    assert isinstance(caught.value.__cause__, ssl.SSLError) or "SSL" in str(caught.value)
    assert self_signed_server.hits == []


# -- crafted names and ids ---------------------------------------------------------------

CRAFTED_TYPES = [
    "../companies",
    "contacts/../../../crm/v3/objects/companies",
    "contacts?archived=true",
    "contacts#fragment",
    "..",
    ".",
    "%2e%2e",
    "contacts/batch/archive",
    "contacts\r\nX-Injected: 1",
]
CRAFTED_IDS = ["../../companies/1", "1?archived=true", "..", "1/../2", "1#x", "%2F..%2F", "1 2"]


def assert_stays_in_place(request, object_type, *segments):
    """The request's path is /crm/v3/objects/<object_type>/<segments...>, each escaped."""
    parts = request.path.split("/")
    assert parts[:4] == ["", "crm", "v3", "objects"], request.path
    assert parts[4] == quote(object_type, safe="").replace(".", "%2E") or parts[4] == quote(
        object_type, safe=""
    )
    assert all(part not in (".", "..") for part in parts), request.path
    assert len(parts) == 5 + len(segments), request.path
    assert request.query.keys() <= {"idProperty"}, request.query


@pytest.mark.parametrize("object_type", CRAFTED_TYPES)
def test_a_crafted_object_type_reaches_no_other_endpoint(hubspot, object_type):
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    company = hubspot.add("companies", {"name": "Untouched"})
    for call in (
        lambda: adapter.upsert(object_type, {"firstname": "Ada"}),
        lambda: adapter.upsert(object_type, {"firstname": "Ada"}, crm_id="1"),
        lambda: adapter.delete(object_type, company["id"]),
        lambda: adapter.batch_upsert(object_type, [{"email": "a@example.com"}], "email"),
    ):
        with pytest.raises(etlify.AdapterError):
            call()
    for request in hubspot.requests:
        parts = request.path.split("/")
        assert parts[:4] == ["", "crm", "v3", "objects"], request.path
        assert parts[4] == quote(object_type, safe="") or parts[4] == "%2E" * len(object_type)
        assert all(part not in (".", "..") for part in parts), request.path
        assert request.query.keys() <= {"idProperty"}, request.query
    assert hubspot.get("companies", company["id"])["properties"]["name"] == "Untouched"
    assert hubspot.object_count("contacts") == 0


@pytest.mark.parametrize("crm_id", CRAFTED_IDS)
def test_a_crafted_crm_id_reaches_no_other_object(hubspot, crm_id):
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    company = hubspot.add("companies", {"name": "Untouched"})
    contact = hubspot.add("contacts", {"email": "kept@example.com"})
    created = adapter.upsert("contacts", {"firstname": "Ada"}, crm_id=crm_id)  # 404: a create
    adapter.delete("contacts", crm_id)  # archiving a missing object answers 204 too
    by_id = [r for r in hubspot.requests if r.method in ("PATCH", "DELETE")]
    assert len(by_id) == 2
    for request in by_id:
        assert request.path == "/crm/v3/objects/contacts/" + quote(crm_id, safe="").replace(
            ".", "%2E") if crm_id in (".", "..") else "/crm/v3/objects/contacts/" + quote(
            crm_id, safe="")
        assert request.query == {}
    assert hubspot.get("companies", company["id"])["properties"]["name"] == "Untouched"
    assert hubspot.get("contacts", contact["id"]) is not None
    assert hubspot.get("contacts", created) is not None


@pytest.mark.parametrize("id_property", ["email&archived=true", "email#x", "../email", "e mail"])
def test_a_crafted_id_property_stays_a_query_value(hubspot, id_property):
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    with pytest.raises(etlify.AdapterError):
        adapter.upsert("contacts", {id_property: "a@example.com"}, id_property=id_property)
    [lookup] = [r for r in hubspot.requests if r.method == "GET"]
    assert lookup.path == "/crm/v3/objects/contacts/a%40example.com"
    assert lookup.query == {"idProperty": id_property}
    assert hubspot.object_count("contacts") == 0


def test_a_crafted_id_property_value_stays_one_path_segment(hubspot):
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    victim = hubspot.add("contacts", {"email": "victim@example.com"})
    value = f"../{victim['id']}?x=@example.com"
    adapter.upsert("contacts", {"email": value, "firstname": "Mallory"}, id_property="email")
    assert hubspot.get("contacts", victim["id"])["properties"].get("firstname") in (None, "")
    assert all(r.path.count("/") <= 5 for r in hubspot.requests)


def test_a_crafted_object_type_in_a_declaration_reaches_no_other_endpoint(tmp_path, hubspot):
    database = database_for(database_url("sqlite", tmp_path))
    app = define(database)
    etlify.configure(database=database)
    etlify.register("hubspot", adapter=HubspotV3Adapter(
        access_token=hubspot.token, base_url=hubspot.url, retries=0))
    app.Person.etlified_with("hubspot", serializer=app.AnonymousSerializer,
                             crm_object_type="contacts/../companies")
    company = hubspot.add("companies", {"name": "Untouched"})
    with database.connection_context():
        database.create_tables([app.Person])
        etlify.create_tables()
        person = app.Person.create(first_name="Ada")
        assert person.sync("hubspot", async_=False) is Status.ERROR
    assert [r.path for r in hubspot.requests] == ["/crm/v3/objects/contacts%2F..%2Fcompanies"]
    assert hubspot.object_count("companies") == 1
    assert hubspot.get("companies", company["id"])["properties"]["name"] == "Untouched"


# -- SQL --------------------------------------------------------------------------------

QUOTED = 'we"ird`na\'me'


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])
def test_table_and_column_names_with_quotes_are_quoted_by_peewee(backend, tmp_path, hubspot):
    database = database_for(database_url(backend, tmp_path))

    class Odd(EtlifyMixin, Model):
        label = CharField(column_name=f"label {QUOTED}")
        updated_at = DateTimeField(default=now, column_name=f"updated {QUOTED}")

        class Meta:
            table_name = f"odd {QUOTED}"

    Odd._meta.set_database(database)

    class OddSerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"firstname": self.record.label}

    etlify.configure(database=database)
    etlify.register("hubspot", adapter=HubspotV3Adapter(
        access_token=hubspot.token, base_url=hubspot.url, retries=FAST_RETRIES))
    Odd.etlified_with("hubspot", serializer=OddSerializer, crm_object_type="contacts",
                      resource_type=f"Odd {QUOTED}")
    with database.connection_context():
        database.drop_tables([Odd, Sync, etlify.PendingSync])
        database.create_tables([Odd])
        etlify.create_tables()
        Odd.insert_many([{"label": f"{QUOTED} {i}"} for i in range(30)]).execute()
        first = Odd.get()
        assert first.sync("hubspot", async_=False) is Status.SYNCED
        stats = BatchSync.call(async_=False, batch_size=7)
        assert (stats["synced"], stats["errors"]) == (29, 0)
        stale = [pk for (pk,) in Finder.call()[Odd]["hubspot"].tuples()]
        again = BatchSync.call(async_=False)  # MariaDB: those synced this second stay stale
        assert (again["total"], again["synced"], again["errors"]) == (len(stale), 0, 0)
        assert Sync.select().where(Sync.resource_type == f"Odd {QUOTED}").count() == 30
        database.drop_tables([Odd])
    assert hubspot.object_count("contacts") == 30


SQL_SINKS = {"SQL", "execute_sql", "raw"}


def formatted_sql_calls(source: str):
    """``(function, line, text)`` of each ``SQL(...)``, ``execute_sql(...)`` or ``raw(...)``
    call whose SQL text is formatted (f-string, ``%``, ``+`` or ``.format``)."""
    tree = ast.parse(source)
    owners = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef):
            for node in ast.walk(function):
                owners.setdefault(node, function.name)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
        text = node.args[0]
        if name in SQL_SINKS and (
            isinstance(text, ast.JoinedStr)
            or (isinstance(text, ast.BinOp) and isinstance(text.op, (ast.Mod, ast.Add)))
            or (isinstance(text, ast.Call) and getattr(text.func, "attr", None) == "format")
        ):
            yield owners.get(node), node.lineno, ast.unparse(text)


def test_no_sql_is_built_by_formatting_outside_the_sql_helpers():
    found = [
        f"{path.relative_to(ETLIFY.parent)}:{line}: {text}"
        for path in sorted(ETLIFY.rglob("*.py"))
        if path != ETLIFY / "sql.py"
        for _, line, text in formatted_sql_calls(path.read_text())
    ]
    assert found == []


def test_the_sql_helpers_format_placeholders_and_quoted_names_only():
    """``etlify/sql.py`` formats parameter marks, and column names only through ``_quoted``."""
    source = (ETLIFY / "sql.py").read_text()
    tree = ast.parse(source)
    quoted = {id(node) for call in ast.walk(tree) if isinstance(call, ast.Call)
              and getattr(call.func, "id", None) == "_quoted" for node in ast.walk(call)}
    names = [node for node in ast.walk(tree) if isinstance(node, ast.Attribute)
             and node.attr in ("column_name", "table_name", "name")]
    assert names and all(id(node) in quoted for node in names)
    functions = {function for function, _, _ in formatted_sql_calls(source)}
    assert functions <= {"in_list", "in_pairs", "execute_in", "update_returning"}


@pytest.mark.parametrize("backend", ["sqlite", "postgres", "mysql"])
def test_execute_in_quotes_a_column_name_holding_quotes(backend, tmp_path):
    from etlify.sql import execute_in

    database = database_for(database_url(backend, tmp_path))

    class Odd(Model):
        label = CharField(column_name=f"label {QUOTED}")

        class Meta:
            table_name = f"odd {QUOTED}"

    Odd._meta.set_database(database)
    with database.connection_context():
        database.drop_tables([Odd])
        database.create_tables([Odd])
        Odd.insert_many([{"label": "a"}, {"label": "b"}]).execute()
        try:
            changed = execute_in(Odd.update(label="c").where(Odd.id > 0), [Odd.label], [("a",)])
            assert changed == 1
        finally:
            database.drop_tables([Odd])
