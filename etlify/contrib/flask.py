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
    already, and is drained and stopped when the process exits. The pool is
    one per process: a later app asking for another size gets a warning.
``ETLIFY_DATABASE``
    The peewee database holding Etlify's sync-state tables, or its URL
    (``sqlite:///app.db``, ``postgresql://...``: ``playhouse.db_url``), so
    that it can come from ``app.config.from_prefixed_env()`` (default
    ``None``: the database of the first etlified model). The sync state is
    one per process, like the models' binding it is joined with in SQL: a
    later app with another database moves it there (logged at INFO).

Models are declared (``Model.etlified_with("hubspot", ...)``) after
``init_app``, once the CRM is registered. ``init_app`` adds the command group
``flask etlify``: every command of ``etlify`` (``create-tables``, ``sync``,
``status``, ``errors``, ``reset-errors``, ``history``, ``serializer``,
``init``), run on the app's own module with the same options, output and
exit statuses.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import Any

import click
from flask import Flask, current_app, has_app_context
from flask.cli import AppGroup
from playhouse.db_url import connect

import etlify
from etlify import registry
from etlify.adapters import HubspotV3Adapter
from etlify.cli import command_help, main
from etlify.jobs import ThreadPoolJobs

__all__ = ["Etlify", "EtlifyState", "cli"]

logger = logging.getLogger("etlify")

DEFAULT_BASE_URL = "https://api.hubapi.com"


@dataclass
class EtlifyState:
    """What ``init_app`` set up for one app, kept in ``app.extensions["etlify"]``.

    :ivar extension: the :class:`Etlify` instance.
    :ivar jobs: the dispatcher of async syncs (``etlify.config.jobs``).
    :ivar registered: the CRM names this ``init_app`` registered globally
        (``["hubspot"]`` for the first app with a token, else ``[]``).
    :ivar crms: this app's own CRMs, with its token and base URL: every sync
        inside its app context (requests, CLI commands, the pool's jobs they
        queue) goes to them.
    """

    extension: Etlify
    jobs: Any
    registered: list[str] = field(default_factory=list)
    #: This app's CRMs (``{"hubspot": CrmEntry}``), used inside its app context.
    crms: dict[str, registry.CrmEntry] = field(default_factory=dict)


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
        pool_size_set = "ETLIFY_POOL_SIZE" in config
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
            _bind_state_database(app, database)
        registered, crms = [], {}
        if config["ETLIFY_HUBSPOT_TOKEN"]:
            options = _hubspot_options(config)
            if "hubspot" in etlify.crm_names():  # another app's: this one gets its own
                crms["hubspot"] = registry.build("hubspot", **options)
            else:  # also the default outside any app context
                etlify.register("hubspot", **options)
                crms["hubspot"] = registry.entries()["hubspot"]
                registered.append("hubspot")
        jobs = etlify.config.jobs
        if jobs is None:
            jobs = ThreadPoolJobs(max_workers=config["ETLIFY_POOL_SIZE"])
            etlify.configure(jobs=jobs)
            # Not a teardown callback: those run after every request.
            atexit.register(jobs.shutdown)
        elif pool_size_set and getattr(jobs, "max_workers", None) not in (
            None,
            config["ETLIFY_POOL_SIZE"],
        ):
            warnings.warn(
                f"ETLIFY_POOL_SIZE={config['ETLIFY_POOL_SIZE']!r} of the Flask app "
                f"{app.name!r} is not used: the process already has a job pool with "
                f"{jobs.max_workers} workers (one per process, made by the first app "
                "or by etlify.configure(jobs=...)).",
                stacklevel=2,
            )
        app.extensions["etlify"] = EtlifyState(self, jobs, registered, crms)
        app.cli.add_command(cli)


def _bind_state_database(app: Flask, database: Any) -> None:
    """Keep the sync state in ``database``; say so when another app's was there.

    The state is one per process, like the binding of the models it is joined
    with in SQL, so the latest app's database wins (one app per test).
    """
    bound = etlify.config.database
    if bound is not None and bound is not database:
        logger.info(
            "Flask app %r moves Etlify's sync state from %r to its own ETLIFY_DATABASE %r",
            app.name, bound, database,
        )
    etlify.configure(database=database)


def _connect(url: str) -> Any:
    """The peewee database of ``url``; ConfigurationError naming the setting if it has none."""
    try:
        return connect(url)
    except (RuntimeError, ValueError, KeyError) as error:
        raise etlify.ConfigurationError(
            f"ETLIFY_DATABASE {url!r} is not a database URL peewee knows "
            f"(sqlite:///app.db, postgresql://..., mysql://...): {error}"
        ) from None


def _hubspot_options(config: Any) -> dict[str, Any]:
    """The ``register`` options of the HubSpot CRM an app's settings describe."""
    adapter = HubspotV3Adapter(
        access_token=config["ETLIFY_HUBSPOT_TOKEN"],
        base_url=config["ETLIFY_HUBSPOT_BASE_URL"],
        # One connection per worker thread, plus the request threads.
        pool_maxsize=max(10, config["ETLIFY_POOL_SIZE"] + 2),
    )
    return {
        "adapter": adapter,
        "enabled": config["ETLIFY_ENABLED"],
        "rate_limit": config["ETLIFY_RATE_LIMIT"],
    }


def _app_crms() -> dict[str, registry.CrmEntry] | None:
    """The CRMs of the current Flask app, inside an app context."""
    if not has_app_context():
        return None
    state = current_app.extensions.get("etlify")
    return state.crms if isinstance(state, EtlifyState) else None


registry.add_scope(_app_crms)


cli = AppGroup(
    "etlify",
    help="Sync records to the CRMs and inspect their sync state: the commands of "
    "`etlify`, on this app.",
)


def _add_command(name: str, help_text: str) -> None:
    """``flask etlify NAME ...``: ``etlify NAME ...`` on the app's own module."""

    @cli.command(
        name,
        help=help_text,
        add_help_option=False,  # --help goes to the command itself
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    )
    @click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
    def command(arguments: tuple[str, ...]) -> None:
        module = sys.modules.get(current_app.import_name) or sys.modules["__main__"]
        try:
            code = main([name, *arguments], prog="flask etlify", app_module=module)
        except SystemExit as stop:  # argparse's --help and usage errors
            code = stop.code if isinstance(stop.code, int) else 2
        raise click.exceptions.Exit(code)


for _name, _help in command_help().items():
    if _name != "demo":  # the demo builds an app of its own: `etlify demo`
        _add_command(_name, _help)
