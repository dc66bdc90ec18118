"""Run the benchmarks: ``python -m benchmarks [--quick] [--only B1,B3] [--output FILE]
[--postgres URL] [--mysql URL]``."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import time
import traceback

from . import inline, scenarios, shared_budget

FULL = {
    "B1": {"users": 1_000_000, "companies": 100_000, "stale": 10_000},
    "B2": {"records": 100_000},
    "B3": {"records": 100_000, "single_sample": 1_000},
    "B4": {"records": 20_000},
    "B5": {"small": 50_000, "large": 200_000},
    "B6": {"syncs": 2_000},
    "B7": {"batches": 100},
    "B8": {"duration": 60.0},
    "B9": {"records": 20_000},
    "B10": {"records": 1_000},
    "B11": {"records": 100_000},
}
QUICK = {
    "B1": {"users": 20_000, "companies": 2_000, "stale": 200},
    "B2": {"records": 2_000},
    "B3": {"records": 1_000, "single_sample": 100},
    "B4": {"records": 6_000},
    "B5": {"small": 2_000, "large": 8_000},
    "B6": {"syncs": 200, "runs": 3},
    "B7": {"batches": 10},
    "B8": {"duration": 4.0, "lines": ("redis", "database")},
    "B9": {"records": 2_000},
    "B10": {"records": 200},
    "B11": {"records": 5_000, "window": 1.0},
}
RUNNERS = {
    "B1": scenarios.b1_stale_scan,
    "B2": scenarios.b2_noop_resync,
    "B3": scenarios.b3_backfill,
    "B4": scenarios.b4_rate_budget,
    "B5": scenarios.b5_memory,
    "B6": scenarios.b6_thread_pool,
    "B7": scenarios.b7_bisection,
    "B8": shared_budget.b8_shared_budget,
    "B9": inline.b9_cpu_per_record,
    "B10": inline.b10_inline_sync,
    "B11": inline.b11_physical_limit,
}
ON_POSTGRES = ("B1", "B3", "B10", "B11")
ON_MYSQL = ("B1",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes (CI)")
    parser.add_argument("--only", help="comma-separated scenarios, e.g. B1,B3")
    parser.add_argument("--output", default="benchmarks/results.json", help="JSON figures file")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("ETLIFY_TEST_POSTGRES"),
        help=f"also run {', '.join(ON_POSTGRES)} on this PostgreSQL URL",
    )
    parser.add_argument(
        "--mysql",
        default=os.environ.get("ETLIFY_TEST_MYSQL"),
        help=f"also run {', '.join(ON_MYSQL)} on this MySQL or MariaDB URL",
    )
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    chosen = args.only.split(",") if args.only else list(RUNNERS)
    rows = []
    workdir = scenarios.tempdir()
    started = time.perf_counter()
    try:
        for name in chosen:
            rows.extend(_run(name, RUNNERS[name], sizes[name], workdir))
            for url, label, names in (
                (args.postgres, "PostgreSQL", ON_POSTGRES),
                (args.mysql, "MariaDB", ON_MYSQL),
            ):
                if url and name in names:
                    rows.extend(
                        _run(name, RUNNERS[name], sizes[name], workdir, url=url, label=label)
                    )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    _print(rows)
    with open(args.output, "w") as out:
        json.dump(
            {
                "quick": args.quick,
                "python": platform.python_version(),
                "seconds": round(time.perf_counter() - started, 1),
                "rows": rows,
            },
            out,
            indent=2,
            default=str,
        )
    print(f"\nfigures written to {args.output} ({time.perf_counter() - started:.0f} s)")
    # A missed target is a figure to report; a scenario that crashed is a failure.
    return 1 if any("error" in row["details"] for row in rows) else 0


def _run(name, runner, size, workdir, **extra):
    label = extra.get("label", "")
    print(f"running {name} {label} {size} ...", flush=True)
    started = time.perf_counter()
    try:
        result = runner(workdir=workdir, **size, **extra)
    except Exception as error:  # one broken scenario must not hide the others' figures
        traceback.print_exc()
        return [
            scenarios.row(
                name,
                f"{label} failed: {type(error).__name__}".strip(),
                float("nan"),
                "-",
                False,
                error=str(error),
            )
        ]
    print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    return result


def _print(rows: list[dict]) -> None:
    width = max(len(r["figure"]) for r in rows)
    print(f"\n{'':4}{'figure':<{width}}  {'value':>10}  {'target':>8}  verdict")
    for r in rows:
        verdict = "ok" if r["ok"] else "MISSED"
        print(
            f"{r['scenario']:<4}{r['figure']:<{width}}  {r['value']:>10.4g}  {r['target']:>8}  "
            f"{verdict}"
        )
