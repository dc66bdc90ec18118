"""sync_dependencies: a record waits for the records it points at to have a CRM id."""

from __future__ import annotations

import pytest

import etlify
from etlify import PendingSync, Status, signals
from etlify.testing import immediate

from ..conftest import make_app
from .conftest import receiving


@pytest.fixture
def deps_app(database, adapter):
    return make_app(database, adapter, sync_dependencies=["company"])


def company_needs_a_domain(app):
    app.Company.etlified_with(
        "hubspot",
        serializer=app.CompanySerializer,
        crm_object_type="companies",
        sync_if=lambda company: bool(company.domain),
        replace=True,
    )


def test_the_company_without_crm_id_is_synced_first_then_the_user(deps_app, adapter):
    company = deps_app.Company.create(name="Acme", domain="acme.test")
    user = deps_app.User.create(email="ada@example.com", company=company)

    assert user.sync(async_=False) == Status.SYNCED

    assert [(method, kind) for method, kind, _ in adapter.calls] == [
        ("upsert", "companies"),
        ("batch_upsert", "contacts"),
    ]
    assert company.crm_synchronisation("hubspot").crm_id is not None


def test_a_company_that_already_has_a_crm_id_is_not_synced_again(deps_app, adapter):
    company = deps_app.Company.create(name="Acme", domain="acme.test")
    company.sync(async_=False)
    user = deps_app.User.create(email="ada@example.com", company=company)

    assert user.sync(async_=False) == Status.SYNCED

    assert [kind for _, kind, _ in adapter.calls] == ["companies", "contacts"]


def test_a_user_without_a_company_syncs_directly(deps_app, adapter):
    user = deps_app.User.create(email="ada@example.com")

    assert user.sync(async_=False) == Status.SYNCED
    assert [kind for _, kind, _ in adapter.calls] == ["contacts"]


def test_a_user_whose_company_cannot_get_a_crm_id_is_buffered(deps_app, adapter):
    company_needs_a_domain(deps_app)
    company = deps_app.Company.create(name="Acme")
    user = deps_app.User.create(email="ada@example.com", company=company)

    assert user.sync(async_=False) == Status.BUFFERED

    assert adapter.calls == []
    pending = PendingSync.get()
    assert (pending.resource_type, pending.resource_id) == ("User", str(user.id))
    assert (pending.dependency_type, pending.dependency_id) == ("Company", str(company.id))
    assert user.crm_synchronisation("hubspot").crm_id is None


def test_buffering_sends_the_buffered_signal_with_what_it_waits_on(deps_app):
    company_needs_a_domain(deps_app)
    company = deps_app.Company.create(name="Acme")
    user = deps_app.User.create(email="ada@example.com", company=company)

    with receiving(signals.buffered, deps_app.User) as got:
        user.sync(async_=False)

    [kwargs] = got.kwargs
    assert kwargs["crm_name"] == "hubspot"
    assert kwargs["record"].id == user.id
    assert [dependency.id for dependency in kwargs["waiting_on"]] == [company.id]


def test_buffering_twice_keeps_one_pending_row(deps_app):
    company_needs_a_domain(deps_app)
    company = deps_app.Company.create(name="Acme")
    user = deps_app.User.create(email="ada@example.com", company=company)

    user.sync(async_=False)
    user.sync(async_=False)

    assert PendingSync.select().count() == 1


def test_the_buffered_user_is_synced_when_the_company_syncs(deps_app, adapter):
    company_needs_a_domain(deps_app)
    company = deps_app.Company.create(name="Acme")
    user = deps_app.User.create(email="ada@example.com", company=company)
    user.sync(async_=False)

    company.domain = "acme.test"
    company.save()
    assert company.sync(async_=False) == Status.SYNCED

    assert user.crm_synchronisation("hubspot").crm_id is not None
    assert [kind for _, kind, _ in adapter.calls] == ["companies", "contacts"]
    assert PendingSync.select().count() == 0


def test_an_async_company_sync_releases_the_buffered_user_too(deps_app, adapter):
    company_needs_a_domain(deps_app)
    company = deps_app.Company.create(name="Acme")
    user = deps_app.User.create(email="ada@example.com", company=company)
    user.sync(async_=False)
    company.domain = "acme.test"
    company.save()

    with immediate():
        assert company.sync().result(timeout=0) == Status.SYNCED

    assert user.crm_synchronisation("hubspot").crm_id is not None
    assert PendingSync.select().count() == 0


def test_a_buffered_user_released_from_a_worker_is_synced_by_a_job(deps_app, adapter):
    company_needs_a_domain(deps_app)
    company = deps_app.Company.create(name="Acme")
    user = deps_app.User.create(email="ada@example.com", company=company)
    user.sync(async_=False)
    company.domain = "acme.test"
    company.save()

    assert company.sync().result(timeout=10) == Status.SYNCED
    assert etlify.jobs.wait(timeout=10)
    assert user.crm_synchronisation("hubspot").crm_id is not None
