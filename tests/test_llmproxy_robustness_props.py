"""Generated hostile input (Hypothesis) for `autoscaler llm-proxy`: malformed HTTP requests
from clients, malformed `usage` payloads (JSON and SSE) from the upstream.

The properties: the proxy always answers, an HTTP status or a connection cut at the read
timeout, within a deadline; never a 500, never an ERROR logged (nothing raised out of a
handler); the secret in every request's Authorization never reaches a log; the upstream's
answer is relayed byte for byte and its tokens counted exactly as the OpenAI rule says
(an independent oracle over the generated values); the proxy keeps serving after each case.

One event loop and one proxy serve all the examples of a test (`Harness`): a stack per
example would dominate the run time. Tables of named cases: test_llmproxy_robustness.py.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Coroutine
from datetime import timedelta
from types import TracebackType
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from test_llmproxy import COMPLETION, ESTIMATED, IN_FLIGHT, PROMPT, WAITING, Env, Metrics
from test_llmproxy_robustness import (
    MAX_BODY,
    READ_TIMEOUT,
    REJECTED,
    SECRET,
    converse,
    robust_stack,
)

from autoscaler.llmproxy.fake_upstream import Canned
from autoscaler.llmproxy.usage import REJECTED_REASONS, TokenCount, meter_for

T = TypeVar("T")
EXAMPLE_DEADLINE = READ_TIMEOUT + 2.0  # the longest a case may take: a cut at the timeout


def props(examples: int) -> settings:
    return settings(max_examples=examples, deadline=timedelta(seconds=EXAMPLE_DEADLINE + 3),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


class Harness:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._stack = robust_stack()
        self.env: Env = self.run(self._stack.__aenter__())

    def run(self, coro: Coroutine[Any, Any, T], deadline: float = EXAMPLE_DEADLINE) -> T:
        return self.loop.run_until_complete(asyncio.wait_for(coro, deadline))

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.run(self._stack.__aexit__(kind, exc, tb))
            # Not through run(): wait_for's own task would be a leftover.
            self.loop.run_until_complete(_cancel_leftovers())
            self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        finally:
            self.loop.close()

    async def healthy(self) -> Metrics:
        """Still serving, and nothing left in flight or waiting."""
        return await self.env.wait_until(lambda m: m.value(IN_FLIGHT) == m.value(WAITING) == 0)


async def _cancel_leftovers() -> None:
    """What asyncio.run does on the way out: nothing may be left pending."""
    leftovers = asyncio.all_tasks() - {asyncio.current_task()}
    for task in leftovers:
        task.cancel()
    await asyncio.gather(*leftovers, return_exceptions=True)


def _no_error_and_no_secret(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, errors
    assert SECRET not in caplog.text


# --- malformed requests -------------------------------------------------------------------

ANY_BYTES = st.binary(max_size=24)


def mostly(usual: st.SearchStrategy[bytes], odd: st.SearchStrategy[bytes]
           ) -> st.SearchStrategy[bytes]:
    """`odd` one time in five: a request with every part odd would only ever test the
    parser's first check."""
    return st.sampled_from([False] * 4 + [True]).flatmap(lambda is_odd: odd if is_odd else usual)


methods = mostly(st.sampled_from([b"GET", b"POST", b"PUT", b"DELETE", b"HEAD", b"OPTIONS"]),
                 st.one_of(st.sampled_from([b"FOO", b"get", b"CONNECT", b"PATCH"]), ANY_BYTES))
targets = mostly(
    st.sampled_from([b"/echo", b"/v1/chat/completions", b"/v1/embeddings", b"/canned",
                     b"/metrics", b"/echo?a=1&b=%20"]),
    st.one_of(st.sampled_from([b"*", b"", b"//x", b"http://evil.example/echo", b"/%00",
                               b"/echo?a=%zz&b", b"/echo#f", b"/" + b"a" * 9000]),
              ANY_BYTES.map(lambda b: b"/" + b)))
versions = mostly(st.sampled_from([b"HTTP/1.1", b"HTTP/1.0"]),
                  st.sampled_from([b"HTTP/2.0", b"HTTP/1.1 x", b"HTTP/9", b"", b"http/1.1",
                                   b"HTTP/1.10"]))
header_lines = st.lists(mostly(
    st.tuples(st.sampled_from([b"X-A", b"Content-Type", b"Accept-Encoding", b"Expect",
                               b"Connection", b"Upgrade", b"TE", b"Trailer", b"Cookie",
                               b"Content-Encoding", b"Accept"]),
              st.sampled_from([b"", b"gzip", b"100-continue", b"keep-alive", b"upgrade",
                               b"websocket", b"h2c", b"trailers", b"application/json",
                               b"\xff\xfe", b"a, b;q=0.5"]))
    .map(lambda kv: kv[0] + b": " + kv[1]),
    st.one_of(ANY_BYTES, ANY_BYTES.map(lambda v: b"X-B: " + v))), max_size=4)


def _chunked(body: bytes, cuts: list[int], ext: bool) -> bytes:
    pieces = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), b";a=b" if ext else b"", p)
                    for p in pieces if p) + b"0\r\n" + (b"X-Trailer: t\r\n" if ext else b"")


@st.composite
def framed_bodies(draw: st.DrawFn) -> tuple[list[bytes], bytes]:
    """Framing header lines and the bytes after the head, well-formed or not."""
    body = draw(st.binary(max_size=64))
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=3)))
    kind = draw(st.sampled_from(
        ["none"] * 6 + ["length"] * 8 + ["chunked"] * 5 + ["chunked-ext"] * 2
        + ["length-bogus", "length-duplicate", "chunked-bad-size", "both", "too-large",
           "length-short", "chunked-unterminated", "chunked-not-last"]))
    if kind == "none":
        return [], b""
    if kind == "length":
        return [b"Content-Length: %d" % len(body)], body
    if kind == "length-short":  # fewer bytes than declared: cut at the read timeout
        return [b"Content-Length: %d" % (len(body) + 1)], body
    if kind == "too-large":
        return [b"Content-Length: %d" % (MAX_BODY + 1)], body
    if kind == "length-bogus":
        value = draw(st.sampled_from([b"-1", b"abc", b"1e3", b" 5", b"0x10", b"", b"+3",
                                      b"9" * 30]))
        return [b"Content-Length: " + value], body
    if kind == "length-duplicate":
        return [b"Content-Length: %d" % len(body), b"Content-Length: %d" % (len(body) + 1)], body
    te = [b"Transfer-Encoding: chunked"]
    if kind in ("chunked", "chunked-ext"):
        return te, _chunked(body, cuts, kind == "chunked-ext") + b"\r\n"
    if kind == "chunked-bad-size":
        return te, b"zz\r\n" + body + b"\r\n0\r\n\r\n"
    if kind == "both":
        return [*te, b"Content-Length: %d" % len(body)], _chunked(body, cuts, False) + b"\r\n"
    if kind == "chunked-unterminated":
        return te, _chunked(body, cuts, False)
    return [b"Transfer-Encoding: gzip, chunked"], body  # chunked-not-last


@st.composite
def raw_requests(draw: st.DrawFn) -> list[bytes]:
    """A request with odd parts, split into writes at arbitrary points."""
    framing, after_head = draw(framed_bodies())
    auth = b"Authorization: Bearer " + SECRET.encode() + draw(
        mostly(st.just(b""), st.sampled_from([b"\x01", b"\x7f", b"\x00", b"\xff", b" x"])))
    lines = [b" ".join([draw(methods), draw(targets), draw(versions)]), b"Host: x", auth,
             *draw(header_lines), *framing, b"Connection: close"]
    data = b"\r\n".join(lines) + b"\r\n\r\n" + after_head
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=3)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def test_malformed_requests_are_always_answered(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with Harness() as harness:
        @props(300)
        @given(raw_requests())
        def case(parts: list[bytes]) -> None:
            reply = harness.run(converse(harness.env.proxy.port, parts,
                                         deadline=EXAMPLE_DEADLINE))
            assert reply.closed, "the connection must end: answered, or cut at the timeout"
            event(f"status {reply.status}")
            if reply.status is None:  # no answer: only a head cut at the read timeout
                assert reply.data == b""
                assert reply.elapsed >= READ_TIMEOUT * 0.9
            else:
                assert 200 <= reply.status <= 599, reply.data[:200]
                assert reply.status != 500, reply.data[:500]
            harness.run(harness.healthy())

        case()
    _no_error_and_no_secret(caplog)


# --- malformed usage payloads -------------------------------------------------------------

counts = st.one_of(
    st.integers(0, 10**9 - 1), st.integers(0, 10**9 - 1),
    st.sampled_from([10**9, 10**9 - 1, 0, -1, 10**300, 10**400, -(10**400), 10**999]),
    st.integers(min_value=10**9, max_value=10**600), st.integers(max_value=-1),
    st.floats(), st.text(max_size=3), st.booleans(), st.none(),
    st.lists(st.integers(), max_size=2), st.just({}))
usages = st.one_of(
    st.fixed_dictionaries({"prompt_tokens": counts},
                          optional={"completion_tokens": counts, "total_tokens": counts}),
    st.fixed_dictionaries({"prompt_tokens": counts, "completion_tokens": counts}),
    st.fixed_dictionaries({}, optional={"completion_tokens": counts}),
    st.none(), counts)


def oracle(usage: object) -> tuple[tuple[int, int] | None, str | None]:
    """The OpenAI rule, on the generated values: (prompt, completion) or why rejected."""
    if usage is None:
        return None, None
    if not isinstance(usage, dict):
        return None, "not_an_object"
    if "prompt_tokens" not in usage:
        return None, "missing"
    prompt, completion = usage["prompt_tokens"], usage.get("completion_tokens")
    values = (prompt, 0 if completion is None else completion)
    for value in values:
        if type(value) is not int:
            return None, "not_an_integer"
        if value < 0:
            return None, "negative"
        if value >= 10**9:
            return None, "too_large"
    return (values[0], values[1]), None


@st.composite
def upstream_answers(draw: st.DrawFn) -> tuple[Canned, TokenCount | None]:
    """A JSON or SSE answer carrying generated usage objects, in arbitrary chunks; with the
    count the proxy must make (None: garbage was spliced in, only invariants hold)."""
    sse = draw(st.booleans())
    expected: TokenCount | None
    if sse:
        tokens = draw(st.integers(0, 4))
        objects = draw(st.lists(usages, max_size=3))
        newline = draw(st.sampled_from(["\n", "\r\n"]))
        events = [{"choices": [{"index": 0, "delta": {"content": "t"}}], "usage": None}
                  ] * tokens + [{"choices": [], "usage": u} for u in objects]
        text = "".join(f"data: {json.dumps(e)}{newline}{newline}" for e in events)
        body = (text + f"data: [DONE]{newline}{newline}").encode()
        verdicts = [oracle(u) for u in objects]
        valid = [counted for counted, _ in verdicts if counted is not None]
        reasons = [reason for _, reason in verdicts if reason is not None]
        expected = (TokenCount(*valid[-1]) if valid else
                    TokenCount(0, tokens, tokens > 0, reasons[-1] if reasons else None))
    else:
        usage = draw(usages)
        body = json.dumps({"object": "chat.completion", "choices": [], "usage": usage}).encode()
        counted, reason = oracle(usage)
        expected = TokenCount(*counted) if counted else TokenCount(rejected=reason)
    if draw(st.sampled_from([False] * 5 + [True])):  # splice garbage in somewhere
        at = draw(st.integers(0, len(body)))
        body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
        expected = None
    cuts = sorted(draw(st.lists(st.integers(0, len(body)), max_size=4)))
    chunks = [body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)]
    return Canned(chunks, "text/event-stream" if sse else "application/json"), expected


def _counts(metrics: Metrics) -> dict[str, float]:
    return {PROMPT: metrics.value(PROMPT), COMPLETION: metrics.value(COMPLETION),
            ESTIMATED: metrics.value(ESTIMATED),
            **{reason: metrics.value(REJECTED, reason=reason) for reason in REJECTED_REASONS}}


def test_malformed_usage_is_relayed_and_counted_right(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    with Harness() as harness:
        @props(300)
        @given(upstream_answers())
        def case(answer: tuple[Canned, TokenCount | None]) -> None:
            canned, expected = answer
            harness.env.fake.canned = canned
            event("garbage spliced in" if expected is None else
                  f"rejected: {expected.rejected}" if expected.rejected else "counted")

            async def exchange() -> tuple[dict[str, float], dict[str, float]]:
                before = _counts(await harness.healthy())
                async with harness.env.client.post(harness.env.url("/canned"),
                                                   data=b"{}") as response:
                    assert response.status == 200
                    assert await response.read() == b"".join(canned.chunks)
                return before, _counts(await harness.healthy())

            before, after = harness.run(exchange())
            delta = {name: after[name] - before[name] for name in after}
            assert all(0 <= d < 10**9 and math.isfinite(d) for d in delta.values()), delta
            assert sum(delta[reason] for reason in REJECTED_REASONS) <= 1
            if expected is not None:
                assert delta == {
                    PROMPT: expected.prompt, COMPLETION: expected.completion,
                    ESTIMATED: expected.completion if expected.estimated else 0,
                    **{r: float(r == expected.rejected) for r in REJECTED_REASONS}}

        case()
    _no_error_and_no_secret(caplog)


@settings(max_examples=500, deadline=timedelta(seconds=2))
@given(st.sampled_from(["text/event-stream", "application/json"]), st.binary(max_size=300),
       st.lists(st.integers(0, 300), max_size=6))
def test_meters_never_raise_and_ignore_chunk_boundaries(content_type: str, body: bytes,
                                                        cuts: list[int]) -> None:
    """Any bytes, cut anywhere: the same count as in one piece, within bounds."""
    whole = meter_for(content_type, "")
    whole.feed(body)
    pieces = meter_for(content_type, "")
    points = sorted(min(c, len(body)) for c in cuts)
    for a, b in zip([0, *points], [*points, len(body)], strict=True):
        pieces.feed(body[a:b])
    counted = pieces.finish()
    assert counted == whole.finish()
    assert 0 <= counted.prompt < 10**9 and 0 <= counted.completion < 10**9
    assert counted.rejected in (None, *REJECTED_REASONS)
