"""The HubSpot CRM v3 adapter (objects API, over urllib3).

Identity rules, which keep one record mapped to one HubSpot object:

* with a stored ``crm_id`` the object is updated by id, so a change of the
  ``id_property`` value (a new email) updates the same object;
* otherwise it is matched through ``GET .../{value}?idProperty=...``, a
  strongly consistent read. Search is never used: its index lags behind
  writes, and search-then-create makes duplicates;
* a create is never replayed blindly. When its answer is lost, the object is
  looked up by its unique key before trying again, and a 409 "already exists"
  resolves to the existing object. A create with no unique key (no
  ``id_property`` value, and not a contact with an email) is replayed only
  when HubSpot surely did not process it: a failed connect, or a 423, 429,
  477 or 503 answer.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .. import lease
from ..errors import (
    AdapterError,
    ApiError,
    ConfigurationError,
    NotFound,
    SerializerError,
    ValidationFailed,
)
from ..ratelimit import RateLimiter, as_rate_limiter
from .base import BatchResult
from .http import Answer, AnswerLost, Replay, RetryPolicy, Transport, error_from_entry, segment
from .wire import encode_properties

__all__ = ["HubspotV3Adapter", "BATCH_LIMIT"]

logger = logging.getLogger("etlify.hubspot")

#: HubSpot refuses batches of more than 100 inputs.
BATCH_LIMIT = 100

_CONTACT_TYPES = frozenset({"contacts", "contact", "0-1"})
#: Types whose creation date is ``createdate``; the others' is ``hs_createdate``.
_CREATEDATE_TYPES = frozenset(
    {"contacts", "companies", "deals", "tickets", "0-1", "0-2", "0-3", "0-5"}
)
#: Payload values a lost-create lookup compares (HubSpot allows 6 filters a group).
LOST_CREATE_FILTERS = 5
#: Matches a lost-create lookup reads: one is adopted, more are refused.
LOST_CREATE_RESULTS = 10
#: How far before a lost create its object may have been stamped by HubSpot's clock.
CLOCK_SKEW = dt.timedelta(minutes=1)
_EXISTING_ID = re.compile(r"Existing ID: *(\d+)")


class HubspotV3Adapter:
    """Create, update and archive HubSpot CRM objects.

    :param access_token: a private-app (or OAuth) access token; never logged
        nor shown in ``repr`` or error messages.
    :param base_url: HubSpot's API root, or an emulator's.
    :param timeout: the connect timeout, and the longest wait for any one read
        of the socket, in seconds. It restarts with every byte received: the
        two deadlines below bound a request.
    :param retries: a :class:`~etlify.adapters.http.RetryPolicy`, or the number
        of retries with the default backoff.
    :param pool_maxsize: connections kept open; size it to the worker threads.
    :param rate_limit: a :class:`~etlify.ratelimit.RateLimiter` or a dict such as
        ``{"max_requests": 100, "period": 10.0}``, shared by every thread
        using this adapter.
    :param attempt_deadline: the most one attempt of a request takes, its
        answer read to the end; ``2 * timeout`` by default. Past it the attempt
        fails as a lost answer (:class:`~etlify.adapters.http.AnswerLost`).
    :param deadline: the most all attempts of one request and the waits
        between them take, counted from the first attempt; ``6 * timeout`` by
        default. A retry (or ``Retry-After`` wait) that would end past it is
        not made: the last error is raised. ``math.inf`` turns either off; see
        :class:`~etlify.adapters.http.Transport`.

    One instance is safe to share across threads.
    """

    #: The transport waits out short 429s itself; a 429 it raises is final.
    retries_rate_limits = True

    def __init__(
        self,
        access_token: str,
        base_url: str = "https://api.hubapi.com",
        timeout: float = 10.0,
        retries: RetryPolicy | int = 5,
        pool_maxsize: int = 10,
        rate_limit: RateLimiter | Mapping[str, Any] | None = None,
        attempt_deadline: float | None = None,
        deadline: float | None = None,
    ) -> None:
        if not isinstance(access_token, str) or not access_token.strip():
            raise ConfigurationError("HubspotV3Adapter needs a non-empty access_token string.")
        if not re.fullmatch(r"[!-~]+", access_token.strip()):
            # Said without the token: an HTTP header cannot carry it, and the
            # error the HTTP client would raise later repeats the header whole.
            raise ConfigurationError(
                "HubspotV3Adapter: the access_token holds a space, a control or a "
                "non-ASCII character, which an Authorization header cannot carry."
            )
        if not base_url.startswith(("https://", "http://")):
            raise ConfigurationError(f"base_url must be an http(s) URL, not {base_url!r}.")
        try:
            policy = RetryPolicy.from_value(retries)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self._transport = Transport(
            access_token.strip(),
            base_url,
            timeout=timeout,
            retries=policy,
            pool_maxsize=pool_maxsize,
            rate_limiter=as_rate_limiter(rate_limit),
            attempt_deadline=attempt_deadline,
            deadline=deadline,
        )
        self._labels: dict[tuple[str, str], dict[str, tuple[str, int]]] = {}
        self._labels_lock = threading.Lock()

    @property
    def rate_limiter(self) -> RateLimiter | None:
        """The limiter every request goes through; settable (a dict is built)."""
        return self._transport.rate_limiter

    @rate_limiter.setter
    def rate_limiter(self, value: RateLimiter | Mapping[str, Any] | None) -> None:
        self._transport.rate_limiter = as_rate_limiter(value)

    @property
    def base_url(self) -> str:
        """The API root requests go to."""
        return self._transport.base_url

    def upsert(
        self,
        object_type: str,
        payload: Mapping[str, Any],
        id_property: str | None = None,
        crm_id: str | None = None,
    ) -> str:
        """Create or update one object and return its HubSpot id.

        With ``crm_id``, PATCH that object; if HubSpot no longer has it (404),
        fall through to matching on ``id_property`` or creating. With an
        ``id_property`` whose value is in the payload, update the object
        holding that value, else create one.

        :raises SerializerError: a payload value has no HubSpot form.
        :raises AdapterError: the subclass matching HubSpot's answer.
        """
        base = _objects_path(object_type)
        properties = self._properties(object_type, payload)
        if crm_id:
            try:
                return self._update(base, str(crm_id), properties)
            except NotFound:
                logger.info(
                    "%s %s is gone from HubSpot; matching or creating it again", object_type, crm_id
                )
        key_value = properties.get(id_property, "") if id_property else ""
        if id_property and key_value:
            found = self._find(base, id_property, key_value)
            if found is not None:
                return self._update(base, found, properties)
        return self._create(
            base, properties, *self._unique_key(object_type, properties, id_property)
        )

    def delete(self, object_type: str, crm_id: str) -> bool:
        """Archive one object; ``False`` when HubSpot did not have it."""
        path = f"{_objects_path(object_type)}/{segment(crm_id)}"
        try:
            self._transport.request("DELETE", path)
        except NotFound:
            return False
        return True

    def match_key(self, object_type: str, id_property: str, value: Any) -> str:
        """``value`` of ``id_property`` as HubSpot compares it when it matches an upsert.

        Emails are compared lowercased and trimmed (``" Ada@X.com"`` is the
        contact of ``"ada@x.com"``); other unique properties exactly.
        """
        return _match_key(id_property, str(value))

    def batch_upsert(
        self, object_type: str, records: Iterable[Mapping[str, Any]], id_property: str
    ) -> BatchResult:
        """Upsert many payloads matched on ``id_property``, 100 per request.

        Returns a :class:`~etlify.adapters.base.BatchResult` keyed by
        ``str(payload[id_property])`` exactly as given (``"A@X.com"`` stays
        ``"A@X.com"`` though HubSpot stores ``"a@x.com"``). Inputs HubSpot
        rejected (a 207) are in ``.errors`` with their own error. Payloads that
        were not sent are there too: a :class:`~etlify.SerializerError` for a
        value with no HubSpot form, a :class:`~etlify.ValidationFailed` when
        the ``id_property`` value is missing (keyed ``"None"`` or ``""``).

        :raises AdapterError: a whole request failed (e.g. ``ValidationFailed``
            for a 400), so that the caller can split the batch.
        """
        if not id_property:
            raise ConfigurationError("batch_upsert needs an id_property to match records on.")
        path = f"{_objects_path(object_type)}/batch/upsert"
        result = BatchResult()
        inputs: dict[str, dict[str, Any]] = {}
        owners: dict[str, list[str]] = {}
        for payload in records:
            key = str(payload.get(id_property))
            try:
                properties = self._properties(object_type, payload)
            except SerializerError as error:
                result.errors[key] = error
                continue
            value = properties.get(id_property, "")
            if not value:
                result.errors[key] = ValidationFailed(
                    f"POST {path}: the payload has no {id_property} value; it was not sent"
                )
                continue
            match = _match_key(id_property, value)
            inputs[match] = {"idProperty": id_property, "id": value, "properties": properties}
            owners.setdefault(match, []).append(key)

        def match_of(value: Any) -> str:
            return _match_key(id_property, str(value))

        def result_key(item: Mapping[str, Any]) -> Any:
            return (item.get("properties") or {}).get(id_property)

        for chunk in _chunks(list(inputs), BATCH_LIMIT):
            answer = self._transport.request("POST", path, body=_traced(inputs, chunk))
            _collect(path, answer, chunk, owners, result, result_key, match_of)
        return result

    def batch_update(
        self, object_type: str, updates: Mapping[str, Mapping[str, Any]]
    ) -> BatchResult:
        """Update many objects by HubSpot id, 100 per request.

        Returns a :class:`~etlify.adapters.base.BatchResult` keyed by the given
        ids (as ``str``); an id HubSpot does not have is in ``.errors`` as
        :class:`~etlify.NotFound`.

        :raises AdapterError: a whole request failed.
        """
        path = f"{_objects_path(object_type)}/batch/update"
        result = BatchResult()
        inputs: dict[str, dict[str, Any]] = {}
        for crm_id, payload in updates.items():
            key = str(crm_id)
            try:
                inputs[key] = {"id": key, "properties": self._properties(object_type, payload)}
            except SerializerError as error:
                result.errors[key] = error
        owners = {key: [key] for key in inputs}
        for chunk in _chunks(list(inputs), BATCH_LIMIT):
            answer = self._transport.request("POST", path, body=_traced(inputs, chunk))
            _collect(path, answer, chunk, owners, result, lambda item: item.get("id"), str)
        return result

    def batch_delete(self, object_type: str, crm_ids: Iterable[str]) -> None:
        """Archive many objects by HubSpot id, 100 per request."""
        path = f"{_objects_path(object_type)}/batch/archive"
        ids = list(dict.fromkeys(str(crm_id) for crm_id in crm_ids))
        for chunk in _chunks(ids, BATCH_LIMIT):
            self._transport.request("POST", path, body={"inputs": [{"id": i} for i in chunk]})

    def batch_read(
        self,
        object_type: str,
        keys: Iterable[str],
        properties: Iterable[str],
        id_property: str | None = None,
    ) -> dict[str, dict[str, str | None]]:
        """Read ``properties`` of many objects, by HubSpot id or by ``id_property``, 100
        per request: ``{key as given: {property: value, None when empty}}``.

        Objects HubSpot does not have are absent.
        """
        path = f"{_objects_path(object_type)}/batch/read"
        names = sorted({*properties, *([id_property] if id_property else [])})
        owners: dict[str, list[str]] = {}
        for key in keys:
            match = _match_key(id_property, str(key)) if id_property else str(key)
            owners.setdefault(match, []).append(str(key))
        found: dict[str, dict[str, str | None]] = {}
        for chunk in _chunks(list(owners), BATCH_LIMIT):
            body: dict[str, Any] = {"properties": names, "inputs": [{"id": m} for m in chunk]}
            if id_property:
                body["idProperty"] = id_property
            answer = self._transport.request("POST", path, body=body)
            data = answer.data if isinstance(answer.data, dict) else {}
            for item in data.get("results") or ():
                values = item.get("properties") if isinstance(item, dict) else None
                if not isinstance(values, dict):
                    continue
                raw = values.get(id_property) if id_property else item.get("id")
                match = None if raw is None else _match_key(id_property or "", str(raw))
                for key in owners.get(match, ()):
                    found[key] = {name: values.get(name) or None for name in names}
        return found

    def association_type(self, from_type: str, to_type: str, label: str) -> tuple[str, int]:
        """``(category, type id)`` of the association label named ``label`` between
        two object types, read once from HubSpot's labels endpoint.

        :raises ConfigurationError: HubSpot has no label of that name.
        """
        pair = (from_type, to_type)
        with self._labels_lock:
            if pair not in self._labels:
                path = f"/crm/v4/associations/{segment(from_type)}/{segment(to_type)}/labels"
                answer = self._transport.request("GET", path)
                data = answer.data if isinstance(answer.data, dict) else {}
                self._labels[pair] = {
                    str(item.get("label")): (str(item["category"]), int(item["typeId"]))
                    for item in data.get("results") or ()
                    if isinstance(item, dict) and item.get("label") and "typeId" in item
                }
            known = self._labels[pair]
        if label not in known:
            raise ConfigurationError(
                f"HubSpot has no association label {label!r} from {from_type} to {to_type} "
                f"(labels: {', '.join(sorted(known)) or 'none'})"
            )
        return known[label]

    def batch_associate(
        self,
        from_type: str,
        to_type: str,
        pairs: Iterable[tuple[str, str]],
        association_type: tuple[str, int] | None = None,
    ) -> dict[tuple[str, str], AdapterError]:
        """Link objects of ``from_type`` to objects of ``to_type``, 100 pairs per request.

        ``pairs`` are ``(from id, to id)``; ``association_type`` is a
        ``(category, type id)``, or ``None`` for HubSpot's default type of
        the pair. Returns the pairs HubSpot refused, with its error (a 207);
        the others are linked.

        :raises AdapterError: a whole request failed.
        """
        base = f"/crm/v4/associations/{segment(from_type)}/{segment(to_type)}/batch"
        refused: dict[tuple[str, str], AdapterError] = {}
        for chunk in _chunks(_pairs(pairs), BATCH_LIMIT):
            inputs = [{"from": {"id": f}, "to": {"id": t}} for f, t in chunk]
            if association_type is None:
                path = f"{base}/associate/default"
            else:
                path = f"{base}/create"
                inputs = [dict(entry, types=[_spec(association_type)]) for entry in inputs]
            answer = self._transport.request("POST", path, body={"inputs": inputs})
            refused.update(_refused_links(path, answer, chunk))
        return refused

    def batch_dissociate(
        self,
        from_type: str,
        to_type: str,
        pairs: Iterable[tuple[str, str]],
        association_type: tuple[str, int] | None = None,
    ) -> dict[tuple[str, str], AdapterError]:
        """Remove links, 100 pairs per request: every link between each pair
        (``association_type`` ``None``), or only the links of that labelled type.

        Returns the pairs HubSpot refused (none: archiving answers 204).
        """
        base = f"/crm/v4/associations/{segment(from_type)}/{segment(to_type)}/batch"
        for chunk in _chunks(_pairs(pairs), BATCH_LIMIT):
            if association_type is None:
                inputs: list[dict[str, Any]] = [
                    {"from": {"id": f}, "to": [{"id": t}]} for f, t in chunk
                ]
                self._transport.request("POST", f"{base}/archive", body={"inputs": inputs})
                continue
            spec = _spec(association_type)
            inputs = [{"from": {"id": f}, "to": {"id": t}, "types": [spec]} for f, t in chunk]
            self._transport.request("POST", f"{base}/labels/archive", body={"inputs": inputs})
        return {}

    def find_created(
        self, object_type: str, payload: Mapping[str, Any], since: dt.datetime
    ) -> list[str]:
        """The ids of objects created at or after ``since`` (naive UTC, less a minute
        for clock skew) whose properties equal ``payload``'s, for a create whose
        answer was lost.

        One search request. It compares up to :data:`LOST_CREATE_FILTERS` of
        the payload's non-empty values (by name, shortest first) and returns at
        most :data:`LOST_CREATE_RESULTS` ids. HubSpot's search is eventually
        consistent: an object created in the last seconds may not show yet.
        """
        base = _objects_path(object_type)
        properties = self._properties(object_type, payload)
        compared = sorted(
            (name for name, value in properties.items() if 0 < len(value) <= 200),
            key=lambda name: (len(properties[name]), name),
        )[:LOST_CREATE_FILTERS]
        moment = since.replace(tzinfo=dt.timezone.utc) - CLOCK_SKEW
        filters = [
            {"propertyName": name, "operator": "EQ", "value": properties[name]} for name in compared
        ]
        filters.append(
            {
                "propertyName": _created_property(object_type),
                "operator": "GTE",
                "value": str(int(moment.timestamp() * 1000)),
            }
        )
        body = {"filterGroups": [{"filters": filters}], "limit": LOST_CREATE_RESULTS}
        answer = self._transport.request("POST", f"{base}/search", body=body, kind="search")
        data = answer.data if isinstance(answer.data, dict) else {}
        results = data.get("results")
        if not isinstance(results, list):
            raise ApiError(f"POST {base}/search: the answer has no results list")
        return [str(item["id"]) for item in results if isinstance(item, dict) and item.get("id")]

    def request_counts(self) -> tuple[int, int]:
        """``(requests sent, 429 answers received)`` since the adapter was made.

        Every attempt counts, retries included.
        """
        return self._transport.requests_sent, self._transport.rate_limited_answers

    def close(self) -> None:
        """Close the pooled connections (the adapter stays usable)."""
        self._transport.close()

    def __repr__(self) -> str:
        return f"HubspotV3Adapter(base_url={self.base_url!r})"

    # -- single-object steps ---------------------------------------------------

    def _properties(self, object_type: str, payload: Mapping[str, Any]) -> dict[str, str]:
        properties = encode_properties(payload)
        if object_type in _CONTACT_TYPES and properties.get("email"):
            # HubSpot stores contact emails trimmed and lowercased.
            properties["email"] = properties["email"].strip().lower()
        return properties

    @staticmethod
    def _unique_key(
        object_type: str, properties: Mapping[str, str], id_property: str | None
    ) -> tuple[str | None, str]:
        """The unique property and value that identify a new object, if any."""
        if id_property and properties.get(id_property):
            return id_property, properties[id_property]
        if object_type in _CONTACT_TYPES and properties.get("email"):
            return "email", properties["email"]
        return None, ""

    def _find(self, base: str, id_property: str, value: str) -> str | None:
        path = f"{base}/{segment(value)}"
        try:
            answer = self._transport.request("GET", path, query={"idProperty": id_property})
        except NotFound:
            return None
        return _id_of(answer.data, "GET", path)

    def _update(self, base: str, crm_id: str, properties: dict[str, str]) -> str:
        path = f"{base}/{segment(crm_id)}"
        answer = self._transport.request("PATCH", path, body={"properties": properties})
        return _id_of(answer.data, "PATCH", path)

    def _create(
        self, base: str, properties: dict[str, str], key_property: str | None, key_value: str
    ) -> str:
        policy = self._transport.retries
        while True:
            try:
                answer = self._transport.request(
                    "POST", base, body={"properties": properties}, replay=Replay.UNSENT
                )
                return _id_of(answer.data, "POST", base)
            except ValidationFailed as error:
                existing = self._existing(error, base, key_property, key_value)
                if existing is None:
                    raise
                logger.info("POST %s: the object already exists as %s; updating it", base, existing)
                return self._update(base, existing, properties)
            except AnswerLost as error:
                if key_property is None:
                    raise  # no unique key: a replay could make a second object
                found = self._find(base, key_property, key_value)
                if found is not None:
                    return self._update(base, found, properties)
                policy = policy.increment(f"POST {base}: answer lost")
                if policy.is_exhausted():
                    raise error from None
                logger.info("POST %s: answer lost and no object found; creating again", base)
                lease.sleep(policy.get_backoff_time())

    def _existing(
        self, error: ValidationFailed, base: str, key_property: str | None, key_value: str
    ) -> str | None:
        """The id of the object a 409 on create collided with, if it says."""
        if error.status != 409:
            return None
        details = error.details if isinstance(error.details, dict) else {}
        found = _EXISTING_ID.search(str(details.get("message", "")))
        if found:
            return found.group(1)
        return self._find(base, key_property, key_value) if key_property else None


def _created_property(object_type: str) -> str:
    return "createdate" if object_type in _CREATEDATE_TYPES else "hs_createdate"


def _collect(
    path: str,
    answer: Answer,
    chunk: list[str],
    owners: Mapping[str, list[str]],
    result: BatchResult,
    result_key: Callable[[Mapping[str, Any]], Any],
    match_of: Callable[[Any], str],
) -> None:
    """Map one batch answer back to the inputs of ``chunk``: by key, never by position.

    ``chunk`` holds match keys; ``owners`` maps each to the caller's keys;
    ``result_key`` reads the key of a result item and ``match_of`` turns a key
    as HubSpot writes it into a match key. An input left without a result or
    an error gets an error: nothing vanishes.
    """
    data = answer.data if isinstance(answer.data, dict) else {}
    pending = set(chunk)
    for item in data.get("results") or ():
        raw = result_key(item) if isinstance(item, dict) else None
        match = match_of(raw) if raw is not None else None
        if match not in pending:
            continue
        pending.discard(match)
        crm_id = item.get("id")
        for key in owners[match]:
            if crm_id:
                result[key] = str(crm_id)
            else:
                result.errors[key] = ApiError(
                    f"POST {path}: HubSpot's answer without an id",
                    status=answer.status,
                    details=item,
                )
    correlation_id = answer.headers.get("X-HubSpot-Correlation-Id")
    unattributed: AdapterError | None = None
    for entry in data.get("errors") or ():
        if not isinstance(entry, dict):
            continue
        error = error_from_entry("POST", path, entry, correlation_id)
        context = entry.get("context") if isinstance(entry.get("context"), dict) else {}
        named = {match_of(value) for value in context.get("ids") or ()}
        for trace in context.get("objectWriteTraceId") or ():
            if str(trace).isdigit() and int(trace) < len(chunk):
                named.add(chunk[int(trace)])
        hits = [match for match in chunk if match in pending and match in named]
        if not hits:
            unattributed = error
        for match in hits:
            pending.discard(match)
            for key in owners[match]:
                result.errors[key] = error
    for match in pending:
        error = unattributed or ApiError(
            f"POST {path}: HubSpot's answer has no result for this input",
            status=answer.status,
            correlation_id=correlation_id,
        )
        for key in owners[match]:
            result.errors[key] = error


def _spec(association_type: tuple[str, int]) -> dict[str, Any]:
    category, type_id = association_type
    return {"associationCategory": category, "associationTypeId": type_id}


def _pairs(pairs: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys((str(f), str(t)) for f, t in pairs))


def _refused_links(
    path: str, answer: Answer, chunk: list[tuple[str, str]]
) -> dict[tuple[str, str], AdapterError]:
    """The pairs of ``chunk`` a v4 batch answer did not link, each with its error.

    A pair is linked when a result names it (``fromObjectId``/``toObjectId``,
    or a default link's ``from``/``to``); a 207 error names the ids it
    refused in its ``context``.
    """
    data = answer.data if isinstance(answer.data, dict) else {}
    linked = set()
    for item in data.get("results") or ():
        if not isinstance(item, dict):
            continue
        if "fromObjectId" in item:
            linked.add((str(item.get("fromObjectId")), str(item.get("toObjectId"))))
        else:
            ends = (item.get("from") or {}, item.get("to") or {})
            linked.add(tuple(str(end.get("id")) for end in ends))
    pending = [pair for pair in chunk if pair not in linked]
    if not pending:
        return {}
    correlation_id = answer.headers.get("X-HubSpot-Correlation-Id")
    refused: dict[tuple[str, str], AdapterError] = {}
    unattributed: AdapterError | None = None
    for entry in data.get("errors") or ():
        if not isinstance(entry, dict):
            continue
        error = error_from_entry("POST", path, entry, correlation_id)
        context = entry.get("context") if isinstance(entry.get("context"), dict) else {}
        sides = {
            0: {str(i) for i in context.get("fromObjectId") or ()} | set(context.get("ids") or ()),
            1: {str(i) for i in context.get("toObjectId") or ()},
        }
        hits = [p for p in pending if p[0] in sides[0] or p[1] in sides[1]]
        if not hits:
            unattributed = error
        refused.update((pair, error) for pair in hits if pair not in refused)
    for pair in pending:
        refused.setdefault(
            pair,
            unattributed
            or ApiError(
                f"POST {path}: HubSpot's answer does not confirm the link {pair[0]} -> {pair[1]}",
                status=answer.status,
                correlation_id=correlation_id,
            ),
        )
    return refused


def _traced(inputs: Mapping[str, dict[str, Any]], chunk: list[str]) -> dict[str, Any]:
    """The request body for ``chunk``, each input labelled by its place in the chunk.

    With every input labelled, HubSpot rejects bad inputs one by one (a 207)
    instead of failing the whole batch, and names the label in each error.
    """
    return {
        "inputs": [
            dict(inputs[match], objectWriteTraceId=str(place)) for place, match in enumerate(chunk)
        ]
    }


def _objects_path(object_type: str) -> str:
    return f"/crm/v3/objects/{segment(object_type)}"


def _match_key(id_property: str, value: str) -> str:
    """How HubSpot compares ``id_property`` values: emails lowercased and trimmed."""
    return value.strip().lower() if id_property == "email" else value


def _id_of(data: Any, method: str, path: str) -> str:
    crm_id = data.get("id") if isinstance(data, dict) else None
    if crm_id is None or str(crm_id) == "":
        raise ApiError(f"{method} {path}: HubSpot's answer without an id", details=data)
    return str(crm_id)


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
