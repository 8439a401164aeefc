"""`autoscaler llm-proxy` against hostile input, as tables of named cases: request limits
(`--max-body-bytes`, `--read-timeout`) and their flags here; header values never logged in
test_llmproxy_robustness_logs.py; `usage` counts validated and every upstream failure an
HTTP answer in test_llmproxy_robustness_upstream.py; generated (Hypothesis) cases in
test_llmproxy_robustness_props.py. The helpers here are shared by all four.

Raw requests go over a plain socket (`converse`): aiohttp's client would refuse to send most
of them. Timeouts are configured small (READ_TIMEOUT) and asserted as windows, never slept on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest
from test_llmproxy import REQUESTS, Env, closed_port, run

from autoscaler.llmproxy import cli, limits
from autoscaler.llmproxy.fake_upstream import CHAT, FakeOpenAI, FakeSettings, running
from autoscaler.llmproxy.metrics import ProxyMetrics
from autoscaler.llmproxy.proxy import ProxyConfig, serving

ROOT = Path(__file__).resolve().parent.parent
REJECTED = "llm_proxy_usage_rejected_total"
SECRET = "s3cret-7f1c"
READ_TIMEOUT = 0.3
MAX_BODY = 1024


@contextlib.asynccontextmanager
async def robust_stack(read_timeout: float = READ_TIMEOUT, max_body: int = MAX_BODY,
                       upstream: str | None = None) -> AsyncIterator[Env]:
    """Like test_llmproxy.stack, with small limits. The client opens a connection per
    request: the proxy closes idle ones after `read_timeout`, which a reused pooled
    connection could race."""
    fake = FakeOpenAI(FakeSettings(0.0, 0.0))
    async with running(fake) as fake_url:
        config = ProxyConfig(upstream=upstream or fake_url, read_timeout_seconds=read_timeout,
                             max_body_bytes=max_body)
        async with serving(config, metrics=ProxyMetrics()) as running_proxy, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as client:
            yield Env(fake, running_proxy, client)


@dataclass
class Reply:
    data: bytes
    answered: float | None  # from connecting to the first byte received
    elapsed: float  # from connecting to the connection's end (or the deadline)
    closed: bool  # the proxy closed the connection before the deadline

    @property
    def status(self) -> int | None:
        """The final status (interim 1xx skipped); None without a complete status line."""
        rest = self.data
        # aiohttp answers in the request's version, HTTP/2.0 included.
        while (line := re.match(rb"HTTP/\d\.\d (\d{3}) ", rest)) is not None:
            if int(line[1]) >= 200:
                return int(line[1])
            rest = rest.partition(b"\r\n\r\n")[2]
        return None

    @property
    def body(self) -> bytes:
        return self.data.rpartition(b"\r\n\r\n")[2]


async def converse(port: int, parts: list[bytes], pause: float = 0.0, deadline: float = 3.0
                   ) -> Reply:
    """Send `parts` (`pause` s apart, until the proxy closes) and read until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    start = time.monotonic()

    async def send() -> None:
        for i, part in enumerate(parts):
            if i and pause:
                await asyncio.sleep(pause)
            writer.write(part)
            await writer.drain()

    sender = asyncio.create_task(send())
    data, closed, answered = bytearray(), False, None
    try:
        async with asyncio.timeout(deadline):
            while chunk := await reader.read(1 << 16):
                answered = answered or time.monotonic() - start
                data += chunk
        closed = True
    except TimeoutError:
        pass
    except ConnectionError:
        closed = True
    elapsed = time.monotonic() - start
    sender.cancel()
    with contextlib.suppress(asyncio.CancelledError, ConnectionError):
        await sender
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()
    return Reply(bytes(data), answered, elapsed, closed)


def request(head: bytes, body: bytes = b"", close: bool = True) -> bytes:
    """`head`: request line and headers, CRLF-separated, without the blank line."""
    return head + (b"\r\nConnection: close" if close else b"") + b"\r\n\r\n" + body


def logged_text(caplog: pytest.LogCaptureFixture) -> str:
    # Everything a handler could print: messages, arguments, exception text and stacks.
    parts = [caplog.text]
    for record in caplog.records:
        parts += [record.getMessage(), repr(record.args), str(record.exc_text)]
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


async def listening(port: int) -> None:
    for _ in range(200):
        with contextlib.suppress(OSError):
            (await asyncio.open_connection("127.0.0.1", port))[1].close()
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


# --- request limits -----------------------------------------------------------------------

POST = b"POST /echo HTTP/1.1\r\nHost: x"
CHUNKED = POST + b"\r\nTransfer-Encoding: chunked"


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


NOW, LATE = "before the read timeout", "at the read timeout"


def _when(elapsed: float | None) -> str | None:
    if elapsed is None:
        return None
    if elapsed < READ_TIMEOUT * 0.9:
        return NOW
    assert elapsed < READ_TIMEOUT + 1.0, f"{elapsed:.2f} s: long after the read timeout"
    return LATE


@pytest.mark.parametrize(("parts", "pause", "status", "answered", "closed", "timeouts"), [
    # The body is never read; what the client still sends is waited for until the deadline.
    pytest.param([request(POST + b"\r\nContent-Length: 1025")], 0.0, 413, NOW, LATE, 0,
                 id="declared-too-large-refused-unread"),
    pytest.param([request(CHUNKED, _chunk(b"x" * 600) * 2 + b"0\r\n\r\n")], 0.0, 413,
                 NOW, NOW, 0, id="chunked-too-large"),
    pytest.param([request(POST + b"\r\nContent-Length: 1024", b"x" * 1024)], 0.0, 200,
                 NOW, NOW, 0, id="at-the-limit-forwarded"),
    pytest.param([request(POST + b"\r\nExpect: 100-continue\r\nContent-Length: 2048")], 0.0,
                 413, NOW, LATE, 0, id="expect-continue-too-large-no-100"),
    pytest.param([request(POST + b"\r\nExpect: 100-continue\r\nContent-Length: 5"),
                  b"hello"], 0.05, 200, NOW, NOW, 0, id="expect-continue"),
    pytest.param([request(POST + b"\r\nExpect: teapot\r\nContent-Length: 5", b"hello")], 0.0,
                 417, NOW, NOW, 0, id="expect-unknown"),
    pytest.param([request(POST + b"\r\nContent-Encoding: gzip\r\nContent-Length: 5",
                          b"hello")], 0.0, 200, NOW, NOW, 0, id="body-relayed-as-sent"),
    pytest.param([request(POST + b"\r\nContent-Length: 10", b"abc")], 0.0, 408, LATE, LATE,
                 1, id="body-stalls"),
    pytest.param([request(POST + b"\r\nContent-Length: 100"), *[b"x"] * 99], 0.05, 408,
                 LATE, LATE, 1, id="body-trickles"),
    pytest.param([request(CHUNKED, _chunk(b"abc"))], 0.0, 408, LATE, LATE, 1,
                 id="chunked-body-never-ends"),
    pytest.param([b"GET /echo HTTP/1.1\r\nHost: x\r\n"], 0.0, None, None, LATE, 1,
                 id="head-stalls"),
    pytest.param([bytes([b]) for b in request(POST + b"\r\nX-Slow: " + b"a" * 100)], 0.05,
                 None, None, LATE, 1, id="head-trickles"),
    pytest.param([], 0.0, None, None, LATE, 0, id="connects-and-sends-nothing"),
    pytest.param([request(b"GET /echo HTTP/1.1\r\nHost: x", close=False)], 0.0, 200, NOW,
                 LATE, 0, id="idle-keep-alive-closed"),
])
def test_request_limits(parts: list[bytes], pause: float, status: int | None,
                        answered: str | None, closed: str, timeouts: int) -> None:
    """`answered`/`closed`: when the response came and the connection ended (never early,
    and not long after the read timeout); `timeouts`: the 408s counted."""
    async def scenario() -> None:
        async with robust_stack() as env:
            reply = await converse(env.proxy.port, parts, pause)
            assert reply.closed, "the proxy must close the connection"
            assert reply.status == status, reply.data
            assert (_when(reply.answered), _when(reply.elapsed)) == (answered, closed)
            if status is not None and status != 200:
                assert json.loads(reply.body)["error"]["code"] == status
                assert b"Connection: close" in reply.data
            continued = b"100-continue" in b"".join(parts) and status == 200
            assert (b"100 Continue" in reply.data) is continued
            if status == 200 and parts[0].startswith(b"POST"):
                seen = json.loads(reply.body)
                assert seen["body"].encode("latin-1") == b"".join(parts).partition(
                    b"\r\n\r\n")[2]
                assert "Expect" not in dict(seen["headers"])
            metrics = await env.metrics()
            assert metrics.value(REQUESTS, code="408", path="other") == timeouts
    run(scenario())


def test_slow_loris_connections_are_all_cut() -> None:
    """100 clients trickling headers: all cut at the read timeout, counted, and a normal
    request is served meanwhile."""
    count = 100

    async def scenario() -> None:
        async with robust_stack() as env:
            trickle = [bytes([b]) for b in b"GET /echo HTTP/1.1\r\nX-Slow: " + b"a" * 100]
            lorises = [asyncio.create_task(converse(env.proxy.port, trickle, pause=0.05))
                       for _ in range(count)]
            async with env.client.get(env.url("/echo")) as response:
                assert response.status == 200
            replies = await asyncio.gather(*lorises)
            assert all(r.closed and r.data == b"" for r in replies)
            assert max(r.elapsed for r in replies) < READ_TIMEOUT + 2.0
            metrics = await env.metrics()
            assert metrics.value(REQUESTS, code="408", path="other") == count
    run(scenario())


def _rss_mib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"{field} missing")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
@pytest.mark.parametrize(("chunked", "bound_mib"), [
    # Refused on its Content-Length: nothing read.
    pytest.param(False, 16, id="declared"),
    # Read up to the limit, then refused: at most one limit per connection.
    pytest.param(True, 8 * 8 + 16, id="chunked"),
])
def test_oversize_bodies_keep_memory_bounded(chunked: bool, bound_mib: int) -> None:
    """8 concurrent 32 MiB bodies against the default 8 MiB limit, in a separate process:
    its peak RSS (VmHWM) may grow by the bound at most (without a limit: ~+280 MiB)."""
    clients, size = 8, 32 << 20
    port = closed_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoscaler.llmproxy", "--listen", f"127.0.0.1:{port}",
         "--upstream", f"http://127.0.0.1:{closed_port()}", "--log-level", "ERROR"],
        cwd=ROOT, env={**os.environ, "PYTHONWARNINGS": "error"})
    try:
        run(listening(port))
        block = b"x" * (1 << 20)
        framing = b"Transfer-Encoding: chunked" if chunked else b"Content-Length: %d" % size
        head = b"POST " + CHAT.encode() + b" HTTP/1.1\r\nHost: x\r\n" + framing
        parts = [request(head), *[_chunk(block) if chunked else block] * (size >> 20),
                 b"0\r\n\r\n" if chunked else b""]

        async def upload() -> list[int | None]:
            replies = await asyncio.gather(*(converse(port, parts, deadline=20)
                                              for _ in range(clients)))
            return [r.status for r in replies]

        before = _rss_mib(proc.pid, "VmRSS")
        statuses = run(upload())
        growth = _rss_mib(proc.pid, "VmHWM") - before
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)
    assert statuses == [413] * clients
    assert growth < bound_mib, f"peak RSS grew by {growth:.0f} MiB"


# --- the command line ---------------------------------------------------------------------


@pytest.mark.parametrize(("argv", "expected"), [
    pytest.param([], (limits.DEFAULT_MAX_BODY_BYTES, limits.DEFAULT_READ_TIMEOUT),
                 id="defaults"),
    pytest.param(["--max-body-bytes", "1048576", "--read-timeout", "0.5"], (1 << 20, 0.5),
                 id="set"),
])
def test_cli_limits(argv: list[str], expected: tuple[int, float]) -> None:
    assert (cli.MAX_BODY_BYTES, cli.READ_TIMEOUT) == (limits.DEFAULT_MAX_BODY_BYTES,
                                                      limits.DEFAULT_READ_TIMEOUT)
    config = cli.config_from(cli.build_parser().parse_args(argv))
    assert (config.max_body_bytes, config.read_timeout_seconds) == expected


@pytest.mark.parametrize("argv", [
    pytest.param(["--max-body-bytes", "0"], id="body-0"),
    pytest.param(["--max-body-bytes", "8MiB"], id="body-unit"),
    pytest.param(["--read-timeout", "0"], id="timeout-0"),
    pytest.param(["--read-timeout", "inf"], id="timeout-inf"),
    pytest.param(["--read-timeout", "nan"], id="timeout-nan"),
])
def test_cli_rejects_bad_limits(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.build_parser().parse_args(argv)
    assert info.value.code == 2
    assert "expected" in capsys.readouterr().err
