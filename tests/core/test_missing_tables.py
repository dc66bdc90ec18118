"""Using Etlify before its tables exist: one clear error naming the table and the fix."""

from __future__ import annotations

import logging

import pytest

import etlify
from etlify import BatchSync, ConfigurationError, CrmSynchronisation, PendingSync

from ..conftest import make_app

FIX = r"'crm_synchronisations' does not exist.*etlify\.create_tables\(\).*etlify create-tables"


@pytest.fixture
def tableless_app(any_database, adapter):
    app = make_app(any_database, adapter)
    any_database.create_tables([app.Company, app.User])
    any_database.drop_tables([CrmSynchronisation, PendingSync])
    return app


def test_a_sync_before_create_tables_raises_a_configuration_error_naming_the_table(
    tableless_app,
):
    user = tableless_app.User.create(email="ada@example.com")

    with pytest.raises(ConfigurationError, match=FIX):
        user.sync(async_=False)


def test_a_batch_sync_before_create_tables_raises_the_same_error(tableless_app):
    tableless_app.User.create(email="ada@example.com")

    with pytest.raises(ConfigurationError, match=FIX):
        BatchSync.call(async_=False)


def test_a_delete_before_create_tables_raises_the_same_error(tableless_app):
    user = tableless_app.User.create(email="ada@example.com")

    with pytest.raises(ConfigurationError, match=FIX):
        user.crm_delete("hubspot")
    with pytest.raises(ConfigurationError, match=FIX):
        tableless_app.User.crm_delete_many("hubspot", [user.id])


def test_a_job_that_meets_a_missing_table_logs_one_line_not_a_traceback(
    database, adapter, caplog
):
    app = make_app(database, adapter)
    database.create_tables([app.Company, app.User])
    database.drop_tables([CrmSynchronisation, PendingSync])
    user = app.User.create(email="ada@example.com")

    with caplog.at_level(logging.ERROR, logger="etlify"):
        handle = user.sync()
        assert etlify.jobs.wait(timeout=10)

    with pytest.raises(ConfigurationError, match=FIX):
        handle.result(timeout=0)
    [record] = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert record.exc_info is None
    assert "create_tables" in record.getMessage()
