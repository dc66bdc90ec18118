"""Sending payloads to the CRM in as few requests as its adapter allows.

Several records with a CRM id go through ``batch_update`` (100 a request),
new ones with an ``id_property`` value through ``batch_upsert`` (a single
one too: one request that matches or creates); the rest one by one through
``upsert``. A request the CRM refuses whole is split in halves to isolate
the records it refused. An update answered "not found" (the object was
archived or merged away) is sent again as a new record. Rate limits follow
the one rule of :func:`~etlify.adapters.limited.call_adapter`. A failure that
opens the CRM's circuit breaker (:mod:`etlify.breaker`: a refused token, an
unreachable host, a rate limit too long to wait) stops all sending to it, and
so does a breaker found open.

The model's write policy (:mod:`etlify.write_policy`) cuts each payload down
to what it sends, after reading, 100 records a request, the CRM values its
``if_empty`` fields need.

A new record whose earlier create may have made its object (the answer was
lost: the row's ``create_sent_at``) and that has no unique key to upsert on
is first looked up with the adapter's ``find_created``: one match is adopted
and updated, none means create, several is an :class:`UnconfirmedCreate`.
"""

from __future__ import annotations

from typing import Any, Callable

from ..adapters.limited import call_adapter
from ..breaker import Breaker
from ..declarations import SyncConfig
from ..errors import (
    AdapterError,
    ApiError,
    CircuitOpen,
    NotFound,
    ReserveReached,
    UnconfirmedCreate,
    ValidationFailed,
)
from .item import Item

__all__ = ["Sender", "send_one"]

Answer = Any  # a CRM id (str) or the error that refused the record


class Sender:
    """Sends the items of one model to one CRM and collects the answers.

    After :meth:`send`, ``answers`` holds per resource id the CRM id or the
    error, and ``stopped`` the failure that ended sending (it opened the
    circuit ``breaker``, or found it open), if one did. ``on_sent(n)`` is
    called after each request with the number of records sent so far.
    """

    def __init__(
        self,
        config_: SyncConfig,
        adapter: Any,
        before_call: Callable[[], Any],
        breaker: Breaker,
        on_sent: Callable[[int], Any] | None = None,
    ) -> None:
        self.config = config_
        self.adapter = adapter
        self.before_call = before_call
        self.breaker = breaker
        self.on_sent = on_sent
        #: Records sent so far (each chunk counted once it is answered).
        self.sent = 0
        self.size = int(getattr(adapter, "batch_size", 100) or 100)
        self.answers: dict[str, Answer] = {}
        self.stopped: AdapterError | None = None

    def call(self, request: Callable[[], Any]) -> Any:
        """``request()``, one CRM request, under the rules every request of the run
        follows (the 429 rule, the circuit breaker, the lease)."""
        return self._call(lambda _chunk: request(), [])

    def send(self, items: list[Item]) -> None:
        """Send ``items``: updates first, then new records."""
        items = self._apply_policy(self._find_lost_creates(items))
        # One record is sent on its own: a PATCH to its object costs one
        # request too, and reads better in the CRM's logs than a batch of one.
        linked = [item for item in items if item.row.crm_id]
        can_update = getattr(self.adapter, "batch_update", None) is not None and len(linked) > 1
        linked = linked if can_update else []
        for chunk in self._chunks(linked):
            self._bisect(chunk, self._batch_update)
            self._advance(len(chunk))
        gone = [item for item in linked if isinstance(self.answers.get(item.resource_id), NotFound)]
        for item in gone:
            del self.answers[item.resource_id]
            item.row = item.row._replace(crm_id=None)
        rest = [item for item in items if not (item.row.crm_id and can_update)]
        self._send_new([*gone, *(item for item in rest if not item.row.crm_id)])
        for item in rest:
            if item.row.crm_id:
                self._upsert_one(item)
                self._advance(1)

    def _advance(self, count: int) -> None:
        self.sent += count
        if self.on_sent is not None:
            self.on_sent(self.sent)

    def _find_lost_creates(self, items: list[Item]) -> list[Item]:
        """Look up the objects earlier creates may have made; return the items to send."""
        find = getattr(self.adapter, "find_created", None)
        if find is None or self.config.upsert_key:
            return items  # an upsert on a unique key cannot make a second object
        to_send = []
        for item in items:
            since = item.row.create_sent_at
            if item.row.crm_id or since is None:
                to_send.append(item)
                continue

            def look_up(_chunk: list[Item], item: Item = item, since: Any = since) -> Any:
                return find(self.config.crm_object_type, item.payload, since)

            try:
                found = [str(crm_id) for crm_id in self._call(look_up, [item])]
            except Exception as error:
                self.answers[item.resource_id] = error
                continue
            if len(found) > 1:
                self.answers[item.resource_id] = UnconfirmedCreate(
                    f"a create sent at {since:%Y-%m-%d %H:%M:%S} got no answer, and "
                    f"{len(found)} {self.config.crm_object_type} objects created since hold "
                    f"its properties ({', '.join(found[:5])}); link the right one "
                    f"or delete the others"
                )
                continue
            if found:
                item.row = item.row._replace(crm_id=found[0])
            to_send.append(item)
        return to_send

    def _apply_policy(self, items: list[Item]) -> list[Item]:
        """Cut each payload down to what the write policy sends; return the items
        left to send. An update left with nothing to send is answered with its
        CRM id, at no cost. The CRM values ``if_empty`` needs (and, for a new
        record that may match an existing object, whether it does) are read in
        batches, 100 records a request, only for the records that need them."""
        policy = self.config.write_policy
        key = self.config.upsert_key
        if not policy.is_default:
            by_id = [i for i in items if i.row.crm_id and policy.needs_read(i.payload)]
            by_key = [
                i
                for i in items
                if not i.row.crm_id and key and i.payload.get(key) is not None
                if policy.needs_lookup(i.payload)
            ]
            found = self._read(by_id, None) | self._read(by_key, key)
            for item in items:
                if item.resource_id in self.answers:
                    continue
                exists = bool(item.row.crm_id) or item.resource_id in found
                item.payload = policy.apply(item.payload, not exists, found.get(item.resource_id))
        rest = []
        for item in items:
            if item.resource_id in self.answers:
                continue
            if item.row.crm_id and not item.payload:
                self.answers[item.resource_id] = str(item.row.crm_id)
            else:
                rest.append(item)
        return rest

    def _read(self, items: list[Item], key: str | None) -> dict[str, dict[str, Any]]:
        """``{resource_id: the CRM's values}`` of the objects of ``items`` the CRM has,
        by CRM id or (``key``) by that unique property; a failed read fails its items."""
        found: dict[str, dict[str, Any]] = {}
        names = sorted({n for i in items for n in self.config.write_policy.needs_read(i.payload)})
        for chunk in self._chunks(items):
            keyed = {
                str(item.payload[key] if key else item.row.crm_id): item.resource_id
                for item in chunk
            }

            def read(_chunk: list[Item], keyed: dict[str, str] = keyed) -> Any:
                return self.adapter.batch_read(self.config.crm_object_type, list(keyed), names, key)

            try:
                values = self._call(read, chunk)
            except Exception as error:
                self.answers.update((item.resource_id, error) for item in chunk)
                continue
            found.update((keyed[k], v) for k, v in values.items() if k in keyed)
        return found

    def _chunks(self, items: list[Item]) -> list[list[Item]]:
        return [items[start : start + self.size] for start in range(0, len(items), self.size)]

    def _send_new(self, items: list[Item]) -> None:
        id_property = self.config.upsert_key
        can_upsert = id_property and getattr(self.adapter, "batch_upsert", None) is not None
        together, one_by_one, seen = [], [], set()
        for item in items:
            key = item.payload.get(id_property) if id_property else None
            if not can_upsert or key is None or str(key) in seen:
                one_by_one.append(item)
            else:
                seen.add(str(key))
                together.append(item)
        for chunk in self._chunks(together):
            self._bisect(chunk, self._batch_upsert)
            self._advance(len(chunk))
        for item in one_by_one:
            self._upsert_one(item)
            self._advance(1)

    def _batch_upsert(self, chunk: list[Item]) -> dict[str, Answer]:
        id_property = self.config.upsert_key
        keyed = {str(item.payload[id_property]): item for item in chunk}
        result = self.adapter.batch_upsert(
            self.config.crm_object_type, [item.payload for item in chunk], id_property
        )
        return _match(keyed, result)

    def _batch_update(self, chunk: list[Item]) -> dict[str, Answer]:
        keyed = {str(item.row.crm_id): item for item in chunk}
        result = self.adapter.batch_update(
            self.config.crm_object_type, {key: item.payload for key, item in keyed.items()}
        )
        return _match(keyed, result)

    def _upsert_one(self, item: Item) -> None:
        def one(_chunk: list[Item]) -> dict[str, Answer]:
            crm_id = send_one(self.config, self.adapter, item.payload, item.row.crm_id)
            return {item.resource_id: crm_id}

        try:
            self.answers.update(self._call(one, [item]))
        except Exception as error:
            self.answers[item.resource_id] = error

    def _bisect(
        self,
        chunk: list[Item],
        call: Callable[[list[Item]], dict[str, Answer]],
        refused: ValidationFailed | None = None,
    ) -> bool:
        """Send ``chunk``; when the CRM refuses it whole, isolate the refused records.

        The chunk is split in halves. When the left half goes through, the
        right half is known to hold a refused record (``refused``, the error
        that says so), so it is split at once rather than sent whole: one
        refused record among n costs about 1.5·log2(n) extra requests. A
        record isolated that way keeps the error that refused its batch.
        Returns whether the CRM took ``chunk`` as it was sent.
        """
        if refused is None:
            try:
                self.answers.update(self._call(call, chunk))
                return True
            except ValidationFailed as error:
                refused = error
            except Exception as error:
                self.answers.update((item.resource_id, error) for item in chunk)
                return False
        if len(chunk) == 1:
            self.answers[chunk[0].resource_id] = refused
            return False
        middle = len(chunk) // 2
        left_clean = self._bisect(chunk[:middle], call)
        self._bisect(chunk[middle:], call, refused if left_clean else None)
        return False

    def _call(self, call: Callable[[list[Item]], Any], chunk: list[Item]) -> Any:
        """``call(chunk)`` under the one 429 rule and the circuit breaker; once
        sending stopped, raise what stopped it again without sending."""
        if self.stopped is not None:
            raise self.stopped
        try:
            self.breaker.check()
        except CircuitOpen as error:
            self.stopped = error
            raise
        self.before_call()
        try:
            result = call_adapter(self.adapter, call, chunk)
        except Exception as error:
            if self.breaker.failed(error) or isinstance(error, ReserveReached):
                self.stopped = error
            raise
        self.breaker.succeeded()
        return result


def _match(keyed: dict[str, Item], result: Any) -> dict[str, Answer]:
    """``{resource_id: crm id or error}`` from a batch answer keyed like ``keyed``."""
    errors = getattr(result, "errors", {}) or {}
    matched: dict[str, Answer] = {}
    for key, item in keyed.items():
        if result.get(key):
            matched[item.resource_id] = str(result[key])
        elif key in errors:
            matched[item.resource_id] = errors[key]
        else:
            matched[item.resource_id] = ApiError(
                f"the CRM's batch answer has no id for input {key!r}"
            )
    return matched


def send_one(config_: SyncConfig, adapter: Any, payload: dict[str, Any], crm_id: Any) -> str:
    """Send one payload and return the CRM id, in one request where the adapter allows.

    A new record with an ``id_property`` value goes through ``batch_upsert``
    when the adapter has it: one request that matches or creates. Anything
    else goes through ``upsert``.
    """
    id_property = config_.upsert_key
    key = payload.get(id_property) if id_property else None
    batch_upsert = getattr(adapter, "batch_upsert", None)
    if not crm_id and key is not None and batch_upsert is not None:
        result = batch_upsert(config_.crm_object_type, [payload], id_property)
        found = result.get(str(key))
        if not found:
            errors = getattr(result, "errors", {}) or {}
            if str(key) in errors:
                raise errors[str(key)]
    else:
        found = adapter.upsert(
            config_.crm_object_type, payload, id_property=id_property, crm_id=crm_id
        )
    if not found:
        raise ApiError(f"{type(adapter).__name__} returned no CRM id")
    return str(found)
