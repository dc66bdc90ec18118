"""Syncing one record inline: every outcome and what it leaves in the sync row."""

from __future__ import annotations

import datetime as dt
import time

import peewee
import pytest

import etlify
from etlify import Status
from etlify.errors import (
    RateLimited,
    TransportError,
    Unauthorized,
    ValidationFailed,
    error_kind,
)
from etlify.testing import InMemoryAdapter

from ..conftest import make_app


def test_a_new_record_is_created_in_the_crm_and_its_state_stored(app, adapter, user):
    assert user.sync(async_=False) == Status.SYNCED

    row = user.crm_synchronisation("hubspot")
    [(crm_id, properties)] = adapter.objects["contacts"].items()
    assert properties == {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}
    assert row.crm_id == crm_id
    assert row.last_digest == etlify.digest.stable_sha256(user.build_crm_payload("hubspot"))
    assert row.last_synced_at is not None
    assert (row.error_count, row.last_error, row.last_error_kind) == (0, None, None)


def test_the_upsert_is_sent_with_the_id_property(app, adapter, user):
    class Recording(InMemoryAdapter):
        batch_upsert = None  # no batch endpoint: the single upsert is used

        def upsert(self, object_type, payload, id_property=None, crm_id=None):
            self.seen = (object_type, id_property, crm_id)
            return super().upsert(object_type, payload, id_property=id_property, crm_id=crm_id)

    recording = Recording()
    etlify.register("hubspot", adapter=recording)

    user.sync(async_=False)

    assert recording.seen == ("contacts", "email", None)


def test_a_new_record_with_an_id_property_is_sent_as_a_batch_upsert_of_one(app, adapter, user):
    user.sync(async_=False)

    assert [(method, kind) for method, kind, _ in adapter.calls] == [("batch_upsert", "contacts")]


def test_a_changed_record_is_updated_with_its_stored_crm_id(app, adapter, user):
    user.sync(async_=False)
    crm_id = user.crm_synchronisation("hubspot").crm_id
    user.email = "ada@lovelace.org"
    user.save()

    assert user.sync(async_=False) == Status.SYNCED

    assert adapter.count("contacts") == 1
    assert adapter.objects["contacts"][crm_id]["email"] == "ada@lovelace.org"
    assert user.crm_synchronisation("hubspot").crm_id == crm_id


def test_unchanged_payload_is_not_modified_without_adapter_call(app, adapter, user):
    user.sync(async_=False)
    calls = len(adapter.calls)

    assert user.sync(async_=False) == Status.NOT_MODIFIED

    assert len(adapter.calls) == calls


def test_not_modified_refreshes_last_synced_at(app, user):
    user.sync(async_=False)
    first = user.crm_synchronisation("hubspot").last_synced_at
    time.sleep(0.002)

    user.sync(async_=False)

    assert user.crm_synchronisation("hubspot").last_synced_at > first


def test_sync_if_false_is_skipped_without_adapter_call(app, adapter):
    app.User.etlified_with(
        "hubspot",
        serializer=app.UserSerializer,
        crm_object_type="contacts",
        sync_if=lambda user: bool(user.email),
        replace=True,
    )
    user = app.User.create(email=None)

    assert user.sync(async_=False) == Status.SKIPPED

    assert adapter.calls == []
    assert user.crm_synchronisation("hubspot").crm_id is None


def test_a_disabled_crm_returns_disabled_and_writes_no_state(app, adapter, user):
    etlify.register("hubspot", adapter=adapter, enabled=False)

    assert user.sync(async_=False) == Status.DISABLED

    assert adapter.calls == []
    assert etlify.CrmSynchronisation.select().count() == 0


def test_the_record_is_read_afresh_from_the_database(app, adapter, user):
    app.User.update(email="fresh@example.com").where(app.User.id == user.id).execute()

    user.sync(async_=False)

    assert list(adapter.objects["contacts"].values())[0]["email"] == "fresh@example.com"


def test_a_record_deleted_from_the_database_is_a_noop(app, adapter, user):
    app.User.delete_by_id(user.id)

    assert user.sync(async_=False) == Status.NOOP
    assert adapter.calls == []


def test_an_adapter_failure_is_an_error_recorded_on_the_row(app, adapter, user):
    adapter.fail_next(ValidationFailed("email is invalid", status=400))

    assert user.sync(async_=False) == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert row.last_error == "ValidationFailed: email is invalid"
    assert row.last_error_kind == "validation"
    assert row.error_count == 1
    assert row.crm_id is None and row.last_digest is None


def test_an_unexpected_exception_from_the_adapter_does_not_escape_inline_sync(app, adapter, user):
    adapter.fail_next(RuntimeError("socket exploded"))

    assert user.sync(async_=False) == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert row.last_error == "RuntimeError: socket exploded"
    assert row.error_count == 1


def test_a_serializer_exception_does_not_escape_inline_sync(app, adapter):
    class Exploding(etlify.BaseSerializer):
        def as_crm_payload(self):
            raise KeyError("firstname")

    app.User.etlified_with(
        "hubspot", serializer=Exploding, crm_object_type="contacts", replace=True,
    )
    user = app.User.create(email="a@example.com")

    assert user.sync(async_=False) == Status.ERROR
    assert user.crm_synchronisation("hubspot").last_error_kind == "serializer"


def test_a_sync_if_that_raises_is_a_recorded_error(app, adapter):
    def broken(user):
        raise ZeroDivisionError("boom")

    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="contacts", sync_if=broken,
        replace=True,
    )
    user = app.User.create(email="a@example.com")

    assert user.sync(async_=False) == Status.ERROR
    assert "ZeroDivisionError" in user.crm_synchronisation("hubspot").last_error


def test_every_failure_of_a_record_spends_one_unit_of_its_budget(app, adapter, user):
    adapter.fail_next(ValidationFailed("bad"), times=3)

    for _ in range(3):
        assert user.sync(async_=False) == Status.ERROR

    assert user.crm_synchronisation("hubspot").error_count == 3


@pytest.mark.parametrize(
    "error, kind",
    [
        (RateLimited("daily limit", status=429, retry_after=None), "rate_limited"),
        (TransportError("connection reset"), "transient"),
        (etlify.ApiError("bad gateway", status=502), "transient"),
        (Unauthorized("expired token", status=401), "auth"),
    ],
)
def test_failures_that_are_not_the_records_fault_do_not_spend_its_budget(
    app, adapter, user, error, kind
):
    adapter.fail_next(error)

    assert user.sync(async_=False) == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert error_kind(error) == kind
    assert row.last_error_kind == kind
    assert row.error_count == 0
    assert row.last_error is not None


def test_a_successful_sync_clears_the_error_bookkeeping(app, adapter, user):
    adapter.fail_next(ValidationFailed("bad"))
    user.sync(async_=False)

    assert user.sync(async_=False) == Status.SYNCED

    row = user.crm_synchronisation("hubspot")
    assert (row.error_count, row.last_error, row.last_error_kind) == (0, None, None)


def test_last_error_never_holds_the_adapters_access_token(app, user):
    class TokenAdapter(InMemoryAdapter):
        access_token = "pat-na1-secret-0000"
        batch_upsert = None

        def upsert(self, *args, **kwargs):
            raise RuntimeError(f"request with Authorization: Bearer {self.access_token} failed")

    etlify.register("hubspot", adapter=TokenAdapter())

    assert user.sync(async_=False) == Status.ERROR

    last_error = user.crm_synchronisation("hubspot").last_error
    assert "pat-na1-secret-0000" not in last_error
    assert "failed" in last_error


def test_an_adapter_returning_no_crm_id_is_an_error(app, user):
    class Blank(InMemoryAdapter):
        batch_upsert = None

        def upsert(self, *args, **kwargs):
            return ""

    etlify.register("hubspot", adapter=Blank())

    assert user.sync(async_=False) == Status.ERROR
    assert "no CRM id" in user.crm_synchronisation("hubspot").last_error


def test_an_unknown_crm_raises_instead_of_returning_error(app, user):
    with pytest.raises(etlify.ConfigurationError):
        user.sync("nowhere", async_=False)


class SteppingClock:
    """Etlify's clock, moving 1 ms per reading, well inside one second."""

    def __init__(self) -> None:
        self.now = dt.datetime(2030, 1, 2, 3, 4, 5)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(milliseconds=1)
        return self.now


def test_last_synced_at_is_when_the_payload_was_read_not_when_the_crm_answered(any_database):

    class EditingAdapter(InMemoryAdapter):
        """Someone edits the record while its upsert is in flight."""

        batch_upsert = None

        def upsert(self, object_type, payload, id_property=None, crm_id=None):
            app.User.update(first_name="Edited", updated_at=etlify.config.now()).execute()
            return super().upsert(object_type, payload, id_property=id_property, crm_id=crm_id)

    etlify.configure(now=SteppingClock())
    app = make_app(any_database, EditingAdapter())
    user = app.User.create(email="ada@example.com", updated_at=dt.datetime(2000, 1, 1))

    assert user.sync(async_=False) == Status.SYNCED

    row = user.crm_synchronisation("hubspot")
    assert app.User.get_by_id(user.id).updated_at > row.last_synced_at


def test_a_string_primary_key_syncs(app, adapter):
    class TagSerializer(etlify.BaseSerializer):
        def as_crm_payload(self):
            return {"code": self.record.code, "label": self.record.label}

    app.Tagged.etlified_with("hubspot", serializer=TagSerializer, crm_object_type="tags")
    tagged = app.Tagged.create(code="tag-ä/1", label="Blue")

    assert tagged.sync(async_=False) == Status.SYNCED
    assert tagged.sync(async_=False) == Status.NOT_MODIFIED
    assert tagged.crm_synchronisation("hubspot").resource_id == "tag-ä/1"


def test_an_unsaved_record_cannot_be_synced(app):
    with pytest.raises(ValueError, match="no primary key"):
        app.User(email="a@example.com").sync(async_=False)


def test_status_is_a_str_enum_comparing_equal_to_its_value():
    assert Status.SYNCED == "synced"
    assert str(Status.NOT_MODIFIED) == "not_modified"
    assert {status.value for status in Status} == {
        "synced",
        "not_modified",
        "skipped",
        "buffered",
        "error",
        "disabled",
        "deleted",
        "noop",
        "busy",
    }


def test_two_records_matching_one_crm_object_leave_the_second_in_error(app):
    first = app.User.create(email="same@example.com")
    second = app.User.create(email="SAME@example.com")
    assert first.sync("hubspot", async_=False) == etlify.Status.SYNCED
    assert second.sync("hubspot", async_=False) == etlify.Status.ERROR
    state = second.crm_synchronisation("hubspot")
    assert state.crm_id is None
    assert f"linked to User #{first.id}" in state.last_error


def test_deleting_a_record_forgets_its_crm_link_so_a_reused_id_starts_fresh(app, adapter):
    old = app.User.create(email="ada@example.com")
    old.sync("hubspot", async_=False)
    old_crm_id = old.crm_synchronisation("hubspot").crm_id
    old.delete_instance()
    new = app.User.create(id=old.id, email="bob@example.com")
    assert new.crm_synchronisation("hubspot") is None
    assert new.sync("hubspot", async_=False) == etlify.Status.SYNCED
    assert new.crm_synchronisation("hubspot").crm_id != old_crm_id
    assert adapter.objects["contacts"][old_crm_id]["email"] == "ada@example.com"


def test_a_database_error_before_the_outcome_is_written_releases_the_claim(database, adapter):
    app = make_app(database, adapter, dependencies=["investments"])
    user = app.User.create(email="ada@example.com")
    database.execute_sql('DROP TABLE "investment"')
    with pytest.raises(peewee.OperationalError):
        user.sync("hubspot", async_=False)
    assert user.crm_synchronisation("hubspot").claim_token is None


def test_a_crm_object_already_linked_is_an_error_even_inside_a_transaction(any_app):
    any_app.User.create(email="same@example.com").sync("hubspot", async_=False)
    # Synced before keys were stored: the collision shows only in the CRM's answer.
    etlify.CrmSynchronisation.update(crm_key=None).execute()
    second = any_app.User.create(email="SAME@example.com")
    with any_app.db.atomic():
        assert second.sync("hubspot", async_=False) == etlify.Status.ERROR
    assert "already linked" in second.crm_synchronisation("hubspot").last_error
