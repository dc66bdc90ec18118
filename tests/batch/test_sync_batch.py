"""One batch of records through the batch synchronizer."""

from __future__ import annotations

import math
import threading
import time

import pytest
from playhouse.test_utils import count_queries

import etlify
from etlify import BaseSerializer
from etlify.adapters.base import BatchResult
from etlify.declarations import sync_config
from etlify.engine import sync_batch
from etlify.errors import RateLimited, TransportError, ValidationFailed
from etlify.state import CrmSynchronisation as Sync
from etlify.state.rows import Row
from etlify.testing import InMemoryAdapter

from ..conftest import make_app
from ..models import define_models


class PickyAdapter(InMemoryAdapter):
    """Refuses a whole batch when any email starts with "bad", as HubSpot does."""

    def batch_upsert(self, object_type, records, id_property):
        records = list(records)
        if any(str(r.get("email", "")).startswith("bad") for r in records):
            self.calls.append(("refused_batch", object_type, len(records)))
            raise ValidationFailed("Property values were not valid", status=400)
        return super().batch_upsert(object_type, records, id_property)


class PartialAdapter(InMemoryAdapter):
    """Answers like a 207: inputs whose email starts with "bad" fail on their own."""

    def batch_upsert(self, object_type, records, id_property):
        records = list(records)
        good = [r for r in records if not r["email"].startswith("bad")]
        result = super().batch_upsert(object_type, good, id_property)
        for r in records:
            if r["email"].startswith("bad"):
                result.errors[r["email"]] = ValidationFailed("INVALID_EMAIL", status=400)
        return result


class ForgetfulAdapter(InMemoryAdapter):
    """Answers a batch without an id for the first input."""

    def batch_upsert(self, object_type, records, id_property):
        records = list(records)
        result = super().batch_upsert(object_type, records, id_property)
        return BatchResult({k: v for k, v in result.items() if k != records[0]["email"]})


def users(app, count, bad=()):
    with app.db.atomic():
        for i in range(count):
            prefix = "bad" if i in bad else "user"
            app.User.create(email=f"{prefix}{i}@example.com", first_name=f"U{i}")
    return [user.id for user in app.User.select(app.User.id).order_by(app.User.id)]


def user_batch(app, pks, **kwargs):
    return sync_batch(sync_config(app.User, "hubspot"), pks, **kwargs)


def row(app, pk):
    return Sync.get(Sync.resource_type == "User", Sync.resource_id == str(pk))


def batch_calls(adapter, *names):
    return [call for call in adapter.calls if call[0] in names]


def test_new_records_go_out_in_one_batch_request_per_100(app, adapter):
    pks = users(app, 250)
    outcome = user_batch(app, pks)
    assert outcome.counts["synced"] == 250
    assert [len(call[2]) for call in batch_calls(adapter, "batch_upsert")] == [100, 100, 50]
    assert adapter.count("contacts") == 250


def test_synced_records_store_crm_id_and_digest_of_what_was_sent(app, adapter):
    pks = users(app, 3)
    user_batch(app, pks)
    for pk in pks:
        state = row(app, pk)
        payload = app.User.get_by_id(pk).build_crm_payload("hubspot")
        assert adapter.objects["contacts"][state.crm_id] == payload
        assert state.last_digest == etlify.digest.stable_sha256(payload)
        assert state.claim_token is None


def test_unchanged_records_cost_no_request(app, adapter):
    pks = users(app, 120)
    user_batch(app, pks)
    calls_before = len(adapter.calls)
    outcome = user_batch(app, pks)
    assert outcome.counts["not_modified"] == 120
    assert len(adapter.calls) == calls_before


def test_unchanged_records_are_written_back_in_bulk(app, adapter):
    pks = users(app, 300)
    user_batch(app, pks)
    with count_queries() as counter:
        user_batch(app, pks)
    assert counter.count <= 6


def test_queries_per_batch_do_not_grow_with_the_batch(app, adapter):
    pks = users(app, 1000)
    with count_queries() as small:
        user_batch(app, pks[:100])
    with count_queries() as large:
        user_batch(app, pks[100:])
    assert large.count - small.count <= 2 * (900 // 100)


def test_one_bad_record_in_100_costs_at_most_2_log2_100_plus_1_requests(database):
    adapter = PickyAdapter()
    app = make_app(database, adapter)
    pks = users(app, 100, bad={37})
    outcome = user_batch(app, pks)
    requests = batch_calls(adapter, "batch_upsert", "refused_batch")
    assert outcome.counts["synced"] == 99
    assert outcome.counts["errors"] == 1
    assert len(requests) - 1 <= 2 * math.log2(100) + 1


def test_a_refused_record_keeps_no_digest_and_records_its_error(database):
    adapter = PickyAdapter()
    app = make_app(database, adapter)
    pks = users(app, 10, bad={4})
    user_batch(app, pks)
    state = row(app, pks[4])
    assert state.last_digest is None and state.crm_id is None
    assert state.error_count == 1
    assert state.last_error_kind == "validation"
    assert "Property values were not valid" in state.last_error
    assert all(row(app, pk).error_count == 0 for pk in pks if pk != pks[4])


def test_partial_answer_keeps_the_healthy_records(database):
    adapter = PartialAdapter()
    app = make_app(database, adapter)
    pks = users(app, 20, bad={3, 11})
    outcome = user_batch(app, pks)
    assert (outcome.counts["synced"], outcome.counts["errors"]) == (18, 2)
    assert len(batch_calls(adapter, "batch_upsert")) == 1
    assert row(app, pks[3]).last_digest is None
    assert row(app, pks[5]).crm_id is not None


def test_an_answer_without_an_id_never_leaves_a_digest_without_crm_id(database):
    adapter = ForgetfulAdapter()
    app = make_app(database, adapter)
    pks = users(app, 5)
    outcome = user_batch(app, pks)
    assert outcome.counts["errors"] == 1
    assert Sync.select().where(Sync.crm_id.is_null() & Sync.last_digest.is_null(False)).count() == 0
    assert "no id" in row(app, pks[0]).last_error


def test_linked_records_are_updated_by_crm_id_so_an_email_change_keeps_the_contact(app, adapter):
    pks = users(app, 2)
    user_batch(app, pks)
    crm_ids = [row(app, pk).crm_id for pk in pks]
    for pk in pks:
        app.User.update(email=f"renamed.{pk}@example.com").where(app.User.id == pk).execute()
    user_batch(app, pks)
    assert batch_calls(adapter, "batch_update")[-1][2].keys() == set(crm_ids)
    assert adapter.objects["contacts"][crm_ids[0]]["email"].startswith("renamed.")
    assert adapter.count("contacts") == 2


def test_a_rate_limited_batch_waits_and_resumes_without_counting_failures(app, adapter):
    pks = users(app, 150)
    adapter.fail_next(RateLimited("429", retry_after=0.01, status=429))
    outcome = user_batch(app, pks)
    assert outcome.counts["synced"] == 150
    assert outcome.counts["errors"] == 0
    assert adapter.count("contacts") == 150


def test_a_transient_failure_is_recorded_without_spending_the_budget(app, adapter):
    pks = users(app, 5)
    adapter.fail_next(TransportError("connection dropped"))
    outcome = user_batch(app, pks)
    assert outcome.counts["errors"] == 5
    state = row(app, pks[0])
    assert state.last_error_kind == "transient"
    assert state.error_count == 0
    assert state.claim_token is None


def test_a_serializer_failure_fails_only_its_record(database, adapter):
    app = define_models(database)

    class Fragile(app.UserSerializer):
        def as_crm_payload(self):
            if self.record.first_name == "U2":
                raise KeyError("missing")
            return super().as_crm_payload()

    etlify.register("hubspot", adapter=adapter)
    app.User.etlified_with(
        "hubspot", serializer=Fragile, crm_object_type="contacts", id_property="email"
    )
    etlify.create_tables()
    pks = users(app, 5)
    outcome = user_batch(app, pks)
    assert outcome.counts["synced"] == 4
    assert row(app, pks[2]).last_error_kind == "serializer"


def test_sync_if_false_records_are_skipped_and_stamped(database, adapter):
    app = make_app(database, adapter, sync_if=lambda user: not user.email.startswith("bad"))
    pks = users(app, 4, bad={1})
    outcome = user_batch(app, pks)
    assert outcome.counts["skipped"] == 1
    assert row(app, pks[1]).last_synced_at is not None
    assert row(app, pks[1]).crm_id is None


def test_records_waiting_on_a_dependency_without_crm_id_are_buffered(database, adapter):
    app = make_app(database, adapter, sync_dependencies=["company"])
    app.Company.etlified_with(
        "hubspot",
        serializer=app.CompanySerializer,
        crm_object_type="companies",
        sync_if=lambda c: c.domain,
        replace=True,
    )
    hidden = app.Company.create(name="Hidden", domain=None)
    user = app.User.create(email="a@example.com", company=hidden)
    outcome = user_batch(app, [user.id])
    assert outcome.counts["buffered"] == 1
    assert etlify.PendingSync.select().count() == 1
    hidden.domain = "hidden.example"
    hidden.save()
    assert hidden.sync("hubspot", async_=False) == etlify.Status.SYNCED
    assert row(app, user.id).crm_id is not None
    assert etlify.PendingSync.select().count() == 0


def test_dependencies_get_synced_before_their_dependants_are_sent(database, adapter):
    app = make_app(database, adapter, sync_dependencies=["company"])
    company = app.Company.create(name="Acme", domain="acme.example")
    user = app.User.create(email="a@example.com", company=company)
    outcome = user_batch(app, [user.id])
    assert outcome.counts["synced"] == 1
    assert [(method, kind) for method, kind, _ in adapter.calls] == [
        ("upsert", "companies"),
        ("batch_upsert", "contacts"),
    ]
    assert company.crm_synchronisation("hubspot").crm_id is not None
    assert row(app, user.id).crm_id is not None


def test_dry_run_sends_and_writes_nothing_and_plans_each_record(app, adapter):
    pks = users(app, 3)
    user_batch(app, pks[:1])
    app.User.update(first_name="Changed").where(app.User.id == pks[0]).execute()
    calls_before = len(adapter.calls)
    rows_before = list(Sync.select().tuples())
    outcome = user_batch(app, pks, dry_run=True)
    assert len(adapter.calls) == calls_before
    assert list(Sync.select().tuples()) == rows_before
    assert [entry["action"] for entry in outcome.plan] == ["update", "create", "create"]
    assert outcome.plan[0]["payload"]["firstname"] == "Changed"


def test_records_claimed_by_another_worker_are_left_alone(app, adapter):
    pks = users(app, 3)
    user_batch(app, pks[:1])
    Sync.update(claim_token="other", claimed_until=etlify.config.now().replace(year=2999)).where(
        Sync.resource_id == str(pks[0])
    ).execute()
    app.User.update(first_name="Changed").execute()
    outcome = user_batch(app, pks)
    assert outcome.counts["busy"] == 1
    assert outcome.counts["synced"] == 2


@pytest.mark.parametrize("count", [1, 99, 100, 101])
def test_every_record_is_sent_exactly_once_around_the_request_size(app, adapter, count):
    pks = users(app, count)
    user_batch(app, pks)
    sent = [r["email"] for call in batch_calls(adapter, "batch_upsert") for r in call[2]]
    assert sorted(sent) == sorted(f"user{i}@example.com" for i in range(count))


def test_unchanged_records_are_stamped_on_every_backend(any_app, adapter):
    pks = users(any_app, 3)
    user_batch(any_app, pks)
    first = row(any_app, pks[0]).last_synced_at
    outcome = user_batch(any_app, pks)
    assert outcome.counts["not_modified"] == 3
    assert row(any_app, pks[0]).last_synced_at >= first
    assert row(any_app, pks[0]).claim_token is None


def test_an_unchanged_record_whose_digest_moved_meanwhile_is_not_stamped(app, adapter):
    pks = users(app, 1)
    user_batch(app, pks)
    stale_row = row(app, pks[0])
    # Another worker synced a different payload after this batch read the row.
    Sync.update(last_digest="other", last_synced_at=None).where(Sync.id == stale_row.id).execute()
    rows = {str(pks[0]): stale_row_tuple(stale_row)}
    user_batch(app, pks, rows=rows)
    assert row(app, pks[0]).last_synced_at is None


def stale_row_tuple(state):
    return Row(*(getattr(state, name) for name in Row._fields))


class CompanyUserSerializer(BaseSerializer):
    def as_crm_payload(self):
        user = self.record
        return {
            "email": user.email,
            "company": user.company.name if user.company else None,
            "invested": str(sum(i.amount for i in user.investments)),
        }


def users_with_relations(database, adapter, **options):
    app = define_models(database)
    etlify.register("hubspot", adapter=adapter)
    app.User.etlified_with(
        "hubspot",
        serializer=CompanyUserSerializer,
        crm_object_type="contacts",
        id_property="email",
        **options,
    )
    etlify.create_tables()
    with app.db.atomic():
        for i in range(60):
            company = app.Company.create(name=f"Company {i}")
            user = app.User.create(email=f"user{i}@example.com", company=company)
            app.Investment.create(user=user, amount=i)
    return app, [user.id for user in app.User.select(app.User.id)]


def test_prefetched_relations_are_loaded_once_per_batch(database, adapter):
    app, pks = users_with_relations(database, adapter, prefetch=["company", "investments"])
    with count_queries() as counter:
        user_batch(app, pks)
    assert counter.count < 15
    assert adapter.objects["contacts"]["1"]["company"] == "Company 0"


def test_without_prefetch_a_serializer_reading_relations_queries_per_record(database, adapter):
    app, pks = users_with_relations(database, adapter)
    with count_queries() as counter:
        user_batch(app, pks)
    assert counter.count > 2 * 60


def test_prefetch_names_a_relation_of_the_model(database, adapter):
    app = define_models(database)
    etlify.register("hubspot", adapter=adapter)
    with pytest.raises(etlify.ConfigurationError, match="prefetch"):
        app.User.etlified_with(
            "hubspot",
            serializer=CompanyUserSerializer,
            crm_object_type="contacts",
            prefetch=["email"],
        )


def test_a_long_batch_keeps_its_claims_so_no_other_worker_creates_the_same_object(database):
    etlify.configure(claim_timeout=1)
    adapter = InMemoryAdapter(latency=0.05)
    app = make_app(database, adapter, id_property=None)
    pks = users(app, 40)
    batch = threading.Thread(target=user_batch, args=(app, pks))
    batch.start()
    time.sleep(1.5)  # past the first lease: the batch is still creating objects
    other = app.User.get_by_id(pks[-1]).sync("hubspot", async_=False)
    batch.join()
    assert other in (etlify.Status.NOT_MODIFIED, etlify.Status.SYNCED)
    assert adapter.count("contacts") == 40


def test_a_record_synced_elsewhere_after_the_batch_read_it_is_left_alone(database, adapter):
    app = define_models(database)
    edited = []

    class RacingSerializer(app.UserSerializer):
        def as_crm_payload(self):
            payload = super().as_crm_payload()
            if not edited:  # another worker edits and syncs the record meanwhile
                edited.append(True)
                app.User.update(first_name="Newer").execute()
                worker = threading.Thread(
                    target=lambda: app.User.get().sync("hubspot", async_=False)
                )
                worker.start()
                worker.join()
            return payload

    etlify.register("hubspot", adapter=adapter)
    app.User.etlified_with(
        "hubspot", serializer=RacingSerializer, crm_object_type="contacts", id_property="email"
    )
    etlify.create_tables()
    pks = users(app, 1)
    outcome = user_batch(app, pks)
    assert outcome.counts["busy"] == 1
    assert [o["firstname"] for o in adapter.objects["contacts"].values()] == ["Newer"]
    assert row(app, pks[0]).claim_token is None


def test_two_new_records_of_one_crm_identity_in_one_batch_fail_alone_unsent(any_app, adapter):
    first = any_app.User.create(email="bob@example.com")
    second = any_app.User.create(email="Bob@example.com")
    third = any_app.User.create(email="carol@example.com")
    outcome = user_batch(any_app, [first.id, second.id, third.id])
    assert (outcome.counts["synced"], outcome.counts["errors"]) == (1, 2)
    assert "have the same email" in row(any_app, second.id).last_error
    assert [o["email"] for o in adapter.objects["contacts"].values()] == ["carol@example.com"]
    assert Sync.select().where(Sync.claim_token.is_null(False)).count() == 0


def test_a_dependency_that_no_longer_exists_fails_only_its_record(database, adapter):
    app = make_app(database, adapter, sync_dependencies=["company"])
    company = app.Company.create(name="Gone")
    orphan = app.User.create(email="orphan@example.com", company=company)
    fine = app.User.create(email="fine@example.com")
    app.Company.delete().where(app.Company.id == company.id).execute()
    outcome = user_batch(app, [orphan.id, fine.id])
    assert (outcome.counts["synced"], outcome.counts["errors"]) == (1, 1)
    assert row(app, orphan.id).last_error.startswith("CompanyDoesNotExist")
