"""``import etlify`` loads nothing beyond peewee, urllib3, blinker and the standard library."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: playhouse ships inside the peewee distribution (create_tables upgrades through
#: playhouse.migrate).
ALLOWED = {"etlify", "peewee", "playhouse", "blinker", "urllib3"}


def top_level_modules(code: str) -> set[str]:
    """Top-level names in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    return {name.split(".")[0] for name in json.loads(out.stdout.splitlines()[-1])}


def test_import_etlify_loads_only_its_runtime_dependencies_and_the_stdlib():
    baseline = top_level_modules("")
    # peewee itself imports whichever database drivers happen to be installed.
    peewee_brings = top_level_modules("import peewee") - baseline

    loaded = top_level_modules("import etlify") - baseline

    foreign = loaded - set(sys.stdlib_module_names) - ALLOWED - peewee_brings
    assert foreign == set(), f"import etlify loaded {sorted(foreign)}"
    assert {"etlify", "peewee", "blinker"} <= loaded
