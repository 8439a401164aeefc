"""`autoscaler llm-proxy` against a hostile upstream: `usage` counts validated (never trusted,
never raising), every upstream failure and every proxy bug answered over HTTP, cookies never
shared between clients. Helpers: test_llmproxy_robustness.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from test_llmproxy import COMPLETION, ESTIMATED, PROMPT, REQUESTS, run
from test_llmproxy_robustness import (
    REJECTED,
    SECRET,
    converse,
    logged_text,
    request,
    robust_stack,
)

from autoscaler.llmproxy import proxy, usage
from autoscaler.llmproxy.fake_upstream import CHAT, Canned, FakeOpenAI, running
from autoscaler.llmproxy.proxy import ProxyConfig, serving
from autoscaler.llmproxy.usage import UsageMeter

# --- usage counts: validated, never trusted -----------------------------------------------

JSON, SSE = "application/json", "text/event-stream"


def _usage_json(usage: str) -> bytes:
    return b'{"object": "chat.completion", "choices": [], "usage": ' + usage.encode() + b"}"


def _events(*payloads: bytes) -> bytes:
    token = b'{"choices": [{"index": 0, "delta": {"content": "a"}}]}'
    return b"".join(b"data: " + p + b"\n\n" for p in (token, token, *payloads)) + \
        b"data: [DONE]\n\n"


def _u(prompt: str, completion: str = "2") -> str:
    return f'{{"prompt_tokens": {prompt}, "completion_tokens": {completion}}}'


BIG = "1" + "0" * 400  # 10^400: a JSON integer Python parses, a float cannot hold


@pytest.mark.parametrize(("content_type", "body", "counted", "rejected"), [
    pytest.param(JSON, _usage_json(_u("3")), (3, 2, 0), None, id="valid"),
    pytest.param(JSON, _usage_json(_u(str(10**9 - 1), "0")), (10**9 - 1, 0, 0), None,
                 id="just-below-the-bound"),
    pytest.param(JSON, _usage_json(_u(str(10**9))), (0, 0, 0), "too_large", id="the-bound"),
    pytest.param(JSON, _usage_json(_u("1" + "0" * 300)), (0, 0, 0), "too_large", id="1e300"),
    pytest.param(JSON, _usage_json(_u(BIG)), (0, 0, 0), "too_large", id="1e400"),
    pytest.param(JSON, _usage_json(_u("9" * 5000)), (0, 0, 0), "too_large",
                 id="beyond-int-str-digits"),
    pytest.param(JSON, _usage_json(_u("3", BIG)), (0, 0, 0), "too_large",
                 id="completion-1e400"),
    pytest.param(JSON, _usage_json(_u("-1")), (0, 0, 0), "negative", id="negative"),
    pytest.param(JSON, _usage_json(_u("-" + BIG)), (0, 0, 0), "negative", id="minus-1e400"),
    pytest.param(JSON, _usage_json(_u("1.5")), (0, 0, 0), "not_an_integer", id="fraction"),
    pytest.param(JSON, _usage_json(_u("7.0")), (0, 0, 0), "not_an_integer", id="float"),
    pytest.param(JSON, _usage_json(_u("1e3")), (0, 0, 0), "not_an_integer", id="exponent"),
    pytest.param(JSON, _usage_json(_u("1e400")), (0, 0, 0), "not_an_integer",
                 id="float-overflow"),
    pytest.param(JSON, _usage_json(_u("NaN")), (0, 0, 0), "not_an_integer", id="nan"),
    pytest.param(JSON, _usage_json(_u("-Infinity")), (0, 0, 0), "not_an_integer",
                 id="infinity"),
    pytest.param(JSON, _usage_json(_u('"7"')), (0, 0, 0), "not_an_integer", id="string"),
    pytest.param(JSON, _usage_json(_u("true")), (0, 0, 0), "not_an_integer", id="boolean"),
    pytest.param(JSON, _usage_json(_u("null")), (0, 0, 0), "not_an_integer", id="null"),
    pytest.param(JSON, _usage_json(_u("[3]")), (0, 0, 0), "not_an_integer", id="list"),
    pytest.param(JSON, _usage_json('{"completion_tokens": 2}'), (0, 0, 0), "missing",
                 id="prompt-missing"),
    pytest.param(JSON, _usage_json('{"prompt_tokens": 4}'), (4, 0, 0), None,
                 id="embeddings-no-completion"),
    pytest.param(JSON, _usage_json('[3, 2]'), (0, 0, 0), "not_an_object", id="usage-list"),
    pytest.param(JSON, _usage_json("null"), (0, 0, 0), None, id="usage-null"),
    pytest.param(JSON, b"[" * 100_000 + b"]" * 100_000, (0, 0, 0), None, id="deep-nesting"),
    pytest.param(JSON, _usage_json(_u("3"))[:-5], (0, 0, 0), None, id="truncated"),
    pytest.param(JSON, b"\xff\xfe\x00garbage", (0, 0, 0), None, id="not-utf8"),
    pytest.param(SSE, _events(b'{"choices": [], "usage": ' + _u("3").encode() + b"}"),
                 (3, 2, 0), None, id="sse-valid"),
    pytest.param(SSE, _events(b'{"choices": [], "usage": ' + _u(BIG).encode() + b"}"),
                 (0, 2, 2), "too_large", id="sse-1e400-falls-back-to-estimate"),
    pytest.param(SSE, _events(b'{"usage": ' + _u("NaN").encode() + b"}"), (0, 2, 2),
                 "not_an_integer", id="sse-nan-falls-back-to-estimate"),
    pytest.param(SSE, _events(b'{"usage": ' + _u("3").encode() + b"}",
                              b'{"usage": ' + _u("-5").encode() + b"}"),
                 (3, 2, 0), None, id="sse-last-valid-wins"),
    pytest.param(SSE, _events(b"[" * 100_000), (0, 2, 2), None, id="sse-deep-nesting"),
])
def test_usage_validation(content_type: str, body: bytes, counted: tuple[int, int, int],
                          rejected: str | None) -> None:
    """Counted (prompt, completion, estimated) or rejected with a reason; the response is
    relayed untouched either way."""
    async def scenario() -> None:
        async with robust_stack() as env:
            # Split mid-line: the meter must not depend on the upstream's write boundaries.
            env.fake.canned = Canned([body[:7], body[7:]], content_type=content_type)
            async with env.client.post(env.url("/canned"), data=b"{}") as response:
                assert response.status == 200
                assert await response.read() == body
            metrics = await env.idle()
            assert (metrics.value(PROMPT), metrics.value(COMPLETION),
                    metrics.value(ESTIMATED)) == counted
            reasons = {reason: metrics.value(REJECTED, reason=reason)
                       for reason in usage.REJECTED_REASONS}
            assert reasons == {reason: float(reason == rejected)
                               for reason in usage.REJECTED_REASONS}
    run(scenario())


# --- every failure is an HTTP answer ------------------------------------------------------


@contextlib.asynccontextmanager
async def raw_upstream(reply: bytes) -> AsyncIterator[str]:
    """An upstream that answers every request with `reply`, as it is, then closes."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(reply)
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


OK_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"


UNAVAILABLE, UNRELAYABLE = "upstream_unavailable", "bad_upstream_response"


@pytest.mark.parametrize(("reply", "status", "code", "kind"), [
    pytest.param(b"", 502, "502", UNAVAILABLE, id="closes-without-answer"),
    pytest.param(b"garbage\r\n\r\n", 502, "502", UNAVAILABLE, id="garbage-status-line"),
    pytest.param(b"HTTP/1.1 2x0 OK\r\n\r\n", 502, "502", UNAVAILABLE, id="bad-status-code"),
    pytest.param(OK_HEAD + b"Bad Header\r\n\r\n", 502, "502", UNAVAILABLE,
                 id="header-without-colon"),
    # aiohttp's client accepts it, its server refuses to send it on.
    pytest.param(OK_HEAD + b"X-A: \x01\r\nContent-Length: 2\r\n\r\n{}", 502, "502",
                 UNRELAYABLE, id="control-char-in-header"),
    pytest.param(OK_HEAD + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", 502, "502",
                 UNAVAILABLE, id="bad-chunk-size"),
    pytest.param(OK_HEAD + b"Content-Length: 10\r\n\r\n{}", 200, "502", None,
                 id="body-shorter-than-declared"),
    pytest.param(OK_HEAD + b"Content-Length: 2\r\n\r\n{}", 200, "200", None, id="well-formed"),
    pytest.param(OK_HEAD + b"X-A: caf\xe9\r\nContent-Length: 2\r\n\r\n{}", 200, "200", None,
                 id="obs-text-header-relayed"),
    pytest.param(b"HTTP/1.1 100 Continue\r\n\r\n" + OK_HEAD + b"Content-Length: 2\r\n\r\n{}",
                 200, "200", None, id="interim-100-skipped"),
    pytest.param(b"HTTP/1.1 599 Odd\r\nContent-Length: 0\r\n\r\n", 599, "599", None,
                 id="odd-status-relayed"),
])
def test_upstream_failures_are_http_answers(reply: bytes, status: int, code: str,
                                            kind: str | None,
                                            caplog: pytest.LogCaptureFixture) -> None:
    """`status`: what the client reads (200 for a response cut mid-body: the status line was
    already relayed); `code`: the label counted; `kind`: the proxy's error type."""
    async def scenario() -> None:
        async with raw_upstream(reply) as upstream, robust_stack(upstream=upstream) as env:
            got = await converse(env.proxy.port, [request(b"GET " + CHAT.encode() +
                                                          b" HTTP/1.1\r\nHost: x")])
            assert got.status == status, got.data
            if kind is not None:
                assert json.loads(got.body)["error"]["type"] == kind
            metrics = await env.idle()
            assert metrics.value(REQUESTS, code=code, path=CHAT) == 1
    caplog.set_level(logging.DEBUG)
    run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def _boom(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError(SECRET)  # as if a bug quoted a value


@pytest.mark.parametrize(("module", "name", "path", "status", "code", "rejected"), [
    pytest.param(proxy, "request_headers", "/echo", 500, "500", 0, id="before-the-response"),
    pytest.param(usage, "non_empty_choices", "/canned", 200, "200", 1,
                 id="in-the-usage-meter"),
])
def test_proxy_bugs_are_http_answers(module: object, name: str, path: str, status: int,
                                     code: str, rejected: int,
                                     caplog: pytest.LogCaptureFixture,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug gives a 500 (or costs only the count), logged with its type and stack, never
    its message; the proxy keeps serving."""
    monkeypatch.setattr(module, name, _boom)

    async def scenario() -> None:
        async with robust_stack() as env:
            env.fake.canned = Canned([_events()], content_type=SSE)
            async with env.client.post(env.url(path), data=b"{}") as response:
                assert response.status == status
                body = await response.read()
            if status == 500:
                assert json.loads(body)["error"]["type"] == "proxy_error"
            metrics = await env.idle()
            assert metrics.value(REQUESTS, code=code, path="other") == 1
            assert metrics.value(REJECTED, reason="meter_error") == rejected
            monkeypatch.undo()
            async with env.client.get(env.url("/echo")) as again:
                assert again.status == 200
    caplog.set_level(logging.DEBUG)
    run(scenario())
    assert "RuntimeError" in caplog.text
    assert SECRET not in logged_text(caplog)


class _ClientGoneMeter(UsageMeter):
    """Fails as a write to a client that has left does (the meter runs just before it)."""

    def feed(self, chunk: bytes) -> None:
        raise ConnectionResetError("Cannot write to closing transport")


def test_a_client_that_left_is_not_an_error(caplog: pytest.LogCaptureFixture,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted as 499 and logged at DEBUG at most: raised to aiohttp, it would be logged as
    an error (with a stack) and answered with a 500 nobody reads."""
    monkeypatch.setattr(proxy, "meter_for", lambda *_: _ClientGoneMeter())

    async def scenario() -> None:
        async with robust_stack() as env:
            with contextlib.suppress(aiohttp.ClientError):
                async with env.client.post(env.url("/canned"), data=b"{}") as response:
                    await response.read()
            metrics = await env.idle()
            assert metrics.value(REQUESTS, code="499", path="other") == 1
            assert metrics.value(REQUESTS, code="500", path="other") == 0
    caplog.set_level(logging.DEBUG)
    run(scenario())
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_upstream_cookies_never_reach_another_client() -> None:
    """The proxy's one client session must not keep the upstream's Set-Cookie (by IP address
    aiohttp would not store it anyway: hence `localhost`)."""
    async def scenario() -> None:
        async with running(FakeOpenAI()) as fake_url:
            config = ProxyConfig(upstream=fake_url.replace("127.0.0.1", "localhost"))
            async with serving(config) as running_proxy, aiohttp.ClientSession(
                    cookie_jar=aiohttp.DummyCookieJar()) as client:
                for _ in range(2):
                    async with client.get(running_proxy.url + "/echo") as response:
                        seen = {k.lower() for k, _ in (await response.json())["headers"]}
                        assert response.headers.getall("Set-Cookie") == ["a=1", "b=2"]
                    assert "cookie" not in seen
    run(scenario())
