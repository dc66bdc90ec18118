"""Declaring synced models: the mixin, etlified_with and its validation."""

from __future__ import annotations

import pytest
from peewee import CharField, ForeignKeyField, Model

import etlify
from etlify import BaseSerializer, EtlifyMixin, Status
from etlify.declarations import sync_config
from etlify.testing import InMemoryAdapter

from ..models import define_models


class NameSerializer(BaseSerializer):
    def as_crm_payload(self):
        return {"name": self.record.name}


def base_model(database):
    class Base(Model):
        class Meta:
            database = None

    Base._meta.set_database(database)
    return Base


def test_the_mixin_composes_with_peewee_fields_and_the_model_metaclass(app):
    assert {"email", "company", "updated_at"} <= set(app.User._meta.fields)
    user = app.User.create(email="ada@example.com")
    assert app.User.get_by_id(user.id).email == "ada@example.com"


def test_etlified_with_returns_the_class(database):
    etlify.register("hubspot", adapter=InMemoryAdapter())

    class Company(EtlifyMixin, base_model(database)):
        name = CharField()

    returned = Company.etlified_with("hubspot", serializer=NameSerializer, crm_object_type="x")

    assert returned is Company


def test_etlified_with_works_as_a_class_decorator(database):
    adapter = InMemoryAdapter()
    etlify.register("hubspot", adapter=adapter)

    @etlify.etlified_with("hubspot", serializer=NameSerializer, crm_object_type="companies")
    class Company(EtlifyMixin, base_model(database)):
        name = CharField()

    database.create_tables([Company])
    etlify.create_tables()
    company = Company.create(name="Acme")

    assert company.sync("hubspot", async_=False) == Status.SYNCED
    assert list(adapter.objects["companies"].values()) == [{"name": "Acme"}]


def test_a_subclass_of_an_etlified_model_can_be_etlified_on_its_own(database):
    adapter = InMemoryAdapter()
    etlify.register("hubspot", adapter=adapter)

    class Person(EtlifyMixin, base_model(database)):
        name = CharField()

    class Employee(Person):
        team = CharField(default="ops")

    class EmployeeSerializer(BaseSerializer):
        def as_crm_payload(self):
            return {"name": self.record.name, "team": self.record.team}

    Person.etlified_with("hubspot", serializer=NameSerializer, crm_object_type="people")
    Employee.etlified_with("hubspot", serializer=EmployeeSerializer, crm_object_type="employees")
    database.create_tables([Person, Employee])
    etlify.create_tables()

    employee = Employee.create(name="Grace")

    assert employee.sync(async_=False) == Status.SYNCED
    assert list(adapter.objects["employees"].values()) == [{"name": "Grace", "team": "ops"}]
    assert etlify.model_for("Employee") is Employee
    assert employee.crm_synchronisation("hubspot").resource_type == "Employee"


def test_generated_methods_exist_for_every_registered_crm(app):
    for suffix in ("etlified_with", "sync", "delete", "build_payload"):
        assert callable(getattr(app.User, f"hubspot_{suffix}")), suffix


def test_a_crm_registered_after_the_models_gives_them_its_generated_methods(app, user):
    other = InMemoryAdapter()
    etlify.register("salesforce", adapter=other)

    app.User.salesforce_etlified_with(serializer=app.UserSerializer, crm_object_type="leads")

    assert user.salesforce_build_payload() == user.build_crm_payload("salesforce")
    assert user.salesforce_sync(async_=False) == Status.SYNCED
    assert other.count("leads") == 1
    assert user.salesforce_delete() == Status.DELETED
    assert other.count("leads") == 0


def test_generated_etlified_with_is_the_same_declaration(database, adapter):
    etlify.register("hubspot", adapter=adapter)
    app = define_models(database)

    returned = app.Company.hubspot_etlified_with(
        serializer=app.CompanySerializer, crm_object_type="companies"
    )

    assert returned is app.Company
    assert etlify.declarations.sync_config(app.Company, "hubspot").crm_object_type == "companies"


def test_build_crm_payload_is_the_serializer_output(app, user):
    expected = {"email": "ada@example.com", "firstname": "Ada", "lastname": "Lovelace"}
    assert user.build_crm_payload("hubspot") == expected
    assert user.hubspot_build_payload() == expected


def test_sync_by_crm_name_crm_sync_and_generated_sync_are_one_thing(app, adapter, user):
    assert user.sync("hubspot", async_=False) == Status.SYNCED
    assert user.crm_sync("hubspot", async_=False) == Status.NOT_MODIFIED
    assert user.hubspot_sync(async_=False) == Status.NOT_MODIFIED
    assert adapter.count("contacts") == 1


def test_sync_with_one_configured_crm_returns_that_single_result(app, user):
    assert user.sync(async_=False) == Status.SYNCED


def test_sync_with_several_configured_crms_returns_a_dict_per_crm(app, user):
    etlify.register("salesforce", adapter=InMemoryAdapter())
    app.User.etlified_with("salesforce", serializer=app.UserSerializer, crm_object_type="leads")

    assert user.sync(async_=False) == {"hubspot": Status.SYNCED, "salesforce": Status.SYNCED}


def test_crm_synchronisation_is_none_before_the_first_sync_and_the_row_after(app, user):
    assert user.crm_synchronisation("hubspot") is None

    user.sync(async_=False)

    row = user.crm_synchronisation("hubspot")
    assert isinstance(row, etlify.CrmSynchronisation)
    assert (row.crm_name, row.resource_type, row.resource_id) == ("hubspot", "User", str(user.id))


def test_syncing_to_an_unknown_crm_raises_configuration_error(app, user):
    with pytest.raises(etlify.ConfigurationError, match="unknown CRM 'pipedrive'"):
        user.sync("pipedrive", async_=False)


def test_syncing_to_a_crm_the_model_is_not_configured_for_raises(app, user):
    etlify.register("salesforce", adapter=InMemoryAdapter())

    with pytest.raises(etlify.ConfigurationError, match="User is not configured for CRM"):
        user.sync("salesforce", async_=False)


def test_syncing_a_model_never_etlified_raises_configuration_error(app):
    tagged = app.Tagged.create(code="t-1", label="x")

    with pytest.raises(etlify.ConfigurationError, match="Tagged"):
        tagged.sync(async_=False)


def test_declaring_for_an_unregistered_crm_names_model_and_crm(app):
    with pytest.raises(etlify.ConfigurationError, match=r"Tagged\.etlified_with\('pipedrive'\)"):
        app.Tagged.etlified_with("pipedrive", serializer=NameSerializer, crm_object_type="x")


def test_declaring_without_a_serializer_names_model_and_option(app):
    with pytest.raises(etlify.ConfigurationError, match=r"Tagged\.etlified_with.*serializer"):
        app.Tagged.etlified_with("hubspot", crm_object_type="tags")


def test_declaring_with_a_serializer_that_has_no_payload_method_is_refused(app):
    class NotASerializer:
        def __init__(self, record):
            self.record = record

    with pytest.raises(etlify.ConfigurationError, match=r"Tagged.*serializer"):
        app.Tagged.etlified_with("hubspot", serializer=NotASerializer, crm_object_type="tags")


def test_declaring_without_a_crm_object_type_names_model_and_option(app):
    with pytest.raises(etlify.ConfigurationError, match=r"Tagged\.etlified_with.*crm_object_type"):
        app.Tagged.etlified_with("hubspot", serializer=NameSerializer)


def test_declaring_an_unknown_option_names_model_and_option(app):
    with pytest.raises(etlify.ConfigurationError, match=r"Tagged.*sync_unless"):
        app.Tagged.etlified_with(
            "hubspot", serializer=NameSerializer, crm_object_type="tags", sync_unless=None
        )


def test_a_dependency_that_is_not_a_relation_names_model_and_option(app):
    message = r"User\.etlified_with.*dependencies.*'email'.*field, not a relation"
    with pytest.raises(etlify.ConfigurationError, match=message):
        app.User.etlified_with(
            "hubspot",
            serializer=app.UserSerializer,
            crm_object_type="contacts",
            dependencies=["email"],
        )


def test_a_dependency_that_does_not_exist_is_refused(app):
    with pytest.raises(etlify.ConfigurationError, match=r"User.*dependencies.*'employer'"):
        app.User.etlified_with(
            "hubspot",
            serializer=app.UserSerializer,
            crm_object_type="contacts",
            dependencies=["employer"],
        )


def test_relations_of_every_kind_are_accepted_as_dependencies(app):
    app.User.etlified_with(
        "hubspot",
        serializer=app.UserSerializer,
        crm_object_type="contacts",
        dependencies=["company", "investments"],
        replace=True,
    )
    app.Company.etlified_with(
        "hubspot",
        serializer=app.CompanySerializer,
        crm_object_type="companies",
        dependencies=["users", "users.investments"],
        replace=True,
    )

    config = etlify.declarations.sync_config(app.Company, "hubspot")
    assert config.dependencies == ("users", "users.investments")


def test_a_sync_dependency_must_be_a_foreign_key_of_the_model(app):
    with pytest.raises(etlify.ConfigurationError, match=r"Company.*sync_dependencies.*'users'"):
        app.Company.etlified_with(
            "hubspot",
            serializer=app.CompanySerializer,
            crm_object_type="companies",
            sync_dependencies=["users"],
        )


def test_a_failed_declaration_registers_nothing(database):
    etlify.register("hubspot", adapter=InMemoryAdapter())

    class Company(EtlifyMixin, base_model(database)):
        name = CharField()

    with pytest.raises(etlify.ConfigurationError):
        Company.etlified_with("hubspot", serializer=NameSerializer, crm_object_type="")

    assert etlify.etlified_models() == []


def test_two_etlified_models_with_one_registered_name_are_refused(database):
    etlify.register("hubspot", adapter=InMemoryAdapter())

    def company_model():
        class Company(EtlifyMixin, base_model(database)):
            name = CharField()

        return Company

    first, second = company_model(), company_model()
    first.etlified_with("hubspot", serializer=NameSerializer, crm_object_type="companies")

    already = r"Company.*already registered as 'Company'"
    with pytest.raises(etlify.ConfigurationError, match=already):
        second.etlified_with("hubspot", serializer=NameSerializer, crm_object_type="companies")


def test_a_resource_type_tells_two_models_of_one_name_apart(database):
    etlify.register("hubspot", adapter=InMemoryAdapter())

    def company_model():
        class Company(EtlifyMixin, base_model(database)):
            name = CharField()

        return Company

    first, second = company_model(), company_model()
    first.etlified_with("hubspot", serializer=NameSerializer, crm_object_type="companies")
    second.etlified_with(
        "hubspot", serializer=NameSerializer, crm_object_type="companies", resource_type="Firm"
    )

    assert etlify.model_for("Company") is first
    assert etlify.model_for("Firm") is second


def test_model_for_an_unknown_name_raises_configuration_error(app):
    with pytest.raises(etlify.ConfigurationError, match="'Nope'"):
        etlify.model_for("Nope")


def test_a_foreign_key_to_an_etlified_model_keeps_working(app):
    field = app.User._meta.fields["company"]
    assert isinstance(field, ForeignKeyField)
    company = app.Company.create(name="Acme")
    user = app.User.create(email="a@example.com", company=company)
    assert app.User.get_by_id(user.id).company.name == "Acme"


def test_declaring_a_model_twice_for_one_crm_warns_naming_it(app):
    with pytest.warns(UserWarning, match=r"User was already etlified for 'hubspot'.*replace=True"):
        app.User.etlified_with("hubspot", serializer=app.UserSerializer, crm_object_type="leads")


def test_the_second_declaration_replaces_the_first(app):
    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="leads", replace=True
    )

    assert sync_config(app.User, "hubspot").crm_object_type == "leads"


def test_replace_true_declares_again_without_a_warning(app, recwarn):
    app.User.etlified_with(
        "hubspot", serializer=app.UserSerializer, crm_object_type="leads", replace=True
    )

    assert [w for w in recwarn if issubclass(w.category, UserWarning)] == []
