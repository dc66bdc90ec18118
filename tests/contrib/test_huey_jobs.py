"""Huey jobs in immediate mode (``MemoryHuey``): tasks, retries and the periodic stale sync."""

from __future__ import annotations

import datetime as dt

import pytest
from huey import MemoryHuey, crontab

import etlify
from etlify.adapters import HubspotV3Adapter
from etlify.contrib.huey import HueyJobs, huey_jobs, stale_sync_task

from ..models import define_models


@pytest.fixture
def huey():
    return MemoryHuey("etlify-test", immediate=True)


@pytest.fixture
def models(database, hubspot, huey):
    """The test users, etlified for FakeHubSpot with Huey as the CRM's job class."""
    adapter = HubspotV3Adapter(access_token=hubspot.token, base_url=hubspot.url, retries=0)
    etlify.register("hubspot", adapter=adapter, job_class=huey_jobs(huey, retry_delay=0))
    models = define_models(database)
    models.User.etlified_with(
        "hubspot",
        serializer=models.UserSerializer,
        crm_object_type="contacts",
        id_property="email",
    )
    etlify.create_tables()
    return models


def test_huey_jobs_is_a_job_class(huey):
    jobs = huey_jobs(huey)
    etlify.register("hubspot", adapter=etlify.testing.InMemoryAdapter(), job_class=jobs)
    assert isinstance(jobs, HueyJobs)


def test_an_async_sync_runs_as_a_huey_task(models, hubspot):
    user = models.User.create(email="ada@example.com", first_name="Ada")
    result = user.sync()
    assert result.get() == "synced"
    [contact] = hubspot.objects("contacts")
    assert contact["properties"]["firstname"] == "Ada"
    assert user.crm_synchronisation("hubspot").crm_id == contact["id"]


def test_a_batch_runs_as_one_huey_task(models, hubspot, huey):
    users = [models.User.create(email=f"user{i}@example.com") for i in range(5)]
    jobs = etlify.registry.crm("hubspot").job_class
    result = jobs.perform_batch_later("User", [user.id for user in users], "hubspot")
    assert result.get()["synced"] == 5
    assert hubspot.object_count("contacts") == 5


def test_a_transient_failure_is_retried_by_huey(models, hubspot):
    user = models.User.create(email="ada@example.com")
    hubspot.fail_next(n=1, status=503)
    user.sync()
    assert hubspot.object_count("contacts") == 1
    state = user.crm_synchronisation("hubspot")
    assert state.crm_id is not None
    assert state.last_error is None


def test_a_validation_failure_is_recorded_not_retried(models, hubspot):
    user = models.User.create(email="ada@example.com")
    hubspot.fail_next(n=10, status=400)
    assert user.sync().get() == "error"
    state = user.crm_synchronisation("hubspot")
    assert state.error_count == 1
    assert state.last_error_kind == "validation"


def test_the_stale_sync_task_syncs_every_stale_record(models, hubspot, huey):
    for i in range(3):
        models.User.create(email=f"user{i}@example.com")
    task = stale_sync_task(huey, crontab(minute="*/15"), batch_size=2)
    task()
    assert hubspot.object_count("contacts") == 3


def test_the_stale_sync_task_runs_on_its_schedule(huey):
    stale_sync_task(huey, crontab(minute="*/15"))
    due = huey.read_periodic(dt.datetime(2026, 1, 2, 3, 15))
    assert [task.name for task in due] == ["etlify_stale_sync"]
    assert huey.read_periodic(dt.datetime(2026, 1, 2, 3, 16)) == []


def test_the_stale_sync_task_refuses_an_unknown_option(huey):
    with pytest.raises(TypeError):
        stale_sync_task(huey, crontab(), batch=10)


def test_defining_the_tasks_twice_on_one_huey_needs_another_name(huey):
    huey_jobs(huey)
    with pytest.raises(ValueError):
        huey_jobs(huey)
    assert huey_jobs(huey, name="reports").sync_task.name == "reports_sync"
