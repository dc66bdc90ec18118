"""B8: several processes, one HubSpot budget.

Four OS processes, each with 8 threads running ``BatchSync`` on records of
its own, against one ``FakeHubSpot`` (in a process of its own) that enforces
20 requests per rolling 1 s window. Compared: each process with its own
limiter of the whole budget (what Etlify did before shared budgets), one
budget shared in Redis, the same with Redis stopped half-way, and one budget
shared in the database.

``python -m benchmarks.shared_budget worker ...`` is one of the processes. A
record the CRM refused (a 429 after the adapter's retries, say) stays stale
for the next run: a worker counts those and goes on; its exit status says
whether it crashed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from peewee import CharField, DateTimeField, Model, SqliteDatabase

import etlify
from etlify.adapters import HubspotV3Adapter

from .remote import RemoteHubSpot
from .scenarios import row

__all__ = ["Placement", "b8_shared_budget", "run_scenario", "private_redis"]

LIMIT, WINDOW = 20, 1.0
PROCESSES, THREADS = 4, 8
#: Records per request: small batches, so that a short run needs few records.
BATCH = 5


#: B8's lines, in the order they run.
B8_LINES = ("baseline", "redis", "redis-stopped", "database")


def b8_shared_budget(
    duration: float, workdir: str, lines: tuple[str, ...] = B8_LINES
) -> list[dict]:
    """B8: combined throughput and 429 share of four processes, per budget store
    (``lines``: those of :data:`B8_LINES` to run)."""
    rows = []
    if "baseline" in lines:
        baseline = run_scenario(None, duration, workdir=_fresh(workdir, "local"))
        rows += _rows("per-process limiters (baseline)", baseline, None)
    if "redis" in lines:
        with private_redis() as redis:
            shared = run_scenario(redis.url, duration, workdir=_fresh(workdir, "redis"))
        rows += _rows("one budget in Redis", shared, (0.9, 0.01))
    if "redis-stopped" in lines:
        with private_redis() as redis:
            stopped = run_scenario(
                redis.url,
                duration,
                workdir=_fresh(workdir, "redis-stopped"),
                redis_stop_at=duration / 2,
                redis=redis,
            )
        rows += _rows("Redis stopped half-way", stopped, (None, 0.05))
    if "database" in lines:
        path = Path(_fresh(workdir, "database")) / "budget.db"
        database = run_scenario(f"sqlite:{path}", duration, workdir=str(path.parent))
        rows += _rows("one budget in a database table (SQLite)", database, (0.9, 0.01))
    return rows


def _fresh(workdir: str, name: str) -> str:
    path = Path(workdir) / f"b8-{name}"
    path.mkdir()
    return str(path)


def _rows(label: str, figures: dict[str, Any], targets: tuple | None) -> list[dict]:
    """Throughput and 429 rows of one run; ``targets``: (least throughput, most 429 share)."""
    crashed = figures["exit_codes"] != [0] * PROCESSES
    # With one budget, no record should fail; without one, failures are what it costs.
    clean = not crashed and (targets is None or not figures["records_failed"])
    least, most = targets or (None, None)
    details = {
        "requests": figures["requests"],
        "exit_codes": figures["exit_codes"],
        "records_failed": figures["records_failed"],
    }
    return [
        row(
            "B8",
            f"{label}: 2xx answers ÷ limit ({PROCESSES}×{THREADS} threads, {LIMIT}/s)",
            figures["throughput"],
            f"≥ {least}" if least else "-",
            clean and (least is None or figures["throughput"] >= least),
            **details,
        ),
        row(
            "B8",
            f"{label}: 429 answers ÷ requests",
            figures["share_429"],
            f"≤ {most}" if most else "-",
            clean and (most is None or figures["share_429"] <= most),
            answers_429=figures["rate_limited"],
        ),
    ]


@dataclass(frozen=True)
class Placement:
    """Where one worker process runs: a command prefix (``ip netns exec NS``),
    the address it reaches the emulator at, and its ``shared`` option."""

    prefix: tuple[str, ...] = ()
    hubspot_host: str = "127.0.0.1"
    shared: str | None = None


def run_scenario(
    shared: str | None,
    duration: float,
    *,
    workdir: str,
    redis_stop_at: float | None = None,
    redis: Any = None,
    placements: list[Placement] | None = None,
    hubspot_host: str = "127.0.0.1",
) -> dict[str, Any]:
    """Run the processes for ``duration`` seconds; the emulator's figures.

    :param shared: the ``shared`` option of every process's rate limit;
        ``"sqlite:PATH"`` for a database store in the SQLite file at PATH.
    :param redis_stop_at: seconds into the run when ``redis`` (a
        :class:`private_redis`) is stopped.
    :param placements: one per process (default: ``PROCESSES`` on this host,
        all with ``shared``).
    :param hubspot_host: the address the emulator listens on.
    :returns: ``{"ok", "rate_limited", "requests", "throughput", "share_429",
        "exit_codes", "records_failed"}``; ``throughput`` is the answered
        requests over what the limit allows in ``duration``;
        ``records_failed`` counts the records the processes' syncs reported
        failed, by error kind.
    """
    placements = placements or [Placement(shared=shared)] * PROCESSES
    records = int(duration * LIMIT / WINDOW * BATCH / len(placements) * 1.2) + 50
    with RemoteHubSpot(rate_limit=LIMIT, rate_window=WINDOW, host=hubspot_host) as hubspot:
        port = hubspot.url.rsplit(":", 1)[1]
        start = time.time() + 3.0 + records / 2000  # time for every process to set up
        workers = [
            subprocess.Popen(
                [
                    *place.prefix,
                    sys.executable,
                    "-m",
                    "benchmarks.shared_budget",
                    "worker",
                    "--url",
                    f"http://{place.hubspot_host}:{port}",
                    "--token",
                    hubspot.token,
                    "--db",
                    str(Path(workdir) / f"b8-{n}.db"),
                    "--records",
                    str(records),
                    "--shared",
                    place.shared or "",
                    "--start",
                    repr(start),
                    "--until",
                    repr(start + duration),
                    "--name",
                    str(n),
                    "--report",
                    str(_report_of(workdir, n)),
                ],
                cwd=Path(__file__).resolve().parent.parent,
            )
            for n, place in enumerate(placements)
        ]
        if redis_stop_at is not None:
            time.sleep(max(0.0, start + redis_stop_at - time.time()))
            redis.stop()
        codes = [worker.wait(timeout=duration + 120) for worker in workers]
        answers = sorted(hubspot.stats(with_times=True)["answers"])
    # The run is the first `duration` seconds of traffic: the processes finish
    # the batch they are in after `until`.
    first = answers[0][0] if answers else 0.0
    statuses = [status for arrived, status in answers if arrived < first + duration]
    ok = sum(1 for status in statuses if status is not None and 200 <= status < 300)
    limited = statuses.count(429)
    total = len(statuses)
    records_failed: Counter = Counter()
    for n in range(len(placements)):
        report = _report_of(workdir, n)
        if report.exists():  # a crashed worker may have written none
            records_failed.update(json.loads(report.read_text()))
    return {
        "ok": ok,
        "rate_limited": limited,
        "requests": total,
        "throughput": ok / (LIMIT / WINDOW * duration),
        "share_429": limited / total if total else 0.0,
        "exit_codes": codes,
        "records_failed": dict(records_failed),
    }


def _report_of(workdir: str, n: int) -> Path:
    """Where worker ``n`` writes the records its syncs reported failed, by error kind."""
    return Path(workdir) / f"b8-{n}.json"


class private_redis:
    """A Redis server of its own on a free port, to be stopped at will.

    :param bind: the addresses it listens on.
    """

    def __init__(self, bind: tuple[str, ...] = ("127.0.0.1",)) -> None:
        self.bind = bind

    def __enter__(self) -> private_redis:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.dir = tempfile.mkdtemp(prefix="etlify-redis-")
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server") or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                *self.bind,
                "--protected-mode",
                "no",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex((self.bind[0], self.port)) == 0:
                    return self
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    @property
    def url(self) -> str:
        return self.url_at(self.bind[0])

    def url_at(self, host: str) -> str:
        """Its URL as seen at ``host``, one of the addresses it listens on."""
        return f"redis://{host}:{self.port}/0"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def _worker(args: argparse.Namespace) -> int:
    db = SqliteDatabase(args.db, pragmas={"journal_mode": "wal"}, timeout=60)

    class ContactSerializer(etlify.BaseSerializer):
        def as_crm_payload(self) -> dict[str, Any]:
            return {"email": self.record.email}

    etlify.configure(database=db)
    rate_limit: dict[str, Any] = {"max_requests": LIMIT, "period": WINDOW}
    if args.shared:
        shared: Any = args.shared
        if shared.startswith("sqlite:"):  # one budget file for every process
            shared = SqliteDatabase(shared[len("sqlite:") :], timeout=60)
        rate_limit.update(shared=shared, key="b8", processes=PROCESSES)
    etlify.register(
        "hubspot",
        adapter=HubspotV3Adapter(
            access_token=args.token, base_url=args.url, pool_maxsize=THREADS + 2
        ),
        rate_limit=rate_limit,
    )
    models = []  # one table per thread: each thread's BatchSync has records of its own
    for thread in range(THREADS):
        meta = type("Meta", (), {"database": db, "table_name": f"contact_{thread}"})
        model = type(
            f"Contact{thread}",
            (etlify.Timestamped, etlify.EtlifyMixin, Model),
            {
                "email": CharField(unique=True),
                "updated_at": DateTimeField(default=etlify.config.now),
                "Meta": meta,
                "__module__": __name__,
            },
        )
        model.etlified_with(
            "hubspot",
            serializer=ContactSerializer,
            crm_object_type="contacts",
            id_property="email",
        )
        models.append(model)
    db.create_tables(models)
    etlify.create_tables()
    with db.atomic():
        for thread, model in enumerate(models):
            model.insert_many(
                [
                    {"email": f"p{args.name}-t{thread}-{n}@example.com"}
                    for n in range(args.records // THREADS + 1)
                ]
            ).execute()
    time.sleep(max(0.0, args.start - time.time()))

    crashes: list[BaseException] = []
    failed: Counter = Counter()  # {error kind: records}, across this process's threads

    def work(model: Any) -> None:
        try:
            while time.time() < args.until:
                stats = etlify.BatchSync.call(models=[model], async_=False, batch_size=BATCH)
                for kinds in stats.get("failures", {}).values():
                    failed.update({kind: seen["count"] for kind, seen in kinds.items()})
                if not stats["total"]:
                    time.sleep(0.05)
        except BaseException as error:  # reported by the exit status
            crashes.append(error)
            raise

    threads = [threading.Thread(target=work, args=(model,)) for model in models]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    db.close()
    Path(args.report).write_text(json.dumps(dict(failed)))
    return 1 if crashes else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shared_budget")
    sub = parser.add_subparsers(dest="command", required=True)
    worker = sub.add_parser("worker")
    for option in ("--url", "--token", "--db", "--shared", "--name", "--report"):
        worker.add_argument(option, required=True)
    worker.add_argument("--records", type=int, required=True)
    worker.add_argument("--start", type=float, required=True)
    worker.add_argument("--until", type=float, required=True)
    return _worker(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
