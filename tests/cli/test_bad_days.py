"""The command line on a bad day: no command, a broken app module, a closed pipe, many errors."""

from __future__ import annotations

import subprocess
import sys

import etlify

from .conftest import add_people, run

ERROR_KINDS = [
    "rate_limited",
    "transient",
    "auth",
    "validation",
    "not_found",
    "serializer",
    "unexpected",
    "unconfirmed_create",
]

BROKEN = """import json
def load():
    return json.loads("{")
SETTINGS = load()
"""


def failing_people(project):
    """Person 3 fails in its serializer, then person 4 on a bad token (``auth``)."""
    add_people(project, "bad@example.com")
    run(project, "sync", "--inline")
    add_people(project, "grace@example.com")
    run(project, "sync", "--inline", env={"HUBSPOT_TOKEN": "wrong"})


def test_version_prints_the_package_version(tmp_path):
    result = run(tmp_path, "--version", app=None)

    assert result.returncode == 0
    assert result.stdout == f"etlify {etlify.__version__}\n"


def test_no_command_prints_the_full_help(tmp_path):
    result = run(tmp_path, app=None)

    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout == run(tmp_path, "--help", app=None).stdout


def test_output_piped_into_a_reader_that_stops_early_ends_quietly(people):
    # 1000 table lines of ~130 characters: far more than a pipe buffer (64 KiB).
    add_people(people, *(f"bad{number}@example.com" for number in range(1000)))
    run(people, "sync", "--inline")
    command = [sys.executable, "-m", "etlify", "--app", "app", "errors", "--limit", "1000"]
    process = subprocess.Popen(
        command, cwd=people, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    first_line = process.stdout.readline()  # like `etlify errors --limit 1000 | head -1`
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    status = process.wait(timeout=60)

    assert first_line.split()[:2] == ["when", "model"]
    assert stderr == ""
    assert status == 141  # what a shell reports for a process that SIGPIPE ended


def test_app_module_failing_to_import_says_where_and_hints_at_traceback(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN)

    result = run(tmp_path, "status", app="broken")

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == (
        "etlify status: importing 'broken' failed: JSONDecodeError: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1) (broken.py, line 3) "
        "(run with --traceback for the full traceback)\n"
    )


def test_traceback_option_prints_the_full_traceback_of_a_failing_import(tmp_path):
    (tmp_path / "broken.py").write_text(BROKEN)

    result = run(tmp_path, "--traceback", "status", app="broken")

    assert result.returncode == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[1] == f'  File "{tmp_path / "broken.py"}", line 4, in <module>'
    assert f'  File "{tmp_path / "broken.py"}", line 3, in load' in lines
    assert lines[-1] == (
        "json.decoder.JSONDecodeError: Expecting property name enclosed in double quotes: "
        "line 1 column 2 (char 1)"
    )


def test_errors_full_prints_each_whole_last_error(people):
    failing_people(people)

    result = run(people, "errors", "--full")

    assert result.returncode == 0, result.stderr
    auth, serializer = result.stdout.split("\n\n")
    header, message = auth.splitlines()
    assert header.split()[2:] == ["Person", "4", "hubspot", "auth", "0", "errors"]
    assert message.startswith("    Unauthorized: POST /crm/v3/objects/contacts/batch/upsert")
    assert len(message) > 160
    assert message.endswith(")")  # "(correlation id ...)": the whole message
    assert serializer.splitlines()[1:] == [
        "    SerializerError: Person serializer PersonSerializer raised ValueError: "
        "this person cannot be sent"
    ]


def test_errors_kind_lists_only_the_records_failing_that_way(people):
    failing_people(people)

    result = run(people, "errors", "--kind", "serializer")

    assert result.returncode == 0, result.stderr
    header, row = result.stdout.splitlines()
    assert row.split()[2:7] == ["Person", "3", "hubspot", "serializer", "2"]


def test_errors_kind_is_repeatable(people):
    failing_people(people)

    result = run(people, "errors", "--kind", "auth", "--kind", "serializer")

    assert [row.split()[3] for row in result.stdout.splitlines()[1:]] == ["4", "3"]


def test_errors_of_a_kind_none_failed_with_says_so(people):
    failing_people(people)

    result = run(people, "errors", "--kind", "validation")

    assert result.returncode == 0, result.stderr
    assert result.stdout == "no failing records\n"


def test_errors_help_names_every_error_kind(tmp_path):
    result = run(tmp_path, "errors", "--help", app=None)

    assert result.returncode == 0
    help_text = " ".join(result.stdout.split())
    for kind in ERROR_KINDS:
        assert kind in help_text


FACTORY = """
from peewee import CharField, Model, SqliteDatabase

import etlify
from etlify.testing import InMemoryAdapter

db = SqliteDatabase("factory.db")


class Person(etlify.EtlifyMixin, Model):
    email = CharField()

    class Meta:
        database = db


class PersonSerializer(etlify.BaseSerializer):
    def as_crm_payload(self):
        return {"email": self.record.email}


def create_app():
    etlify.register("hubspot", adapter=InMemoryAdapter())
    Person.etlified_with("hubspot", serializer=PersonSerializer, crm_object_type="contacts")
    db.create_tables([Person])
    etlify.create_tables()
    return object()
"""


def test_an_app_factory_named_after_a_colon_is_called(tmp_path):
    (tmp_path / "factory_app.py").write_text(FACTORY)

    result = run(tmp_path, "status", app="factory_app:create_app")

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1].split()[:2] == ["Person", "hubspot"]


def test_a_missing_app_factory_is_a_usage_error(tmp_path):
    (tmp_path / "factory_app.py").write_text(FACTORY)

    result = run(tmp_path, "status", app="factory_app:make_app")

    assert result.returncode == 2
    assert "module 'factory_app' has no factory 'make_app' to call" in result.stderr
