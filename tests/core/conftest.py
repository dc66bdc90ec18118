"""Helpers shared by the core tests."""

from __future__ import annotations

import contextlib

import pytest


class Received:
    """Collects what receivers of one blinker signal were sent."""

    def __init__(self) -> None:
        self.calls: list[tuple[object, dict]] = []

    def __call__(self, sender, **kwargs) -> None:
        self.calls.append((sender, kwargs))

    @property
    def kwargs(self) -> list[dict]:
        return [kwargs for _, kwargs in self.calls]


@contextlib.contextmanager
def receiving(signal, sender=None):
    """``with receiving(etlify.signals.synced, User) as got: ...``"""
    received = Received()
    kwargs = {} if sender is None else {"sender": sender}
    with signal.connected_to(received, **kwargs):
        yield received


@pytest.fixture
def user(app):
    """A saved user with an email, never synced."""
    return app.User.create(email="ada@example.com", first_name="Ada", last_name="Lovelace")
