"""Serializers: BaseSerializer, as_crm_payload() or to_dict(), and their failures."""

from __future__ import annotations

import pytest

import etlify
from etlify import BaseSerializer, Status
from etlify.serializers import build_payload


def test_base_serializer_keeps_the_record(app, user):
    assert BaseSerializer(user).record is user


def test_a_serializer_with_as_crm_payload_builds_the_payload(app, user):
    assert build_payload(app.UserSerializer, user) == {
        "email": "ada@example.com",
        "firstname": "Ada",
        "lastname": "Lovelace",
    }


def test_a_plain_class_with_to_dict_is_a_serializer(app, adapter, user):
    class PlainSerializer:
        def __init__(self, record):
            self.record = record

        def to_dict(self):
            return {"email": self.record.email}

    app.User.etlified_with(
        "hubspot", serializer=PlainSerializer, crm_object_type="contacts", replace=True,
    )

    assert user.sync(async_=False) == Status.SYNCED
    assert list(adapter.objects["contacts"].values()) == [{"email": "ada@example.com"}]


def test_a_base_serializer_subclass_may_define_to_dict_instead(app, adapter, user):
    class DictSerializer(BaseSerializer):
        def to_dict(self):
            return {"email": self.record.email}

    app.User.etlified_with(
        "hubspot", serializer=DictSerializer, crm_object_type="contacts", replace=True,
    )

    assert user.build_crm_payload("hubspot") == {"email": "ada@example.com"}
    assert user.sync(async_=False) == Status.SYNCED


def test_a_serializer_returning_a_non_mapping_names_model_and_serializer(app, user):
    class ListSerializer(BaseSerializer):
        def as_crm_payload(self):
            return [("email", self.record.email)]

    with pytest.raises(etlify.SerializerError, match="User serializer ListSerializer returned"):
        build_payload(ListSerializer, user)


def test_a_non_mapping_payload_makes_inline_sync_an_error_with_last_error(app, adapter, user):
    class NoneSerializer(BaseSerializer):
        def as_crm_payload(self):
            return None

    app.User.etlified_with(
        "hubspot", serializer=NoneSerializer, crm_object_type="contacts", replace=True,
    )

    assert user.sync(async_=False) == Status.ERROR

    row = user.crm_synchronisation("hubspot")
    assert "User serializer NoneSerializer" in row.last_error
    assert row.error_count == 1
    assert adapter.calls == []


def test_a_serializer_that_raises_is_a_serializer_error_naming_it(app, user):
    class BrokenSerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"name": self.record.nickname}

    with pytest.raises(etlify.SerializerError, match="BrokenSerializer raised AttributeError"):
        build_payload(BrokenSerializer, user)


def test_base_serializer_without_a_payload_method_fails_clearly(app, user):
    with pytest.raises(etlify.SerializerError, match="as_crm_payload"):
        build_payload(BaseSerializer, user)
