"""The sync-state tables on SQLite, PostgreSQL and MariaDB."""

from __future__ import annotations

import uuid

import pytest
from peewee import CharField, IntegrityError, Model, UUIDField

import etlify
from etlify import BaseSerializer, CrmSynchronisation, EtlifyMixin, PendingSync, Status
from etlify.errors import ValidationFailed
from etlify.state import database_proxy


def row(**fields):
    values = {"crm_name": "hubspot", "resource_type": "User", "resource_id": "1"}
    values.update(fields)
    return CrmSynchronisation.create(**values)


def test_state_tables_have_their_contract_names():
    assert CrmSynchronisation._meta.table_name == "crm_synchronisations"
    assert PendingSync._meta.table_name == "etlify_pending_syncs"


def test_create_tables_can_run_again(any_app):
    etlify.create_tables()
    etlify.create_tables()

    tables = set(any_app.db.get_tables())
    assert {"crm_synchronisations", "etlify_pending_syncs"} <= tables


def test_one_row_per_crm_model_and_record(any_app):
    row()

    with pytest.raises(IntegrityError), any_app.db.atomic():
        row()


def test_the_same_record_has_one_row_per_crm(any_app):
    row()
    row(crm_name="salesforce")

    assert CrmSynchronisation.select().count() == 2


def test_a_crm_id_belongs_to_one_record_per_crm_and_object_type(any_app):
    row(resource_id="1", crm_object_type="contacts", crm_id="501")

    with pytest.raises(IntegrityError), any_app.db.atomic():
        row(resource_id="2", crm_object_type="contacts", crm_id="501")


def test_many_rows_may_have_no_crm_id_yet(any_app):
    row(resource_id="1", crm_object_type="contacts")
    row(resource_id="2", crm_object_type="contacts")

    assert CrmSynchronisation.select().where(CrmSynchronisation.crm_id.is_null()).count() == 2


def test_one_pending_sync_per_record_and_dependency(any_app):
    fields = dict(
        crm_name="hubspot",
        resource_type="User",
        resource_id="1",
        dependency_type="Company",
        dependency_id="7",
    )
    PendingSync.create(**fields)

    with pytest.raises(IntegrityError), any_app.db.atomic():
        PendingSync.create(**fields)


def test_an_integer_primary_key_syncs_on_every_backend(any_app, adapter):
    user = any_app.User.create(email="ada@example.com")

    assert user.sync(async_=False) == Status.SYNCED
    assert user.sync(async_=False) == Status.NOT_MODIFIED
    assert user.crm_synchronisation("hubspot").resource_id == str(user.id)


def test_a_string_primary_key_syncs_on_every_backend(any_app, adapter):
    class TagSerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"code": self.record.code, "label": self.record.label}

    any_app.Tagged.etlified_with("hubspot", serializer=TagSerializer, crm_object_type="tags")
    tagged = any_app.Tagged.create(code="TAG-001", label="Blue")

    assert tagged.sync(async_=False) == Status.SYNCED
    assert tagged.sync(async_=False) == Status.NOT_MODIFIED
    assert tagged.crm_synchronisation("hubspot").resource_id == "TAG-001"


def test_a_uuid_primary_key_syncs_on_every_backend(any_app, adapter):
    class Base(Model):
        class Meta:
            database = any_app.db

    class Device(EtlifyMixin, Base):
        id = UUIDField(primary_key=True, default=uuid.uuid4)
        serial = CharField()

    class DeviceSerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"serial": self.record.serial}

    Device.etlified_with("hubspot", serializer=DeviceSerializer, crm_object_type="devices")
    any_app.db.drop_tables([Device])
    any_app.db.create_tables([Device])
    try:
        device = Device.create(serial="SN-1")

        assert device.sync(async_=False) == Status.SYNCED
        assert device.sync(async_=False) == Status.NOT_MODIFIED
        assert device.crm_synchronisation("hubspot").resource_id == str(device.id)
    finally:
        any_app.db.drop_tables([Device])


def test_with_error_selects_the_failing_rows(any_app, adapter):
    good = any_app.User.create(email="good@example.com")
    bad = any_app.User.create(email="bad@example.com")
    good.sync(async_=False)
    adapter.fail_next(ValidationFailed("invalid"))
    bad.sync(async_=False)

    failing = list(CrmSynchronisation.with_error())

    assert [r.resource_id for r in failing] == [str(bad.id)]


def test_retry_exhausted_uses_the_crms_budget(any_app, adapter):
    etlify.register("hubspot", adapter=adapter, max_sync_errors=2)
    once = any_app.User.create(email="once@example.com")
    twice = any_app.User.create(email="twice@example.com")
    adapter.fail_next(ValidationFailed("invalid"), times=3)
    once.sync(async_=False)
    twice.sync(async_=False)
    twice.sync(async_=False)

    exhausted = CrmSynchronisation.retry_exhausted("hubspot")

    assert [r.resource_id for r in exhausted] == [str(twice.id)]


def test_retry_exhausted_falls_back_to_the_global_budget(any_app, adapter):
    etlify.configure(max_sync_errors=1)
    user = any_app.User.create(email="once@example.com")
    adapter.fail_next(ValidationFailed("invalid"))
    user.sync(async_=False)

    assert CrmSynchronisation.retry_exhausted("hubspot").count() == 1


def test_reset_error_count_clears_every_row(any_app, adapter):
    users = [any_app.User.create(email=f"u{i}@example.com") for i in range(2)]
    adapter.fail_next(ValidationFailed("invalid"), times=2)
    for user in users:
        user.sync(async_=False)

    assert CrmSynchronisation.reset_error_count() == 2

    assert CrmSynchronisation.with_error().count() == 0
    assert {r.error_count for r in CrmSynchronisation.select()} == {0}


def test_reset_error_count_of_a_query_leaves_other_rows_alone(any_app, adapter):
    first, second = (any_app.User.create(email=f"u{i}@example.com") for i in range(2))
    adapter.fail_next(ValidationFailed("invalid"), times=2)
    first.sync(async_=False)
    second.sync(async_=False)

    changed = CrmSynchronisation.reset_error_count(
        CrmSynchronisation.select().where(CrmSynchronisation.resource_id == str(first.id))
    )

    assert changed == 1
    assert first.crm_synchronisation("hubspot").error_count == 0
    assert second.crm_synchronisation("hubspot").error_count == 1


def test_state_tables_bind_to_the_first_etlified_models_database(database, adapter):
    from ..models import define_models

    etlify.register("hubspot", adapter=adapter)
    app = define_models(database)
    database_proxy.initialize(None)

    app.Company.etlified_with("hubspot", serializer=app.CompanySerializer, crm_object_type="x")

    assert database_proxy.obj is database


def test_configure_database_binds_the_state_tables_elsewhere(database, adapter, tmp_path):
    from playhouse.db_url import connect

    from ..models import define_models

    app = define_models(database)
    state_db = connect(f"sqlite:///{tmp_path / 'state.db'}")
    etlify.configure(database=state_db)
    etlify.register("hubspot", adapter=adapter)
    app.User.etlified_with("hubspot", serializer=app.UserSerializer, crm_object_type="contacts")
    etlify.create_tables()
    user = app.User.create(email="a@example.com")

    assert user.sync(async_=False) == Status.SYNCED

    assert "crm_synchronisations" in state_db.get_tables()
    assert "crm_synchronisations" not in database.get_tables()
    assert etlify.config.database is state_db
    state_db.close()


def test_configure_refuses_a_database_that_is_not_a_database():
    with pytest.raises(etlify.ConfigurationError, match="database"):
        etlify.configure(database="sqlite:///app.db")


def test_create_tables_without_a_database_explains_what_to_do():
    with pytest.raises(etlify.ConfigurationError, match="configure"):
        etlify.create_tables()


def test_config_database_shows_the_database_taken_from_the_first_etlified_model(app):
    assert etlify.config.database is app.db
