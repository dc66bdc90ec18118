"""Global configuration: ``etlify.configure(...)`` and ``etlify.config``."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any, Callable

from .digest import MAX_DIGEST_LENGTH, stable_sha256
from .errors import ConfigurationError, SerializerError

__all__ = ["Config", "config", "digest_of", "utcnow"]


def utcnow() -> dt.datetime:
    """The current UTC time as a naive datetime (Etlify's clock)."""
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


class Config:
    """Etlify's settings. Read them on ``etlify.config``; change them with ``configure``.

    :ivar database: the Peewee database (or proxy) holding the sync-state tables;
        ``None`` until set or until the first model is etlified.
    :ivar logger: where Etlify logs (``logging.getLogger("etlify")``).
    :ivar digest_strategy: ``callable(payload) -> str``.
    :ivar max_sync_errors: failures a record may have before the stale finder
        leaves it alone.
    :ivar jobs: the default dispatcher of async work (a ``ThreadPoolJobs`` by default,
        created on first use).
    :ivar claim_timeout: seconds after which a sync claim left by a crashed
        worker expires.
    :ivar now: Etlify's clock, ``callable() -> datetime``; naive UTC by default.
        Use the same convention as the models' ``updated_at``.
    :ivar sync_margin: seconds taken off ``last_synced_at``. A write
        transaction that stamps ``updated_at`` and commits after a sync read
        the record is otherwise missed; set this to the longest such
        transaction. Records edited within the margin before a sync are
        checked once more (a digest compare, no CRM call). Default 0; at
        least 1 on MySQL/MariaDB, whose ``DATETIME`` keeps whole seconds.
    :ivar breaker_failures: transport failures in a row (each after the
        adapter's own retries) that open a CRM's circuit breaker. Default 3.
    :ivar breaker_cooldown: seconds an open circuit breaker refuses every
        call to its CRM before one is tried again. Default 30.
    :ivar run_retention_days: days the run history (``etlify_runs``) keeps a
        run; ``None`` keeps every run. Default 90.
    """

    _options = (
        "database",
        "logger",
        "digest_strategy",
        "max_sync_errors",
        "jobs",
        "claim_timeout",
        "now",
        "sync_margin",
        "breaker_failures",
        "breaker_cooldown",
        "run_retention_days",
    )

    def __init__(self) -> None:
        self.database: Any = None
        self.logger: logging.Logger = logging.getLogger("etlify")
        self.digest_strategy: Callable[[Any], str] = stable_sha256
        self.max_sync_errors: int = 3
        self.jobs: Any = None
        self.claim_timeout: float = 120.0
        self.now: Callable[[], dt.datetime] = utcnow
        self.sync_margin: float = 0.0
        self.breaker_failures: int = 3
        self.breaker_cooldown: float = 30.0
        self.run_retention_days: int | None = 90

    def update(self, **options: Any) -> None:
        """Set the given options, validating each."""
        unknown = set(options) - set(self._options)
        if unknown:
            raise ConfigurationError(
                f"etlify.configure() got unknown option(s) {sorted(unknown)}; "
                f"known: {list(self._options)}"
            )
        for name in ("max_sync_errors", "breaker_failures"):
            if name in options:
                _check_budget(name, options[name])
        if options.get("run_retention_days") is not None:
            _check_budget("run_retention_days", options["run_retention_days"])
        if "claim_timeout" in options:
            value = options["claim_timeout"]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigurationError(
                    f"claim_timeout must be a positive number of seconds, not {value!r}"
                )
        for name in ("sync_margin", "breaker_cooldown"):
            value = options.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ConfigurationError(
                    f"{name} must be a number of seconds (0 or more), not {value!r}"
                )
        for name in ("digest_strategy", "now"):
            if name in options and not callable(options[name]):
                raise ConfigurationError(f"{name} must be callable, not {options[name]!r}")
        if "now" in options:
            _check_clock(options["now"])
        if "jobs" in options and options["jobs"] is not None:
            if not callable(getattr(options["jobs"], "submit", None)):
                raise ConfigurationError(
                    "jobs must be a dispatcher with submit(model_name, record_id, crm_name), "
                    "such as etlify.jobs.ThreadPoolJobs()"
                )
        for name, value in options.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._options)
        return f"Config({shown})"


def _check_clock(now: Callable[[], Any]) -> None:
    """Refuse a clock whose times are not naive: the sync state compares its
    stamps with naive ones read back from every database."""
    moment = now()
    if not isinstance(moment, dt.datetime) or moment.tzinfo is not None:
        raise ConfigurationError(
            f"now must return a naive datetime (Etlify's clock is naive UTC by default), "
            f"not {moment!r}; for aware times use e.g. "
            "lambda: datetime.now(timezone.utc).replace(tzinfo=None), and store "
            "updated_at in the same convention"
        )


def _check_budget(name: str, value: Any) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigurationError(f"{name} must be a positive integer, not {value!r}")


config = Config()


def digest_of(payload: Any) -> str:
    """The digest of ``payload`` by the configured ``digest_strategy``.

    Raises :class:`SerializerError` unless it is a string the sync-state
    table can store (at most 128 characters), so that a bad strategy fails
    before the CRM is called rather than after.
    """
    digest = config.digest_strategy(payload)
    if not isinstance(digest, str) or not 0 < len(digest) <= MAX_DIGEST_LENGTH:
        raise SerializerError(
            f"digest_strategy must return a string of 1 to {MAX_DIGEST_LENGTH} characters, "
            f"not {digest!r:.80}"
        )
    return digest
