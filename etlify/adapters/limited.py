"""Rate limits in front of an adapter, and the one rule for its 429 answers."""

from __future__ import annotations

import logging
from typing import Any, Callable

from .. import lease
from ..errors import RateLimited
from ..ratelimit import as_rate_limiter

__all__ = ["attach_rate_limit", "RateLimitedAdapter", "call_adapter", "RATE_LIMIT_RETRIES"]

logger = logging.getLogger("etlify")

#: How many times a call refused with a short 429 is sent again.
RATE_LIMIT_RETRIES = 5
#: The longest ``Retry-After`` waited for; a longer one (or none: a daily
#: limit) ends the CRM's part of the run.
RETRY_AFTER_MAX = 60.0


def call_adapter(adapter: Any, call: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``call(*args, **kwargs)`` under the one 429 rule, the same on every path.

    An adapter that retries rate limits itself (``retries_rate_limits = True``,
    like :class:`~etlify.adapters.HubspotV3Adapter`) has already waited what
    was worth waiting: its :class:`~etlify.RateLimited` is raised at once. For
    any other adapter a 429 whose ``retry_after`` is at most
    :data:`RETRY_AFTER_MAX` seconds is waited out (every thread holds through
    the adapter's limiter, when it has one) and sent again, up to
    :data:`RATE_LIMIT_RETRIES` times. A daily limit (no ``retry_after``) or a
    longer wait is raised for the caller: nothing sleeps for it.
    """
    retries_itself = getattr(adapter, "retries_rate_limits", False)
    for attempt in range(RATE_LIMIT_RETRIES + 1):
        try:
            return call(*args, **kwargs)
        except RateLimited as error:
            wait = error.retry_after
            if (
                retries_itself
                or attempt == RATE_LIMIT_RETRIES
                or wait is None
                or wait > RETRY_AFTER_MAX
            ):
                raise
            limiter = getattr(adapter, "rate_limiter", None)
            if limiter is not None and hasattr(limiter, "pause"):
                limiter.pause(wait)
            logger.info("etlify: rate limited; resuming in %.1f s", wait)
            lease.sleep(wait)
    raise AssertionError("unreachable")


def attach_rate_limit(adapter: Any, rate_limit: Any) -> tuple[Any, Any]:
    """Return ``(adapter, limiter)`` with ``rate_limit`` applied to every call.

    An adapter that paces its own requests (it has a ``rate_limiter``
    attribute, like :class:`~etlify.adapters.HubspotV3Adapter`) gets the limiter
    set on it, replacing one it had: the registration's limit wins. Any other
    adapter is wrapped in a :class:`RateLimitedAdapter`.
    """
    limiter = as_rate_limiter(rate_limit)
    if hasattr(adapter, "rate_limiter"):
        adapter.rate_limiter = limiter
        return adapter, limiter
    return RateLimitedAdapter(adapter, limiter), limiter


class RateLimitedAdapter:
    """Wraps an adapter so each call first takes a token from ``limiter``."""

    _calls = ("upsert", "delete", "batch_upsert", "batch_update", "batch_delete")

    def __init__(self, adapter: Any, limiter: Any) -> None:
        self.adapter = adapter
        self.rate_limiter = limiter

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.adapter, name)
        if name not in self._calls:
            return attribute

        def limited(*args: Any, **kwargs: Any) -> Any:
            ticket = self.rate_limiter.acquire()
            try:
                return attribute(*args, **kwargs)
            finally:
                self.rate_limiter.release(ticket)

        return limited

    def __repr__(self) -> str:
        return f"RateLimitedAdapter({self.adapter!r})"
