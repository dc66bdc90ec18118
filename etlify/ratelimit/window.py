"""The rules of one rate budget, on the state of its windows.

A budget has a window per request kind (``"default"``: HubSpot's rolling
window; ``"search"``: its per-second search bucket). Each grant holds a slot
until ``period`` after its answer (:func:`release`), or ``period + in_flight``
after the grant when no answer is ever reported (a process that died
mid-request), so that a request slower than the window never frees its slot
early.

Two kinds of work share the budget: ``interactive`` (one record synced, as
after a user's save) and ``backfill`` (a :class:`~etlify.BatchSync`). While
interactive work asked for a slot within the last period, backfill's own
grants may hold at most ``limit - reserve`` slots, so interactive syncs always
find their reserved share, and the rest of the window goes to whoever asks;
when interactive work leaves its share idle, backfill takes all of it.

The same rules run in memory (:class:`~etlify.ratelimit.stores.LocalStore`),
in a database row (:class:`~etlify.ratelimit.database_store.DatabaseStore`)
and, as a Lua script mirroring this module, in Redis
(:class:`~etlify.ratelimit.redis_store.RedisStore`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

__all__ = [
    "INTERACTIVE",
    "BACKFILL",
    "DAILY_EXHAUSTED",
    "Limits",
    "WindowState",
    "grant",
    "release",
    "pause",
    "correct",
    "lowered",
]

INTERACTIVE = "interactive"
BACKFILL = "backfill"

#: What :func:`grant` returns in place of a wait when only the daily reserve
#: is left and the work is a backfill.
DAILY_EXHAUSTED = -1.0


@dataclass(frozen=True)
class Limits:
    """The limits of one request kind: ``limit`` slots per ``period`` seconds.

    :ivar reserve: slots backfill leaves to interactive work while it is active.
    :ivar in_flight: the longest a granted request may stay unanswered.
    :ivar daily_reserve: the share of the day's budget kept for interactive work.
    """

    limit: int
    period: float
    reserve: int = 0
    in_flight: float = 60.0
    daily_reserve: float = 0.0


@dataclass
class WindowState:
    """The live grants of one kind (``{id: expiry}``, ``backfill``: the ids of
    those held by backfill work) and the budget-wide marks."""

    grants: dict[str, float] = field(default_factory=dict)
    backfill: set[str] = field(default_factory=set)
    paused_until: float = 0.0
    interactive_until: float = 0.0
    daily_limit: int | None = None
    daily_remaining: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able copy, for a store that keeps the state outside memory."""
        return {
            "grants": self.grants,
            "backfill": sorted(self.backfill),
            "paused_until": self.paused_until,
            "interactive_until": self.interactive_until,
            "daily_limit": self.daily_limit,
            "daily_remaining": self.daily_remaining,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> WindowState:
        """The state :meth:`as_dict` wrote."""
        return cls(**{**data, "backfill": set(data.get("backfill", ()))})


def grant(state: WindowState, limits: Limits, work: str, grant_id: str, now: float) -> float:
    """Grant ``grant_id`` a slot at ``now``: 0.0, or the seconds to wait first.

    Returns :data:`DAILY_EXHAUSTED` for backfill once only the daily reserve
    is left.
    """
    if work == INTERACTIVE:
        state.interactive_until = max(state.interactive_until, now + limits.period)
    if state.paused_until > now:
        return state.paused_until - now
    if work != INTERACTIVE and _daily_reserve_reached(state, limits):
        return DAILY_EXHAUSTED
    state.grants = {key: expiry for key, expiry in state.grants.items() if expiry > now}
    state.backfill &= state.grants.keys()
    wait = _room(list(state.grants.values()), limits.limit, now)
    if work != INTERACTIVE and state.interactive_until > now:
        own = [state.grants[key] for key in state.backfill]
        wait = max(wait, _room(own, max(1, limits.limit - limits.reserve), now))
    if wait > 0:
        # A slot still in flight frees `period` after its answer, which may
        # come any moment: look again a period from now at the latest.
        return min(wait, limits.period)
    state.grants[grant_id] = now + limits.period + limits.in_flight
    if work != INTERACTIVE:
        state.backfill.add(grant_id)
    if state.daily_remaining is not None:
        state.daily_remaining -= 1
    return 0.0


def _room(expiries: list[float], cap: int, now: float) -> float:
    """0.0 while fewer than ``cap`` slots are held, else the seconds until one frees."""
    if len(expiries) < cap:
        return 0.0
    return sorted(expiries)[len(expiries) - cap] - now


def release(state: WindowState, limits: Limits, grant_id: str, now: float) -> None:
    """The answer of ``grant_id`` arrived at ``now``: its slot frees ``period`` later."""
    if grant_id in state.grants:
        state.grants[grant_id] = now + limits.period


def pause(state: WindowState, seconds: float, now: float) -> None:
    """Hold every grant until ``now + seconds`` (a 429 seen anywhere)."""
    state.paused_until = max(state.paused_until, now + max(seconds, 0.0))


def correct(
    state: WindowState,
    limits: Limits,
    used: int | None,
    interval: float | None,
    daily: tuple[int, int] | None,
    now: float,
) -> None:
    """Bring the state in line with what the CRM reports.

    :param used: requests the CRM counts in its current window, when it says
        (HubSpot: ``Max - Remaining``). Requests this budget did not grant
        (other clients of the portal) take slots; taken as spread evenly over
        the CRM's window, they free one by one over the next ``interval``.
    :param daily: ``(limit, remaining)`` of the day, when the CRM says.
    """
    if used is not None and interval is not None:
        live = sum(1 for expiry in state.grants.values() if expiry > now)
        unseen = min(used, limits.limit) - live
        for n in range(unseen):
            state.grants[f"crm-{now!r}-{n}"] = now + interval * (n + 1) / unseen
    if daily is not None:
        state.daily_limit, state.daily_remaining = daily


def _daily_reserve_reached(state: WindowState, limits: Limits) -> bool:
    if state.daily_remaining is None or state.daily_limit is None:
        return False
    return state.daily_remaining <= math.ceil(state.daily_limit * limits.daily_reserve)


def lowered(limits: Limits, limit: int) -> Limits:
    """``limits`` with at most ``limit`` slots (the CRM's own, lower figure)."""
    if limit >= limits.limit:
        return limits
    return replace(limits, limit=limit, reserve=min(limits.reserve, limit - 1))
