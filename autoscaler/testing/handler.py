"""HTTP/1.1 mechanics: parse the request, apply auth and faults, answer JSON or a chunked watch.

Everything about resources lives in `RestApi`; this module only speaks the wire protocol.
"""

from __future__ import annotations

import contextlib
import functools
import json
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from autoscaler.testing.errors import ApiError, bad_request, unauthorized
from autoscaler.testing.faults import WRITE_METHODS, Faults, RecordedRequest, RequestLog
from autoscaler.testing.rest import RestApi, WatchRequest
from autoscaler.testing.watch import follow, initial_events

JSON = dict[str, Any]
NO_RESPONSE = 0


@dataclass(slots=True)
class Backend:
    """What the handler needs from `FakeApiServer`, without importing it."""

    rest: RestApi
    faults: Faults
    log: RequestLog
    token: str | None
    stopping: threading.Event


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True  # restart on the same port while old sockets sit in TIME_WAIT

    def __init__(self, address: tuple[str, int], backend: Backend) -> None:
        self.backend = backend
        self.connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        self._watches = threading.Condition()
        self._open_watches = 0
        super().__init__(address, Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = super().get_request()
        # Watch events and small JSON replies must not wait for Nagle's algorithm.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with self._connections_lock:
            self.connections.add(sock)
        return sock, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def sever_connections(self) -> None:
        """Cut idle keep-alive connections and open watches, as a dying apiserver would."""
        with self._connections_lock:
            connections = list(self.connections)
        for sock in connections:
            with contextlib.suppress(OSError):  # already closed by its handler
                sock.shutdown(socket.SHUT_RDWR)

    def watch_opened(self, delta: int) -> None:
        with self._watches:
            self._open_watches += delta
            self._watches.notify_all()

    def wait_for_watches(self, timeout: float) -> None:
        """Let woken watches write their final chunk before the sockets are cut."""
        with self._watches:
            self._watches.wait_for(lambda: self._open_watches == 0, timeout)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-response (timeouts, dropped watches) are expected


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive and chunked watch streams, like the apiserver
    server: Server
    _entry: Callable[[int], RecordedRequest]

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the request log replaces stderr noise

    def _serve(self) -> None:
        backend = self.server.backend
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        content_type = self.headers.get("Content-Type", "")
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = _decode(raw)
        self._entry = functools.partial(RecordedRequest, self.command, split.path, query,
                                        content_type, None if body is _INVALID else body,
                                        client=str(self.client_address[0]),
                                        user_agent=str(self.headers.get("User-Agent", "")))
        self._respond(backend, split.path, query, content_type, body)

    def _record(self, status: int) -> None:
        # Logged before the reply leaves: a client that got its answer finds it in the log.
        self.server.backend.log.record(self._entry(status))

    def _respond(self, backend: Backend, path: str, query: dict[str, str], content_type: str,
                 body: Any) -> int:
        try:
            if backend.token is not None and \
                    self.headers.get("Authorization") != f"Bearer {backend.token}":
                raise unauthorized()
            if not self._survives_faults(backend, path):
                return self._drop()
            if body is _INVALID:
                raise bad_request("the request body is not valid JSON")
            result = backend.rest.handle(self.command, path, query, content_type, body)
            if isinstance(result, WatchRequest):
                return self._watch(backend, result)
            return self._send(*result)
        except ApiError as error:
            return self._send(error.code, error.status())

    def _survives_faults(self, backend: Backend, path: str) -> bool:
        """False when the connection must be dropped; raises the injected API errors."""
        fault = backend.faults.take(self.command, path)
        if fault is not None and fault.action == "drop":
            return False
        # Waiting on the stop event, not sleeping: a stopping server does not linger.
        if fault is not None and fault.action == "delay" and backend.stopping.wait(fault.seconds):
            return False
        if fault is not None and fault.action == "fail" and fault.error is not None:
            raise fault.error
        if fault is not None and fault.action == "conflict":
            raise backend.rest.conflict_for(path)
        if backend.faults.read_only_error is not None and self.command in WRITE_METHODS:
            raise backend.faults.read_only_error
        return True

    def _send(self, code: int, body: JSON) -> int:
        payload = json.dumps(body).encode()
        self._record(code)
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            self.close_connection = True  # the client gave up (e.g. its read timeout)
        return code

    def _drop(self) -> int:
        self._record(NO_RESPONSE)
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
        return NO_RESPONSE

    def _watch(self, backend: Backend, request: WatchRequest) -> int:
        events, after = initial_events(backend.rest.store, request)
        self.close_connection = True
        self._record(200)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.server.watch_opened(1)
        try:
            for event in events:
                self._chunk(event)
            follow(backend.rest.store, request, after, self._chunk)
            self.wfile.write(b"0\r\n\r\n")  # a clean end of stream, even when stopping
        except OSError:
            pass  # the client closed its watch
        finally:
            self.server.watch_opened(-1)
        return 200

    def _chunk(self, event: JSON) -> None:
        line = json.dumps(event).encode() + b"\n"
        self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
        self.wfile.flush()


_INVALID = object()


def _decode(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID
