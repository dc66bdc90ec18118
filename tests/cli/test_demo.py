"""``etlify demo``: the whole flow against the emulator, in well under a minute."""

from __future__ import annotations

import pytest

from .conftest import run


@pytest.mark.timeout(30)
def test_demo_runs_end_to_end_and_exits_0(tmp_path):
    result = run(tmp_path, "demo", "--database", str(tmp_path / "demo.db"), app=None)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "3. Stale finder" in result.stdout
    assert "exactly the edited ones" in result.stdout
    assert "every CRM object matches its record" in result.stdout


def test_demo_ends_by_pointing_to_the_next_step(tmp_path):
    database = str(tmp_path / "demo.db")

    result = run(tmp_path, "demo", "--database", database, "--users", "30", app=None)
    last = result.stdout.rstrip().splitlines()[-2:]
    assert last[0].startswith("Next") and "examples/quickstart.py" in last[0]
    assert "etlify --app etlify_app sync --inline" in last[1]
    assert (tmp_path / "demo.db").exists()


def test_demo_refuses_an_existing_database(tmp_path):
    (tmp_path / "demo.db").write_text("")

    result = run(tmp_path, "demo", "--database", "demo.db", app=None)

    assert result.returncode == 2
    assert "already exists" in result.stderr


def test_demo_on_a_real_portal_needs_a_token(tmp_path):
    result = run(tmp_path, "demo", "--real", app=None, env={"HUBSPOT_PRIVATE_APP_TOKEN": ""})

    assert result.returncode == 2
    assert "HUBSPOT_PRIVATE_APP_TOKEN" in result.stderr
