"""Signals announce every outcome; the sender is the model class."""

from __future__ import annotations

import logging
import threading

import etlify
from etlify import Status, signals
from etlify.errors import ValidationFailed

from .conftest import receiving


def test_synced_carries_record_crm_id_payload_digest_and_created(app, user):
    with receiving(signals.synced, app.User) as got:
        user.sync(async_=False)

    [(sender, kwargs)] = got.calls
    row = user.crm_synchronisation("hubspot")
    assert sender is app.User
    assert kwargs["record"].id == user.id
    assert kwargs["crm_name"] == "hubspot"
    assert kwargs["crm_id"] == row.crm_id
    assert kwargs["payload"] == user.build_crm_payload("hubspot")
    assert kwargs["digest"] == row.last_digest
    assert kwargs["created"] is True


def test_synced_says_created_false_for_an_update(app, user):
    user.sync(async_=False)
    user.first_name = "Augusta"
    user.save()

    with receiving(signals.synced, app.User) as got:
        user.sync(async_=False)

    assert got.kwargs[0]["created"] is False


def test_connect_via_a_model_hears_only_that_model(app, user):
    company = app.Company.create(name="Acme")

    with receiving(signals.synced, app.Company) as got:
        user.sync(async_=False)
        company.sync(async_=False)

    assert [sender for sender, _ in got.calls] == [app.Company]


def test_skipped_not_modified(app, user):
    user.sync(async_=False)

    with receiving(signals.skipped, app.User) as got:
        user.sync(async_=False)

    assert got.kwargs == [
        {"record": got.kwargs[0]["record"], "crm_name": "hubspot", "reason": "not_modified"}
    ]


def test_skipped_sync_if(app):
    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="contacts", sync_if=lambda u: 0,
        replace=True,
    )
    user = app.User.create(email="a@example.com")

    with receiving(signals.skipped, app.User) as got:
        user.sync(async_=False)

    assert [k["reason"] for k in got.kwargs] == ["sync_if"]


def test_skipped_disabled(app, adapter, user):
    etlify.register("hubspot", adapter=adapter, enabled=False)

    with receiving(signals.skipped, app.User) as got:
        user.sync(async_=False)
        user.crm_delete("hubspot")

    assert [k["reason"] for k in got.kwargs] == ["disabled", "disabled"]
    assert got.kwargs[0]["crm_name"] == "hubspot"


def test_failed_carries_the_error(app, adapter, user):
    error = ValidationFailed("invalid email")
    adapter.fail_next(error)

    with receiving(signals.failed, app.User) as got:
        user.sync(async_=False)

    [kwargs] = got.kwargs
    assert kwargs["error"] is error
    assert kwargs["crm_name"] == "hubspot"
    assert kwargs["record"].id == user.id


def test_deleted_carries_the_crm_id_that_was_deleted(app, user):
    user.sync(async_=False)
    crm_id = user.crm_synchronisation("hubspot").crm_id

    with receiving(signals.deleted, app.User) as got:
        user.crm_delete("hubspot")

    [kwargs] = got.kwargs
    assert (kwargs["crm_name"], kwargs["crm_id"]) == ("hubspot", crm_id)


def test_receivers_of_an_async_sync_run_in_the_worker_thread(app, user):
    threads = []

    def remember_thread(sender, **kwargs):
        threads.append(threading.current_thread())

    with signals.synced.connected_to(remember_thread, sender=app.User):
        assert user.sync().result(timeout=10) == Status.SYNCED

    assert len(threads) == 1
    assert threads[0] is not threading.main_thread()
    assert threads[0].name.startswith("etlify")


def test_a_raising_receiver_is_logged_and_the_record_stays_synced(app, user, caplog):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    with caplog.at_level(logging.ERROR, logger="etlify"):
        with signals.synced.connected_to(broken, sender=app.User):
            status = user.sync(async_=False)

    assert status == Status.SYNCED
    row = user.crm_synchronisation("hubspot")
    assert row.crm_id is not None and row.last_error is None and row.error_count == 0
    assert "receiver bug" in caplog.text


def test_a_raising_failed_receiver_still_returns_error(app, adapter, user):
    def broken(sender, **kwargs):
        raise RuntimeError("receiver bug")

    adapter.fail_next(ValidationFailed("bad"))
    with signals.failed.connected_to(broken, sender=app.User):
        assert user.sync(async_=False) == Status.ERROR


def test_each_signal_is_declared_in_the_etlify_namespace():
    for name in ("synced", "skipped", "buffered", "failed", "deleted", "batch_finished"):
        assert signals.namespace[name] is getattr(signals, name)


def test_an_async_sync_to_a_disabled_crm_is_announced_as_skipped_too(app, adapter, user):
    etlify.register("hubspot", adapter=adapter, enabled=False)

    with receiving(signals.skipped, app.User) as got:
        assert user.sync().result(timeout=10) == Status.DISABLED

    assert [(k["reason"], k["record"]) for k in got.kwargs] == [("disabled", user)]
