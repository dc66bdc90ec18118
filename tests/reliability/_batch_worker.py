"""A batch-sync worker process (the crash tests kill it with SIGKILL).

``python -m tests.reliability._batch_worker BATCH_SIZE``; settings from the
``ETLIFY_REL_*`` environment. Prints the stats as JSON when it gets to the end.
"""

from __future__ import annotations

import json
import sys

from etlify import BatchSync
from tests.reliability._app import from_environment


def main(batch_size: int) -> int:
    app = from_environment()
    with app.db.connection_context():
        stats = BatchSync.call(async_=False, batch_size=batch_size)
    print(json.dumps(stats))
    return 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1])))
