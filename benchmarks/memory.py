"""B5's child process: ``python -m benchmarks.memory DB COUNT populate|sync``.

``populate`` fills a SQLite file with COUNT users; ``sync`` (in a fresh
process) runs an inline batch sync of them and prints, as JSON, its peak RSS
and the peak of Python allocations during the sync.
"""

from __future__ import annotations

import json
import resource
import sys
import tracemalloc

from playhouse.db_url import connect

import etlify
from etlify.adapters import NullAdapter

from .data import define, populate
from .scenarios import SQLITE_PRAGMAS, T0, _declare


def peak_rss_kb() -> int:
    """This process's peak RSS in KiB.

    ``VmHWM`` where Linux has it: ``ru_maxrss`` also counts the parent's
    peak at the fork, which would hide the child's own.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(path: str, count: int, mode: str) -> None:
    db = connect(f"sqlite:///{path}", pragmas=SQLITE_PRAGMAS)
    if mode == "populate":
        populate(define(db), count, 100, T0)
        return
    app = define(db, keep=True)
    _declare(app, NullAdapter())
    tracemalloc.start()
    stats = etlify.BatchSync.call(models=[app.User], async_=False)
    python_peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        json.dumps(
            {
                "peak_kb": peak_rss_kb(),
                "python_peak_kb": python_peak // 1024,
                "synced": stats["synced"],
            }
        )
    )


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
