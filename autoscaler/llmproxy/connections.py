"""The proxy's connections: the head half of `--read-timeout`, and aiohttp's own answers.

Head deadline: a connection must deliver a complete request head within the timeout of
being opened, or of the end of its previous request, else it is aborted. aiohttp has no such
limit in every version we support (its keep-alive timer, an hour by default, does not always
cover a first request), so a client trickling a header byte at a time (slow loris) would hold
a connection for as long as it liked. Each connection's protocol is wrapped: a timer runs
whenever no request is being handled; the proxy's handler stops it when it is called, i.e.
once the head has arrived (`HeadDeadlines.busy`), and restarts it when done. The body has its
own deadline (limits.py). A connection that expires with part of a head received counts as a
408; one that sent nothing since its last request is an idle keep-alive connection, closed
with nothing to answer. Aborted, not closed: a client that does not read cannot hold the
connection by leaving a response unread in its buffer.

aiohttp answers a request it cannot parse itself (400, the proxy's handler never runs) with
the parser's message as the body, which quotes the offending line, header value included.
`_QuietHandler` sends a fixed text instead and counts the refusal.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import cast

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from autoscaler.llmproxy.logscrub import SERVER_LOG

MALFORMED = "400 Bad Request: malformed HTTP request"


class _Connection(asyncio.Protocol):
    def __init__(self, inner: asyncio.Protocol, deadlines: HeadDeadlines) -> None:
        self._inner = inner
        self._deadlines = deadlines
        self._transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = 0
        self._partial = False  # bytes received since the last request: a head has started
        self._closing = False  # the last response closes it: what follows is not a request

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._arm()
        self._inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if not self._busy and not self._closing:
            self._partial = True
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        self._transport = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def _enter(self) -> None:
        self._busy += 1
        self._partial = False
        self._disarm()

    def _leave(self, visit: Visit) -> None:
        self._closing = self._closing or visit.closing
        self._busy -= 1
        if not self._busy and self._transport is not None:
            self._arm()

    def _arm(self) -> None:
        self._disarm()
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self._deadlines.timeout, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if self._busy or self._transport is None:
            return
        if self._partial:
            self._deadlines.on_refused(408)
        self._transport.abort()


class _QuietHandler(web.RequestHandler):
    def __init__(self, manager: web.Server, on_refused: Callable[[int], None]) -> None:
        super().__init__(
            manager, loop=asyncio.get_running_loop(),
            # No access log: aiohttp's default format prints header values (User-Agent).
            access_log=None,  # type: ignore[arg-type]  # None turns it off (typed Logger)
            # It logs parser errors with the exception: scrubbed (logscrub.py).
            logger=SERVER_LOG,
            # Request bodies are relayed as sent, Content-Encoding included.
            auto_decompress=False)
        self._on_refused = on_refused

    def handle_error(self, request: web.BaseRequest, status: int = 500,
                     exc: BaseException | None = None, message: str | None = None
                     ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):  # raised by a handler: already counted
            return super().handle_error(request, status, exc, None)
        self._on_refused(status)
        return super().handle_error(request, status, exc, MALFORMED)


class Visit:
    """One request's handling; `closing`: its response closes the connection (aiohttp may
    still read, and discard, the rest of the request until the deadline)."""

    closing = False


class HeadDeadlines:
    """Makes the proxy's connections (see the module doc); `on_refused(status)` counts what
    was answered, or cut, without the proxy's handler."""

    def __init__(self, timeout: float, on_refused: Callable[[int], None]) -> None:
        self.timeout = timeout
        self.on_refused = on_refused

    def connection(self, server: web.Server) -> asyncio.Protocol:
        return _Connection(_QuietHandler(server, self.on_refused), self)

    @contextlib.contextmanager
    def busy(self, transport: asyncio.BaseTransport | None) -> Iterator[Visit]:
        """Around a request's handling: its head has arrived, no deadline runs."""
        visit = Visit()
        connection = transport.get_protocol() if transport is not None else None
        if not isinstance(connection, _Connection):  # e.g. aiohttp's test server: no wrapper
            yield visit
            return
        connection._enter()
        try:
            yield visit
        finally:
            connection._leave(visit)


class GuardedSite(web.BaseSite):
    """web.TCPSite whose connections get a head deadline."""

    def __init__(self, runner: web.BaseRunner, host: str, port: int,
                 deadlines: HeadDeadlines) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._deadlines = deadlines

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None, "runner.setup() comes first"
        # Not server(): its handler is aiohttp's, with the kwargs of the runner.
        self._server = await asyncio.get_running_loop().create_server(
            lambda: self._deadlines.connection(server), self._host, self._port,
            backlog=self._backlog)
