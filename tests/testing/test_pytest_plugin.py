"""The pytest plugin: fixtures an application's own tests ask for, and nothing else.

Each test writes a small application and its tests into a fresh directory
and runs pytest on them in a subprocess, with the plugin loaded from its
entry point as in any project that installs Etlify.
"""

from __future__ import annotations

import textwrap

APP = """
    from peewee import CharField, Model, SqliteDatabase

    import etlify
    from etlify.testing import InMemoryAdapter

    db = SqliteDatabase("app.db")
    ADAPTER = InMemoryAdapter()
    etlify.register("hubspot", adapter=ADAPTER)


    class User(etlify.EtlifyMixin, Model):
        email = CharField()

        class Meta:
            database = db


    class UserSerializer(etlify.BaseSerializer):
        def as_crm_payload(self):
            return {"email": self.record.email}


    User.etlified_with(
        "hubspot", serializer=UserSerializer, crm_object_type="contacts", id_property="email"
    )
    db.create_tables([User])
    etlify.create_tables()
"""


def run_suite(pytester, tests):
    """Run ``tests`` (a module's source) against ``APP``; pytest's result."""
    pytester.makepyfile(app=textwrap.dedent(APP), test_app=textwrap.dedent(tests))
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q")


def test_the_plugin_is_loaded_from_its_entry_point(pytester):
    result = pytester.runpytest_subprocess("--fixtures", "-q")

    result.stdout.fnmatch_lines(["*fake_hubspot*", "*etlify_immediate*", "*etlify_isolated*"])


def test_isolated_tests_keep_the_import_time_declarations_and_drop_their_own(pytester):
    result = run_suite(
        pytester,
        """
        import pytest

        import etlify
        from etlify.testing import InMemoryAdapter

        import app

        pytestmark = pytest.mark.usefixtures("etlify_isolated")


        def test_1_adds_a_crm_a_setting_and_a_receiver():
            etlify.register("other", adapter=InMemoryAdapter())
            etlify.configure(max_sync_errors=9)
            etlify.signals.synced.connect(lambda sender, **kwargs: None, weak=False)


        def test_2_sees_only_what_the_imports_declared():
            assert etlify.crm_names() == ["hubspot"]
            assert etlify.config.max_sync_errors == 3
            assert not etlify.signals.synced.receivers
            assert not hasattr(app.User, "other_sync")
            assert app.User.create(email="ada@example.com").sync(async_=False) == "synced"
        """,
    )

    result.assert_outcomes(passed=2)


def test_isolated_tests_start_with_a_closed_circuit_breaker(pytester):
    result = run_suite(
        pytester,
        """
        import pytest

        import etlify

        import app

        pytestmark = pytest.mark.usefixtures("etlify_isolated")


        def test_1_opens_the_breaker():
            error = etlify.Unauthorized("HTTP 401", status=401)
            assert etlify.registry.crm("hubspot").breaker.failed(error)


        def test_2_finds_it_closed():
            assert not etlify.registry.crm("hubspot").breaker.is_open
        """,
    )

    result.assert_outcomes(passed=2)


def test_without_the_fixture_nothing_is_put_back(pytester):
    result = run_suite(
        pytester,
        """
        import etlify
        from etlify.testing import InMemoryAdapter

        import app


        def test_1_adds_a_crm():
            etlify.register("other", adapter=InMemoryAdapter())


        def test_2_still_has_it():
            assert etlify.crm_names() == ["hubspot", "other"]
        """,
    )

    result.assert_outcomes(passed=2)


def test_fake_hubspot_is_emptied_before_each_test(pytester):
    result = run_suite(
        pytester,
        """
        from etlify.adapters import HubspotV3Adapter


        def test_1_creates_a_contact(fake_hubspot):
            client = HubspotV3Adapter(access_token=fake_hubspot.token, base_url=fake_hubspot.url)
            client.upsert("contacts", {"email": "ada@example.com"}, id_property="email")
            assert fake_hubspot.object_count("contacts") == 1


        def test_2_finds_none(fake_hubspot):
            assert fake_hubspot.object_count("contacts") == 0
            assert fake_hubspot.requests == []
        """,
    )

    result.assert_outcomes(passed=2)


def test_fake_hubspot_keeps_the_default_rate_limits_with_counts_emptied_per_test(pytester):
    result = run_suite(
        pytester,
        """
        import urllib3

        import pytest


        @pytest.mark.parametrize("run", [1, 2])
        def test_window_and_day_start_empty(fake_hubspot, run):
            answer = urllib3.PoolManager(retries=False).request(
                "GET",
                fake_hubspot.url + "/crm/v3/objects/contacts",
                headers={"Authorization": f"Bearer {fake_hubspot.token}"},
            )
            assert answer.headers["X-HubSpot-RateLimit-Max"] == "190"
            assert answer.headers["X-HubSpot-RateLimit-Remaining"] == "189"
            assert answer.headers["X-HubSpot-RateLimit-Daily-Remaining"] == "649999"
        """,
    )

    result.assert_outcomes(passed=2)


def test_etlify_immediate_runs_an_async_sync_inline(pytester):
    result = run_suite(
        pytester,
        """
        import app


        def test_sync_is_done_when_it_returns(etlify_immediate):
            app.User.create(email="ada@example.com").sync()

            assert [call[0] for call in app.ADAPTER.calls] == ["batch_upsert"]
        """,
    )

    result.assert_outcomes(passed=1)
