"""Rate budgets: how many requests a CRM allows, kept by one process or shared.

:class:`RateLimiter` is the budget an adapter draws from
(:mod:`etlify.ratelimit.limiter`); its windows live in a store
(:mod:`etlify.ratelimit.stores`): this process's memory, Redis or a database
table, under the rules of :mod:`etlify.ratelimit.window`.
:func:`working_as` marks the requests of a block as interactive or backfill.
"""

from .limiter import RateLimiter, Ticket, as_rate_limiter
from .stores import LocalStore, Store, StoreUnavailable
from .window import BACKFILL, INTERACTIVE
from .work import current_work, working_as

__all__ = [
    "RateLimiter",
    "Ticket",
    "as_rate_limiter",
    "Store",
    "LocalStore",
    "StoreUnavailable",
    "INTERACTIVE",
    "BACKFILL",
    "current_work",
    "working_as",
]
