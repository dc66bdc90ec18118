"""README.md is tested: its commands are the right ones and its Python code runs.

How the code blocks run:

* Only fenced blocks tagged ``python`` run. Shell commands are in ``bash``
  blocks, outputs and signatures in ``text`` blocks (so is the RQ snippet,
  which needs a Redis server; the Celery one runs eagerly). There is no
  ``python`` block that cannot run.
* The Quick start block is ``examples/quickstart.py`` verbatim (checked) and
  runs alone, in a fresh namespace, as the complete script it is.
* Every other ``python`` block runs in order in **one namespace per README**:
  the README is a walk-through in which each block continues the previous
  one, as a reader would type them into one session.
* Everything runs in a temporary working directory (the SQLite file
  ``app.db`` lands there), with ``etlify.testing.reset()`` before and after,
  and the FakeHubSpot servers, database connections and signal receivers the
  blocks leave behind are stopped, closed and disconnected.

A failing block is reported with its line in README.md.
"""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from peewee import Database

import etlify
from etlify import signals
from etlify.cli import build_parser
from etlify.config import Config
from etlify.testing import reset

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
QUICKSTART = ROOT / "examples" / "quickstart.py"

FIRST_COMMANDS = [
    "pip install -e . && python -m etlify demo",
    'pip install -e ".[test]" && python -m pytest',
]

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.DOTALL | re.MULTILINE)


class Block:
    """One fenced block: its language, code, first code line and section heading."""

    def __init__(self, language: str, code: str, line: int, section: str) -> None:
        self.language = language
        self.code = code
        self.line = line
        self.section = section

    def __repr__(self) -> str:
        return f"<{self.language} block at README.md:{self.line} in {self.section!r}>"


def blocks(text: str | None = None) -> list[Block]:
    """Every fenced block of the README, in order."""
    text = README.read_text(encoding="utf-8") if text is None else text
    found = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()]
        headings = re.findall(r"^## (.+)$", before, re.MULTILINE)
        line = before.count("\n") + 2  # the line after the opening fence
        found.append(Block(match.group(1), match.group(2), line, headings[-1] if headings else ""))
    return found


def python_blocks() -> list[Block]:
    return [block for block in blocks() if block.language == "python"]


def run_block(block: Block, namespace: dict) -> None:
    """Execute ``block`` so that tracebacks point at README.md lines."""
    code = compile("\n" * (block.line - 1) + block.code, str(README), "exec")
    exec(code, namespace)


@pytest.fixture
def sandbox(tmp_path, monkeypatch):
    """A scratch working directory and a clean Etlify; cleans up what the blocks leave."""
    from etlify.testing.hubspot import FakeHubSpot

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HUBSPOT_PRIVATE_APP_TOKEN", raising=False)
    every_signal = [getattr(signals, name) for name in signals.__all__ if name != "namespace"]
    before = {signal: set(signal.receivers) for signal in every_signal}
    namespaces: list[dict] = []
    reset()
    yield namespaces
    for namespace in namespaces:
        for value in namespace.values():
            if isinstance(value, FakeHubSpot):
                value.stop()
    reset()
    for namespace in namespaces:
        for value in namespace.values():
            if isinstance(value, Database) and not value.is_closed():
                value.close()
    for signal in every_signal:
        for receiver_id in set(signal.receivers) - before[signal]:
            signal.receivers.pop(receiver_id, None)


def test_readme_opens_with_the_demo_and_the_test_suite_commands():
    text = README.read_text(encoding="utf-8")
    opening = text.split("\n## ", 1)[0]
    commands = [block.code.strip() for block in blocks(opening)]
    assert commands == FIRST_COMMANDS
    assert [block.language for block in blocks(opening)] == ["bash", "bash"]


def test_code_blocks_are_python_bash_or_text():
    assert {block.language for block in blocks()} <= {"python", "bash", "text"}


def test_quick_start_is_the_quickstart_example():
    quick = [block for block in python_blocks() if block.section == "Quick start"]
    assert len(quick) == 1
    assert quick[0].code == QUICKSTART.read_text(encoding="utf-8")


def test_python_blocks_run(sandbox):
    every = python_blocks()
    quick = [block for block in every if block.section == "Quick start"]
    rest = [block for block in every if block.section != "Quick start"]
    assert quick and len(rest) > 10

    namespace = {"__name__": "readme_quickstart"}
    sandbox.append(namespace)
    for block in quick:
        run_block(block, namespace)
    reset()

    namespace = {"__name__": "readme"}
    sandbox.append(namespace)
    for block in rest:
        run_block(block, namespace)
    assert etlify.jobs.wait(timeout=30)


def _section(name: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(name)}\n(.*?)(?=^## |\Z)", text, re.DOTALL | re.MULTILINE)
    assert match, f"no section {name!r}"
    return match.group(1)


def test_the_required_sections_are_there():
    text = README.read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, re.MULTILINE)
    for name in [
        "Installation",
        "Quick start",
        "Configuration",
        "Declaring models",
        "Serializers",
        "Syncing a record",
        "Signals",
        "Keeping `updated_at` moving",
        "Stale records and batch sync",
        "Errors and the retry budget",
        "The HubSpot adapter",
        "Testing your app",
        "Command line",
        "Flask",
        "Huey, Celery, RQ",
        "Writing an adapter",
        "Troubleshooting",
        "Reliability",
        "Benchmarks",
        "Licence",
    ]:
        assert name in headings
    assert "python -m pytest tests/reliability" in _section("Reliability")
    assert "benchmarks/RESULTS.md" in _section("Benchmarks")
    assert "python -m benchmarks --quick" in _section("Benchmarks")


def test_every_command_is_documented():
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    section = _section("Command line")
    for name in commands:
        assert f"`{name}" in section, name


def test_every_configure_option_and_status_is_documented():
    section = _section("Configuration")
    for option in Config._options:
        assert f"| `{option}` |" in section, option
    statuses = _section("Syncing a record")
    for status in etlify.Status:
        assert f'| `{status.name}` | `"{status.value}"` |' in statuses, status


def test_every_signal_is_documented():
    section = _section("Signals")
    for name in signals.__all__:
        if name != "namespace":
            assert f"| `{name}` |" in section, name


def test_every_extra_is_documented():
    setup = configparser.ConfigParser()
    setup.read(ROOT / "setup.cfg")
    section = _section("Installation")
    for extra in setup["options.extras_require"]:
        assert f"| `{extra}` |" in section, extra


def test_links_are_absolute_or_in_page_so_a_package_index_renders_them():
    text = README.read_text(encoding="utf-8")
    relative = [t for t in re.findall(r"\]\(([^)]+)\)", text) if not t.startswith(("#", "https://"))]
    assert relative == []


def test_the_files_it_names_exist():
    text = README.read_text(encoding="utf-8")
    named = re.findall(r"`((?:examples|benchmarks)/[\w./]+|LICENSE)`", text)
    assert named
    for path in named:
        assert (ROOT / path).exists(), path
