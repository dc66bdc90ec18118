"""A rate budget kept in Redis, shared by every process and machine.

Each request kind's grants are a sorted set scored by the moment the slot
frees (and those of backfill work a second one); the budget's marks (pause,
interactive activity, the day's figures) are a hash. Every operation is one
Lua script, run atomically by Redis on Redis's own clock (``TIME``), so that
machines whose clocks differ still share one window. The scripts apply the
rules of :mod:`etlify.ratelimit.window`.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from ..errors import ConfigurationError
from .stores import StoreUnavailable
from .window import Limits, lowered

__all__ = ["RedisStore", "SOCKET_TIMEOUT"]

#: Seconds a Redis command may take before the budget falls back to local.
SOCKET_TIMEOUT = 0.5

_NOW = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
"""

# KEYS: grants, marks, backfill grants. ARGV: limit, period, reserve,
# in_flight, daily_reserve, work, grant id. Returns the seconds to wait as
# text ("0": granted, "-1": only the daily reserve is left).
_GRANT = (
    _NOW
    + """
local limit, period, reserve = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local work = ARGV[6]
local interactive = tonumber(redis.call('HGET', KEYS[2], 'interactive_until') or '0')
if work == 'interactive' and now + period > interactive then
  interactive = now + period
  redis.call('HSET', KEYS[2], 'interactive_until', tostring(interactive))
  redis.call('EXPIRE', KEYS[2], 86400)
end
local paused = tonumber(redis.call('HGET', KEYS[2], 'paused_until') or '0')
if paused > now then return tostring(paused - now) end
if work ~= 'interactive' then
  local day = tonumber(redis.call('HGET', KEYS[2], 'daily_limit') or '-1')
  local left = tonumber(redis.call('HGET', KEYS[2], 'daily_remaining') or '-1')
  if day > 0 and left >= 0 and left <= math.ceil(day * tonumber(ARGV[5])) then return '-1' end
end
local function room(key, cap)
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  local live = redis.call('ZCARD', key)
  if live < cap then return 0 end
  local nth = redis.call('ZRANGE', key, live - cap, live - cap, 'WITHSCORES')
  return tonumber(nth[2]) - now
end
local wait = room(KEYS[1], limit)
if work ~= 'interactive' and interactive > now then
  wait = math.max(wait, room(KEYS[3], math.max(1, limit - reserve)))
end
if wait > 0 then return tostring(math.min(wait, period)) end
local expiry = now + period + tonumber(ARGV[4])
local ttl = math.ceil(period + tonumber(ARGV[4])) + 1
redis.call('ZADD', KEYS[1], expiry, ARGV[7])
redis.call('EXPIRE', KEYS[1], ttl)
if work ~= 'interactive' then
  redis.call('ZADD', KEYS[3], expiry, ARGV[7])
  redis.call('EXPIRE', KEYS[3], ttl)
end
if redis.call('HEXISTS', KEYS[2], 'daily_remaining') == 1 then
  redis.call('HINCRBY', KEYS[2], 'daily_remaining', -1)
end
return '0'
"""
)

# KEYS: grants, backfill grants. ARGV: period, grant id.
_RELEASE = (
    _NOW
    + """
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])
redis.call('ZADD', KEYS[2], 'XX', now + tonumber(ARGV[1]), ARGV[2])
return '0'
"""
)

# KEYS: marks. ARGV: seconds.
_PAUSE = (
    _NOW
    + """
local paused = tonumber(redis.call('HGET', KEYS[1], 'paused_until') or '0')
if now + tonumber(ARGV[1]) > paused then
  redis.call('HSET', KEYS[1], 'paused_until', tostring(now + tonumber(ARGV[1])))
  redis.call('EXPIRE', KEYS[1], 86400)
end
return '0'
"""
)

# KEYS: grants, marks. ARGV: used ("" when unknown), interval, limit,
# daily limit and remaining ("" when unknown).
_CORRECT = (
    _NOW
    + """
if ARGV[1] ~= '' then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
  local unseen = math.min(tonumber(ARGV[1]), tonumber(ARGV[3])) - redis.call('ZCARD', KEYS[1])
  local interval = tonumber(ARGV[2])
  for n = 1, unseen do
    redis.call('ZADD', KEYS[1], now + interval * n / unseen, 'crm-' .. tostring(now) .. '-' .. n)
  end
  if unseen > 0 then redis.call('EXPIRE', KEYS[1], math.ceil(interval) + 1) end
end
if ARGV[4] ~= '' then
  redis.call('HSET', KEYS[2], 'daily_limit', ARGV[4], 'daily_remaining', ARGV[5])
  redis.call('EXPIRE', KEYS[2], 86400)
end
return '0'
"""
)


class RedisStore:
    """The windows of budget ``key`` in the Redis at ``url``.

    :param url: ``redis://host:port/db`` (``rediss://`` for TLS).
    :param key: the budget's name; its keys are ``etlify:rate:{key}:...``.
    :param limits: the limits of each request kind.
    :raises etlify.ConfigurationError: when the ``redis`` package is missing.
    """

    def __init__(self, url: str, key: str, limits: Mapping[str, Limits]) -> None:
        try:
            # Loaded on demand: redis is an extra, and `import etlify` loads
            # only the runtime dependencies.
            redis = importlib.import_module("redis")
        except ImportError:
            raise ConfigurationError(
                "rate_limit option 'shared' is a Redis URL, but the redis package is "
                "not installed: pip install 'etlify[redis]' (or redis itself)"
            ) from None
        self._errors = redis.exceptions.RedisError
        self.url = url
        self.key = key
        self.limits = dict(limits)
        self._client = redis.Redis.from_url(
            url, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
        self._scripts = {
            name: self._client.register_script(source)
            for name, source in (
                ("grant", _GRANT),
                ("release", _RELEASE),
                ("pause", _PAUSE),
                ("correct", _CORRECT),
            )
        }
        # The hash tag keeps a budget's keys in one slot of a Redis Cluster.
        self._marks = f"etlify:rate:{{{key}}}:marks"

    def _grants(self, kind: str) -> str:
        return f"etlify:rate:{{{self.key}}}:{kind}"

    def _run(self, name: str, keys: list[str], args: list[Any]) -> float:
        try:
            return float(self._scripts[name](keys=keys, args=args))
        except self._errors as error:
            raise StoreUnavailable(f"Redis: {type(error).__name__}: {error}") from error

    def grant(self, kind: str, work: str, grant_id: str) -> float:
        limits = self.limits[kind]
        return self._run(
            "grant",
            [self._grants(kind), self._marks, self._grants(kind) + ":backfill"],
            [
                limits.limit,
                limits.period,
                limits.reserve,
                limits.in_flight,
                limits.daily_reserve,
                work,
                grant_id,
            ],
        )

    def release(self, kind: str, grant_id: str) -> None:
        self._run(
            "release",
            [self._grants(kind), self._grants(kind) + ":backfill"],
            [self.limits[kind].period, grant_id],
        )

    def pause(self, seconds: float) -> None:
        self._run("pause", [self._marks], [seconds])

    def correct(
        self, used: int | None, interval: float | None, daily: tuple[int, int] | None
    ) -> None:
        day_limit, day_left = daily if daily is not None else ("", "")
        self._run(
            "correct",
            [self._grants("default"), self._marks],
            [
                "" if used is None or interval is None else used,
                interval or 0,
                self.limits["default"].limit,
                day_limit,
                day_left,
            ],
        )

    def lower_limit(self, kind: str, limit: int) -> None:
        self.limits[kind] = lowered(self.limits[kind], limit)

    def __repr__(self) -> str:
        return f"RedisStore({self.key!r})"
