"""Fixtures of the reliability tests: the ``--soak`` switch, databases, the log watch.

Long variants run with ``python -m pytest --soak`` (the option is declared in
``tests/conftest.py``, where pytest reads options from).
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BACKEND_URLS = {"postgres": "ETLIFY_TEST_POSTGRES", "mysql": "ETLIFY_TEST_MYSQL"}


@pytest.fixture(scope="session")
def soak(request) -> bool:
    """Whether the long variants were asked for."""
    return bool(request.config.getoption("--soak", default=False))


def database_url(backend: str, tmp_path) -> str:
    """The URL of the test database of ``backend``; skips when it is not configured."""
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    url = os.environ.get(BACKEND_URLS[backend])
    if not url:
        pytest.skip(f"{BACKEND_URLS[backend]} is not set")
    return url


def subprocess_env(**settings: str) -> dict[str, str]:
    """This environment, plus ``settings``, with the project importable."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return {**os.environ, "PYTHONPATH": path, **settings}


def worker_command(module: str, *args) -> list[str]:
    return [sys.executable, "-m", f"tests.reliability.{module}", *map(str, args)]


class LogWatch(logging.Handler):
    """Every record logged under ``etlify`` at any level, formatted with its traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def etlify_log():
    """The ``etlify`` logger tree captured at DEBUG for the test's duration."""
    logger = logging.getLogger("etlify")
    watch = LogWatch()
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(watch)
    yield watch
    logger.removeHandler(watch)
    logger.setLevel(level)


def assert_secret_absent(secret: str, *texts) -> None:
    """``secret`` appears in none of ``texts`` (strings, or lists of strings)."""
    flat = []
    for text in texts:
        flat.extend(text if isinstance(text, (list, tuple, set)) else [text])
    leaks = [text for text in flat if text and secret in str(text)]
    assert leaks == [], f"the access token leaked into {len(leaks)} text(s): {leaks[:3]}"
