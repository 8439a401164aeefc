"""The counters the SLO recommender reads from the metering proxy: arrivals, metered
responses and tokens (split by streamed), and the upstream's prefill / decode seconds.
Same in-process stack as test_llmproxy.py (a fake one-at-a-time upstream, real HTTP)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from test_llmproxy import STREAM_USAGE, post_json, run, stack

from autoscaler.llmproxy.fake_upstream import CHAT, COMPLETIONS, EMBEDDINGS, FakeSettings

ARRIVALS = "llm_proxy_arrivals_total"
METERED = "llm_proxy_metered_responses_total"
PROMPT = "llm_proxy_metered_prompt_tokens_total"
COMPLETION = "llm_proxy_metered_completion_tokens_total"
PREFILL = "llm_proxy_upstream_prefill_seconds_total"
DECODE = "llm_proxy_upstream_decode_seconds_total"


@pytest.mark.parametrize(("path", "body", "streamed", "metered", "timed"), [
    pytest.param(CHAT, STREAM_USAGE, "true", True, True, id="stream-with-usage-is-timed"),
    pytest.param(CHAT, {}, "false", True, False, id="json-metered-not-timed"),
    pytest.param(CHAT, {"stream": True}, "true", False, False,
                 id="stream-without-usage-not-metered"),
    pytest.param(COMPLETIONS, {**STREAM_USAGE, "max_tokens": 3}, "true", True, True,
                 id="completions-stream"),
    pytest.param(EMBEDDINGS, {"input": "x"}, "false", True, False, id="embeddings"),
    pytest.param("/echo?status=500", {}, "false", False, False, id="error-not-metered"),
])
def test_counters(path: str, body: dict[str, Any], streamed: str, metered: bool,
                  timed: bool) -> None:
    settings = FakeSettings(prefill_seconds=0.03, decode_seconds=0.02)

    async def scenario() -> None:
        async with stack(settings) as env:
            for _ in range(2):
                await post_json(env, path, body)
            metrics = await env.idle()
            label = path.split("?", maxsplit=1)[0] if path.startswith("/v1/") else "other"
            assert metrics.value(ARRIVALS, path=label) == 2
            count = metrics.value(METERED, path=label, streamed=streamed)
            assert count == (2 if metered else 0)
            prompt = metrics.value(PROMPT, path=label, streamed=streamed)
            assert prompt == (2 * settings.prompt_tokens if metered else 0)
            prefill, decode = metrics.value(PREFILL, path=label), metrics.value(DECODE,
                                                                                 path=label)
            if not timed:
                assert prefill == decode == 0
                return
            completion = metrics.value(COMPLETION, path=label, streamed=streamed)
            # The fake sleeps prefill_seconds before the first chunk, decode_seconds per token
            # after it: 2 x 30 ms of prefill at least, and 2 x (tokens - 1) x 20 ms of decode.
            assert 2 * 0.03 <= prefill < 2 * 0.03 + 0.5
            assert 2 * (completion / 2 - 1) * 0.02 <= decode < 2 * completion * 0.02 + 0.5
    run(scenario())


def test_arrivals_count_requests_still_waiting() -> None:
    """Arrivals are counted on arrival: a request held by --max-concurrency is already in
    the rate the recommender sizes for."""
    async def scenario() -> None:
        async with stack(FakeSettings(0.0, 0.001), max_concurrency=1) as env:
            env.fake.hold.clear()
            tasks = [asyncio.create_task(post_json(env, CHAT, {})) for _ in range(3)]
            metrics = await env.wait_until(
                lambda m: m.value(ARRIVALS, path=CHAT) == 3)
            assert metrics.value(METERED, path=CHAT, streamed="false") == 0
            env.fake.hold.set()
            await asyncio.gather(*tasks)
            metrics = await env.idle()
            assert metrics.value(METERED, path=CHAT, streamed="false") == 3
    run(scenario())
