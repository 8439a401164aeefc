"""Latency added by `autoscaler llm-proxy`: the same requests direct and through the proxy.

Run by hand: `.venv/bin/python benchmarks/llmproxy_overhead.py`. The fake upstream
(autoscaler/llmproxy/fake_upstream.py, model lock off, a tiny fixed delay) and the proxy each
run in their own process, the client in this one, all on 127.0.0.1; direct and proxied
requests alternate so both see the same machine load. Prints p50 / p99 per scenario and the
overhead (proxied minus direct). Never asserted in tests: timings depend on the machine.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from autoscaler.llmproxy.fake_upstream import FakeOpenAI, FakeSettings, running

ROOT = Path(__file__).resolve().parent.parent
CHAT = "/v1/chat/completions"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def serve_fake(port_queue: multiprocessing.Queue[int], delay: float) -> None:
    async def serve() -> None:
        settings = FakeSettings(prefill_seconds=delay, decode_seconds=0.0, one_at_a_time=False)
        async with running(FakeOpenAI(settings)) as url:
            port_queue.put(int(url.rsplit(":", 1)[1]))
            await asyncio.Event().wait()  # until terminated

    asyncio.run(serve())


@dataclass
class Result:
    name: str
    direct: list[float]
    proxied: list[float]


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


async def timed_json(session: aiohttp.ClientSession, url: str) -> float:
    start = time.perf_counter()
    async with session.post(url + CHAT, json={"max_tokens": 5}) as response:
        await response.read()
        assert response.status == 200, response.status
    return time.perf_counter() - start


async def timed_first_chunk(session: aiohttp.ClientSession, url: str) -> float:
    start = time.perf_counter()
    first = 0.0
    async with session.post(url + CHAT, json={"stream": True, "max_tokens": 5}) as response:
        async for _ in response.content.iter_any():
            first = first or time.perf_counter() - start
    return first


Probe = Callable[[aiohttp.ClientSession, str], Awaitable[float]]


async def alternate(session: aiohttp.ClientSession, direct: str, proxied: str, probe: Probe,
                    count: int, concurrency: int, name: str) -> Result:
    result = Result(name, [], [])

    async def worker(share: int) -> None:
        for _ in range(share):
            result.direct.append(await probe(session, direct))
            result.proxied.append(await probe(session, proxied))

    for _ in range(20):  # warm-up: connection pools, first-call imports
        await probe(session, direct)
        await probe(session, proxied)
    await asyncio.gather(*(worker(count // concurrency) for _ in range(concurrency)))
    return result


async def measure(direct: str, proxied: str, requests: int, concurrency: int
                  ) -> list[Result]:
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector) as session:
        return [
            await alternate(session, direct, proxied, timed_json, requests, 1,
                            "sequential, JSON"),
            await alternate(session, direct, proxied, timed_json, requests * 2, concurrency,
                            f"{concurrency} concurrent, JSON"),
            await alternate(session, direct, proxied, timed_first_chunk, requests, 1,
                            "sequential, SSE first chunk"),
        ]


def report(results: list[Result]) -> None:
    print(f"{'scenario':<30} {'n':>5} {'direct p50':>11} {'proxy p50':>10} {'+p50':>8} "
          f"{'direct p99':>11} {'proxy p99':>10} {'+p99':>8}")
    for r in results:
        d50, p50 = percentile(r.direct, 50) * 1e3, percentile(r.proxied, 50) * 1e3
        d99, p99 = percentile(r.direct, 99) * 1e3, percentile(r.proxied, 99) * 1e3
        print(f"{r.name:<30} {len(r.direct):>5} {d50:>9.2f}ms {p50:>8.2f}ms {p50 - d50:>6.2f}ms "
              f"{d99:>9.2f}ms {p99:>8.2f}ms {p99 - d99:>6.2f}ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=500, help="per scenario and path")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--delay", type=float, default=0.005,
                        help="the fake upstream's fixed delay in seconds")
    args = parser.parse_args()
    spawn = multiprocessing.get_context("spawn")
    ports: multiprocessing.Queue[int] = spawn.Queue()
    fake = spawn.Process(
        target=serve_fake, args=(ports, args.delay), daemon=True)
    fake.start()
    upstream = f"http://127.0.0.1:{ports.get(timeout=30)}"
    proxy_port = free_port()
    proxy = subprocess.Popen(
        [sys.executable, "-m", "autoscaler.llmproxy", "--listen", f"127.0.0.1:{proxy_port}",
         "--upstream", upstream, "--log-level", "WARNING"], cwd=ROOT)
    try:
        proxied = f"http://127.0.0.1:{proxy_port}"
        _wait_for(proxied)
        print(f"fake upstream delay {args.delay * 1e3:.1f} ms; proxy and upstream in their "
              "own processes, client here, all on 127.0.0.1")
        report(asyncio.run(measure(upstream, proxied, args.requests, args.concurrency)))
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        fake.terminate()
        fake.join(timeout=10)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"the proxy never listened on {url}")


if __name__ == "__main__":
    main()
