"""Putting a registry-level rate limit in front of an adapter."""

from __future__ import annotations

from typing import Any

__all__ = ["attach_rate_limit", "RateLimitedAdapter"]


def attach_rate_limit(adapter: Any, rate_limit: Any) -> tuple[Any, Any]:
    """Return ``(adapter, limiter)`` with ``rate_limit`` applied to every call.

    An adapter that paces its own requests (it has a ``rate_limiter``
    attribute, like :class:`~etlify.adapters.HubspotV3Adapter`) gets the limiter
    set on it, replacing one it had: the registration's limit wins. Any other
    adapter is wrapped in a :class:`RateLimitedAdapter`.
    """
    from ..ratelimit import as_rate_limiter

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
            self.rate_limiter.acquire()
            return attribute(*args, **kwargs)

        return limited

    def __repr__(self) -> str:
        return f"RateLimitedAdapter({self.adapter!r})"
