"""etlify.configure, etlify.config and the CRM registry."""

from __future__ import annotations

import logging

import pytest

import etlify
import etlify.testing
from etlify.adapters import HubspotV3Adapter, NullAdapter
from etlify.testing import InMemoryAdapter


def test_configure_returns_the_live_config_object():
    logger = logging.getLogger("etlify.test")

    returned = etlify.configure(logger=logger, max_sync_errors=7)

    assert returned is etlify.config
    assert etlify.config.logger is logger
    assert etlify.config.max_sync_errors == 7


def test_config_defaults_match_the_contract():
    assert etlify.config.database is None
    assert etlify.config.logger is logging.getLogger("etlify")
    assert etlify.config.digest_strategy is etlify.digest.stable_sha256
    assert etlify.config.max_sync_errors == 3


def test_configure_rejects_an_unknown_option_as_configuration_error():
    with pytest.raises(etlify.ConfigurationError, match="unknown option"):
        etlify.configure(max_sync_erors=3)


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_configure_rejects_a_bad_error_budget(value):
    with pytest.raises(etlify.ConfigurationError, match="max_sync_errors"):
        etlify.configure(max_sync_errors=value)


def test_the_breaker_and_history_defaults():
    config = etlify.config
    assert (config.breaker_failures, config.breaker_cooldown) == (3, 30.0)
    assert config.run_retention_days == 90


@pytest.mark.parametrize("value", [0, -1, 1.5, True, "3"])
def test_configure_rejects_a_bad_breaker_failure_count(value):
    with pytest.raises(etlify.ConfigurationError, match="breaker_failures"):
        etlify.configure(breaker_failures=value)


@pytest.mark.parametrize("value", [-1, True, "30", None])
def test_configure_rejects_a_bad_breaker_cooldown(value):
    with pytest.raises(etlify.ConfigurationError, match="breaker_cooldown"):
        etlify.configure(breaker_cooldown=value)


@pytest.mark.parametrize("value", [0, -1, 1.5, "90"])
def test_configure_rejects_a_bad_run_retention(value):
    with pytest.raises(etlify.ConfigurationError, match="run_retention_days"):
        etlify.configure(run_retention_days=value)


def test_a_run_retention_of_none_keeps_every_run():
    etlify.configure(run_retention_days=None)

    assert etlify.config.run_retention_days is None


def test_configure_rejects_a_digest_strategy_that_is_not_callable():
    with pytest.raises(etlify.ConfigurationError, match="digest_strategy"):
        etlify.configure(digest_strategy="sha256")


def test_configuration_error_is_a_value_error():
    assert issubclass(etlify.ConfigurationError, ValueError)


def test_register_adds_a_crm_to_crm_names_in_registration_order():
    etlify.register("hubspot", adapter=InMemoryAdapter())
    etlify.register("salesforce", adapter=NullAdapter())

    assert etlify.crm_names() == ["hubspot", "salesforce"]


def test_a_crm_is_enabled_by_default_and_can_be_registered_disabled():
    etlify.register("hubspot", adapter=InMemoryAdapter())
    etlify.register("salesforce", adapter=NullAdapter(), enabled=False)

    assert etlify.is_enabled("hubspot") is True
    assert etlify.is_enabled("salesforce") is False


def test_is_enabled_for_an_unknown_crm_raises_configuration_error():
    with pytest.raises(etlify.ConfigurationError, match="unknown CRM 'pipedrive'"):
        etlify.is_enabled("pipedrive")


def test_register_refuses_an_adapter_class_instead_of_an_instance():
    with pytest.raises(etlify.ConfigurationError, match="instance"):
        etlify.register("hubspot", adapter=InMemoryAdapter)
    assert etlify.crm_names() == []


@pytest.mark.parametrize("enabled", [1, 0, "yes", None])
def test_register_refuses_a_non_boolean_enabled(enabled):
    with pytest.raises(etlify.ConfigurationError, match="enabled"):
        etlify.register("hubspot", adapter=InMemoryAdapter(), enabled=enabled)


def test_register_refuses_an_unknown_option_as_configuration_error():
    with pytest.raises(etlify.ConfigurationError, match="batch_size"):
        etlify.register("hubspot", adapter=InMemoryAdapter(), batch_size=10)


def test_register_refuses_a_job_class_without_perform_later():
    with pytest.raises(etlify.ConfigurationError, match="perform_later"):
        etlify.register("hubspot", adapter=InMemoryAdapter(), job_class=object())


def test_register_refuses_a_bad_crm_error_budget():
    with pytest.raises(etlify.ConfigurationError, match="max_sync_errors"):
        etlify.register("hubspot", adapter=InMemoryAdapter(), max_sync_errors=0)


@pytest.mark.parametrize(
    "rate_limit",
    [
        {"max_requests": 0, "period": 10.0},
        {"max_requests": 100, "period": -1},
        {"max_requests": 100},
        {"max_requests": 100, "period": 10.0, "burst": 5},
        "100/10s",
    ],
)
def test_register_refuses_a_bad_rate_limit(rate_limit):
    with pytest.raises(etlify.ConfigurationError, match="hubspot"):
        etlify.register("hubspot", adapter=InMemoryAdapter(), rate_limit=rate_limit)
    assert etlify.crm_names() == []


def test_register_with_a_rate_limit_still_reaches_the_adapter():
    adapter = InMemoryAdapter()
    entry = etlify.register(
        "hubspot", adapter=adapter, rate_limit={"max_requests": 100, "period": 10.0}
    )

    crm_id = entry.adapter.upsert("contacts", {"email": "a@example.com"}, id_property="email")

    assert entry.rate_limiter is not None
    assert adapter.objects["contacts"][crm_id] == {"email": "a@example.com"}


def test_the_registration_rate_limit_replaces_the_adapters_own():
    adapter = HubspotV3Adapter(
        access_token="pat-na1-test", rate_limit={"max_requests": 190, "period": 10.0}
    )
    etlify.register("hubspot", adapter=adapter, rate_limit={"max_requests": 20, "period": 10.0})

    assert adapter.rate_limiter.max_requests == 20


def test_a_crm_name_whose_methods_would_hide_etlifys_own_is_refused():
    with pytest.raises(etlify.ConfigurationError, match="crm_sync"):
        etlify.register("crm", adapter=InMemoryAdapter())
    etlify.testing.reset()
    assert callable(etlify.EtlifyMixin.crm_sync)


def test_registering_again_under_one_name_replaces_the_entry():
    first, second = InMemoryAdapter(), InMemoryAdapter()
    etlify.register("hubspot", adapter=first)
    etlify.register("hubspot", adapter=second, enabled=False)

    assert etlify.crm_names() == ["hubspot"]
    assert etlify.is_enabled("hubspot") is False
    assert etlify.registry.crm("hubspot").adapter is second


def test_reregistering_a_crm_sends_syncs_to_the_new_adapter(app, user):
    replacement = InMemoryAdapter()
    etlify.register("hubspot", adapter=replacement)

    assert user.sync("hubspot", async_=False) == etlify.Status.SYNCED
    assert replacement.count("contacts") == 1


def test_reset_forgets_every_crm_model_and_setting(app):
    etlify.configure(max_sync_errors=9)

    etlify.testing.reset()

    assert etlify.crm_names() == []
    assert etlify.etlified_models() == []
    assert etlify.config.max_sync_errors == 3
    assert etlify.config.database is None
    assert not hasattr(app.User, "hubspot_sync")


def test_an_aware_clock_is_refused_at_configure_with_a_clear_error():
    import datetime as dt

    with pytest.raises(etlify.ConfigurationError, match="now must return a naive datetime"):
        etlify.configure(now=lambda: dt.datetime.now(dt.timezone.utc))
