"""A fake KubeEdge MetaServer: the node-local API proxy the edge agent talks to.

edgecore's MetaServer (127.0.0.1:10550) forwards requests to the cloud while its link to the
cloud is up and falls back to its local store while it is down. This one does the same for
tests, over plain HTTP:

* online: every request is forwarded upstream (a new connection each time, so nothing stale
  survives a partition), watch streams included; each 200 answer to a GET (and to a PUT, the
  object as written) is kept as the last answer for its URL;
* offline: a GET is answered from that cache, a GET with no cached answer and every watch
  get 503 (the client's watch cache backs off and relists from the cache), and every write
  gets 503 "the edge node is disconnected from the cloud".

Online or offline is decided like edgecore's link to cloudcore: a heartbeat (GET /version
every `heartbeat_seconds`, bounded by `timeout_seconds`) and any forward failing without an
HTTP answer (refused, unreachable, timed out, dropped). Going offline ends the forwarded
watch streams, whose upstream connections may hang forever behind a dropped link. Every
request's outcome goes to `records` (and, with `log_path`, one JSON line each); the mode to
`state_path` ("online" / "offline"), so a test in another network namespace can wait for it.

With `requireAuthorization` (KubeEdge >= 1.13) edgecore's MetaServer serves HTTPS and
authenticates each request's service-account token itself, online or offline; so does this
one given `tls=TlsFiles(cert, key)` and `token=`: a request without `Authorization: Bearer
<token>` gets 401 here (mode "unauthorized"), never forwarded; an authenticated one is
forwarded without the pod's token (edgecore talks to the cloud under its own identity).
`set_token` rotates the accepted token, as a token refresh would.

    python -m autoscaler.testing.metaserver --upstream http://10.0.0.1:6443 \\
        --listen 127.0.0.1:10550 --state-file /tmp/ms.state --log /tmp/ms.jsonl
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import signal
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from autoscaler.testing.server import TlsFiles, serve_tls

OFFLINE_MESSAGE = "the edge node is disconnected from the cloud: writes are unavailable"
_FORWARDED_HEADERS = ("Accept", "Authorization", "Content-Type", "User-Agent")
_LINK_ERRORS = (OSError, http.client.HTTPException)
Answer = tuple[int, str, bytes]  # status, content type, body


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps({"kind": "Status", "apiVersion": "v1", "metadata": {},
                       "status": "Failure", "message": message, "reason": reason,
                       "code": code}).encode()


OFFLINE: Answer = (503, "application/json",
                   status_body(503, "ServiceUnavailable", OFFLINE_MESSAGE))
UNAUTHORIZED: Answer = (401, "application/json", status_body(401, "Unauthorized", "Unauthorized"))


def is_watch(query: str) -> bool:
    return parse_qs(query).get("watch", [""])[-1].lower() in ("true", "1")


class MetaServer:
    def __init__(self, upstream: str, host: str = "127.0.0.1", port: int = 0, *,
                 log_path: Path | None = None, state_path: Path | None = None,
                 heartbeat_seconds: float = 0.1, timeout_seconds: float = 2.0,
                 tls: TlsFiles | None = None, token: str | None = None) -> None:
        split = urlsplit(upstream)
        self.upstream = (split.hostname or "127.0.0.1", split.port or 80)
        self.heartbeat_seconds, self.timeout = heartbeat_seconds, timeout_seconds
        self.log_path, self.state_path = log_path, state_path
        self.records: list[dict[str, Any]] = []
        self.cache: dict[str, Answer] = {}
        self._online: bool | None = None  # None: not probed yet
        self._lock = threading.Lock()
        self._watches: set[tuple[socket.socket, http.client.HTTPConnection]] = set()
        self._stop = threading.Event()
        self._host = host
        self._tls, self._token = tls, token
        self._server = _Server((host, port), self)
        serve_tls(self._server, tls)
        self._threads: list[threading.Thread] = []

    @property
    def online(self) -> bool:
        return bool(self._online)

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self._host}:{self._server.server_port}"

    def set_token(self, token: str | None) -> None:
        """Accept only this bearer token from now on (None: no authentication)."""
        self._token = token

    def start(self) -> Self:
        self._set_online(self._probe())  # the first answer is already the right mode
        for target, name in ((self._server.serve_forever, "metaserver"),
                             (self._heartbeat, "metaserver-heartbeat")):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._sever_watches()
        self._server.server_close()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    # The link

    def _heartbeat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            self._set_online(self._probe())

    def _probe(self) -> bool:
        connection = self._connect()
        try:
            connection.request("GET", "/version")
            return connection.getresponse().status < 500
        except _LINK_ERRORS:
            return False
        finally:
            connection.close()

    def _connect(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(*self.upstream, timeout=self.timeout)

    def _set_online(self, online: bool) -> None:
        with self._lock:
            changed, self._online = online != self._online, online
            if changed:
                self._write_state()
        if changed and not online:
            self._sever_watches()

    def _write_state(self) -> None:
        if self.state_path is not None:
            partial = self.state_path.with_name(self.state_path.name + ".tmp")
            partial.write_text("online\n" if self.online else "offline\n", encoding="utf-8")
            partial.replace(self.state_path)  # atomic: a reader never sees half a word

    def _sever_watches(self) -> None:
        with self._lock:
            watches = list(self._watches)
        for client, upstream in watches:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
            if upstream.sock is not None:
                with contextlib.suppress(OSError):
                    upstream.sock.shutdown(socket.SHUT_RDWR)

    # Requests

    def handle(self, handler: _Handler) -> None:
        split = urlsplit(handler.path)
        body = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        headers = {k: v for k in _FORWARDED_HEADERS if (v := handler.headers.get(k))}
        watch = handler.command == "GET" and is_watch(split.query)
        token = self._token
        if token is not None and headers.pop("Authorization", None) != f"Bearer {token}":
            self._answer(handler, "unauthorized", UNAUTHORIZED)
            return
        if self.online:
            try:
                if watch:
                    self._forward_watch(handler, headers)
                    return
                answer = self._forward(handler.command, handler.path, headers, body)
            except _LINK_ERRORS:
                self._set_online(False)  # no HTTP answer: the link is down
            else:
                if answer[0] == 200 and handler.command in ("GET", "PUT"):
                    self.cache[handler.path if handler.command == "GET" else split.path] = \
                        answer
                self._answer(handler, "forwarded", answer)
                return
        cached = self.cache.get(handler.path) if handler.command == "GET" and not watch \
            else None
        if cached is not None:
            self._answer(handler, "cache", cached)
        else:
            self._answer(handler, "refused", OFFLINE)

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes
                 ) -> Answer:
        connection = self._connect()
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            return (response.status, response.getheader("Content-Type") or "application/json",
                    response.read())
        finally:
            connection.close()

    def _forward_watch(self, handler: _Handler, headers: dict[str, str]) -> None:
        connection = self._connect()
        try:
            connection.request("GET", handler.path, headers=headers)
            response = connection.getresponse()
            if response.status != 200:
                answer = (response.status, response.getheader("Content-Type") or "",
                          response.read())
                self._answer(handler, "forwarded", answer)
                return
            assert connection.sock is not None
            connection.sock.settimeout(None)  # a watch is quiet for as long as nothing changes
            entry = (handler.connection, connection)
            with self._lock:
                self._watches.add(entry)
                offline = self._online is False  # went offline while this one connected
            try:
                if offline:
                    raise ConnectionAbortedError("offline")
                self._relay(handler, response)
            finally:
                with self._lock:
                    self._watches.discard(entry)
        finally:
            connection.close()

    def _relay(self, handler: _Handler, response: http.client.HTTPResponse) -> None:
        self._record(handler, "watch", 200)
        handler.close_connection = True
        handler.send_response(200)
        handler.send_header("Content-Type", response.getheader("Content-Type") or "")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        try:
            while data := response.read1(65536):
                handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")  # upstream ended it cleanly: so do we
        except _LINK_ERRORS:
            pass  # severed (offline) or the client left: the client sees a broken stream

    def _answer(self, handler: _Handler, mode: str, answer: Answer) -> None:
        status, content_type, body = answer
        self._record(handler, mode, status)
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    def _record(self, handler: _Handler, mode: str, status: int) -> None:
        split = urlsplit(handler.path)
        record = {"method": handler.command, "path": split.path, "query": split.query,
                  "mode": mode, "status": status}
        with self._lock:
            self.records.append(record)
            if self.log_path is not None:
                with self.log_path.open("a", encoding="utf-8") as log:
                    log.write(json.dumps(record) + "\n")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], meta: MetaServer) -> None:
        self.meta = meta
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients hanging up mid-answer (timeouts, severed watches) are expected


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, chunked watches: what the client expects
    server: _Server

    def do_GET(self) -> None:
        self.server.meta.handle(self)

    def do_POST(self) -> None:
        self.server.meta.handle(self)

    def do_PUT(self) -> None:
        self.server.meta.handle(self)

    def do_PATCH(self) -> None:
        self.server.meta.handle(self)

    def do_DELETE(self) -> None:
        self.server.meta.handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # `records` replaces stderr noise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autoscaler.testing.metaserver")
    parser.add_argument("--upstream", required=True, help="the API server, http://HOST:PORT")
    parser.add_argument("--listen", default="127.0.0.1:10550", help="HOST:PORT")
    parser.add_argument("--state-file", type=Path, help="gets 'online' or 'offline'")
    parser.add_argument("--log", type=Path, help="one JSON line per request")
    args = parser.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    stopped = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopped.set())
    signal.signal(signal.SIGINT, lambda *_: stopped.set())
    with MetaServer(args.upstream, host, int(port), log_path=args.log,
                    state_path=args.state_file):
        stopped.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
