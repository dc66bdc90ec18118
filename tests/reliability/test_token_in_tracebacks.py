"""No object reachable from an error Etlify raises holds the access token: not the
exception chain, not the local variables of any frame of its tracebacks (which
error trackers such as Sentry capture)."""

from __future__ import annotations

import socket
import threading
import traceback

import pytest

from etlify.adapters import HubspotV3Adapter
from etlify.errors import TransportError

TOKEN = "pat-na1-traceback-secret-0000"


def chain(error: BaseException):
    """``error`` and every exception reachable through ``__cause__`` and ``__context__``."""
    seen, todo = [], [error]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__]
    return seen


def frame_locals(error: BaseException):
    """``repr`` of every local variable of every frame of every traceback in the chain."""
    for exc in chain(error):
        tb = exc.__traceback__
        while tb is not None:
            for name, value in tb.tb_frame.f_locals.items():
                yield name, repr(value)
            tb = tb.tb_next


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def hanging_up_server():
    """Accepts a connection, reads the request, and closes without answering."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    stop = threading.Event()

    def serve():
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                continue
            conn.recv(65536)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join(2)
    server.close()


def failure_against(port: int) -> TransportError:
    adapter = HubspotV3Adapter(
        access_token=TOKEN, base_url=f"http://127.0.0.1:{port}", timeout=2, retries=0
    )
    with pytest.raises(TransportError) as caught:
        adapter.upsert("contacts", {"email": "ada@example.com"}, id_property="email")
    return caught.value


@pytest.mark.parametrize("where", ["refused", "hung_up"])
def test_no_frame_local_of_a_transport_error_holds_the_token(where, request):
    port = closed_port() if where == "refused" else request.getfixturevalue("hanging_up_server")
    error = failure_against(port)

    leaks = [name for name, text in frame_locals(error) if TOKEN in text]
    assert leaks == []
    assert all(TOKEN not in f"{exc} {exc!r}" for exc in chain(error))


def test_a_traceback_formatted_with_its_locals_does_not_show_the_token():
    error = failure_against(closed_port())

    text = "".join(
        traceback.TracebackException(
            type(error), error, error.__traceback__, capture_locals=True
        ).format()
    )

    assert "got no answer" in text
    assert TOKEN not in text
