"""FakeHubSpot: a local HubSpot CRM v3 API emulator for tests and benchmarks.

It is a real HTTP server on 127.0.0.1 answering like HubSpot: objects
(contacts, companies, deals, tickets, custom ``p<portal>_<name>`` and
``2-<digits>`` types), search, batches with 207 partial results, the bearer
token check, HubSpot's rate limits with their ``X-HubSpot-RateLimit-*``
headers (by default those of a Professional private app: 190 requests per
rolling 10 s and 650,000 a day), the search per-second limit, v4 default
associations, and fault injection::

    with FakeHubSpot() as hs:
        adapter = HubspotV3Adapter(access_token=hs.token, base_url=hs.url)
        ...
        assert hs.object_count("contacts") == 1

Choices where HubSpot's behaviour is unknown or left out:

* An unknown object type answers 400 ``Unable to infer object type from: x``.
* Emails are stored lowercased and matched case-insensitively.
* A rate-limited (429) request consumes neither the window's budget nor the
  day's. A 401 (unknown token) and an injected fault count against neither and
  carry no rate-limit headers.
* The daily count belongs to the one accepted token (the portal). It counts
  every admitted request, searches included: the reference marks "search
  counts toward the daily limit" UNCONFIRMED and this follows it. It never
  resets by itself (HubSpot resets it at the portal's midnight); ``reset()``
  does, and ``daily_used`` can be set to reach the cap quickly. At the cap
  every request, searches too, answers 429 ``DAILY`` with no ``Retry-After``.
* Batch results come back in a seeded shuffled order; ``objectWriteTraceId``
  is not echoed in successful results.
* A batch input that fails validation or conflicts fails the whole batch
  (400/409) unless every input carries an ``objectWriteTraceId``; then it is
  reported in ``errors[]`` of a 207. Missing ids in batch read/update are
  always 207 ``OBJECT_NOT_FOUND`` entries.
* Injected faults (random or :meth:`FakeHubSpot.fail_next`) replace the request:
  nothing is written, unless ``fail_next(..., commit=True)``. Latency is added
  after the request has been carried out, before the answer is written.
  :meth:`FakeHubSpot.drip_next` writes answers a few bytes at a time.
* Search hides a record entirely for ``search_index_lag`` seconds after each
  write. Its ``query`` matches substrings of the type's text properties.
* ``hs_additional_emails`` is a plain property (not unique); required
  properties (e.g. a deal's ``dealstage``) are not enforced; GET list clamps
  ``limit`` to 100.

Run ``python -m etlify.testing.hubspot --port 8765`` to serve one by hand.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .api import Api, is_search
from .errors import (
    ApiError,
    rate_limited,
    unauthorized,
    validation,
    with_correlation_id,
)
from .faults import DROP, Faults, Outcome, Window, default_body
from .http import Drip, Server, encode
from .schema import canonical_type, unique_key
from .store import Store, TypeStore

__all__ = ["DAILY_LIMIT", "RATE_LIMIT", "FakeHubSpot", "RecordedRequest"]

#: The burst limit of a Professional or Enterprise private app: 190 requests
#: per rolling 10 s (was 150) [CL-LIMITS: "Increasing our API limits",
#: https://developers.hubspot.com/changelog/increasing-our-api-limits].
RATE_LIMIT = 190

#: The daily limit of a Professional private app: 650,000 requests a day per
#: account (was 500,000), from the same changelog [CL-LIMITS], read first-hand.
#: Third-party quotes of HubSpot's newer usage-guidelines page say 625,000;
#: Enterprise gets 1,000,000.
DAILY_LIMIT = 650_000


class RecordedRequest:
    """One request the emulator handled.

    ``path`` is as sent (still percent-encoded, without the query); ``query``
    maps each parameter to its value (repeated values joined with commas);
    ``body`` is the parsed JSON or None; ``status`` is None for a dropped
    connection; ``time`` is ``time.monotonic()`` on arrival; ``headers`` has
    lowercased names.
    """

    __slots__ = ("method", "path", "query", "body", "status", "time", "headers")

    def __init__(self, method, path, query, body, status, time, headers) -> None:
        self.method: str = method
        self.path: str = path
        self.query: dict[str, str] = query
        self.body: Any = body
        self.status: int | None = status
        self.time: float = time
        self.headers: dict[str, str] = headers

    def __repr__(self) -> str:
        return f"<RecordedRequest {self.method} {self.path} -> {self.status}>"


class FakeHubSpot:
    """A HubSpot CRM v3 API emulator served over HTTP on a free local port.

    By default it meters requests as HubSpot meters a Professional private
    app, and every answer that is not a search's (429s included) carries
    ``X-HubSpot-RateLimit-Max``, ``-Remaining``, ``-Interval-Milliseconds``,
    ``-Daily`` and ``-Daily-Remaining``.

    :param token: the accepted bearer token (a random ``pat-na1-...`` if None).
    :param rate_limit: requests allowed per rolling ``rate_window`` seconds
        (default 190, a Professional or Enterprise private app); over it a
        request answers 429 ``TEN_SECONDLY_ROLLING``. None: no window and no
        ``Max``/``Remaining``/``Interval-Milliseconds`` headers, for benchmarks
        and tests that send many requests and are not about rate limits.
    :param rate_window: the window's length in seconds (10, as HubSpot's).
    :param daily_limit: requests allowed per day to the token (default 650,000,
        a Professional private app); at the cap a request answers 429
        ``DAILY``. It is independent of ``rate_limit``: with
        ``rate_limit=None`` the ``Daily`` and ``Daily-Remaining`` headers are
        still sent, because a private app's daily allowance is the portal's,
        not the burst window's. None: no daily limit and no daily headers, as
        for a public (OAuth) app; pass ``rate_limit=None, daily_limit=None``
        for an emulator that sends no rate-limit header at all.
    :param search_rate_limit: search requests allowed per second; None: no limit.
    :param properties: extra property definitions, ``{object_type: {name: spec}}``
        where spec is a type name or ``{"type", "unique", "options"}``; they add
        to (or replace) the built-in defaults of contacts, companies, deals, tickets.
    :param strict_properties: False accepts any property name.
    :param latency: seconds added to each answer, or a ``(min, max)`` range.
    :param error_rate: share of requests answered 500/502/503.
    :param drop_rate: share of connections closed without an answer.
    :param burst_429_rate: share of requests answered 429 ``TEN_SECONDLY_ROLLING``.
    :param retry_after: seconds for ``Retry-After`` on 429s (None: no header);
        a ``DAILY`` 429 never carries one.
    :param search_index_lag: seconds a written object stays invisible to search.
    :param seed: random faults and result shuffling are reproducible from it.
    """

    def __init__(
        self,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate_limit: int | None = RATE_LIMIT,
        rate_window: float = 10.0,
        daily_limit: int | None = DAILY_LIMIT,
        search_rate_limit: int | None = None,
        properties: dict[str, dict[str, Any]] | None = None,
        strict_properties: bool = True,
        latency: float | tuple[float, float] = 0.0,
        error_rate: float = 0.0,
        drop_rate: float = 0.0,
        burst_429_rate: float = 0.0,
        retry_after: float | None = None,
        search_index_lag: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.token = token or f"pat-na1-{uuid.UUID(bytes=secrets.token_bytes(16))}"
        self.host, self.port = host, port
        self.retry_after = retry_after
        self._store = Store(search_lag=search_index_lag, strict=strict_properties)
        self._api = Api(self._store, shuffle_seed=seed)
        self._faults = Faults(seed, error_rate, drop_rate, burst_429_rate, latency)
        self._rate_lock = threading.Lock()
        for name, value in (("rate_limit", rate_limit), ("daily_limit", daily_limit)):
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, or None for no limit; got {value!r}.")
        self._window = Window(rate_limit, rate_window) if rate_limit else None
        self._search_window = Window(search_rate_limit, 1.0) if search_rate_limit else None
        self._daily_limit = daily_limit
        self._daily_used = 0
        self._requests: list[RecordedRequest] = []
        self._requests_lock = threading.Lock()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        for object_type, definitions in (properties or {}).items():
            for name, spec in definitions.items():
                spec = {"type": spec} if isinstance(spec, str) else dict(spec)
                self.define_property(object_type, name, **spec)

    # -- lifecycle ------------------------------------------------------------------

    def start(self) -> FakeHubSpot:
        """Start serving in a background thread; returns self."""
        if self._server is not None:
            return self
        self._server = Server((self.host, self.port), self._respond)
        self.port = self._server.server_address[1]
        self._api.base_url = self.url
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeHubSpot:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        server.close_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeHubSpot:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL to give a HubSpot client, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"<FakeHubSpot {self.url}>"

    # -- inspection and setup -------------------------------------------------------

    def objects(self, object_type: str) -> list[dict[str, Any]]:
        """Snapshot of the live objects of a type, in creation order."""
        with self._store.lock:
            types = self._types(object_type)
            return [types.records[str(i)].view() for i in types.order]

    def get(self, object_type: str, object_id: str) -> dict[str, Any] | None:
        """Snapshot of one live object, or None."""
        with self._store.lock:
            record = self._types(object_type).records.get(str(object_id))
            return record.view() if record else None

    def object_count(self, object_type: str) -> int:
        """How many live objects of a type exist."""
        with self._store.lock:
            return len(self._types(object_type).records)

    def add(self, object_type: str, properties: dict[str, Any]) -> dict[str, Any]:
        """Create an object directly, validated as a create would be; its snapshot.

        Raises ValueError where the API would answer 400 or 409.
        """
        with self._store.lock:
            types = self._types(object_type)
            try:
                values = types.values(properties)
                failure = types.conflict(values)
                if failure:
                    raise failure
            except ApiError as exc:
                raise ValueError(exc.body["message"]) from None
            return self._store.create(types, values).view()

    @property
    def requests(self) -> list[RecordedRequest]:
        """Snapshot of the requests handled so far, oldest first."""
        with self._requests_lock:
            return list(self._requests)

    def define_property(
        self,
        object_type: str,
        name: str,
        type: str = "string",
        unique: bool = False,
        options: Sequence[str] | None = None,
    ) -> None:
        """Add a property to a type's registry (``unique`` ones can be ``idProperty``)."""
        canonical = canonical_type(object_type)
        if canonical is None:
            raise ValueError(f"unknown object type {object_type!r}")
        with self._store.lock:
            self._store.schema(canonical).define(name, type, unique, options=options)
            types = self._store.types.get(canonical)
            if unique and types is not None:
                index = types.index.setdefault(name, {})
                for record in types.records.values():
                    if record.properties.get(name):
                        index[unique_key(name, record.properties[name])] = record.id

    def define_association_label(self, from_type: str, to_type: str, label: str) -> int:
        """Define a ``USER_DEFINED`` association label between two object types; its type id."""
        with self._store.lock:
            pair = self._types(from_type).name, self._types(to_type).name
            return self._store.association_types.define(*pair, label)

    def associations(self, object_type: str, object_id: str, to_type: str) -> dict[str, set]:
        """The live objects of ``to_type`` linked to one object, with the
        ``(category, type id)`` of each link: ``{to id: {(category, type id)}}``."""
        with self._store.lock:
            pair = self._types(object_type).name, self._types(to_type).name
            linked = self._store.associated(pair[0], str(object_id), pair[1])
            return {to_id: set(specs) for to_id, specs in linked}

    @property
    def daily_limit(self) -> int | None:
        """Requests the token may make per day (None: no daily limit)."""
        return self._daily_limit

    @property
    def daily_used(self) -> int:
        """Requests counted against the token's day so far (see ``daily_limit``).

        Settable, so that a test reaches the daily cap without sending every
        request: ``hs.daily_used = hs.daily_limit - 1``. :meth:`reset` sets it to 0.
        """
        with self._rate_lock:
            return self._daily_used

    @daily_used.setter
    def daily_used(self, value: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"daily_used must be an int >= 0, not {value!r}.")
        with self._rate_lock:
            self._daily_used = value

    def reset(self) -> None:
        """Forget objects, associations, requests, rate windows, the day's count
        and queued failures."""
        with self._store.lock:
            self._store.reset()
            self._api.reset()
        self._faults.reset()
        with self._rate_lock:
            for window in (self._window, self._search_window):
                if window:
                    window.reset()
            self._daily_used = 0
        with self._requests_lock:
            self._requests.clear()

    # -- faults ---------------------------------------------------------------------

    def faults(self, **settings: Any) -> None:
        """Change ``error_rate``, ``drop_rate``, ``burst_429_rate`` or ``latency`` now."""
        self._faults.configure(**settings)

    def fail_next(
        self,
        n: int = 1,
        status: int | str = 503,
        body: Any = None,
        headers: dict[str, str] | None = None,
        commit: bool = False,
    ) -> None:
        """Answer the next ``n`` requests with ``status`` (``"drop"``: close the connection).

        ``body`` is a dict (sent as JSON) or text; by default an error body fitting
        the status. With ``commit=True`` the request is still carried out and only
        its answer is lost or replaced, as when a network fails after a write.
        """
        if body is None and status != DROP:
            body = rate_limited("TEN_SECONDLY_ROLLING").body if status == 429 else None
            body = body or default_body(int(status))
        self._faults.force(Outcome(status, body, headers, commit), n)

    def drip_next(
        self,
        n: int = 1,
        interval: float = 0.5,
        status: int | None = None,
        body: Any = None,
        headers: dict[str, str] | None = None,
        step: int = 1,
        head: bool = False,
    ) -> None:
        """Answer the next ``n`` requests slowly: ``step`` bytes every ``interval`` seconds.

        The status line and headers go out at once and the body drips; with
        ``head=True`` the whole answer drips from its first byte. No read of the
        client waits longer than ``interval``, so a read timeout never fires:
        only a deadline on the whole answer ends it.

        With ``status`` None the request is carried out and its real answer
        drips. Otherwise the answer is replaced as by :meth:`fail_next`
        (``body`` and ``headers`` likewise; nothing is written).
        """
        if status == DROP:
            raise ValueError("a dropped connection has no answer to drip")
        if interval <= 0 or step < 1:
            raise ValueError("drip_next needs an interval > 0 and a step >= 1")
        if status is not None and body is None:
            body = rate_limited("TEN_SECONDLY_ROLLING").body if status == 429 else None
            body = body or default_body(int(status))
        outcome = Outcome(status, body, headers, drip=interval, drip_step=step, drip_head=head)
        self._faults.force(outcome, n)

    # -- request handling -----------------------------------------------------------

    def _types(self, object_type: str) -> TypeStore:
        try:
            return self._store.type(object_type)
        except ApiError:
            raise ValueError(f"unknown object type {object_type!r}") from None

    def _respond(self, method: str, target: str, headers: Any, raw: bytes) -> bytes | Drip | None:
        arrived = time.monotonic()
        correlation_id = str(uuid.uuid4())
        split = urlsplit(target)
        query = parse_qs(split.query, keep_blank_values=True)
        body, malformed = _parse_json(raw)
        fate, latency = self._faults.draw()
        forced = fate if isinstance(fate, Outcome) else None
        extra: dict[str, str] = {}
        if fate == DROP or (forced and forced.status == DROP and not forced.commit):
            status, payload = None, None
        elif forced and forced.status is not None and not forced.commit:
            status, payload, extra = forced.status, forced.body, dict(forced.headers)
        elif fate == "429":
            failure = rate_limited("TEN_SECONDLY_ROLLING", self.retry_after)
            status, payload, extra = failure.status, failure.body, failure.headers
        else:
            status, payload, extra = self._serve(
                method, split.path, query, headers, body, malformed, len(raw)
            )
            if forced and forced.status is not None:  # committed; the answer lost or replaced
                status, payload = (
                    (None, None) if forced.status == DROP else (forced.status, forced.body)
                )
                extra = dict(forced.headers)
        self._record(method, split.path, query, body, status, arrived, headers)
        if latency:
            time.sleep(latency)
        if status is None:
            return None
        extra["X-HubSpot-Correlation-Id"] = correlation_id
        answer = encode(status, with_correlation_id(payload, correlation_id), extra)
        if forced and forced.drip:
            start = 0 if forced.drip_head else answer.index(b"\r\n\r\n") + 4
            return Drip(answer, forced.drip, start, forced.drip_step)
        return answer

    def _serve(self, method, path, query, headers, body, malformed, body_chars):
        search = is_search(method, path)
        extra: dict[str, str] = {}
        try:
            if not self._authorized(headers.get("Authorization", "")):
                raise unauthorized()
            extra = self._admit(search)
            if malformed:
                raise validation(f"Invalid input JSON: {malformed}")
            status, payload = self._api.handle(method, path, query, body, body_chars)
        except ApiError as exc:
            status, payload = exc.status, exc.body
            extra.update(exc.headers)
        return status, payload, extra

    def _authorized(self, value: str) -> bool:
        scheme, _, credentials = value.partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(
            credentials.encode(), self.token.encode()
        )

    def _admit(self, search: bool) -> dict[str, str]:
        """Count a request against the rate limits; its rate headers, or raise the 429.

        The daily cap is checked first: no window reopening helps then. A
        rejected request counts against nothing.
        """
        now = time.monotonic()
        with self._rate_lock:
            failure: ApiError | None = None
            if self._daily_limit is not None and self._daily_used >= self._daily_limit:
                failure = rate_limited("DAILY")
            if search:
                if failure is None and self._search_window:
                    if self._search_window.admit(now) is None:
                        failure = rate_limited("SECONDLY", self.retry_after)
                if failure is None:
                    self._daily_used += 1
                    return {}
                raise failure  # search answers carry no rate-limit headers
            headers: dict[str, str] = {}
            if self._window is not None:
                if failure is not None:
                    remaining = self._window.remaining(now)
                else:
                    remaining = self._window.admit(now)
                    if remaining is None:
                        failure = rate_limited("TEN_SECONDLY_ROLLING", self.retry_after)
                headers["X-HubSpot-RateLimit-Interval-Milliseconds"] = str(
                    int(self._window.seconds * 1000)
                )
                headers["X-HubSpot-RateLimit-Max"] = str(self._window.limit)
                headers["X-HubSpot-RateLimit-Remaining"] = str(remaining or 0)
            if failure is None:
                self._daily_used += 1
            if self._daily_limit is not None:
                headers["X-HubSpot-RateLimit-Daily"] = str(self._daily_limit)
                headers["X-HubSpot-RateLimit-Daily-Remaining"] = str(
                    max(0, self._daily_limit - self._daily_used)
                )
        if failure is not None:
            failure.headers.update(headers)
            raise failure
        return headers

    def _record(self, method, path, query, body, status, arrived, headers) -> None:
        entry = RecordedRequest(
            method,
            path,
            {name: ",".join(values) for name, values in query.items()},
            body,
            status,
            arrived,
            {name.lower(): value for name, value in headers.items()},
        )
        with self._requests_lock:
            self._requests.append(entry)


def _parse_json(raw: bytes) -> tuple[Any, str | None]:
    """``(parsed, None)``, ``(None, None)`` for no body, or ``(None, reason)`` if malformed."""
    if not raw.strip():
        return None, None
    try:
        return json.loads(raw), None
    except (ValueError, UnicodeDecodeError) as exc:
        return None, str(exc)
