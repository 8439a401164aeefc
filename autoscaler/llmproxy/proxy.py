"""The reverse proxy: forwards everything but the metrics path, relays bodies chunk by chunk,
and meters each exchange (gauges, latency histograms, tokens). Every failure is an HTTP
answer or, once a response has started, a cut connection (the table is in the package doc).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp import web
from yarl import URL

from autoscaler.llmproxy.connections import GuardedSite, HeadDeadlines
from autoscaler.llmproxy.gate import FifoGate
from autoscaler.llmproxy.headers import request_headers, response_headers
from autoscaler.llmproxy.limits import (
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_READ_TIMEOUT,
    RequestRefusedError,
    no_expect_handler,
    read_body,
)
from autoscaler.llmproxy.logscrub import describe, loop_exception_handler, stack
from autoscaler.llmproxy.metrics import (
    METRICS_CONTENT_TYPE,
    OTHER_PATH,
    ProxyMetrics,
    path_label,
)
from autoscaler.llmproxy.usage import TokenCount, meter_for

log = logging.getLogger("autoscaler.llmproxy")

# nginx's "client closed request": the client left before the response was complete.
CLIENT_CLOSED = "499"
# Readiness probes and model listings must not queue behind a minutes-long generation.
UNGATED_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class ProxyConfig:
    upstream: str = "http://127.0.0.1:8080"
    metrics_path: str = "/metrics"
    max_concurrency: int | None = None
    # One forwarded exchange, connect to last byte; time waiting in the proxy not included.
    timeout_seconds: float = 600.0
    # The request head within this of the connection's opening (or of its previous request's
    # end), then the body within this of the head (connections.py, limits.py).
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES


@dataclass
class _Exchange:
    """What the metrics need to know about one request, filled in as it goes."""

    started: float
    path: str
    code: str = "500"
    streaming: bool = False
    first_byte: float | None = None
    response: web.StreamResponse | None = None  # once its status line is sent
    forwarded: float | None = None  # when the upstream request started (after the gate)
    tokens: TokenCount | None = None  # a 2xx response's metered tokens


class LlmProxy:
    def __init__(self, config: ProxyConfig, metrics: ProxyMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.gate = FifoGate(config.max_concurrency)
        self.connections = HeadDeadlines(config.read_timeout_seconds, self._refused)
        self._base = config.upstream.rstrip("/")
        self._session: aiohttp.ClientSession | None = None

    async def session_context(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: one pooled client session for the app's lifetime."""
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=0),  # the gate limits, not the pool (100)
            auto_decompress=False,  # relay bytes as sent; Content-Length stays right
            # Add nothing the client did not send (a default Accept-Encoding would make the
            # upstream compress for a client that cannot inflate).
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            # One session serves every client: a cookie the upstream sets for one must never
            # be sent on another's request.
            cookie_jar=aiohttp.DummyCookieJar(),
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
        )
        try:
            yield
        finally:
            await self._session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        with self.connections.busy(request.transport) as visit:  # the head is in, in time
            response = await self._handle(request)
            visit.closing = response.keep_alive is False  # force_close(): an error answered
            return response

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == self.config.metrics_path and request.method in ("GET", "HEAD"):
            return web.Response(body=self.metrics.exposition(),
                                headers={"Content-Type": METRICS_CONTENT_TYPE})
        exchange = _Exchange(started=time.monotonic(), path=path_label(request.path))
        self.metrics.arrivals.labels(path=exchange.path).inc()
        try:
            return await self._proxy(request, exchange)
        except RequestRefusedError as exc:
            return self._error(exchange, exc.status, exc.kind, exc.message, close=True)
        except asyncio.CancelledError:
            exchange.code = CLIENT_CLOSED
            raise
        except ConnectionError:
            # The client is gone. Returned, not raised: aiohttp then ends quietly, where it
            # would log an error and try to send a 500.
            exchange.code = CLIENT_CLOSED
            return exchange.response or web.Response(status=499)
        except Exception as exc:
            return self._failed(request, exchange, exc)
        finally:
            self._observe(request, exchange)

    async def _proxy(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        # Read before queueing: the body's deadline must not count the wait for a slot.
        body = await read_body(request, self.config.max_body_bytes,
                               self.config.read_timeout_seconds)
        gate = (contextlib.nullcontext() if request.method in UNGATED_METHODS
                else self.gate.slot(self.metrics.waiting))
        async with gate:
            with self.metrics.in_flight.track_inprogress():
                return await self._forward(request, body, exchange)

    async def _forward(self, request: web.Request, body: bytearray, exchange: _Exchange
                       ) -> web.StreamResponse:
        assert self._session is not None, "the app's cleanup context was not entered"
        url = URL(self._base + request.rel_url.raw_path_qs, encoded=True)
        exchange.forwarded = time.monotonic()
        try:
            upstream = await self._session.request(
                request.method, url, headers=request_headers(request.headers),
                data=body or None, allow_redirects=False)
        except TimeoutError:
            return self._error(exchange, 504, "upstream_timeout", "upstream did not answer "
                               f"within {self.config.timeout_seconds:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            # The exception's type only: its text may quote the upstream's response.
            log.warning("upstream unavailable for %s: %s", exchange.path, describe(exc))
            return self._error(exchange, 502, "upstream_unavailable",
                               f"upstream unavailable: {type(exc).__name__}")
        except ValueError as exc:  # the client library refuses what the client sent
            log.warning("request for %s cannot be forwarded: %s", exchange.path, describe(exc))
            return self._error(exchange, 400, "invalid_request",
                               "the request cannot be forwarded", close=True)
        try:
            return await self._relay(request, upstream, exchange)
        finally:
            upstream.close()  # a no-op when released; otherwise stops the upstream's work

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse,
                     exchange: _Exchange) -> web.StreamResponse:
        content_type = upstream.headers.get("Content-Type", "")
        exchange.streaming = content_type.lower().startswith("text/event-stream")
        meter = meter_for(content_type, upstream.headers.get("Content-Encoding", ""))
        try:
            response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                          headers=response_headers(upstream.headers))
            await response.prepare(request)
        except ValueError as exc:  # e.g. a header value that cannot be encoded again
            log.warning("upstream answer for %s cannot be relayed: %s", exchange.path,
                        describe(exc))
            return self._error(exchange, 502, "bad_upstream_response",
                               "the upstream's answer cannot be relayed")
        exchange.response = response
        exchange.code = str(upstream.status)
        try:
            while True:
                try:
                    chunk = await upstream.content.readany()
                except (aiohttp.ClientError, OSError, TimeoutError) as exc:  # upstream only
                    log.warning("upstream broke mid-response for %s: %s", exchange.path,
                                describe(exc))
                    return self._cut(request, exchange, "502")
                if not chunk:
                    break
                if exchange.streaming and exchange.first_byte is None:
                    exchange.first_byte = time.monotonic()
                meter.feed(chunk)
                await response.write(chunk)  # no buffering: each chunk goes out as it comes
        finally:
            # Tokens already generated were paid for even if the client left mid-stream.
            if 200 <= upstream.status < 300:
                exchange.tokens = meter.finish()
                self.metrics.record_tokens(exchange.tokens)
        upstream.release()  # back to the pool for the next request
        await response.write_eof()
        if not exchange.streaming:
            exchange.first_byte = time.monotonic()  # non-streaming: the whole body is the token
        return response

    def _failed(self, request: web.Request, exchange: _Exchange, exc: Exception
                ) -> web.StreamResponse:
        """A bug: its stack is logged (never a value), the client gets a 500."""
        log.error("proxy failure for %s: %s\n%s", exchange.path, describe(exc), stack(exc))
        if exchange.response is None:
            return self._error(exchange, 500, "proxy_error", "internal proxy error",
                               close=True)
        return self._cut(request, exchange, "500")

    def _cut(self, request: web.Request, exchange: _Exchange, code: str
             ) -> web.StreamResponse:
        # The status line is gone already: cut the connection so the client sees an
        # incomplete response, not a clean end (aiohttp's write_eof then fails quietly).
        exchange.code = code
        if request.transport is not None:
            request.transport.close()
        assert exchange.response is not None
        return exchange.response

    def _error(self, exchange: _Exchange, status: int, kind: str, message: str,
               close: bool = False) -> web.Response:
        exchange.code = str(status)
        # OpenAI's error shape, so SDKs surface the message.
        response = web.json_response(
            {"error": {"message": message, "type": kind, "param": None, "code": status}},
            status=status)
        if close:  # the rest of the request may be unread or unreadable
            response.force_close()
        return response

    def _refused(self, status: int) -> None:
        # No handler ran (a malformed or late head), so _observe never sees it: counted
        # here, the path unknown.
        self.metrics.requests.labels(code=str(status), path=OTHER_PATH).inc()

    def _observe(self, request: web.Request, exchange: _Exchange) -> None:
        now = time.monotonic()
        if exchange.first_byte is not None:
            self.metrics.ttft.observe(exchange.first_byte - exchange.started)
        self.metrics.duration.observe(now - exchange.started)
        self.metrics.requests.labels(code=exchange.code, path=exchange.path).inc()
        if exchange.tokens is not None and exchange.code.startswith("2"):
            self.metrics.record_service(exchange.path, exchange.tokens, exchange.streaming,
                                        exchange.forwarded, exchange.first_byte, now)
        # The path label and the method only: raw paths, queries and header values may
        # carry credentials.
        log.debug("%s %s -> %s in %.3f s", request.method, exchange.path, exchange.code,
                  now - exchange.started)


PROXY_KEY = web.AppKey("llm_proxy", LlmProxy)


def build_app(config: ProxyConfig, metrics: ProxyMetrics | None = None) -> web.Application:
    proxy = LlmProxy(config, metrics or ProxyMetrics())
    app = web.Application(client_max_size=config.max_body_bytes)
    app[PROXY_KEY] = proxy
    app.cleanup_ctx.append(proxy.session_context)
    app.router.add_route("*", "/{tail:.*}", proxy.handle, expect_handler=no_expect_handler)
    return app


@dataclass(frozen=True)
class RunningProxy:
    url: str
    port: int
    proxy: LlmProxy


@contextlib.asynccontextmanager
async def serving(config: ProxyConfig, host: str = "127.0.0.1", port: int = 0,
                  metrics: ProxyMetrics | None = None) -> AsyncIterator[RunningProxy]:
    """Run the proxy on host:port (0: an ephemeral port) until the block exits."""
    app = build_app(config, metrics)
    # Handler cancellation: a client that leaves while queued or waiting for a non-streaming
    # answer frees its slot (and the upstream's work) at once. The connections' settings (no
    # access log, the scrubbed logger, bodies as sent) are in connections.py.
    runner = web.AppRunner(app, handler_cancellation=True)
    loop = asyncio.get_running_loop()
    previous_handler = loop.get_exception_handler()
    loop.set_exception_handler(loop_exception_handler)
    await runner.setup()
    try:
        site = GuardedSite(runner, host, port, app[PROXY_KEY].connections)
        await site.start()
        bound = runner.addresses[0][1]
        yield RunningProxy(url=f"http://{host}:{bound}", port=bound, proxy=app[PROXY_KEY])
    finally:
        await runner.cleanup()
        loop.set_exception_handler(previous_handler)


async def serve_until_signalled(config: ProxyConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serving(config, host, port) as running:
        log.info("llm-proxy listening on %s:%d, upstream %s, metrics %s, max concurrency %s, "
                 "max body %d bytes, read timeout %g s", host, running.port,
                 _without_credentials(config.upstream), config.metrics_path,
                 config.max_concurrency or "unlimited", config.max_body_bytes,
                 config.read_timeout_seconds)
        await stop.wait()
        log.info("llm-proxy stopping: finishing the requests in flight")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
