"""The Flask extension: settings, registration, the job pool and the ``flask etlify`` commands."""

from __future__ import annotations

import contextlib
import io
import sys
import threading

import pytest
from flask import Flask
from peewee import SqliteDatabase

import etlify
from etlify import registry
from etlify.adapters import HubspotV3Adapter
from etlify.cli import command_help
from etlify.contrib.flask import Etlify, EtlifyState
from etlify.errors import ValidationFailed
from etlify.jobs import ThreadPoolJobs
from etlify.state import database_proxy
from etlify.testing import InMemoryAdapter

from ..models import define_models


@pytest.fixture
def synced_app(flask_app, database, hubspot):
    """A Flask app on FakeHubSpot with the test models declared and two stale users."""
    app = flask_app(
        ETLIFY_HUBSPOT_TOKEN=hubspot.token,
        ETLIFY_HUBSPOT_BASE_URL=hubspot.url,
        ETLIFY_DATABASE=database,
    )
    models = define_models(database)
    models.User.etlified_with(
        "hubspot",
        serializer=models.UserSerializer,
        crm_object_type="contacts",
        id_property="email",
    )
    etlify.create_tables()
    models.User.create(email="ada@example.com", first_name="Ada")
    models.User.create(email="grace@example.com", first_name="Grace")
    app.models = models
    return app


def test_initialising_twice_on_one_app_is_refused(flask_app):
    app = flask_app()
    with pytest.raises(RuntimeError, match="already registered on this Flask app"):
        Etlify(app)


def test_an_extension_can_be_initialised_later_on_several_apps(monkeypatch):
    monkeypatch.delenv("HUBSPOT_PRIVATE_APP_TOKEN", raising=False)
    extension = Etlify()
    first, second = Flask("first"), Flask("second")
    extension.init_app(first)
    extension.init_app(second)
    assert first.extensions["etlify"].extension is extension
    assert second.extensions["etlify"].extension is extension


def test_missing_settings_are_set_to_their_defaults(flask_app):
    app = flask_app()
    assert app.config["ETLIFY_HUBSPOT_TOKEN"] is None
    assert app.config["ETLIFY_HUBSPOT_BASE_URL"] == "https://api.hubapi.com"
    assert app.config["ETLIFY_RATE_LIMIT"] is None
    assert app.config["ETLIFY_ENABLED"] is True
    assert app.config["ETLIFY_POOL_SIZE"] == 4
    assert app.config["ETLIFY_DATABASE"] is None


def test_the_token_defaults_to_the_environment_variable(flask_app, monkeypatch, hubspot):
    monkeypatch.setenv("HUBSPOT_PRIVATE_APP_TOKEN", hubspot.token)
    app = flask_app(ETLIFY_HUBSPOT_BASE_URL=hubspot.url)
    assert app.config["ETLIFY_HUBSPOT_TOKEN"] == hubspot.token
    assert etlify.crm_names() == ["hubspot"]


def test_state_is_kept_in_app_extensions(flask_app, hubspot):
    app = flask_app(ETLIFY_HUBSPOT_TOKEN=hubspot.token)
    state = app.extensions["etlify"]
    assert isinstance(state, EtlifyState)
    assert isinstance(state.extension, Etlify)
    assert state.jobs is etlify.config.jobs
    assert state.registered == ["hubspot"]


def test_a_configured_token_registers_hubspot_at_the_base_url(flask_app, hubspot):
    flask_app(ETLIFY_HUBSPOT_TOKEN=hubspot.token, ETLIFY_HUBSPOT_BASE_URL=hubspot.url)
    adapter = registry.crm("hubspot").adapter
    assert isinstance(adapter, HubspotV3Adapter)
    assert adapter.upsert("contacts", {"email": "ada@example.com"}, id_property="email")
    assert hubspot.object_count("contacts") == 1


def test_no_crm_is_registered_without_a_token(flask_app):
    app = flask_app()
    assert etlify.crm_names() == []
    assert app.extensions["etlify"].registered == []


def test_a_hubspot_crm_registered_beforehand_is_kept(flask_app, hubspot):
    adapter = InMemoryAdapter()
    etlify.register("hubspot", adapter=adapter)
    app = flask_app(ETLIFY_HUBSPOT_TOKEN=hubspot.token)
    assert registry.crm("hubspot").adapter is adapter
    assert app.extensions["etlify"].registered == []


def test_enabled_false_registers_hubspot_disabled(flask_app, hubspot):
    flask_app(ETLIFY_HUBSPOT_TOKEN=hubspot.token, ETLIFY_ENABLED=False)
    assert etlify.is_enabled("hubspot") is False


def test_the_rate_limit_setting_paces_the_hubspot_crm(flask_app, hubspot):
    flask_app(
        ETLIFY_HUBSPOT_TOKEN=hubspot.token,
        ETLIFY_RATE_LIMIT={"max_requests": 50, "period": 10.0},
    )
    assert registry.crm("hubspot").rate_limiter is not None


def test_the_pool_size_sets_the_workers_of_the_built_in_pool(flask_app):
    flask_app(ETLIFY_POOL_SIZE=7)
    assert isinstance(etlify.config.jobs, ThreadPoolJobs)
    assert etlify.config.jobs.max_workers == 7


def test_a_dispatcher_configured_beforehand_is_kept(flask_app):
    jobs = ThreadPoolJobs(max_workers=2)
    etlify.configure(jobs=jobs)
    with pytest.warns(UserWarning, match="ETLIFY_POOL_SIZE=7 .* is not used"):
        app = flask_app(ETLIFY_POOL_SIZE=7)
    assert etlify.config.jobs is jobs
    assert app.extensions["etlify"].jobs is jobs


def test_a_bad_pool_size_is_refused(flask_app):
    with pytest.raises(etlify.ConfigurationError, match="max_workers"):
        flask_app(ETLIFY_POOL_SIZE=0)


def test_the_database_setting_holds_the_sync_state(flask_app, database):
    flask_app(ETLIFY_DATABASE=database)
    assert database_proxy.obj is database


def test_the_database_setting_may_be_a_url(flask_app, tmp_path):
    app = flask_app(ETLIFY_DATABASE=f"sqlite:///{tmp_path / 'state.db'}")

    assert isinstance(database_proxy.obj, SqliteDatabase)
    assert database_proxy.obj.database == str(tmp_path / "state.db")
    assert app.config["ETLIFY_DATABASE"] is database_proxy.obj


def test_the_database_url_may_come_from_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("FLASK_ETLIFY_DATABASE", f"sqlite:///{tmp_path / 'env.db'}")
    app = Flask(__name__)
    app.config.from_prefixed_env()

    Etlify(app)

    assert database_proxy.obj.database == str(tmp_path / "env.db")


def test_a_database_setting_that_is_no_url_is_refused_naming_it(flask_app):
    with pytest.raises(etlify.ConfigurationError, match="ETLIFY_DATABASE 'users.db' is not"):
        flask_app(ETLIFY_DATABASE="users.db")


def test_requests_do_not_stop_the_pool(synced_app):
    client = synced_app.test_client()
    client.get("/")
    user = synced_app.models.User.get(email="ada@example.com")
    assert user.sync().result(timeout=10) == etlify.Status.SYNCED


def test_pool_jobs_close_the_connections_they_open(flask_app, tmp_path, hubspot):
    database = CountingDatabase(str(tmp_path / "count.db"), pragmas={"journal_mode": "wal"})
    flask_app(ETLIFY_HUBSPOT_TOKEN=hubspot.token, ETLIFY_HUBSPOT_BASE_URL=hubspot.url)
    models = define_models(database)
    models.User.etlified_with(
        "hubspot", serializer=models.UserSerializer, crm_object_type="contacts"
    )
    users = [models.User.create(email=f"user{i}@example.com") for i in range(8)]
    database.close()
    database.opened.clear()
    database.closed.clear()
    for user in users:
        user.sync()
    assert etlify.jobs.wait(timeout=10)
    assert database.opened
    assert sorted(database.opened) == sorted(database.closed)
    assert threading.get_ident() not in database.opened


def test_sync_command_inline_sends_every_stale_record(synced_app, hubspot):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "sync", "--inline"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "2 stale records (User 2): 2 synced, 0 not modified, 0 skipped, 0 buffered, 0 failed\n"
    )
    assert hubspot.object_count("contacts") == 2


def test_sync_command_queues_on_the_pool_and_waits_for_it(synced_app, hubspot):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "sync", "--batch-size", "1"])
    assert result.exit_code == 0, result.output
    assert result.output == (
        "2 stale records (User 2): 2 synced, 0 not modified, 0 skipped, 0 buffered, 0 failed\n"
    )
    assert hubspot.object_count("contacts") == 2


def test_sync_command_dry_run_sends_nothing(synced_app, hubspot):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "sync", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith('User 1 create {"email": "ada@example.com"')
    assert "2 to send" in result.output
    assert "dry run, nothing sent" in result.output
    assert hubspot.requests == []


def test_sync_command_exits_1_when_records_fail(synced_app, hubspot):
    hubspot.fail_next(n=100, status=400)
    result = synced_app.test_cli_runner().invoke(args=["etlify", "sync", "--inline"])
    assert result.exit_code == 1
    assert "2 failed" in result.output


def test_sync_command_on_the_pool_exits_1_when_records_fail(synced_app, hubspot):
    hubspot.fail_next(n=100, status=400)
    result = synced_app.test_cli_runner().invoke(args=["etlify", "sync"])
    assert result.exit_code == 1
    assert "2 failed" in result.output
    assert "etlify sync: hubspot: 2 records: " in result.output  # the summary, on stderr


def test_sync_command_refuses_an_unknown_model(synced_app):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "sync", "--model", "Nobody"])
    assert result.exit_code == 2
    assert "flask etlify sync: unknown model 'Nobody' (etlified models: User)" in result.output


def test_sync_command_refuses_an_unknown_crm(synced_app):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "sync", "--crm", "salesforce"])
    assert result.exit_code == 2
    assert "unknown CRM 'salesforce'" in result.output


def test_status_command_counts_synced_stale_and_failing_records(synced_app):
    synced_app.models.User.get(email="ada@example.com").sync(async_=False)
    grace = synced_app.models.User.get(email="grace@example.com")
    etlify.register("hubspot", adapter=failing_adapter())
    grace.sync(async_=False)
    result = synced_app.test_cli_runner().invoke(args=["etlify", "status"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "model  crm      total  synced  stale  failing  over budget",
        "User   hubspot      2       1      1        1            0",
    ]


def test_errors_command_lists_failing_records_with_their_error(synced_app):
    etlify.register("hubspot", adapter=failing_adapter())
    synced_app.models.User.get(email="grace@example.com").sync(async_=False)
    result = synced_app.test_cli_runner().invoke(args=["etlify", "errors"])
    assert result.exit_code == 0, result.output
    header, row = result.output.splitlines()
    assert header.split() == ["when", "model", "id", "crm", "kind", "errors", "last", "error"]
    assert row.split()[2:7] == ["User", "2", "hubspot", "validation", "1"]
    assert "email is invalid" in row


def test_errors_command_says_when_nothing_fails(synced_app):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "errors"])
    assert result.exit_code == 0
    assert result.output == "no failing records\n"


def test_every_command_of_etlify_is_under_flask_etlify(synced_app):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "--help"])

    for command in command_help():
        if command != "demo":
            assert f"  {command} " in result.output


def test_a_flask_etlify_command_takes_the_options_of_its_etlify_twin(synced_app):
    result = synced_app.test_cli_runner().invoke(args=["etlify", "errors", "--help"])

    assert result.exit_code == 0
    assert result.output.startswith("usage: flask etlify errors ")
    assert "--kind KIND" in result.output and "--full" in result.output


def test_flask_etlify_status_prints_what_etlify_status_prints(synced_app):
    flask_output = synced_app.test_cli_runner().invoke(args=["etlify", "status"]).output
    printed = io.StringIO()
    module = sys.modules[__name__]  # any module: the app is imported already

    with contextlib.redirect_stdout(printed), synced_app.app_context():
        assert etlify.cli.main(["status"], app_module=module) == 0

    assert flask_output == printed.getvalue()


def test_flask_etlify_reset_errors_and_history_run_on_the_app(synced_app):
    runner = synced_app.test_cli_runner()
    runner.invoke(args=["etlify", "sync", "--inline"])
    etlify.register("hubspot", adapter=failing_adapter())
    grace = synced_app.models.User.get(email="grace@example.com")
    grace.first_name = "Grace H."
    grace.save()
    assert grace.sync(async_=False) == etlify.Status.ERROR

    reset = runner.invoke(args=["etlify", "reset-errors"])
    history = runner.invoke(args=["etlify", "history"])

    assert (reset.exit_code, reset.output) == (0, "reset 1 record\n")
    assert history.exit_code == 0 and " cli " in history.output


def failing_adapter() -> InMemoryAdapter:
    adapter = InMemoryAdapter()
    adapter.fail_next(ValidationFailed("email is invalid", status=400))
    return adapter


class CountingDatabase(SqliteDatabase):
    """A SQLite database that notes which threads opened and closed connections."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.opened: list[int] = []
        self.closed: list[int] = []

    def _connect(self):
        self.opened.append(threading.get_ident())
        return super()._connect()

    def _close(self, conn):
        self.closed.append(threading.get_ident())
        super()._close(conn)
