"""Where the registry, the models' methods and the state tables are wired together.

The registry knows nothing of the mixin, and the configuration nothing of
the state tables: :func:`register` and :func:`configure`, the public entry
points, connect them here.
"""

from __future__ import annotations

from typing import Any

from . import registry
from .config import Config, config
from .errors import ConfigurationError
from .mixin import clashing_names, install_crm_methods, uninstall_crm_methods
from .state import bind_database

__all__ = ["register", "configure", "forget_crms"]


def register(name: str, **options: Any) -> registry.CrmEntry:
    """Register a CRM under ``name`` and give every etlified model its methods.

    Takes the options of :func:`etlify.registry.register` (``adapter``,
    ``enabled``, ``job_class``, ``rate_limit``, ``max_sync_errors``);
    registering again replaces the entry. For every CRM ``x``, models gain
    ``x_etlified_with``, ``x_sync``, ``x_delete`` and ``x_build_payload``.

    :raises ConfigurationError: for a bad name or option, or a name whose
        generated methods would hide methods the models already have.
    """
    if isinstance(name, str) and name.isidentifier():
        clashes = clashing_names(name)
        if clashes:
            raise ConfigurationError(
                f"register({name!r}): the generated method(s) {clashes} would hide methods "
                "models already have; choose another CRM name"
            )
    entry = registry.register(name, **options)
    install_crm_methods(name)
    return entry


def configure(**options: Any) -> Config:
    """Set Etlify's global options and return the live :class:`~etlify.Config`.

    Options: ``database``, ``logger``, ``digest_strategy``, ``max_sync_errors``,
    ``jobs``, ``claim_timeout``, ``now``, ``sync_margin``. The ``database``
    holds the sync-state tables. Raises :class:`ConfigurationError` for an
    unknown option or a bad value.
    """
    config.update(**{name: value for name, value in options.items() if name != "database"})
    if "database" in options:
        bind_database(options["database"])
    return config


def forget_crms() -> None:
    """Forget every registered CRM and remove the methods generated for it."""
    for name in registry.clear():
        uninstall_crm_methods(name)
