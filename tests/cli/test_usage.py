"""Help, and bad use: exit status 2 with one line on stderr, never a traceback."""

from __future__ import annotations

import pytest

from .conftest import run

COMMANDS = [
    "demo",
    "init",
    "serializer",
    "create-tables",
    "status",
    "errors",
    "reset-errors",
    "sync",
]


def test_help_lists_every_command(tmp_path):
    result = run(tmp_path, "--help", app=None)

    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(tmp_path, command):
    result = run(tmp_path, command, "--help", app=None)

    assert result.returncode == 0
    assert result.stdout.startswith(f"usage: etlify {command}")


def assert_bad_use(result, message):
    assert result.returncode == 2
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_no_app_module_named_is_bad_use(tmp_path):
    assert_bad_use(run(tmp_path, "status", app=None), "--app MODULE")


def test_missing_app_module_is_bad_use(tmp_path):
    assert_bad_use(run(tmp_path, "status", app="nowhere"), "no module named 'nowhere'")


def test_app_module_that_fails_to_import_is_bad_use(tmp_path):
    (tmp_path / "broken.py").write_text("import not_installed_anywhere\n")

    assert_bad_use(run(tmp_path, "status", app="broken"), "not_installed_anywhere")


def test_app_module_registering_no_crm_is_bad_use(tmp_path):
    (tmp_path / "empty.py").write_text("import etlify\n")

    assert_bad_use(run(tmp_path, "sync", app="empty"), "registers no CRM")


def test_app_module_etlifying_no_model_is_bad_use(tmp_path):
    (tmp_path / "bare.py").write_text(
        "import etlify\nfrom etlify.adapters import NullAdapter\n"
        "etlify.register('hubspot', adapter=NullAdapter())\n"
    )

    assert_bad_use(run(tmp_path, "errors", app="bare"), "etlifies no model")


def test_unknown_model_is_bad_use(project):
    assert_bad_use(run(project, "sync", "--model", "Nobody"), "unknown model 'Nobody'")


def test_unknown_crm_is_bad_use(project):
    assert_bad_use(run(project, "errors", "--crm", "salesforce"), "unknown CRM 'salesforce'")


def test_app_read_from_etlify_app_variable(people):
    result = run(people, "errors", app=None, env={"ETLIFY_APP": "app"})

    assert result.returncode == 0, result.stderr


def test_app_given_as_a_file_name_is_the_module(people):
    result = run(people, "errors", app="app.py")

    assert result.returncode == 0, result.stderr
