"""The HTTP server under the HubSpot emulator: keep-alive, one send per answer, drops.

The server hands each request to a ``respond(method, target, headers, body)``
callable that returns the complete answer as bytes, a :class:`Drip` to write
it slowly, or None to close the connection without answering.
"""

from __future__ import annotations

import http
import json
import socket
import socketserver
import sys
import threading
import time
import traceback
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

Responder = Callable[[str, str, Any, bytes], "bytes | Drip | None"]


class Drip:
    """A complete answer written slowly: ``data[:start]`` at once, then ``step``
    bytes every ``interval`` seconds, so that no single read of the client ever
    waits longer than ``interval`` (a read timeout never fires)."""

    __slots__ = ("data", "interval", "start", "step")

    def __init__(self, data: bytes, interval: float, start: int = 0, step: int = 1) -> None:
        if interval <= 0 or step < 1:
            raise ValueError("a drip needs an interval > 0 and a step >= 1")
        self.data = data
        self.interval = interval
        self.start = start
        self.step = step


class Server(ThreadingHTTPServer):
    """A threading HTTP server that can close its idle keep-alive connections on stop."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], respond: Responder) -> None:
        self.respond = respond
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall for seconds.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Ignore clients that hang up; report anything else on stderr."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Shut every open client connection (their handler threads then end)."""
        with self.connections_lock:
            connections = list(self.connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    """Reads a request, asks the server's responder, writes its bytes in one send."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server_version = "FakeHubSpot/1.0"
    sys_version = ""
    server: Server

    def setup(self) -> None:
        super().setup()
        with self.server.connections_lock:
            self.server.connections.add(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            with self.server.connections_lock:
                self.server.connections.discard(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Stay silent (the default writes every request to stderr)."""

    def _serve(self) -> None:
        try:
            body = self._body()
        except ValueError:
            self.close_connection = True
            self.wfile.write(encode(400, {"status": "error", "message": "Bad request body"}, {}))
            return
        try:
            answer = self.server.respond(self.command, self.path, self.headers, body)
        except Exception as exc:  # an emulator bug: answer 500 rather than hang up
            traceback.print_exc()
            answer = encode(500, {"status": "error", "message": f"emulator error: {exc!r}"}, {})
        if answer is None:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        if isinstance(answer, Drip):
            self._drip(answer)
            return
        self.wfile.write(answer)

    def _drip(self, answer: Drip) -> None:
        """Write ``answer`` slowly; a client that hangs up ends it (the write fails)."""
        data = answer.data
        if answer.start:
            self.wfile.write(data[: answer.start])
        for position in range(answer.start, len(data), answer.step):
            time.sleep(answer.interval)
            self.wfile.write(data[position : position + answer.step])

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._chunked()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _chunked(self) -> bytes:
        parts = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()


def encode(status: int, payload: Any, headers: dict[str, str]) -> bytes:
    """A complete HTTP/1.1 answer: JSON for dicts and lists, text/html for str or bytes."""
    try:
        reason = http.HTTPStatus(status).phrase
    except ValueError:
        reason = "Unknown"
    out = {"Date": formatdate(usegmt=True), "Server": Handler.server_version}
    body = b""
    if status != 204 and payload is not None:
        if isinstance(payload, (dict, list)):
            body = json.dumps(payload, separators=(",", ":")).encode()
            out["Content-Type"] = "application/json;charset=utf-8"
        else:
            body = payload if isinstance(payload, bytes) else str(payload).encode()
            out["Content-Type"] = "text/html;charset=utf-8"
    out.update(headers)
    if status != 204:
        out["Content-Length"] = str(len(body))
    lines = [f"HTTP/1.1 {status} {reason}"] + [f"{k}: {v}" for k, v in out.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
