"""`autoscaler llm-proxy` against a fake OpenAI-compatible upstream that serves ONE request at a
time (autoscaler/llmproxy/fake_upstream.py), both in-process on ephemeral 127.0.0.1 ports.

Every test runs its own event loop with asyncio.run (no pytest-asyncio); metrics are read the
way Prometheus reads them: GET /metrics, parsed with prometheus_client's parser.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from autoscaler.llmproxy.cli import build_parser, main
from autoscaler.llmproxy.fake_upstream import (
    CHAT,
    COMPLETIONS,
    EMBEDDINGS,
    FakeOpenAI,
    FakeSettings,
    running,
)
from autoscaler.llmproxy.gate import FifoGate
from autoscaler.llmproxy.metrics import LATENCY_BUCKETS, ProxyMetrics
from autoscaler.llmproxy.proxy import ProxyConfig, RunningProxy, serving
from autoscaler.llmproxy.usage import JsonUsageMeter, SseUsageMeter, TokenCount, meter_for

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent
IN_FLIGHT = "llm_proxy_requests_in_flight"
WAITING = "llm_proxy_requests_waiting"
REQUESTS = "llm_proxy_requests_total"
PROMPT = "llm_proxy_prompt_tokens_total"
COMPLETION = "llm_proxy_completion_tokens_total"
ESTIMATED = "llm_proxy_completion_tokens_estimated_total"
TTFT = "llm_proxy_time_to_first_token_seconds"
DURATION = "llm_proxy_request_duration_seconds"
STREAM_USAGE = {"stream": True, "stream_options": {"include_usage": True}}


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@dataclass
class Env:
    fake: FakeOpenAI
    proxy: RunningProxy
    client: aiohttp.ClientSession

    def url(self, path: str) -> str:
        return self.proxy.url + path

    async def metrics(self) -> Metrics:
        async with self.client.get(self.url("/metrics")) as response:
            assert response.status == 200
            return Metrics(await response.text())

    async def wait_until(self, check: Callable[[Metrics], bool], timeout: float = 3.0
                         ) -> Metrics:
        deadline = time.monotonic() + timeout
        while True:
            metrics = await self.metrics()
            if check(metrics):
                return metrics
            assert time.monotonic() < deadline, f"condition never met:\n{metrics.text}"
            await asyncio.sleep(0.01)

    async def idle(self) -> Metrics:
        return await self.wait_until(lambda m: m.value(IN_FLIGHT) == m.value(WAITING) == 0)


class Metrics:
    def __init__(self, text: str) -> None:
        self.text = text
        self.samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                self.samples[(sample.name, frozenset(sample.labels.items()))] = sample.value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; a labelled counter never incremented reads 0."""
        key = (name, frozenset(labels.items()))
        if key not in self.samples:
            assert labels, f"{name} missing from /metrics"
            return 0.0
        return self.samples[key]


@contextlib.asynccontextmanager
async def stack(settings: FakeSettings | None = None, max_concurrency: int | None = None,
                timeout: float = 600.0, upstream: str | None = None,
                metrics_path: str = "/metrics") -> AsyncIterator[Env]:
    fake = FakeOpenAI(settings)
    async with running(fake) as fake_url:
        config = ProxyConfig(upstream=upstream or fake_url, metrics_path=metrics_path,
                             max_concurrency=max_concurrency, timeout_seconds=timeout)
        async with serving(config, metrics=ProxyMetrics()) as proxy, \
                aiohttp.ClientSession() as client:
            yield Env(fake, proxy, client)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def post_json(env: Env, path: str, body: object, **kwargs: Any) -> tuple[int, bytes]:
    async with env.client.post(env.url(path), json=body, **kwargs) as response:
        return response.status, await response.read()


# --- pass-through -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body", "status"), [
    pytest.param("GET", "/echo?a=1&b=x%20y", b"", 200, id="get-query-kept-encoded"),
    pytest.param("POST", "/echo?status=418", b'{"x": 1}', 418, id="post-body-and-status"),
    pytest.param("DELETE", "/echo?status=503", b"", 503, id="delete-5xx"),
    pytest.param("PUT", "/echo", b"\x00\xffbinary", 200, id="binary-body"),
])
def test_pass_through(method: str, path: str, body: bytes, status: int) -> None:
    async def scenario() -> None:
        async with stack() as env, env.client.request(method, env.url(path),
                                                      data=body) as response:
            seen = json.loads(await response.read())
            assert response.status == status
            assert seen["method"] == method
            assert seen["path"] + ("?" + seen["query"] if seen["query"] else "") == path
            assert seen["body"].encode("latin-1") == body
            assert int(response.headers["Content-Length"]) == response.content_length
    run(scenario())


def test_upstream_404_passes_through() -> None:
    async def scenario() -> None:
        async with stack() as env:
            status, body = await post_json(env, "/v1/unknown", {})
            assert (status, body) == (404, b"404: Not Found")
            metrics = await env.metrics()
            assert metrics.value(REQUESTS, code="404", path="other") == 1
    run(scenario())


REQUEST_HEADERS = {
    "Authorization": "Bearer t0ken", "X-Custom": "kept", "Keep-Alive": "300",
    "Proxy-Authorization": "Basic cHJveHk=", "Connection": "keep-alive, X-Hop-Request",
    "X-Hop-Request": "dropped", "TE": "trailers",
}


@pytest.mark.parametrize(("header", "kept"), [
    pytest.param("Authorization", True, id="authorization-kept"),
    pytest.param("X-Custom", True, id="end-to-end-kept"),
    pytest.param("Keep-Alive", False, id="keep-alive-dropped"),
    pytest.param("Proxy-Authorization", False, id="proxy-authorization-dropped"),
    pytest.param("X-Hop-Request", False, id="named-by-connection-dropped"),
    pytest.param("TE", False, id="te-dropped"),
    pytest.param("User-Agent", False, id="nothing-added-user-agent"),
    pytest.param("Accept-Encoding", False, id="nothing-added-accept-encoding"),
])
def test_request_headers(header: str, kept: bool) -> None:
    async def scenario() -> None:
        async with stack() as env, aiohttp.ClientSession(
                skip_auto_headers=("User-Agent", "Accept-Encoding")) as bare:
            async with bare.get(env.url("/echo"), headers=REQUEST_HEADERS) as response:
                seen = {k.lower(): v for k, v in (await response.json())["headers"]}
            assert (header.lower() in seen) is kept
            if kept:
                assert seen[header.lower()] == REQUEST_HEADERS[header]
    run(scenario())


@pytest.mark.parametrize(("header", "expected"), [
    pytest.param("X-Upstream", ["fake"], id="end-to-end-kept"),
    pytest.param("Set-Cookie", ["a=1", "b=2"], id="repeated-kept"),
    pytest.param("Keep-Alive", [], id="keep-alive-dropped"),
    pytest.param("Proxy-Authenticate", [], id="proxy-authenticate-dropped"),
    pytest.param("X-Hop-Response", [], id="named-by-connection-dropped"),
])
def test_response_headers(header: str, expected: list[str]) -> None:
    async def scenario() -> None:
        async with stack() as env, env.client.get(env.url("/echo")) as response:
            await response.read()
            assert response.headers.getall(header, []) == expected
    run(scenario())


@pytest.mark.parametrize(("metrics_path", "get", "served_by_proxy"), [
    pytest.param("/metrics", "/metrics", True, id="default"),
    pytest.param("/proxy-metrics", "/proxy-metrics", True, id="custom-path"),
    pytest.param("/proxy-metrics", "/metrics", False, id="other-path-forwarded"),
])
def test_metrics_path(metrics_path: str, get: str, served_by_proxy: bool) -> None:
    async def scenario() -> None:
        async with stack(metrics_path=metrics_path) as env, \
                env.client.get(env.url(get)) as response:
            text = await response.text()
            assert (IN_FLIGHT in text) is served_by_proxy
            assert response.status == (200 if served_by_proxy else 404)
            if served_by_proxy:
                assert response.headers["Content-Type"].startswith("text/plain")
    run(scenario())


# --- streaming ----------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [
    pytest.param(CHAT, {"stream": True, "max_tokens": 4}, id="chat"),
    pytest.param(CHAT, {**STREAM_USAGE, "max_tokens": 4}, id="chat-with-usage"),
    pytest.param(COMPLETIONS, {"stream": True, "max_tokens": 4}, id="completions"),
])
def test_streaming_is_not_buffered(path: str, body: dict[str, Any]) -> None:
    decode = 0.04

    async def scenario() -> None:
        async with stack(FakeSettings(prefill_seconds=0.02, decode_seconds=decode)) as env:
            arrivals = []
            async with env.client.post(env.url(path), json=body) as response:
                assert response.headers["Content-Type"] == "text/event-stream"
                async for line in response.content:
                    if line.startswith(b"data:"):
                        arrivals.append(time.monotonic())
            # Buffered, every event would arrive at once when the upstream finished; relayed,
            # they arrive as the 4 tokens are decoded, `decode` seconds apart.
            assert arrivals[-1] - arrivals[0] >= 0.75 * 3 * decode
    run(scenario())


# --- gauges -------------------------------------------------------------------------------


@pytest.mark.parametrize(("limit", "outstanding", "in_flight", "waiting"), [
    pytest.param(None, 3, 3, 0, id="unlimited-3"),
    pytest.param(1, 3, 1, 2, id="limit-1-of-3"),
    pytest.param(2, 5, 2, 3, id="limit-2-of-5"),
    pytest.param(4, 2, 2, 0, id="limit-4-of-2"),
])
def test_gauges_while_requests_are_outstanding(limit: int | None, outstanding: int,
                                               in_flight: int, waiting: int) -> None:
    async def scenario() -> None:
        async with stack(FakeSettings(0.0, 0.0), max_concurrency=limit) as env:
            env.fake.hold.clear()
            tasks = [asyncio.create_task(post_json(env, CHAT, {})) for _ in range(outstanding)]
            metrics = await env.wait_until(
                lambda m: m.value(IN_FLIGHT) + m.value(WAITING) == outstanding)
            assert (metrics.value(IN_FLIGHT), metrics.value(WAITING)) == (in_flight, waiting)
            assert env.fake.stats.active == 1  # the upstream serves one at a time
            env.fake.hold.set()
            assert [status for status, _ in await asyncio.gather(*tasks)] == [200] * outstanding
            metrics = await env.idle()
            assert metrics.value(REQUESTS, code="200", path=CHAT) == outstanding
            assert env.fake.stats.max_active == 1
            assert env.proxy.proxy.gate.active == 0
    run(scenario())


def test_probes_are_never_queued() -> None:
    """GET requests bypass --max-concurrency: a readiness probe must not wait for a generation."""
    async def scenario() -> None:
        async with stack(max_concurrency=1) as env:
            env.fake.hold.clear()
            task = asyncio.create_task(post_json(env, CHAT, {}))
            await env.wait_until(lambda m: m.value(IN_FLIGHT) == 1)
            async with env.client.get(env.url("/echo")) as response:
                assert response.status == 200
            env.fake.hold.set()
            assert (await task)[0] == 200
    run(scenario())


# --- tokens and latencies -----------------------------------------------------------------


@pytest.mark.parametrize(("path", "body", "prompt", "completion", "estimated"), [
    pytest.param(CHAT, {}, 7, 5, 0, id="chat-json"),
    pytest.param(CHAT, STREAM_USAGE, 7, 5, 0, id="chat-stream-with-usage"),
    pytest.param(CHAT, {"stream": True}, 0, 5, 5, id="chat-stream-estimated"),
    pytest.param(COMPLETIONS, {"max_tokens": 3}, 7, 3, 0, id="completions-json"),
    pytest.param(COMPLETIONS, {"stream": True, "max_tokens": 3}, 0, 3, 3,
                 id="completions-stream-estimated"),
    pytest.param(COMPLETIONS, {**STREAM_USAGE, "max_tokens": 3}, 7, 3, 0,
                 id="completions-stream-with-usage"),
    pytest.param(EMBEDDINGS, {"input": "hi"}, 7, 0, 0, id="embeddings"),
    pytest.param("/echo?status=500", {}, 0, 0, 0, id="error-not-metered"),
])
def test_token_counters(path: str, body: dict[str, Any], prompt: int, completion: int,
                        estimated: int) -> None:
    async def scenario() -> None:
        async with stack(FakeSettings(0.0, 0.001)) as env:
            for _ in range(2):
                await post_json(env, path, body)
            metrics = await env.idle()
            assert (metrics.value(PROMPT), metrics.value(COMPLETION),
                    metrics.value(ESTIMATED)) == (2 * prompt, 2 * completion, 2 * estimated)
    run(scenario())


@pytest.mark.parametrize(("body", "ttft_below_duration_by"), [
    # 5 tokens of 40 ms come after the first byte of a stream...
    pytest.param({"stream": True}, 0.15, id="streaming"),
    # ...while a JSON answer's first token is its whole body.
    pytest.param({}, 0.0, id="non-streaming"),
])
def test_latency_histograms(body: dict[str, Any], ttft_below_duration_by: float) -> None:
    prefill = 0.03

    async def scenario() -> None:
        async with stack(FakeSettings(prefill_seconds=prefill, decode_seconds=0.04)) as env:
            for _ in range(2):
                assert (await post_json(env, CHAT, body))[0] == 200
            metrics = await env.idle()
            for name in (TTFT, DURATION):
                assert metrics.value(f"{name}_count") == 2
            ttft, duration = metrics.value(f"{TTFT}_sum") / 2, metrics.value(f"{DURATION}_sum") / 2
            assert prefill <= ttft <= duration
            assert duration - ttft >= ttft_below_duration_by
            if not ttft_below_duration_by:
                assert duration - ttft < 0.02
            buckets = sorted(float(dict(labels)["le"]) for name, labels in metrics.samples
                             if name == f"{TTFT}_bucket")
            assert buckets == [*LATENCY_BUCKETS, float("inf")]
    run(scenario())


# --- failures: the gauges always come back to 0 -------------------------------------------


@pytest.mark.parametrize(("limit", "timeout", "upstream_down", "path", "status", "code"), [
    pytest.param(None, 600.0, True, CHAT, 502, "502", id="upstream-down"),
    pytest.param(1, 600.0, True, CHAT, 502, "502", id="upstream-down-limited"),
    pytest.param(1, 0.1, False, CHAT, 504, "504", id="upstream-timeout"),
    pytest.param(None, 600.0, False, "/die", None, "502", id="upstream-dies-mid-stream"),
])
def test_upstream_failures(limit: int | None, timeout: float, upstream_down: bool, path: str,
                           status: int | None, code: str) -> None:
    async def scenario() -> None:
        down = f"http://127.0.0.1:{closed_port()}" if upstream_down else None
        async with stack(max_concurrency=limit, timeout=timeout, upstream=down) as env:
            if timeout < 1:
                env.fake.hold.clear()
            for _ in range(2):
                if status is None:
                    with pytest.raises(aiohttp.ClientPayloadError):
                        await post_json(env, path, {})
                    continue
                got, body = await post_json(env, path, {})
                assert got == status
                assert json.loads(body)["error"]["code"] == status
            metrics = await env.idle()
            label = CHAT if path == CHAT else "other"
            assert metrics.value(REQUESTS, code=code, path=label) == 2
            assert env.proxy.proxy.gate.active == 0
            env.fake.hold.set()
    run(scenario())


async def _disconnect_mid_stream(env: Env) -> None:
    async with env.client.post(env.url(CHAT), json={"stream": True, "max_tokens": 50}) as r:
        await r.content.readline()  # the first event: the upstream is generating
    # Leaving the block closes the connection before the stream ended.


async def _disconnect_while_waiting(env: Env) -> None:
    env.fake.hold.clear()
    first = asyncio.create_task(post_json(env, CHAT, {}))
    second = asyncio.create_task(post_json(env, CHAT, {}))
    await env.wait_until(lambda m: m.value(WAITING) == 1)
    second.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await second
    await env.wait_until(lambda m: m.value(WAITING) == 0)
    env.fake.hold.set()
    assert (await first)[0] == 200


async def _disconnect_before_headers(env: Env) -> None:
    env.fake.hold.clear()
    task = asyncio.create_task(post_json(env, CHAT, {}))
    await env.wait_until(lambda m: m.value(IN_FLIGHT) == 1)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


@pytest.mark.parametrize(("leave", "limit", "upstream_started", "upstream_cancelled"), [
    pytest.param(_disconnect_mid_stream, None, 1, 1, id="mid-stream"),
    pytest.param(_disconnect_mid_stream, 1, 1, 1, id="mid-stream-limited"),
    pytest.param(_disconnect_while_waiting, 1, 1, 0, id="while-queued-in-proxy"),
    pytest.param(_disconnect_before_headers, None, 1, 1, id="before-headers"),
])
def test_client_disconnect(leave: Callable[[Env], Awaitable[None]], limit: int | None,
                           upstream_started: int, upstream_cancelled: int) -> None:
    async def scenario() -> None:
        async with stack(FakeSettings(0.0, 0.02), max_concurrency=limit) as env:
            await leave(env)
            metrics = await env.wait_until(
                lambda m: m.value(IN_FLIGHT) == m.value(WAITING) == 0
                and m.value(REQUESTS, code="499", path=CHAT) == 1)
            assert metrics.value(IN_FLIGHT) == metrics.value(WAITING) == 0
            assert env.proxy.proxy.gate.active == 0
            # The upstream stops work nobody will read (the queued one never reached it).
            await env.wait_until(lambda m: env.fake.stats.active == 0)
            assert env.fake.stats.started == upstream_started
            assert env.fake.stats.cancelled == upstream_cancelled
            # The proxy still works afterwards.
            env.fake.hold.set()
            assert (await post_json(env, CHAT, {}))[0] == 200
    run(scenario())


# --- logs ---------------------------------------------------------------------------------


def test_authorization_and_header_values_never_logged(caplog: pytest.LogCaptureFixture) -> None:
    secrets = ("Bearer s3cret-token", "x-api-s3cret", "query-s3cret")
    headers = {"Authorization": secrets[0], "X-Api-Key": secrets[1]}

    async def scenario() -> None:
        async with stack(FakeSettings(0.0, 0.0)) as env:
            await post_json(env, f"{CHAT}?key={secrets[2]}", STREAM_USAGE, headers=headers)
            with pytest.raises(aiohttp.ClientPayloadError):
                await post_json(env, "/die", {}, headers=headers)
        async with stack(upstream=f"http://127.0.0.1:{closed_port()}") as env:
            await post_json(env, CHAT, {}, headers=headers)

    with caplog.at_level(logging.DEBUG):
        run(scenario())
    proxy_lines = [r.getMessage() for r in caplog.records if r.name == "autoscaler.llmproxy"]
    assert any("-> 200" in line for line in proxy_lines)
    assert any("broke mid-response" in line for line in proxy_lines)
    assert any("upstream unavailable" in line for line in proxy_lines)
    assert "s3cret" not in caplog.text


# --- units: metering, the FIFO gate, the command line -------------------------------------


def _sse(*events: object) -> bytes:
    return b"".join(b"data: " + json.dumps(e).encode() + b"\r\n\r\n" for e in events) + \
        b": comment\nevent: done\ndata: [DONE]\n\n"


TOKEN = {"choices": [{"index": 0, "delta": {"content": "a"}}]}
ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
USAGE = {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}


@pytest.mark.parametrize(("content_type", "encoding", "body", "step", "expected"), [
    pytest.param("text/event-stream", "", _sse(ROLE, TOKEN, TOKEN, USAGE), 10_000,
                 TokenCount(3, 2), id="sse-usage"),
    pytest.param("text/event-stream; charset=utf-8", "", _sse(ROLE, TOKEN, TOKEN, TOKEN), 1,
                 TokenCount(0, 3, estimated=True), id="sse-byte-by-byte-estimated"),
    pytest.param("text/event-stream", "gzip", gzip.compress(_sse(TOKEN, USAGE)), 7,
                 TokenCount(3, 2), id="sse-gzip"),
    pytest.param("text/event-stream", "", _sse(ROLE), 3, TokenCount(), id="sse-no-tokens"),
    pytest.param("application/json", "", json.dumps(USAGE).encode(), 5, TokenCount(3, 2),
                 id="json"),
    pytest.param("application/json", "gzip", gzip.compress(json.dumps(USAGE).encode()), 5,
                 TokenCount(3, 2), id="json-gzip"),
    pytest.param("application/json", "br", b"\x00", 1, TokenCount(), id="unsupported-encoding"),
    pytest.param("application/json", "", b"{not json", 1, TokenCount(), id="json-malformed"),
    pytest.param("application/json", "", b'{"usage": {"prompt_tokens": -1}}', 100,
                 TokenCount(rejected="negative"), id="usage-malformed"),
    pytest.param("text/plain", "", b"hello", 1, TokenCount(), id="not-metered"),
])
def test_usage_meter(content_type: str, encoding: str, body: bytes, step: int,
                     expected: TokenCount) -> None:
    meter = meter_for(content_type, encoding)
    for start in range(0, len(body), step):
        meter.feed(body[start:start + step])
    assert meter.finish() == expected


def test_meters_bound_their_memory() -> None:
    sse = SseUsageMeter()
    sse.feed(b"data: " + b"x" * (2 << 20))  # an endless line is dropped, not kept
    sse.feed(b"\n" + _sse(TOKEN))
    assert sse.finish() == TokenCount(0, 1, estimated=True)
    big = JsonUsageMeter()
    for _ in range(9):
        big.feed(b" " * (1 << 20))
    big.feed(json.dumps(USAGE).encode())
    assert big.finish() == TokenCount()


def test_gate_is_fifo_and_survives_cancellation() -> None:
    async def scenario() -> list[int]:
        gate, order = FifoGate(1), []
        waiting = ProxyMetrics().waiting

        async def use(i: int) -> None:
            async with gate.slot(waiting):
                order.append(i)
                await asyncio.sleep(0.005)

        tasks = [asyncio.create_task(use(i)) for i in range(6)]
        await asyncio.sleep(0)
        tasks[3].cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert gate.active == 0
        return order

    assert run(scenario()) == [0, 1, 2, 4, 5]


@pytest.mark.parametrize(("argv", "error"), [
    pytest.param(["--listen", "8081"], "expected HOST:PORT", id="listen-no-colon"),
    pytest.param(["--listen", "0.0.0.0:99999"], "expected HOST:PORT", id="listen-port-range"),
    pytest.param(["--upstream", "127.0.0.1:8080"], "http(s) URL", id="upstream-no-scheme"),
    pytest.param(["--upstream", "http://h:1/?a=1"], "no query", id="upstream-query"),
    pytest.param(["--upstream", "http://h:70000"], "http(s) URL", id="upstream-port-range"),
    pytest.param(["--max-concurrency", "0"], "integer >= 1", id="concurrency-0"),
    pytest.param(["--timeout", "-1"], "seconds > 0", id="timeout-negative"),
])
def test_cli_rejects(argv: list[str], error: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(argv)
    assert info.value.code == 2
    assert error in capsys.readouterr().err


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param([], (("0.0.0.0", 8081), "http://127.0.0.1:8080", "/metrics", None, 600.0),
                 id="defaults"),
    pytest.param(["--listen", ":9000", "--upstream", "https://llm:8443/base",
                  "--metrics-path", "/m", "--max-concurrency", "2", "--timeout", "30"],
                 (("0.0.0.0", 9000), "https://llm:8443/base", "/m", 2, 30.0), id="all-set"),
    pytest.param(["--listen", "[::1]:8081"], (("::1", 8081), "http://127.0.0.1:8080",
                                              "/metrics", None, 600.0), id="ipv6"),
])
def test_cli_parses(argv: list[str], expected: tuple[object, ...]) -> None:
    args = build_parser().parse_args(argv)
    assert (args.listen, args.upstream, args.metrics_path, args.max_concurrency,
            args.timeout) == expected


def test_cli_fails_cleanly_when_the_port_is_taken(caplog: pytest.LogCaptureFixture) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--listen", f"127.0.0.1:{port}", "--log-level", "ERROR"]) == 1
    assert "cannot listen on 127.0.0.1" in caplog.text


def test_module_entry_point_serves_and_stops_on_sigterm() -> None:
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoscaler.llmproxy", "--listen", f"127.0.0.1:{port}",
         "--upstream", f"http://127.0.0.1:{closed_port()}", "--max-concurrency", "1"],
        cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "error"},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        async def probe() -> tuple[str, int]:
            async with aiohttp.ClientSession() as client:
                for _ in range(200):
                    with contextlib.suppress(aiohttp.ClientConnectionError):
                        async with client.get(f"http://127.0.0.1:{port}/metrics") as metrics:
                            text = await metrics.text()
                        async with client.post(f"http://127.0.0.1:{port}{CHAT}") as bad:
                            return text, bad.status
                    await asyncio.sleep(0.05)
            raise AssertionError("the proxy never answered")

        text, status = run(probe())
        assert IN_FLIGHT in text
        assert status == 502
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=10)
    assert proc.returncode == 0, stderr
    assert "llm-proxy listening on 127.0.0.1" in stderr
