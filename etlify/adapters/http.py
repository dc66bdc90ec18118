"""A small JSON-over-HTTPS transport on urllib3: retries, rate limit, errors.

Every failure of a request becomes an :class:`etlify.AdapterError` here, in
:meth:`Transport.request` and the ``error_from_*`` helpers, and nowhere else.

Retries are done here rather than by urllib3, whose ``Retry`` leaves POST and
PATCH out by default and reads ``Retry-After`` only for some statuses. What may
be replayed depends on the request (see :class:`Replay`): an idempotent call is
retried after any transient failure; a create is retried only when HubSpot
surely did not process it (the connection was never made, or the answer was
423, 429, 477 or 503), since HubSpot has no idempotency key and a replayed create can
make a second object.

A socket timeout is no deadline: it restarts with every byte received, so a
server that drips its answer keeps a read going indefinitely (``urllib3``'s
``Timeout(total=...)`` does not help: it only shortens the socket timeout
once). Two deadlines bound a request instead (see :class:`Transport`): each
attempt, read of the whole answer included, ends by ``attempt_deadline``; the
attempts and the waits between them end by ``deadline``. The attempt's deadline
is enforced where the bytes are read: every read of the socket waits at most
for the time the attempt has left (:class:`_DeadlineReader`).
"""

from __future__ import annotations

import email.utils
import enum
import http.client
import io
import json
import logging
import math
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import quote, urlencode

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, HTTPError, SSLError

from .. import lease
from ..errors import (
    AdapterError,
    ApiError,
    ConfigurationError,
    NotFound,
    RateLimited,
    TransportError,
    Unauthorized,
    ValidationFailed,
)
from ..ratelimit import RateLimiter

__all__ = [
    "AnswerLost",
    "Answer",
    "Replay",
    "RetryPolicy",
    "Transport",
    "error_from_entry",
    "error_from_response",
    "segment",
]

logger = logging.getLogger("etlify.hubspot")

#: Statuses retried for idempotent requests: a server or gateway error, or a
#: 429 / 423 Locked / 477 (portal migrating) that says to come back later.
RETRY_STATUSES = frozenset({423, 429, 477, 500, 502, 503, 504})
#: Statuses that prove a create was not processed, so it may be sent again.
#: A 500, 502 or 504 may come after HubSpot made the object.
UNPROCESSED_STATUSES = frozenset({423, 429, 477, 503})

_EXCERPT = 200

#: The default ``attempt_deadline`` and ``deadline``, in multiples of ``timeout``.
ATTEMPT_DEADLINE_FACTOR = 2.0
DEADLINE_FACTOR = 6.0


class AnswerLost(TransportError):
    """The request may have reached HubSpot, but no answer came back.

    For a create, HubSpot may have made the object: replaying it blindly could
    make a second one.
    """


class Replay(enum.Enum):
    """Which failures of a request may be retried."""

    #: Idempotent requests (reads, PATCH, DELETE, upserts, batch update and
    #: archive): any transient failure.
    ALWAYS = "always"
    #: Creates: only failures that prove the request was not processed (no
    #: connection, or a 423/429/477/503 answer); a 500/502/504 or a lost answer
    #: becomes :class:`AnswerLost` for the caller to check before creating again.
    UNSENT = "unsent"


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to retry, in the shape of urllib3's ``Retry``.

    Immutable: :meth:`increment` returns a new policy with one attempt spent.

    :param total: retries allowed after the first attempt.
    :param backoff_factor: the first wait; each further retry doubles it.
    :param backoff_max: the cap of the exponential wait.
    :param backoff_jitter: a random ``0..backoff_jitter`` seconds added to each wait.
    :param retry_after_max: a ``Retry-After`` (or rate-limit window) longer than
        this is not waited for: the error is raised for the caller to reschedule.
    """

    total: int = 5
    backoff_factor: float = 0.5
    backoff_max: float = 30.0
    backoff_jitter: float = 0.25
    retry_after_max: float = 60.0
    history: tuple[str, ...] = field(default=())

    @classmethod
    def from_value(cls, retries: RetryPolicy | int | None) -> RetryPolicy:
        """Accept a policy, a number of retries (``0`` or ``False``: none) or ``None``."""
        if retries is None:
            return cls()
        if isinstance(retries, RetryPolicy):
            return retries
        if isinstance(retries, int) and retries >= 0:
            return cls(total=int(retries))
        raise ValueError(f"retries must be a RetryPolicy or a number >= 0, not {retries!r}.")

    def increment(self, cause: str) -> RetryPolicy:
        """Spend one retry on ``cause`` (a short description, kept in ``history``)."""
        return replace(self, total=self.total - 1, history=(*self.history, cause))

    def is_exhausted(self) -> bool:
        """True once more retries were spent than allowed."""
        return self.total < 0

    def get_backoff_time(self) -> float:
        """The wait before the next retry: capped exponential, plus jitter."""
        if not self.history:
            return 0.0
        base = min(self.backoff_max, self.backoff_factor * 2 ** (len(self.history) - 1))
        return base + random.uniform(0.0, self.backoff_jitter)


@dataclass(frozen=True)
class Answer:
    """A successful answer: ``status``, ``headers`` and the parsed JSON ``data``."""

    status: int
    headers: Mapping[str, str]
    data: Any


def segment(value: Any) -> str:
    """Escape one path segment so it can never climb out of its place.

    :raises ValueError: for an empty value.
    """
    text = str(value)
    if not text:
        raise ValueError("A path segment (object type or id) cannot be empty.")
    escaped = quote(text, safe="")
    if escaped in (".", ".."):
        escaped = escaped.replace(".", "%2E")
    return escaped


#: The deadline of the attempt this thread is making (a ``time.monotonic()``
#: moment), read by :class:`_DeadlineResponse` when an answer starts arriving.
_current = threading.local()


class _DeadlineReader(io.RawIOBase):
    """A socket's reads, none waiting past ``deadline``.

    Before each ``recv`` the socket's timeout becomes the smaller of its own
    (the per-read ``timeout``) and the time left, and goes back afterwards; once
    the deadline has passed a read fails at once. The timeout raised is the one
    ``socket`` raises, so urllib3 turns it into its ``ReadTimeoutError``.
    """

    def __init__(self, sock: Any, deadline: float) -> None:
        super().__init__()
        self._sock = sock
        self._raw = sock.makefile("rb", buffering=0)
        self._deadline = deadline
        self._timeout = sock.gettimeout()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int | None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the attempt's deadline passed")
        own = self._timeout
        self._sock.settimeout(left if own is None else min(own, left))
        try:
            return self._raw.readinto(buffer)
        finally:
            try:
                self._sock.settimeout(own)  # the connection may be kept alive
            except OSError:
                pass  # closed meanwhile: the read's own error tells

    def fileno(self) -> int:
        return self._raw.fileno()

    def close(self) -> None:
        if not self.closed:
            self._raw.close()
        super().close()


class _DeadlineSocket:
    """What ``http.client.HTTPResponse`` is given instead of the socket: it only
    calls ``makefile("rb")``, and gets the deadline-bound reader."""

    def __init__(self, sock: Any, deadline: float) -> None:
        self._sock = sock
        self._deadline = deadline

    def makefile(self, mode: str = "rb", *args: Any, **kwargs: Any) -> io.BufferedReader:
        return io.BufferedReader(_DeadlineReader(self._sock, self._deadline))


class _DeadlineResponse(http.client.HTTPResponse):
    """An answer whose status line, headers and body are all read by the deadline
    of the attempt (when the thread has one: see :data:`_current`)."""

    def __init__(self, sock: Any, *args: Any, **kwargs: Any) -> None:
        deadline = getattr(_current, "deadline", None)
        if deadline is not None and math.isfinite(deadline):
            sock = _DeadlineSocket(sock, deadline)
        super().__init__(sock, *args, **kwargs)


class _HTTPConnection(HTTPConnection):
    response_class = _DeadlineResponse


class _HTTPSConnection(HTTPSConnection):
    response_class = _DeadlineResponse


class _HTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


def _positive_seconds(name: str, value: Any, default: float) -> float:
    """``value`` as seconds (``default`` for None); math.inf is allowed."""
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
        raise ConfigurationError(
            f"{name} must be a positive number of seconds (or math.inf), not {value!r}."
        )
    return float(value)


class Transport:
    """Sends JSON requests to one base URL with a bearer token.

    Safe to share across threads: the pool is urllib3's and the only mutable
    state is the shared :class:`~etlify.ratelimit.RateLimiter`.

    :param timeout: the connect timeout, and the longest any one read of the
        socket waits. It restarts with every byte received, so on its own it
        bounds nothing: a server that drips its answer keeps a read going.
    :param retries: how often and how long to retry (:class:`RetryPolicy`).
    :param pool_maxsize: connections kept open.
    :param rate_limiter: the limiter every attempt goes through, or None.
    :param sleep: waits between attempts (by default renewing the sync's lease).
    :param attempt_deadline: the most one attempt takes, from connecting (or
        sending, on a kept-alive connection) to the last byte of the answer;
        ``2 * timeout`` by default. An attempt cut off by it fails as
        :class:`AnswerLost` (the request may have been processed), retried
        like any lost answer.
    :param deadline: the most all attempts of one :meth:`request` and the waits
        between them take together; ``6 * timeout`` by default. Its clock
        starts when the rate limiter grants the first attempt (queueing for
        the first grant is not counted; for later ones it is). An attempt
        running into it is cut short there; a retry whose backoff or
        ``Retry-After`` wait would end past it is not made, and the last
        failure (a :class:`~etlify.RateLimited` for a 429) is raised instead.

    ``math.inf`` turns either deadline off. So :meth:`request` returns or
    raises at most ``deadline`` seconds after its first attempt starts; the
    only exceptions are a DNS lookup and a TLS handshake, which each read of
    ``timeout`` still bounds.
    """

    def __init__(
        self,
        access_token: str,
        base_url: str,
        *,
        timeout: float,
        retries: RetryPolicy,
        pool_maxsize: int,
        rate_limiter: RateLimiter | None = None,
        sleep: Callable[[float], Any] = lease.sleep,
        attempt_deadline: float | None = None,
        deadline: float | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.retries = retries
        self.rate_limiter = rate_limiter
        #: Seconds one attempt may take (see the class docstring).
        self.attempt_deadline = _positive_seconds(
            "attempt_deadline", attempt_deadline, ATTEMPT_DEADLINE_FACTOR * timeout
        )
        #: Seconds all attempts of a request and their waits may take.
        self.deadline = _positive_seconds("deadline", deadline, DEADLINE_FACTOR * timeout)
        self._sleep = sleep
        self._token = access_token
        self._counts_lock = threading.Lock()
        #: Requests sent and 429 answers received since this transport was made.
        self.requests_sent = 0
        self.rate_limited_answers = 0
        self._read_timeout = timeout
        self._headers = {
            "Authorization": f"Bearer {access_token}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": "etlify-python",
        }
        self._pool = urllib3.PoolManager(maxsize=pool_maxsize, retries=False)
        # Connections whose answers are read by the attempt's deadline.
        self._pool.pool_classes_by_scheme = {
            "http": _HTTPConnectionPool,
            "https": _HTTPSConnectionPool,
        }

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        replay: Replay = Replay.ALWAYS,
        kind: str = "default",
    ) -> Answer:
        """Send one request, retrying per the policy; return the answer.

        ``path`` must already be escaped (see :func:`segment`). Ends within
        the deadlines of the class docstring.

        :raises AdapterError: the right subclass for the final failure.
        """
        url = self.base_url + path + ("?" + urlencode(query) if query else "")
        data = json.dumps(body).encode() if body is not None else None
        policy = self.retries
        give_up: float | None = None  # when no attempt nor wait may still run
        last: AdapterError | None = None
        while True:
            lease.beat()
            limiter = self.rate_limiter
            ticket = limiter.acquire(kind) if limiter is not None else None
            started = time.monotonic()
            if give_up is None:
                give_up = started + self.deadline
            elif started >= give_up and last is not None:
                # Granted too late by the rate limiter: not sent.
                if ticket is not None:
                    limiter.release(ticket)
                raise last
            attempt_end = min(started + self.attempt_deadline, give_up)
            try:
                return self._attempt(method, path, url, data, limiter, ticket, attempt_end)
            except AdapterError as error:
                if (
                    replay is Replay.UNSENT
                    and isinstance(error, ApiError)
                    and error.status in RETRY_STATUSES - UNPROCESSED_STATUSES
                ):
                    # A server or gateway error on a create: HubSpot may have made
                    # the object, so the answer is lost rather than refused.
                    raise AnswerLost(
                        f"{method} {path} answered HTTP {error.status}: "
                        "the create may have been processed",
                        status=error.status,
                        correlation_id=error.correlation_id,
                        details=error.details,
                    ) from error
                delay = self._retry_delay(error, replay, policy)
                if delay is None:
                    raise
                policy = policy.increment(f"{method} {path}: {_describe(error)}")
                if policy.is_exhausted():
                    raise
                delay = max(delay, policy.get_backoff_time())
                if time.monotonic() + delay >= give_up:
                    logger.info(
                        "Not retrying %s %s after %s: waiting %.2fs would pass its %.2fs deadline",
                        method,
                        path,
                        _describe(error),
                        delay,
                        self.deadline,
                    )
                    raise
                logger.info(
                    "Retrying %s %s in %.2fs after %s (%d retries left)",
                    method,
                    path,
                    delay,
                    _describe(error),
                    policy.total,
                )
                last = error
                if isinstance(error, RateLimited) and self.rate_limiter is not None:
                    self.rate_limiter.pause(delay)  # every thread holds, not just this one
                else:
                    self._sleep(delay)

    def close(self) -> None:
        """Close the pooled connections."""
        self._pool.clear()

    def _attempt(
        self,
        method: str,
        path: str,
        url: str,
        data: bytes | None,
        limiter: RateLimiter | None,
        ticket: Any,
        deadline: float,
    ) -> Answer:
        """One attempt, over by ``deadline`` (a ``time.monotonic()`` moment)."""
        started = time.monotonic()
        left = max(deadline - started, 0.001)
        step = min(self._read_timeout, left)
        failure: TransportError | None = None
        with self._counts_lock:
            self.requests_sent += 1
        _current.deadline = deadline
        try:
            response = self._pool.request(
                method,
                url,
                body=data,
                headers=self._headers,
                timeout=urllib3.Timeout(connect=step, read=step),
                retries=False,
                redirect=False,
            )
        except HTTPError as exc:
            logger.debug(
                "%s %s failed after %.1f ms: %s",
                method,
                path,
                (time.monotonic() - started) * 1000,
                type(exc).__name__,
            )
            expired = deadline - started if time.monotonic() >= deadline else None
            failure = self._transport_error(method, path, exc, expired)
        finally:
            _current.deadline = None
            if ticket is not None:
                limiter.release(ticket)
        if failure is not None:
            # Raised here, with neither cause nor context: urllib3's exception
            # and the frames of its traceback hold the Authorization header,
            # which error trackers that capture locals would print.
            raise failure
        logger.debug(
            "%s %s -> %s in %.1f ms",
            method,
            path,
            response.status,
            (time.monotonic() - started) * 1000,
        )
        if limiter is not None:
            limiter.observe(response.headers)
        if response.status == 429:
            with self._counts_lock:
                self.rate_limited_answers += 1
        if 200 <= response.status < 300:
            return Answer(
                response.status, response.headers, self._parse_success(method, path, response)
            )
        raise error_from_response(
            method, path, response.status, response.headers, response.data, secret=self._token
        )

    def _transport_error(
        self, method: str, path: str, exc: HTTPError, expired: float | None = None
    ) -> TransportError:
        reason = _redact(str(exc), self._token)
        # A failed connect means nothing was sent; any later failure may come
        # after HubSpot received, and even processed, the request.
        cls = TransportError if isinstance(exc, (ConnectTimeoutError, SSLError)) else AnswerLost
        text = f"{method} {path} got no answer: {type(exc).__name__}: {reason}"
        if expired is not None:
            text += f" (the attempt's deadline of {expired:.2f} s passed)"
        error = cls(text, details=reason)
        error.certificate_refused = isinstance(exc, SSLError)
        # No connection could be made (refused, no such host, connect timed
        # out): the host is not there, for this record as for every other.
        error.unreachable = isinstance(exc, ConnectTimeoutError)
        return error

    @staticmethod
    def _retry_delay(error: AdapterError, replay: Replay, policy: RetryPolicy) -> float | None:
        """Seconds to wait before retrying ``error`` (on top of backoff), or None."""
        if isinstance(error, TransportError):
            if getattr(error, "certificate_refused", False):
                return None  # a certificate problem does not heal by retrying
            if isinstance(error, AnswerLost) and replay is Replay.UNSENT:
                return None
            return 0.0
        if error.status not in RETRY_STATUSES:
            return None
        if error.status == 423:
            return 2.0  # HubSpot's bulk-upsert lock: wait at least 2 s
        if isinstance(error, RateLimited):
            if error.retry_after is None or error.retry_after > policy.retry_after_max:
                return None
            return error.retry_after
        return 0.0

    def _parse_success(self, method: str, path: str, response: Any) -> Any:
        if not response.data:
            return None
        try:
            return json.loads(response.data)
        except ValueError:
            raise ApiError(
                f"{method} {path} answered HTTP {response.status} with a body that is not JSON",
                status=response.status,
                correlation_id=_header(response.headers, "X-HubSpot-Correlation-Id"),
                details=_excerpt(response.data, self._token),
            ) from None


def error_from_response(
    method: str,
    path: str,
    status: int,
    headers: Mapping[str, str],
    raw: bytes,
    *,
    secret: str = "",
) -> ApiError:
    """Translate a non-2xx answer into the matching :class:`~etlify.ApiError` subclass.

    The body is parsed defensively: HubSpot sometimes answers with HTML. The
    message names the method, the path, the status, HubSpot's category and
    correlation id, and never ``secret``.
    """
    body = _json_or_none(raw)
    details: Any = _redact(body, secret) if isinstance(body, dict) else _excerpt(raw, secret)
    fields = body if isinstance(body, dict) else {}
    category = fields.get("category") or fields.get("errorType")
    correlation_id = fields.get("correlationId") or _header(headers, "X-HubSpot-Correlation-Id")
    text = f"{method} {path} failed: HTTP {status}"
    if category:
        text += f" {category}"
    if isinstance(fields.get("message"), str):
        text += f": {fields['message']}"
    elif not isinstance(body, dict) and details:
        text += f" (not a JSON error body: {details!r})"
    if correlation_id:
        text += f" (correlation id {correlation_id})"
    text = _redact(text, secret)
    kwargs = {
        "status": status,
        "category": category,
        "correlation_id": correlation_id,
        "details": details,
    }
    if status in (401, 403):
        return Unauthorized(text, **kwargs)
    if status == 404:
        return NotFound(text, **kwargs)
    if status == 429:
        return RateLimited(text, retry_after=_retry_after(headers, fields), **kwargs)
    if status in (400, 409, 422):
        return ValidationFailed(text, **kwargs)
    return ApiError(text, **kwargs)


#: HubSpot categories of batch error entries, and the status they stand for.
_ENTRY_CATEGORIES: dict[str, tuple[type[ApiError], int]] = {
    "OBJECT_NOT_FOUND": (NotFound, 404),
    "VALIDATION_ERROR": (ValidationFailed, 400),
    "CONFLICT": (ValidationFailed, 409),
    "INVALID_AUTHENTICATION": (Unauthorized, 401),
    "EXPIRED_AUTHENTICATION": (Unauthorized, 401),
    "MISSING_SCOPES": (Unauthorized, 403),
    "RATE_LIMIT": (RateLimited, 429),
    "RATE_LIMITS": (RateLimited, 429),
}


def error_from_entry(
    method: str, path: str, entry: Mapping[str, Any], correlation_id: str | None = None
) -> ApiError:
    """Translate one ``errors[]`` entry of a 207 batch answer into an error."""
    category = entry.get("category")
    cls, status = _ENTRY_CATEGORIES.get(category, (ApiError, 207))
    text = f"{method} {path}: input rejected"
    if category:
        text += f" {category}"
    if isinstance(entry.get("message"), str):
        text += f": {entry['message']}"
    if correlation_id:
        text += f" (correlation id {correlation_id})"
    return cls(
        text, status=status, category=category, correlation_id=correlation_id, details=dict(entry)
    )


def _retry_after(headers: Mapping[str, str], body: Mapping[str, Any]) -> float | None:
    """Seconds to wait after a 429: ``Retry-After``, else HubSpot's window.

    A daily limit gives ``None``: it resets at the portal's midnight, and
    retrying before then only adds errors.
    """
    value = _header(headers, "Retry-After")
    if value is not None:
        try:
            return max(0.0, float(value))
        except ValueError:
            try:
                moment = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                moment = None
            if moment is not None:
                return max(0.0, moment.timestamp() - time.time())
    policy = body.get("policyName")
    if policy == "DAILY":
        return None
    interval = _header(headers, "X-HubSpot-RateLimit-Interval-Milliseconds")
    if interval is not None:
        try:
            return float(interval) / 1000.0
        except ValueError:
            pass
    if policy == "SECONDLY":
        return 1.0
    return 10.0  # HubSpot's TEN_SECONDLY_ROLLING window


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value is not None else headers.get(name.lower())


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _excerpt(raw: bytes, secret: str) -> str:
    text = " ".join(raw[: _EXCERPT * 4].decode("utf-8", "replace").split())
    text = _redact(text, secret)
    return text[:_EXCERPT] + ("..." if len(text) > _EXCERPT else "")


def _redact(value: Any, secret: str) -> Any:
    """``value`` with every occurrence of ``secret`` masked, through dicts and lists."""
    if not secret:
        return value
    if isinstance(value, str):
        return value.replace(secret, "[redacted]")
    if isinstance(value, dict):
        return {key: _redact(item, secret) for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item, secret) for item in value]
    return value


def _describe(error: AdapterError) -> str:
    return f"HTTP {error.status}" if error.status else type(error).__name__
