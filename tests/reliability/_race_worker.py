"""A worker process of the race tests: threads syncing every record inline.

``python -m tests.reliability._race_worker THREADS SEED``; settings from the
``ETLIFY_REL_*`` environment. Prints the statuses as JSON; exits 1 on errors.
"""

from __future__ import annotations

import json
import sys

from tests.reliability._app import from_environment, race


def main(threads: int, seed: int) -> int:
    app = from_environment()
    with app.db.connection_context():
        ids = [pk for (pk,) in app.Person.select(app.Person.id).tuples()]
    statuses, errors = race(app, ids, threads, seed)
    print(json.dumps({"statuses": statuses, "errors": [repr(e) for e in errors]}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(int(sys.argv[1]), int(sys.argv[2])))
