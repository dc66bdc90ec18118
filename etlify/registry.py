"""The CRM registry: ``etlify.register(...)`` and friends."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .adapters.limited import attach_rate_limit
from .breaker import Breaker
from .config import config
from .errors import ConfigurationError

__all__ = [
    "CrmEntry",
    "register",
    "build",
    "add_scope",
    "crm",
    "crm_names",
    "is_enabled",
    "error_budget",
    "clear",
    "entries",
    "restore",
]


@dataclass
class CrmEntry:
    """A registered CRM: its adapter, options and circuit breaker."""

    name: str
    adapter: Any
    enabled: bool = True
    job_class: Any = None
    rate_limiter: Any = None
    max_sync_errors: int | None = None
    breaker: Breaker = field(init=False)

    def __post_init__(self) -> None:
        self.breaker = Breaker(self.name)


_crms: dict[str, CrmEntry] = {}
_lock = threading.Lock()


def register(name: str, **options: Any) -> CrmEntry:
    """Record a CRM under ``name`` (registering again replaces the entry).

    This is the registry's half of :func:`etlify.register`, which also gives
    the models the generated ``<name>_...`` methods. Takes the options of
    :func:`build`.
    """
    entry = build(name, **options)
    with _lock:
        _crms[name] = entry
    return entry


def build(
    name: str,
    *,
    adapter: Any,
    enabled: bool = True,
    job_class: Any = None,
    rate_limit: Any = None,
    max_sync_errors: int | None = None,
    **unknown: Any,
) -> CrmEntry:
    """The checked entry of a CRM ``name``, registered nowhere yet.

    :param adapter: an adapter *instance* (``upsert`` and ``delete``).
    :param enabled: ``False`` makes every sync and delete a no-op returning
        ``Status.DISABLED``.
    :param job_class: anything with ``perform_later(model_name, record_id, crm_name)``
        that runs this CRM's async syncs instead of the built-in pool.
    :param rate_limit: ``{"max_requests": int, "period": seconds}``: one
        thread-safe limiter shared by every call to this adapter; with
        ``"shared": "redis://..."`` (or ``"database"``) one budget for every
        process, named by ``"key"`` (default: the CRM's name). See
        :class:`~etlify.ratelimit.RateLimiter` for every option.
    :param max_sync_errors: this CRM's retry budget (default: the global one).
    :raises ConfigurationError: for a bad name, an unknown option, an adapter
        class, a non-boolean ``enabled``, a bad ``rate_limit`` or budget.
    """
    if unknown:
        raise ConfigurationError(
            f"register({name!r}) got unknown option(s) {sorted(unknown)}; known: adapter, "
            "enabled, job_class, rate_limit, max_sync_errors"
        )
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise ConfigurationError(
            f"CRM name must be a Python identifier such as 'hubspot', not {name!r}"
        )
    if isinstance(adapter, type):
        raise ConfigurationError(
            f"register({name!r}): adapter must be an instance, not the class "
            f"{adapter.__name__}; write adapter={adapter.__name__}(...)"
        )
    for method in ("upsert", "delete"):
        if not callable(getattr(adapter, method, None)):
            raise ConfigurationError(
                f"register({name!r}): adapter {adapter!r} has no {method}() method"
            )
    if not isinstance(enabled, bool):
        raise ConfigurationError(
            f"register({name!r}): enabled must be True or False, not {enabled!r}"
        )
    if job_class is not None and not callable(getattr(job_class, "perform_later", None)):
        raise ConfigurationError(
            f"register({name!r}): job_class {job_class!r} has no perform_later() method"
        )
    if max_sync_errors is not None and (
        isinstance(max_sync_errors, bool)
        or not isinstance(max_sync_errors, int)
        or max_sync_errors < 1
    ):
        raise ConfigurationError(
            f"register({name!r}): max_sync_errors must be a positive integer, "
            f"not {max_sync_errors!r}"
        )
    limiter = None
    if isinstance(rate_limit, Mapping) and "shared" in rate_limit and "key" not in rate_limit:
        rate_limit = {**rate_limit, "key": name}  # one budget per CRM name
    if rate_limit is not None:
        try:
            adapter, limiter = attach_rate_limit(adapter, rate_limit)
        except ConfigurationError as error:
            raise ConfigurationError(f"register({name!r}): {error}") from None
    return CrmEntry(name, adapter, enabled, job_class, limiter, max_sync_errors)


#: Where the CRMs of the current context come from, before the registry's own:
#: each returns ``{name: CrmEntry}`` (or ``None`` where it has nothing to say).
_scopes: list[Callable[[], Mapping[str, CrmEntry] | None]] = []


def add_scope(scope: Callable[[], Mapping[str, CrmEntry] | None]) -> None:
    """Let ``scope()`` give the CRMs of the current context (a Flask app's, say).

    :func:`crm` asks every scope first, and falls back on the registered
    CRMs. The built-in pool runs each job in the context that queued it, so
    a scope reading context variables holds in the jobs too.
    """
    if scope not in _scopes:
        _scopes.append(scope)


def crm(name: str) -> CrmEntry:
    """The CRM ``name`` of the current context, else the registered one.

    :raises ConfigurationError: if there is none.
    """
    for scope in _scopes:
        entries = scope()
        if entries and name in entries:
            return entries[name]
    try:
        return _crms[name]
    except KeyError:
        known = ", ".join(repr(n) for n in _crms) or "none"
        raise ConfigurationError(
            f"unknown CRM {name!r}: register it with etlify.register({name!r}, adapter=...) "
            f"(registered: {known})"
        ) from None


def crm_names() -> list[str]:
    """The names of the registered CRMs, in registration order."""
    return list(_crms)


def is_enabled(name: str) -> bool:
    """Whether the registered CRM ``name`` is enabled."""
    return crm(name).enabled


def error_budget(name: str) -> int:
    """The retry budget of CRM ``name``: its own ``max_sync_errors``, else the global one."""
    entry = _crms.get(name)
    if entry is not None and entry.max_sync_errors is not None:
        return entry.max_sync_errors
    return config.max_sync_errors


def entries() -> dict[str, CrmEntry]:
    """The registered CRMs as they are now, for :func:`restore`."""
    with _lock:
        return dict(_crms)


def restore(saved: dict[str, CrmEntry]) -> list[str]:
    """Put back the CRMs of :func:`entries`, each with a new, closed circuit breaker.

    Returns the names of the CRMs registered since, now forgotten.
    """
    with _lock:
        added = [name for name in _crms if name not in saved]
        _crms.clear()
        _crms.update({name: replace(entry) for name, entry in saved.items()})
    return added


def clear() -> list[str]:
    """Forget every registered CRM (for test isolation); returns their names."""
    with _lock:
        names = list(_crms)
        _crms.clear()
    return names
