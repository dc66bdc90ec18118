"""The example scripts run as written: ``python examples/<name>.py`` exits 0.

Each script runs in a subprocess from a scratch working directory, as a user
would run it, and must print its key lines. ``examples/flask_app`` and
``examples/huey_worker`` have their own tests under ``tests/contrib``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, cwd: Path) -> str:
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def test_quickstart_syncs_then_skips_the_unchanged_record(tmp_path):
    out = run_example("quickstart.py", tmp_path).splitlines()
    assert out == [
        "  ada@example.com created as contact 1000001",
        "synced",
        "not_modified",
        "  ada@example.com updated as contact 1000001",
        "synced",
        "CRM id: 1000001",
    ]


def test_custom_adapter_syncs_one_model_to_two_crms(tmp_path):
    out = run_example("custom_adapter.py", tmp_path)
    assert "sync: hubspot synced, sheet synced" in out
    assert "batch sync: {'total': 6, 'synced': 4, 'skipped': 1, 'errors': 1}" in out
    assert "failed: sheet User #4: ValidationFailed: a row needs an email" in out
    assert "1,ada@example.com,Ada" in out
    assert "HubSpot contacts: 3" in out


@pytest.mark.parametrize("name", ["quickstart.py", "custom_adapter.py"])
def test_example_leaves_nothing_in_the_working_directory(name, tmp_path):
    run_example(name, tmp_path)
    assert list(tmp_path.iterdir()) == []
