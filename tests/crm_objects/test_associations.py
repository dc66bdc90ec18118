"""Associations: each record's CRM object linked to those of the records it reaches."""

from __future__ import annotations

import math

import pytest

import etlify
from etlify import Associate, BatchSync, ConfigurationError, Status
from etlify.declarations import sync_config
from etlify.testing import InMemoryAdapter

from .conftest import define, now


def crm_id(record):
    return record.crm_synchronisation("hubspot").crm_id


def companies_of(hs, user):
    return set(hs.associations("contacts", crm_id(user), "companies"))


def sync_all(app):
    BatchSync.call(models=[app.Company, app.User, app.Deal, app.Ticket], async_=False)


def test_a_users_company_association_is_created_inline(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    assert ada.sync(async_=False) is Status.SYNCED
    assert companies_of(hs, ada) == {crm_id(acme)}


def test_a_users_company_association_is_created_by_batch_sync(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    assert companies_of(hs, ada) == {crm_id(acme)}


def test_the_association_moves_when_the_user_changes_company(app, hs):
    acme, globex = app.Company.create(name="Acme"), app.Company.create(name="Globex")
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    ada.company = globex
    ada.updated_at = now()
    ada.save()
    sync_all(app)
    assert companies_of(hs, ada) == {crm_id(globex)}


def test_the_association_moves_inline(app, hs):
    acme, globex = app.Company.create(name="Acme"), app.Company.create(name="Globex")
    ada = app.User.create(email="ada@example.com", company=acme)
    acme.sync(async_=False), globex.sync(async_=False), ada.sync(async_=False)
    ada.company = globex
    ada.save()
    assert ada.sync(async_=False) is Status.SYNCED
    assert companies_of(hs, ada) == {crm_id(globex)}


def test_the_association_is_archived_when_the_company_is_removed(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    ada.company = None
    ada.updated_at = now()
    ada.save()
    sync_all(app)
    assert companies_of(hs, ada) == set()


def test_an_unchanged_association_costs_no_request(app, hs, requests):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    seen = len(hs.requests)
    assert ada.sync(async_=False) is Status.NOT_MODIFIED
    ada.updated_at = now()
    ada.save()
    sync_all(app)
    assert requests(seen) == []


def test_a_changed_payload_with_the_same_company_sends_no_association(app, hs, requests):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    seen = len(hs.requests)
    ada.first_name = "Ada"
    ada.save()
    assert ada.sync(async_=False) is Status.SYNCED
    assert [r for r in requests(seen) if "/crm/v4/" in r] == []


def test_a_moved_company_alone_sends_only_the_association_requests(app, hs, requests):
    acme, globex = app.Company.create(name="Acme"), app.Company.create(name="Globex")
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    seen = len(hs.requests)
    ada.company = globex
    ada.save()
    ada.sync(async_=False)
    assert requests(seen) == [
        "POST /crm/v4/associations/contacts/companies/batch/associate/default",
        "POST /crm/v4/associations/contacts/companies/batch/archive",
    ]


def test_a_thousand_users_cost_at_most_ten_association_requests(app, hs):
    companies = [app.Company.create(name=f"C{i}") for i in range(10)]
    with app.db.atomic():
        for i in range(1000):
            app.User.create(email=f"u{i}@example.com", company=companies[i % 10])
    BatchSync.call(models=[app.Company], async_=False)
    seen = len(hs.requests)
    BatchSync.call(models=[app.User], async_=False)
    v4 = [r for r in hs.requests[seen:] if r.path.startswith("/crm/v4/")]
    assert len(v4) <= math.ceil(1000 / 100)
    assert sum(len(r.body["inputs"]) for r in v4) == 1000
    assert companies_of(hs, app.User.get(app.User.email == "u7@example.com")) == {
        crm_id(companies[7])
    }


def test_a_company_without_a_crm_id_is_synced_first(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    assert ada.sync(async_=False) is Status.SYNCED
    assert crm_id(acme) is not None
    assert companies_of(hs, ada) == {crm_id(acme)}


def test_a_user_waits_for_a_company_that_cannot_sync(any_database, hubspot, hs):
    app = define(any_database)
    app.Company.etlified_with(
        "hubspot",
        serializer=sync_config(app.Company, "hubspot").serializer,
        crm_object_type="companies",
        sync_if=lambda company: False,
        replace=True,
    )
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    assert ada.sync(async_=False) is Status.BUFFERED
    assert hs.object_count("contacts") == 0


def test_a_link_made_by_hand_is_left_alone(app, hs):
    acme, globex = app.Company.create(name="Acme"), app.Company.create(name="Globex")
    other = hs.add("companies", {"name": "Typed in HubSpot"})
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    hubspot = etlify.registry.crm("hubspot").adapter
    hubspot.batch_associate("contacts", "companies", [(crm_id(ada), other["id"])])
    ada.company = globex
    ada.save()
    ada.sync(async_=False)
    assert companies_of(hs, ada) == {crm_id(globex), other["id"]}


def test_a_deal_links_to_its_contacts_and_company(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    bob = app.User.create(email="bob@example.com", company=acme)
    deal = app.Deal.create(name="Big deal", company=acme)
    deal.contacts.add([ada, bob])
    sync_all(app)
    assert set(hs.associations("deals", crm_id(deal), "contacts")) == {crm_id(ada), crm_id(bob)}
    assert set(hs.associations("deals", crm_id(deal), "companies")) == {crm_id(acme)}


def test_a_contact_removed_from_a_deal_is_unlinked(app, hs):
    ada = app.User.create(email="ada@example.com")
    bob = app.User.create(email="bob@example.com")
    deal = app.Deal.create(name="Big deal")
    deal.contacts.add([ada, bob])
    sync_all(app)
    deal.contacts.remove([bob])
    sync_all(app)
    assert set(hs.associations("deals", crm_id(deal), "contacts")) == {crm_id(ada)}


def test_a_ticket_links_to_the_contact_it_is_about(app, hs):
    ada = app.User.create(email="ada@example.com")
    ticket = app.Ticket.create(subject="Broken", user=ada)
    assert ticket.sync(async_=False) is Status.SYNCED
    assert set(hs.associations("tickets", crm_id(ticket), "contacts")) == {crm_id(ada)}


def test_a_labelled_association_is_written_with_its_type(any_database, hubspot, hs):
    app = define(any_database, [Associate("company", type_id=1)])
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    ada.sync(async_=False)
    links = hs.associations("contacts", crm_id(ada), "companies")
    assert ("HUBSPOT_DEFINED", 1) in links[crm_id(acme)]


def test_a_label_is_looked_up_by_name(any_database, hubspot, hs):
    type_id = hs.define_association_label("contacts", "companies", "Billing contact")
    app = define(any_database, [Associate("company", label="Billing contact")])
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    ada.sync(async_=False)
    links = hs.associations("contacts", crm_id(ada), "companies")
    assert ("USER_DEFINED", type_id) in links[crm_id(acme)]


def test_a_refused_link_fails_the_record_and_keeps_it_stale(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    acme.sync(async_=False)
    with hs._store.lock:
        hs._store.type("companies").archive(crm_id(acme), 0.0)
    assert ada.sync(async_=False) is Status.ERROR
    row = ada.crm_synchronisation("hubspot")
    assert row.crm_id is not None and row.last_synced_at is None
    assert "No Company with id" in row.last_error


def test_associations_need_an_adapter_that_writes_them(any_database, hubspot):
    etlify.register("memory", adapter=_WithoutAssociations())
    app = define(any_database, user_associations=[])
    with pytest.raises(ConfigurationError, match="batch_associate"):
        app.User.etlified_with(
            "memory",
            serializer=sync_config(app.User, "hubspot").serializer,
            crm_object_type="contacts",
            associations=[Associate("company")],
        )


def test_an_association_to_a_field_that_is_not_a_relation_is_refused(any_database, hubspot):
    with pytest.raises(ConfigurationError, match="associations: 'email'"):
        define(any_database, [Associate("email")])


def test_a_to_type_unlike_the_targets_is_refused_when_the_record_syncs(any_database, hubspot):
    app = define(any_database, [Associate("company", to="deals")])
    ada = app.User.create(email="ada@example.com", company=app.Company.create(name="Acme"))
    with pytest.raises(ConfigurationError, match="to='deals'.*'companies'"):
        ada.sync(async_=False)


class _WithoutAssociations(InMemoryAdapter):
    batch_associate = None


def test_a_record_deleted_from_the_crm_forgets_its_links(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    ada.sync(async_=False)
    ada.crm_delete("hubspot")
    assert etlify.CrmLink.select().count() == 0
    assert ada.sync(async_=False) is Status.SYNCED
    assert companies_of(hs, ada) == {crm_id(acme)}


def test_a_record_deleted_from_the_database_forgets_its_links(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    ada.sync(async_=False)
    ada.delete_instance()
    assert etlify.CrmLink.select().count() == 0


def test_a_dry_run_writes_no_association(app, hs):
    acme = app.Company.create(name="Acme")
    app.User.create(email="ada@example.com", company=acme)
    BatchSync.call(models=[app.User], async_=False, dry_run=True)
    assert [r for r in hs.requests if "/crm/v4/" in r.path] == []


def test_the_last_contact_removed_from_a_deal_is_unlinked(app, hs):
    ada = app.User.create(email="ada@example.com")
    deal = app.Deal.create(name="Big deal")
    deal.contacts.add([ada])
    deal.sync(async_=False)
    deal.contacts.remove([ada])
    assert deal.sync(async_=False) is Status.SYNCED
    assert hs.associations("deals", crm_id(deal), "contacts") == {}


def test_a_rollback_around_a_sync_keeps_the_links_the_crm_holds(app, hs):
    acme, globex = app.Company.create(name="Acme"), app.Company.create(name="Globex")
    ada = app.User.create(email="ada@example.com", company=acme)
    sync_all(app)
    with app.db.atomic() as transaction:
        ada.company = globex
        ada.save()
        assert ada.sync(async_=False) is Status.SYNCED
        transaction.rollback()
    assert companies_of(hs, ada) == {crm_id(globex)}
    assert app.User.get_by_id(ada.id).sync(async_=False) is Status.SYNCED
    assert companies_of(hs, ada) == {crm_id(acme)}


def test_a_refused_link_fails_only_its_own_record(app, hs):
    acme, globex = app.Company.create(name="Acme"), app.Company.create(name="Globex")
    ada = app.User.create(email="ada@example.com", company=acme)
    bob = app.User.create(email="bob@example.com", company=globex)
    BatchSync.call(models=[app.Company], async_=False)
    with hs._store.lock:
        hs._store.type("companies").archive(crm_id(acme), 0.0)
    stats = BatchSync.call(models=[app.User], async_=False)
    assert (stats["synced"], stats["errors"]) == (1, 1)
    assert companies_of(hs, bob) == {crm_id(globex)}
    assert ada.crm_synchronisation("hubspot").last_error is not None


def test_a_dry_run_plans_each_records_links(app, hs):
    acme = app.Company.create(name="Acme")
    app.User.create(email="ada@example.com", company=acme)
    acme.sync(async_=False)
    (entry,) = BatchSync.call(models=[app.User], async_=False, dry_run=True)["plan"]
    assert entry["associations"] == {"company": [crm_id(acme)]}


def test_the_association_is_archived_inline_when_the_company_is_removed(app, hs):
    acme = app.Company.create(name="Acme")
    ada = app.User.create(email="ada@example.com", company=acme)
    ada.sync(async_=False)
    ada.company = None
    ada.save()
    assert ada.sync(async_=False) is Status.SYNCED
    assert companies_of(hs, ada) == set()


def test_a_user_without_a_company_is_not_modified_the_second_time(app, hs, requests):
    ada = app.User.create(email="ada@example.com")
    assert ada.sync(async_=False) is Status.SYNCED
    seen = len(hs.requests)
    assert ada.sync(async_=False) is Status.NOT_MODIFIED
    assert requests(seen) == []


def test_models_without_associations_need_no_links_table(database, hubspot, hs):
    app = define(database, [])
    database.drop_tables([etlify.CrmLink])
    ada = app.User.create(email="ada@example.com")
    assert ada.sync(async_=False) is Status.SYNCED
    assert ada.crm_delete("hubspot") is Status.DELETED
    ada.delete_instance()
    assert hs.object_count("contacts") == 0
