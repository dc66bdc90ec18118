"""A backfill stops at the day's reserve; single syncs still go through."""

from __future__ import annotations

import etlify
from etlify.adapters import HubspotV3Adapter
from etlify.testing.hubspot import FakeHubSpot

from ..models import define_models


def test_a_backfill_stops_at_the_daily_reserve_and_leaves_its_records_stale(database):
    with FakeHubSpot(daily_limit=1_000) as fake:
        etlify.register(
            "hubspot",
            adapter=HubspotV3Adapter(access_token=fake.token, base_url=fake.url),
            rate_limit={"max_requests": 100, "period": 10, "daily_reserve": 0.05},
        )
        app = define_models(database)
        app.User.etlified_with(
            "hubspot",
            serializer=app.UserSerializer,
            crm_object_type="contacts",
            id_property="email",
        )
        etlify.create_tables()
        first = app.User.create(email="first@example.com")
        for n in range(20):
            app.User.create(email=f"u{n}@example.com")
        fake.daily_used = 960  # 40 left of 1,000: under the 5% reserve
        assert first.sync(async_=False) == "synced"  # its answer tells the day's figures
        sent = len(fake.requests)

        stats = etlify.BatchSync.call(models=[app.User], async_=False)

        assert len(fake.requests) == sent  # the backfill sent nothing
        assert stats["synced"] == 0 and "hubspot" in stats["stopped"]
        assert etlify.Finder.call(models=[app.User])[app.User]["hubspot"].count() == 20
        last = app.User.get(app.User.email == "u19@example.com")
        assert last.sync(async_=False) == "synced"  # single syncs spend the reserve
