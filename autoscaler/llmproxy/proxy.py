"""The reverse proxy: forwards everything but the metrics path, relays bodies chunk by chunk,
and meters each exchange (gauges, latency histograms, tokens)."""

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

from autoscaler.llmproxy.gate import FifoGate
from autoscaler.llmproxy.headers import request_headers, response_headers
from autoscaler.llmproxy.metrics import METRICS_CONTENT_TYPE, ProxyMetrics, path_label
from autoscaler.llmproxy.usage import meter_for

log = logging.getLogger("autoscaler.llmproxy")

# Prompts with long contexts exceed aiohttp's 1 MiB default; the body is read whole so the
# upstream gets a Content-Length (not every server accepts a chunked request).
MAX_REQUEST_BYTES = 64 << 20
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


@dataclass
class _Exchange:
    """What the metrics need to know about one request, filled in as it goes."""

    started: float
    path: str
    code: str = "500"
    streaming: bool = False
    first_byte: float | None = None


class LlmProxy:
    def __init__(self, config: ProxyConfig, metrics: ProxyMetrics) -> None:
        self.config = config
        self.metrics = metrics
        self.gate = FifoGate(config.max_concurrency)
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
            timeout=aiohttp.ClientTimeout(total=self.config.timeout_seconds),
        )
        try:
            yield
        finally:
            await self._session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        if request.path == self.config.metrics_path and request.method in ("GET", "HEAD"):
            return web.Response(body=self.metrics.exposition(),
                                headers={"Content-Type": METRICS_CONTENT_TYPE})
        exchange = _Exchange(started=time.monotonic(), path=path_label(request.path))
        try:
            return await self._proxy(request, exchange)
        except web.HTTPException as exc:
            exchange.code = str(exc.status)
            raise
        except (asyncio.CancelledError, ConnectionError):
            exchange.code = CLIENT_CLOSED
            raise
        finally:
            self._observe(request, exchange)

    async def _proxy(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        body = await request.read()
        gate = (contextlib.nullcontext() if request.method in UNGATED_METHODS
                else self.gate.slot(self.metrics.waiting))
        async with gate:
            with self.metrics.in_flight.track_inprogress():
                return await self._forward(request, body, exchange)

    async def _forward(self, request: web.Request, body: bytes, exchange: _Exchange
                       ) -> web.StreamResponse:
        assert self._session is not None, "the app's cleanup context was not entered"
        url = URL(self._base + request.rel_url.raw_path_qs, encoded=True)
        try:
            upstream = await self._session.request(
                request.method, url, headers=request_headers(request.headers),
                data=body or None, allow_redirects=False)
        except TimeoutError:
            return self._error(exchange, 504, "upstream_timeout", "upstream did not answer "
                               f"within {self.config.timeout_seconds:g} s")
        except (aiohttp.ClientError, OSError) as exc:
            log.warning("upstream unavailable for %s: %s: %s", exchange.path,
                        type(exc).__name__, exc)
            return self._error(exchange, 502, "upstream_unavailable",
                               f"upstream unavailable: {type(exc).__name__}")
        try:
            return await self._relay(request, upstream, exchange)
        finally:
            upstream.close()  # a no-op when released; otherwise stops the upstream's work

    async def _relay(self, request: web.Request, upstream: aiohttp.ClientResponse,
                     exchange: _Exchange) -> web.StreamResponse:
        content_type = upstream.headers.get("Content-Type", "")
        exchange.streaming = content_type.lower().startswith("text/event-stream")
        meter = meter_for(content_type, upstream.headers.get("Content-Encoding", ""))
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason,
                                      headers=response_headers(upstream.headers))
        exchange.code = str(upstream.status)
        await response.prepare(request)
        try:
            async for chunk in upstream.content.iter_any():
                if exchange.streaming and exchange.first_byte is None:
                    exchange.first_byte = time.monotonic()
                meter.feed(chunk)
                await response.write(chunk)  # no buffering: each chunk goes out as it comes
        except (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError,
                TimeoutError) as exc:
            log.warning("upstream broke mid-response for %s: %s", exchange.path,
                        type(exc).__name__)
            # The status line is gone already: cut the connection so the client sees an
            # incomplete response, not a clean end (aiohttp's write_eof then fails quietly).
            exchange.code = "502"
            if request.transport is not None:
                request.transport.close()
            return response
        finally:
            # Tokens already generated were paid for even if the client left mid-stream.
            if 200 <= upstream.status < 300:
                self.metrics.record_tokens(meter.finish())
        upstream.release()  # back to the pool for the next request
        await response.write_eof()
        if not exchange.streaming:
            exchange.first_byte = time.monotonic()  # non-streaming: the whole body is the token
        return response

    def _error(self, exchange: _Exchange, status: int, kind: str, message: str
               ) -> web.Response:
        exchange.code = str(status)
        # OpenAI's error shape, so SDKs surface the message.
        return web.json_response(
            {"error": {"message": message, "type": kind, "param": None, "code": status}},
            status=status)

    def _observe(self, request: web.Request, exchange: _Exchange) -> None:
        now = time.monotonic()
        if exchange.first_byte is not None:
            self.metrics.ttft.observe(exchange.first_byte - exchange.started)
        self.metrics.duration.observe(now - exchange.started)
        self.metrics.requests.labels(code=exchange.code, path=exchange.path).inc()
        # The path label and the method only: raw paths, queries and header values may
        # carry credentials.
        log.debug("%s %s -> %s in %.3f s", request.method, exchange.path, exchange.code,
                  now - exchange.started)


PROXY_KEY = web.AppKey("llm_proxy", LlmProxy)


def build_app(config: ProxyConfig, metrics: ProxyMetrics | None = None) -> web.Application:
    proxy = LlmProxy(config, metrics or ProxyMetrics())
    app = web.Application(client_max_size=MAX_REQUEST_BYTES)
    app[PROXY_KEY] = proxy
    app.cleanup_ctx.append(proxy.session_context)
    app.router.add_route("*", "/{tail:.*}", proxy.handle)
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
    # No access log: aiohttp's default format prints header values (User-Agent, Referer).
    # Handler cancellation: a client that leaves while queued or waiting for a non-streaming
    # answer frees its slot (and the upstream's work) at once.
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound = runner.addresses[0][1]
        yield RunningProxy(url=f"http://{host}:{bound}", port=bound, proxy=app[PROXY_KEY])
    finally:
        await runner.cleanup()


async def serve_until_signalled(config: ProxyConfig, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with serving(config, host, port) as running:
        log.info("llm-proxy listening on %s:%d, upstream %s, metrics %s, max concurrency %s",
                 host, running.port, _without_credentials(config.upstream),
                 config.metrics_path, config.max_concurrency or "unlimited")
        await stop.wait()
        log.info("llm-proxy stopping: finishing the requests in flight")


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=parts.netloc.rpartition("@")[2]).geturl()
