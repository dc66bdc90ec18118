"""The ``Etlify`` Flask extension and the ``flask etlify`` commands.

::

    from flask import Flask
    from etlify.contrib.flask import Etlify

    etlify_ext = Etlify()

    def create_app():
        app = Flask(__name__)
        app.config["ETLIFY_DATABASE"] = db
        etlify_ext.init_app(app)
        User.etlified_with("hubspot", serializer=UserSerializer, crm_object_type="contacts")
        return app

Settings, read from ``app.config`` (each set to its default when missing):

``ETLIFY_HUBSPOT_TOKEN``
    HubSpot private-app token; default: the ``HUBSPOT_PRIVATE_APP_TOKEN``
    environment variable. When set, and no CRM named ``"hubspot"`` is
    registered yet, ``init_app`` registers one with a ``HubspotV3Adapter``.
``ETLIFY_HUBSPOT_BASE_URL``
    HubSpot's API root (default ``https://api.hubapi.com``); point it at a
    ``FakeHubSpot`` in development.
``ETLIFY_RATE_LIMIT``
    ``{"max_requests": int, "period": seconds}`` for the registered HubSpot
    CRM, or ``None`` (default) for HubSpot's own pacing headers only.
``ETLIFY_ENABLED``
    ``False`` registers the HubSpot CRM disabled: every sync is a no-op
    (default ``True``).
``ETLIFY_POOL_SIZE``
    Worker threads of the built-in job pool (default 4). The pool is
    installed as ``etlify.config.jobs`` unless a dispatcher is configured
    already, and is drained and stopped when the process exits.
``ETLIFY_DATABASE``
    The peewee database holding Etlify's sync-state tables, or its URL
    (``sqlite:///app.db``, ``postgresql://...``: ``playhouse.db_url``), so
    that it can come from ``app.config.from_prefixed_env()`` (default
    ``None``: the database of the first etlified model).

Models are declared (``Model.etlified_with("hubspot", ...)``) after
``init_app``, once the CRM is registered. ``init_app`` adds the command group
``flask etlify`` with ``sync``, ``status`` and ``errors``.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup
from playhouse.db_url import connect

import etlify
from etlify import declarations, registry
from etlify.adapters import HubspotV3Adapter
from etlify.cli.app import format_table
from etlify.cli.sync import Outcomes, describe_stats
from etlify.jobs import ThreadPoolJobs
from etlify.stale import Finder
from etlify.state import rows as sync_rows
from etlify.sync_stale import BatchSync

__all__ = ["Etlify", "EtlifyState", "cli"]

DEFAULT_BASE_URL = "https://api.hubapi.com"


@dataclass
class EtlifyState:
    """What ``init_app`` set up for one app, kept in ``app.extensions["etlify"]``.

    :ivar extension: the :class:`Etlify` instance.
    :ivar jobs: the dispatcher of async syncs (``etlify.config.jobs``).
    :ivar registered: the CRM names this ``init_app`` registered (``["hubspot"]`` or ``[]``).
    """

    extension: Etlify
    jobs: Any
    registered: list[str] = field(default_factory=list)


class Etlify:
    """Configure Etlify from a Flask app's config; see the module docstring.

    :param app: an app to initialise now, or ``None`` to call :meth:`init_app`
        later (the application-factory pattern).
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read the ``ETLIFY_*`` settings, register HubSpot, install the job pool, add the CLI.

        :raises RuntimeError: when an ``Etlify`` was already initialised on ``app``.
        :raises etlify.ConfigurationError: for a bad setting value.
        """
        if "etlify" in app.extensions:
            raise RuntimeError(
                "An Etlify extension is already registered on this Flask app; "
                "import and use that instance instead of initialising another."
            )
        config = app.config
        config.setdefault("ETLIFY_HUBSPOT_TOKEN", os.environ.get("HUBSPOT_PRIVATE_APP_TOKEN"))
        config.setdefault("ETLIFY_HUBSPOT_BASE_URL", DEFAULT_BASE_URL)
        config.setdefault("ETLIFY_RATE_LIMIT", None)
        config.setdefault("ETLIFY_ENABLED", True)
        config.setdefault("ETLIFY_POOL_SIZE", 4)
        config.setdefault("ETLIFY_DATABASE", None)

        database = config["ETLIFY_DATABASE"]
        if isinstance(database, str):
            database = config["ETLIFY_DATABASE"] = _connect(database)
        if database is not None:
            etlify.configure(database=database)
        registered = []
        if config["ETLIFY_HUBSPOT_TOKEN"] and "hubspot" not in etlify.crm_names():
            _register_hubspot(config)
            registered.append("hubspot")
        jobs = etlify.config.jobs
        if jobs is None:
            jobs = ThreadPoolJobs(max_workers=config["ETLIFY_POOL_SIZE"])
            etlify.configure(jobs=jobs)
            # Not a teardown callback: those run after every request.
            atexit.register(jobs.shutdown)
        app.extensions["etlify"] = EtlifyState(self, jobs, registered)
        app.cli.add_command(cli)


def _connect(url: str) -> Any:
    """The peewee database of ``url``; ConfigurationError naming the setting if it has none."""
    try:
        return connect(url)
    except (RuntimeError, ValueError, KeyError) as error:
        raise etlify.ConfigurationError(
            f"ETLIFY_DATABASE {url!r} is not a database URL peewee knows "
            f"(sqlite:///app.db, postgresql://..., mysql://...): {error}"
        ) from None


def _register_hubspot(config: Any) -> None:
    adapter = HubspotV3Adapter(
        access_token=config["ETLIFY_HUBSPOT_TOKEN"],
        base_url=config["ETLIFY_HUBSPOT_BASE_URL"],
        # One connection per worker thread, plus the request threads.
        pool_maxsize=max(10, config["ETLIFY_POOL_SIZE"] + 2),
    )
    etlify.register(
        "hubspot",
        adapter=adapter,
        enabled=config["ETLIFY_ENABLED"],
        rate_limit=config["ETLIFY_RATE_LIMIT"],
    )


cli = AppGroup("etlify", help="Sync records to the CRMs and inspect their sync state.")


@cli.command("sync")
@click.option("--crm", "crm_name", default=None, help="Only this CRM (default: all).")
@click.option(
    "--model", "model_names", multiple=True, help="Only this model (its name); repeatable."
)
@click.option("--inline", is_flag=True, help="Sync in this process instead of queueing jobs.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(min=1))
@click.option("--dry-run", is_flag=True, help="Show what would be sent; send and write nothing.")
@click.option("--progress", is_flag=True, help="Draw a progress bar on stderr.")
def sync_command(
    crm_name: str | None,
    model_names: tuple[str, ...],
    inline: bool,
    batch_size: int,
    dry_run: bool,
    progress: bool,
) -> None:
    """Sync every stale record, in batches; exits with status 1 when some failed."""
    try:
        models = [etlify.model_for(name) for name in model_names] or None
        if crm_name is not None:
            registry.crm(crm_name)
        with Outcomes() as seen:
            stats = BatchSync.call(
                models=models,
                crm_name=crm_name,
                async_=not inline,
                batch_size=batch_size,
                progress=progress or None,
                dry_run=dry_run,
            )
            if not inline and not dry_run:
                etlify.jobs.wait()  # count the outcomes of the queued jobs too
    except etlify.ConfigurationError as error:
        raise click.UsageError(str(error)) from None
    if dry_run:
        for step in stats["plan"]:
            click.echo(f"{step['action']:<13} {step['model']} #{step['id']} -> {step['crm_name']}")
        click.echo(describe_stats(stats, dry_run=True))
    elif inline:
        click.echo(describe_stats(stats))
        if stats["errors"]:
            raise click.exceptions.Exit(1)
    else:
        click.echo(f"queued {stats['total']} stale record(s)")
        # The built-in pool dies with this process: let it finish first.
        etlify.jobs.wait()
        if seen.counts["errors"]:
            click.echo(f"{seen.counts['errors']} record(s) failed: see flask etlify errors")
            raise click.exceptions.Exit(1)


@cli.command("status")
def status_command() -> None:
    """Per model and CRM: total, synced, stale, failing and exhausted counts."""
    keys = ["total", "synced", "stale", "failing", "exhausted"]
    rows = []
    for config_ in declarations.configs():
        counts = Finder.counts(config_)
        rows.append([config_.resource_type, config_.crm_name, *(counts[key] for key in keys)])
    if not rows:
        click.echo("no etlified models")
        return
    click.echo(format_table(["model", "crm", *keys], rows))


@cli.command("errors")
@click.option("--crm", "crm_name", default=None, help="Only this CRM.")
@click.option("--model", "model_name", default=None, help="Only this model (its name).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1))
def errors_command(crm_name: str | None, model_name: str | None, limit: int) -> None:
    """The failing records, newest failure first, with their last error."""
    query = sync_rows.failing(None if model_name is None else [model_name], crm_name)
    rows = [
        [
            row.resource_type,
            row.resource_id,
            row.crm_name,
            row.error_count,
            row.last_error_kind or "",
            _first_line(row.last_error, 80),
        ]
        for row in query.limit(limit)
    ]
    if not rows:
        click.echo("no failing records")
        return
    click.echo(format_table(["model", "id", "crm", "errors", "kind", "last error"], rows))


def _first_line(text: str, width: int) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[: width - 3] + "..."
