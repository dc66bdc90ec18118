"""B9, B10 and B11: Etlify's own CPU per record, one inline sync, a large sync at HubSpot's limit.

Each figure is a ratio against a floor measured in the same run; the
emulator runs in a process of its own (:mod:`benchmarks.remote`).
"""

from __future__ import annotations

import json
import math
import os
import resource
import time
from collections import Counter
from typing import Any

import urllib3

import etlify
from etlify.adapters import HubspotV3Adapter
from etlify.digest import stable_sha256
from etlify.state import CrmSynchronisation
from etlify.status import Status
from etlify.testing import reset

from .remote import RemoteHubSpot
from .scenarios import RUNS_OF_NOISY_FIGURES, _declare, analyze, fresh_app, row

__all__ = ["SqlCounter", "b9_cpu_per_record", "b10_inline_sync", "b11_physical_limit"]

#: HubSpot Professional's burst limit, which FakeHubSpot enforces by default.
PRO_LIMIT, PRO_WINDOW = 190, 10.0


class SqlCounter:
    """Counts the statements a database runs (a query hook), and the time they take, per
    statement kind, and its explicit transactions (its ``begin``)."""

    def __init__(self, database: Any) -> None:
        self.database = database
        self.kinds: Counter = Counter()
        #: Seconds the statements of each kind took, as Peewee timed them.
        self.seconds: Counter = Counter()
        self.transactions = 0

    @property
    def statements(self) -> int:
        return sum(self.kinds.values())

    def __enter__(self) -> SqlCounter:
        begin = self.database.begin

        def counted_begin(*args: Any, **kwargs: Any) -> Any:
            self.transactions += 1
            return begin(*args, **kwargs)

        self.database.begin = counted_begin
        self.database.query_hooks.append(self._hook)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.database.query_hooks.remove(self._hook)
        del self.database.begin

    def _hook(self, event: Any) -> None:
        kind = event.sql.split(None, 1)[0].upper()
        self.kinds[kind] += 1
        self.seconds[kind] += event.duration


def _cpu() -> float:
    """This process's user + system CPU seconds (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _edit_all(app: Any, tag: str) -> None:
    """Change every user's payload (and stamp it), so that each needs a sync."""
    app.User.update(
        first_name=app.User.first_name.concat(tag), updated_at=etlify.config.now()
    ).execute()


def b9_cpu_per_record(records: int, workdir: str) -> list[dict]:
    """Backfill CPU seconds per record ÷ loading, serializing, digesting and JSON-encoding them."""
    db, app = fresh_app(workdir, "b9.db", records)
    etlify_cpu, stats = math.inf, {}
    with RemoteHubSpot(rate_limit=None) as hs:
        _declare(app, HubspotV3Adapter(access_token=hs.token, base_url=hs.url))
        for _ in range(RUNS_OF_NOISY_FIGURES):  # a fresh backfill each time
            hs.reset()
            CrmSynchronisation.delete().execute()
            start = _cpu()
            stats = etlify.BatchSync.call(models=[app.User], async_=False)
            etlify_cpu = min(etlify_cpu, _cpu() - start)
        contacts = hs.stats()["objects"]["contacts"]

    def floor_once() -> None:
        inputs = []
        for user in app.User.select():
            payload = app.UserSerializer(user).as_crm_payload()
            stable_sha256(payload)
            inputs.append({"idProperty": "email", "id": payload["email"], "properties": payload})
            if len(inputs) == 100:
                json.dumps({"inputs": inputs}).encode()
                inputs = []
        json.dumps({"inputs": inputs}).encode()

    floor = math.inf
    for _ in range(RUNS_OF_NOISY_FIGURES):
        start = _cpu()
        floor_once()
        floor = min(floor, _cpu() - start)
    db.close()
    reset()
    ratio = etlify_cpu / floor
    return [
        row(
            "B9",
            "backfill CPU per record ÷ load+serialize+digest+JSON",
            ratio,
            "≤ 2",
            ratio <= 2 and stats["synced"] == records and contacts == records,
            records=records,
            etlify_us_per_record=etlify_cpu / records * 1e6,
            floor_us_per_record=floor / records * 1e6,
        )
    ]


def b10_inline_sync(
    records: int, workdir: str, url: str | None = None, label: str = "SQLite"
) -> list[dict]:
    """``record.sync(async_=False)`` of changed records ÷ a bare PATCH of the same payloads."""
    db, app = fresh_app(workdir, "b10.db", records, url=url)
    sync_row = CrmSynchronisation
    with RemoteHubSpot(rate_limit=None) as hs:
        _declare(app, HubspotV3Adapter(access_token=hs.token, base_url=hs.url))
        etlify.BatchSync.call(models=[app.User], async_=False)
        analyze(db)
        crm_ids = dict(
            sync_row.select(sync_row.resource_id, sync_row.crm_id)
            .where(sync_row.resource_type == "User")
            .tuples()
        )
        pool = urllib3.PoolManager()
        headers = {
            "Authorization": f"Bearer {hs.token}",
            "Content-Type": "application/json",
            "Accept": "application/json",
        }
        base = f"{hs.url}/crm/v3/objects/contacts/"
        best_sync = best_floor = math.inf
        counter = statuses = None
        requests = 0
        for run in range(RUNS_OF_NOISY_FIGURES):
            _edit_all(app, f"-{run}")
            users = list(app.User.select().order_by(app.User.id))
            payloads = [(crm_ids[str(u.id)], app.UserSerializer(u).as_crm_payload()) for u in users]
            start = time.perf_counter()
            for crm_id, payload in payloads:
                body = json.dumps({"properties": payload}).encode()
                answer = pool.request("PATCH", base + crm_id, body=body, headers=headers)
                assert answer.status == 200, answer.status
            best_floor = min(best_floor, time.perf_counter() - start)
            before = hs.stats()["requests"]
            with SqlCounter(db) as counting:
                start = time.perf_counter()
                outcome = [user.sync("hubspot", async_=False) for user in users]
                best_sync = min(best_sync, time.perf_counter() - start)
            requests = hs.stats()["requests"] - before
            counter, statuses = counting, Counter(str(status) for status in outcome)
    db.close()
    reset()
    ratio = best_sync / best_floor
    all_synced = statuses == Counter({str(Status.SYNCED): records})
    return [
        row(
            "B10",
            f"{label}: inline sync of a changed record ÷ bare PATCH",
            ratio,
            "≤ 1.5",
            ratio <= 1.5 and all_synced and requests == records,
            records=records,
            sync_ms=best_sync / records * 1000,
            patch_ms=best_floor / records * 1000,
            requests_per_sync=requests / records,
            statuses=dict(statuses),
        ),
        row(
            "B10",
            f"{label}: SQL statements per inline sync",
            counter.statements / records,
            "-",
            all_synced,
            per_kind={kind: n / records for kind, n in counter.kinds.items()},
            ms_per_kind={kind: t / records * 1000 for kind, t in counter.seconds.items()},
            transactions_per_sync=counter.transactions / records,
        ),
        row(
            "B10",
            f"{label}: explicit transactions per inline sync",
            counter.transactions / records,
            "-",
            all_synced,
        ),
    ]


def b11_physical_limit(
    records: int,
    workdir: str,
    url: str | None = None,
    label: str = "SQLite",
    window: float = PRO_WINDOW,
) -> list[dict]:
    """New, then changed contacts against HubSpot Pro's budget: wall ÷ ceil(N/100) at 19/s.

    ``window`` shorter than HubSpot's 10 s keeps the rate (19/s) with a smaller
    burst: a short run still spends most of its time at the limit (``--quick``).
    """
    db, app = fresh_app(workdir, "b11.db", records, url=url)
    limit = round(PRO_LIMIT * window / PRO_WINDOW)
    floor = math.ceil(records / 100) / (limit / window)
    rows, requests = [], 0
    # FakeHubSpot's default metering is HubSpot Pro's (190 / rolling 10 s), with headers.
    metering = {} if window == PRO_WINDOW else {"rate_limit": limit, "rate_window": window}
    with RemoteHubSpot(**metering) as hs:
        adapter = HubspotV3Adapter(access_token=hs.token, base_url=hs.url)
        _declare(app, adapter, rate_limit={"max_requests": limit, "period": window})
        for phase in ("new", "changed"):
            if phase == "changed":
                _edit_all(app, "-changed")
                if requests + math.ceil(records / 100) > limit:
                    # The window is rolling: the second phase starts on a whole budget.
                    time.sleep(window)
            before = hs.stats()
            start_cpu, start = _cpu(), time.perf_counter()
            stats = etlify.BatchSync.call(models=[app.User], async_=False)
            wall = time.perf_counter() - start
            cpu = _cpu() - start_cpu
            after = hs.stats()
            requests = after["requests"] - before["requests"]
            limited = after["statuses"].get(429, 0) - before["statuses"].get(429, 0)
            done = stats["synced"] == records and after["objects"]["contacts"] == records
            rows += [
                row(
                    "B11",
                    f"{label}: {records:,} {phase} contacts, wall ÷ floor ({limit}/{window:g} s)",
                    wall / floor,
                    "≤ 1.05",
                    wall / floor <= 1.05 and done,
                    wall_s=wall,
                    floor_s=floor,
                    requests=requests,
                    answers_429=limited,
                    synced=stats["synced"],
                ),
                row(
                    "B11",
                    f"{label}: {phase} contacts, syncing process CPU ÷ wall",
                    cpu / wall,
                    "≤ 0.15",
                    cpu / wall <= 0.15 and done,
                    cpu_s=cpu,
                    load=os.getloadavg()[0],
                ),
            ]
    db.close()
    reset()
    return rows
