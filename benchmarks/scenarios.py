"""The benchmark scenarios B1–B7. Each returns a row: figure, value, target, verdict, details."""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from typing import Any, Callable

from peewee import MySQLDatabase
from playhouse.db_url import connect

import etlify
from etlify.adapters import HubspotV3Adapter, NullAdapter
from etlify.digest import stable_sha256
from etlify.errors import ValidationFailed
from etlify.status import Status
from etlify.testing import InMemoryAdapter, reset

from .data import define, mark_synced, populate
from .remote import RemoteHubSpot

# The scenarios that measure Etlify's own speed or request counts (B2, B3, B6,
# B7) run FakeHubSpot with rate_limit=None: its default window (190 requests
# per 10 s) would throttle them. B4 measures the rate budget, under a limit of its own.

#: The settings the README recommends for a file database shared by threads.
SQLITE_PRAGMAS = {"journal_mode": "wal", "synchronous": "normal"}
T0 = dt.datetime(2026, 1, 1)
T1 = T0 + dt.timedelta(days=1)
T2 = T0 + dt.timedelta(days=2)


def row(scenario: str, figure: str, value: float, target: str, ok: bool, **details: Any) -> dict:
    return {
        "scenario": scenario,
        "figure": figure,
        "value": round(value, 4),
        "target": target,
        "ok": ok,
        "details": details,
    }


#: Timing ratios on a shared machine: each side is the best of this many runs.
RUNS_OF_NOISY_FIGURES = 3


def best_of(runs: int, work: Callable[[], Any]) -> float:
    """The fastest of ``runs`` timings of ``work()``, in seconds."""
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        work()
        best = min(best, time.perf_counter() - start)
    return best


def open_db(url: str | None, workdir: str, name: str):
    """A fresh database: SQLite file in ``workdir`` unless a URL is given."""
    if url:
        return connect(url)
    return connect(f"sqlite:///{os.path.join(workdir, name)}", pragmas=SQLITE_PRAGMAS, timeout=60)


def fresh_app(
    workdir: str, name: str, users: int, url: str | None = None, companies: int | None = None
):
    """Etlify reset, a fresh database with ``users`` users (a company per 100 unless given)."""
    reset()
    db = open_db(url, workdir, name)
    app = define(db)
    populate(app, users, companies or max(1, users // 100), T0)
    return db, app


def analyze(db) -> None:
    """Fresh planner statistics for every table, as a running server's autovacuum (or
    MariaDB's own sampling) would hold by the time it serves syncs: without them,
    PostgreSQL may pick another index than the one a statement's equalities name."""
    if not isinstance(db, MySQLDatabase):
        db.execute_sql("ANALYZE")
    else:
        db.execute_sql("ANALYZE TABLE user, company, owner, region, crm_synchronisations")


def _declare(app, adapter, *, user_dependencies=(), id_property="email", **register) -> None:
    etlify.register("hubspot", adapter=adapter, **register)
    app.Company.etlified_with(
        "hubspot", serializer=app.CompanySerializer, crm_object_type="companies"
    )
    app.User.etlified_with(
        "hubspot",
        serializer=app.UserSerializer,
        crm_object_type="contacts",
        id_property=id_property,
        dependencies=list(user_dependencies),
    )


#: B1's dependency paths: one hop (a user's company), three (its company's owner's region).
B1_PATHS = {1: "company", 3: "company.owner.region"}


def b1_stale_scan(
    users: int,
    companies: int,
    stale: int,
    workdir: str,
    url: str | None = None,
    label: str = "SQLite",
    hops: tuple[int, ...] = (1, 3),
) -> list[dict]:
    """Finder time ÷ ``SELECT id FROM user ORDER BY id``, all fresh and with ``stale`` stale,
    for each dependency path of ``hops`` hops."""
    rows = []
    for hop in hops:
        rows += _b1_one_path(users, companies, stale, workdir, url, label, B1_PATHS[hop], hop)
    return rows


def _b1_one_path(users, companies, stale, workdir, url, label, path, hop) -> list[dict]:
    from etlify.stale import Finder

    db, app = fresh_app(workdir, f"b1-{hop}.db", users, url=url, companies=companies)
    _declare(app, NullAdapter(), user_dependencies=[path])
    mark_synced(app, app.User, users, T1)
    mark_synced(app, app.Company, companies, T1)
    analyze(db)
    query = Finder.query(etlify.declarations.sync_config(app.User, "hubspot"))
    baseline_query = app.User.select(app.User.id).order_by(app.User.id)

    def timings() -> tuple[float, float, int]:
        baseline = best_of(3, lambda: list(baseline_query.tuples()))
        found = []
        finder = best_of(3, lambda: found.append(len(list(query.tuples()))))
        return baseline, finder, found[-1]

    server = _server_cache(db)
    fresh_base, fresh_finder, fresh_found = timings()
    direct = stale // 2
    # The other half is made stale through the path's far end.
    far, per_far = (
        (app.Company, users // companies) if hop == 1 else (app.Region, _users_per_region(app))
    )
    far_count = far.select().count()
    via_far = max(1, (stale - direct) // per_far)
    with db.atomic():
        app.User.update(updated_at=T2).where(app.User.id <= direct).execute()
        far.update(updated_at=T2).where(far.id > far_count - via_far).execute()
    if hop == 1:
        reached, far_key = app.User.select(), app.User.company
    else:
        reached, far_key = app.User.select().join(app.Company).join(app.Owner), app.Owner.region
    edited = far_count - via_far
    expected = direct + reached.where((far_key > edited) & (app.User.id > direct)).count()
    stale_base, stale_finder, stale_found = timings()
    db.close()
    reset()
    name = f"{label}: {hop}-hop path ({path})"
    return [
        row(
            "B1",
            f"{name}: finder ÷ scan, all fresh",
            fresh_finder / fresh_base,
            "≤ 1",
            fresh_finder / fresh_base <= 1 and fresh_found == 0,
            users=users,
            companies=companies,
            finder_s=fresh_finder,
            scan_s=fresh_base,
            found=fresh_found,
            **server,
        ),
        row(
            "B1",
            f"{name}: finder ÷ scan, {expected} stale",
            stale_finder / stale_base,
            "≤ 1",
            stale_finder / stale_base <= 1 and stale_found == expected,
            finder_s=stale_finder,
            scan_s=stale_base,
            found=stale_found,
            expected=expected,
        ),
    ]


def _server_cache(db) -> dict:
    """The memory the server caches its pages in, where it is the server's own: MariaDB's
    buffer pool (InnoDB bypasses the OS cache), which decides whether B1's lookups read
    the disk at 1,000,000 rows."""
    if not isinstance(db, MySQLDatabase):
        return {}
    (size,) = db.execute_sql("SELECT @@innodb_buffer_pool_size").fetchone()
    return {"innodb_buffer_pool_mb": int(size) // 2**20}


def _users_per_region(app) -> int:
    return max(1, app.User.select().count() // max(1, app.Region.select().count()))


def b2_noop_resync(records: int, workdir: str) -> list[dict]:
    """Inline batch re-sync of unchanged records: requests, and time ÷ serializer+digest loop."""
    db, app = fresh_app(workdir, "b2.db", records)
    with RemoteHubSpot(rate_limit=None) as hs:
        _declare(app, HubspotV3Adapter(access_token=hs.token, base_url=hs.url))
        etlify.BatchSync.call(models=[app.User], async_=False)
        before = hs.stats()["requests"]
        resync, stats = math.inf, {}
        for _ in range(RUNS_OF_NOISY_FIGURES):  # every record stale again, then the best run
            app.User.update(updated_at=etlify.config.now()).execute()
            start = time.perf_counter()
            stats = etlify.BatchSync.call(models=[app.User], async_=False)
            resync = min(resync, time.perf_counter() - start)
        requests = hs.stats()["requests"] - before

    def bare_loop() -> None:
        for user in app.User.select():
            stable_sha256(app.UserSerializer(user).as_crm_payload())

    baseline = best_of(RUNS_OF_NOISY_FIGURES, bare_loop)
    db.close()
    reset()
    return [
        row(
            "B2",
            "no-op re-sync: HTTP requests",
            requests,
            "0",
            requests == 0,
            not_modified=stats["not_modified"],
        ),
        row(
            "B2",
            "no-op re-sync ÷ serializer+digest loop",
            resync / baseline,
            "≤ 1.3",
            resync / baseline <= 1.3 and stats["not_modified"] == records,
            records=records,
            resync_s=resync,
            loop_s=baseline,
        ),
    ]


def b3_backfill(
    records: int, single_sample: int, workdir: str, url: str | None = None, label: str = "SQLite"
) -> list[dict]:
    """First backfill: requests ÷ ceil(N/100). Single syncs (``record.sync(async_=False)``):
    requests per new record with an ``id_property``, per changed record with a CRM id, and
    the batch path's requests per record ÷ the single path's."""
    db, app = fresh_app(workdir, "b3.db", records, url=url)
    with RemoteHubSpot(rate_limit=None) as hs:
        adapter = HubspotV3Adapter(access_token=hs.token, base_url=hs.url)
        _declare(app, adapter)
        start = time.perf_counter()
        stats = etlify.BatchSync.call(models=[app.User], async_=False)
        elapsed = time.perf_counter() - start
        figures = hs.stats()
        batch_requests, contacts = figures["requests"], figures["objects"]["contacts"]
        hs.reset()
        reset()
        db2 = open_db(url, workdir, "b3-single.db") if not url else db
        app = define(db2)
        populate(app, single_sample, max(1, single_sample // 100), T0)
        _declare(app, HubspotV3Adapter(access_token=hs.token, base_url=hs.url))
        users = list(app.User.select())
        created = Counter(str(user.sync("hubspot", async_=False)) for user in users)
        new_requests = hs.stats()["requests"]
        app.User.update(first_name=app.User.first_name.concat("-changed")).execute()
        updated = Counter(str(user.sync("hubspot", async_=False)) for user in users)
        changed_requests = hs.stats()["requests"] - new_requests
        single_contacts = hs.stats()["objects"]["contacts"]
    db.close()
    reset()
    ideal = math.ceil(records / 100)
    synced_all = {str(Status.SYNCED): single_sample}
    per_new = new_requests / single_sample
    per_changed = changed_requests / single_sample
    ratio = (batch_requests / records) / per_new
    return [
        row(
            "B3",
            f"{label}: backfill requests ÷ ceil(N/100)",
            batch_requests / ideal,
            "≤ 1.05",
            batch_requests / ideal <= 1.05 and contacts == records,
            records=records,
            requests=batch_requests,
            contacts=contacts,
            synced=stats["synced"],
            seconds=elapsed,
        ),
        row(
            "B3",
            f"{label}: requests per single sync, new record with id_property",
            per_new,
            "1",
            per_new == 1 and created == synced_all and single_contacts == single_sample,
            sample=single_sample,
            requests=new_requests,
            statuses=dict(created),
        ),
        row(
            "B3",
            f"{label}: requests per single sync, changed record with a CRM id",
            per_changed,
            "1",
            per_changed == 1 and updated == synced_all,
            sample=single_sample,
            requests=changed_requests,
            statuses=dict(updated),
        ),
        row(
            "B3",
            f"{label}: batch ÷ single-sync requests per new record",
            ratio,
            "≤ 0.02",
            ratio <= 1 / 50,
            sample=single_sample,
            single_requests=new_requests,
        ),
    ]


def b4_rate_budget(records: int, workdir: str) -> list[dict]:
    """16 threads under a 20 requests/s limit: rate achieved ÷ limit, and 429 share."""
    db, app = fresh_app(workdir, "b4.db", records)
    with RemoteHubSpot(rate_limit=20, rate_window=1.0) as hs:
        etlify.configure(jobs=etlify.jobs.ThreadPoolJobs(max_workers=16))
        adapter = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, pool_maxsize=16)
        _declare(app, adapter, rate_limit={"max_requests": 20, "period": 1.0})
        etlify.BatchSync.call(models=[app.User], async_=True, batch_size=100)
        etlify.jobs.wait()
        figures = hs.stats(with_times=True)
    db.close()
    times = sorted(figures["times"])
    limited = figures["statuses"].get(429, 0)
    rate = (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0
    contacts = figures["objects"]["contacts"]
    reset()
    return [
        row(
            "B4",
            "requests per second ÷ limit (20/s, 16 threads)",
            rate / 20,
            "≥ 0.9",
            rate / 20 >= 0.9 and contacts == records,
            requests=len(times),
            contacts=contacts,
        ),
        row(
            "B4",
            "429 answers ÷ requests",
            limited / max(1, len(times)),
            "≤ 0.01",
            limited / max(1, len(times)) <= 0.01,
            answers_429=limited,
        ),
    ]


def b5_memory(small: int, large: int, workdir: str) -> list[dict]:
    """Peak RSS of an inline batch sync of ``large`` records ÷ that of ``small`` records.

    Each sync runs in a fresh process of its own over a database filled by
    another, so the peak is the sync's (plus the interpreter and imports).
    """
    peaks = {}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for count in (small, large):
        path = os.path.join(workdir, f"b5-{count}.db")
        for mode in ("populate", "sync"):
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.memory", path, str(count), mode],
                check=True,
                capture_output=True,
                text=True,
                cwd=root,
            ).stdout
        peaks[count] = json.loads(out.strip().splitlines()[-1])
    growth = peaks[large]["peak_kb"] / peaks[small]["peak_kb"] - 1
    return [
        row(
            "B5",
            f"peak RSS growth {small:,} → {large:,} records",
            growth,
            "≤ 0.20",
            growth <= 0.2 and peaks[large]["synced"] == large,
            peak_small_mb=peaks[small]["peak_kb"] / 1024,
            peak_large_mb=peaks[large]["peak_kb"] / 1024,
            python_peak_small_mb=peaks[small]["python_peak_kb"] / 1024,
            python_peak_large_mb=peaks[large]["python_peak_kb"] / 1024,
        ),
    ]


def b6_thread_pool(
    syncs: int, workdir: str, latency: float = 0.02, workers: int = 8, runs: int = 5
) -> list[dict]:
    """Async syncs on the pool against a slow CRM: wall time ÷ (syncs × latency ÷ workers).

    The noisiest figure on a shared machine: measured ``runs`` times on fresh
    databases, reported as the median, with every run's ratio beside it.
    """
    ideal = syncs * latency / workers
    ratios, complete, statuses = [], True, set()
    for run in range(runs):
        wall, seen, contacts = _b6_once(syncs, workdir, f"b6-{run}.db", latency, workers)
        ratios.append(wall / ideal)
        statuses |= seen
        complete = complete and contacts == syncs
    median = statistics.median(ratios)
    return [
        row(
            "B6",
            f"pool wall time ÷ ideal ({syncs} syncs, {workers} workers, {latency * 1000:.0f} ms)"
            f", median of {runs} (spread {min(ratios):.2f}–{max(ratios):.2f})",
            median,
            "≤ 1.3",
            median <= 1.3 and complete,
            runs=[round(ratio, 3) for ratio in ratios],
            spread=round(max(ratios) - min(ratios), 3),
            ideal_s=ideal,
            statuses=sorted(statuses),
        ),
    ]


def _b6_once(
    syncs: int, workdir: str, name: str, latency: float, workers: int
) -> tuple[float, set, int]:
    """One B6 measurement: wall seconds, the statuses seen, the contacts created."""
    db, app = fresh_app(workdir, name, syncs)
    users = list(app.User.select())
    with RemoteHubSpot(latency=latency, rate_limit=None) as hs:
        etlify.configure(jobs=etlify.jobs.ThreadPoolJobs(max_workers=workers))
        adapter = HubspotV3Adapter(access_token=hs.token, base_url=hs.url, pool_maxsize=workers)
        _declare(app, adapter, id_property=None)
        start = time.perf_counter()
        handles = [user.sync("hubspot") for user in users]
        etlify.jobs.wait()
        wall = time.perf_counter() - start
        statuses = {str(handle.result()) for handle in handles}
        contacts = hs.stats()["objects"]["contacts"]
    db.close()
    reset()
    return wall, statuses, contacts


class _WholeBatchRefusal(InMemoryAdapter):
    """A CRM that refuses a whole batch for one invalid input, as HubSpot does for
    batches sent without ``objectWriteTraceId``; counts every request."""

    def batch_upsert(self, object_type, records, id_property):
        records = list(records)
        if any("@" not in record["email"] for record in records):
            self.calls.append(("refused", object_type, len(records)))
            raise ValidationFailed("Property values were not valid", status=400)
        return super().batch_upsert(object_type, records, id_property)


def b7_bisection(batches: int, workdir: str) -> list[dict]:
    """Batches of 100 with one invalid email each: extra requests per bad record.

    Against FakeHubSpot the adapter tags each input, so HubSpot answers 207
    naming the bad one; against a CRM that refuses the whole batch, Etlify
    splits it in halves.
    """
    rows = []
    bound = 2 * math.log2(100) + 1
    for label in ("FakeHubSpot (207 per input)", "whole-batch refusal (bisection)"):
        records = batches * 100
        db, app = fresh_app(workdir, f"b7-{len(rows)}.db", records)
        with db.atomic():
            for i in range(batches):
                app.User.update(email=f"user{i * 100 + 37} at example.com").where(
                    app.User.id == i * 100 + 37
                ).execute()
        if label.startswith("FakeHubSpot"):
            with RemoteHubSpot(rate_limit=None) as hs:
                _declare(app, HubspotV3Adapter(access_token=hs.token, base_url=hs.url))
                stats = etlify.BatchSync.call(models=[app.User], async_=False, batch_size=1000)
                requests = hs.stats()["requests"]
        else:
            adapter = _WholeBatchRefusal()
            _declare(app, adapter)
            stats = etlify.BatchSync.call(models=[app.User], async_=False, batch_size=1000)
            requests = len(adapter.calls)
        db.close()
        extra = (requests - batches) / batches
        rows.append(
            row(
                "B7",
                f"extra requests per bad record, {label}",
                extra,
                f"≤ {bound:.1f}",
                extra <= bound
                and stats["errors"] == batches
                and stats["synced"] == records - batches,
                requests=requests,
                errors=stats["errors"],
                synced=stats["synced"],
            )
        )
    reset()
    return rows


def tempdir() -> str:
    return tempfile.mkdtemp(prefix="etlify-bench-")
