"""A fake OpenAI-compatible server that, like LlamaEdge, serves ONE inference at a time.

For the proxy's tests and benchmark. Completions wait for the model (a lock), then
`prefill_seconds`, then `decode_seconds` per token; `stream: true` answers in SSE, one token
per chunk, with a final `usage` chunk when `stream_options.include_usage` is set (non-streaming
answers always carry `usage`). `hold` (an Event) parks every inference right after it got the
model, so a test can look at the gauges while requests are known to be outstanding.
`/echo` returns what it received; `/die` breaks its stream on purpose; `/canned` answers
`canned` as it is (status, Content-Type, body chunks), for malformed `usage` payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
EMBEDDINGS = "/v1/embeddings"


@dataclass
class FakeSettings:
    prefill_seconds: float = 0.02
    decode_seconds: float = 0.02
    prompt_tokens: int = 7
    completion_tokens: int = 5
    # False: no model lock (the benchmark measures the proxy, not this queue).
    one_at_a_time: bool = True


@dataclass
class Canned:
    chunks: list[bytes]
    content_type: str = "application/json"
    status: int = 200


@dataclass
class FakeStats:
    active: int = 0  # inferences holding the model (never above 1)
    max_active: int = 0
    started: int = 0
    finished: int = 0
    cancelled: int = 0
    echoes: list[dict[str, Any]] = field(default_factory=list)


class FakeOpenAI:
    def __init__(self, settings: FakeSettings | None = None) -> None:
        self.settings = settings or FakeSettings()
        self.stats = FakeStats()
        self.hold = asyncio.Event()
        self.hold.set()
        self.canned = Canned([b"{}"])
        self._model = asyncio.Lock()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(CHAT, self._complete)
        app.router.add_post(COMPLETIONS, self._complete)
        app.router.add_post(EMBEDDINGS, self._embed)
        app.router.add_route("*", "/echo", self._echo)
        app.router.add_post("/die", self._die)
        app.router.add_route("*", "/canned", self._canned)
        return app

    @contextlib.asynccontextmanager
    async def _inference(self) -> AsyncIterator[None]:
        lock = self._model if self.settings.one_at_a_time else contextlib.nullcontext()
        async with lock:
            self.stats.active += 1
            self.stats.started += 1
            self.stats.max_active = max(self.stats.max_active, self.stats.active)
            try:
                await self.hold.wait()
                await asyncio.sleep(self.settings.prefill_seconds)
                yield
                self.stats.finished += 1
            except asyncio.CancelledError:
                self.stats.cancelled += 1
                raise
            finally:
                self.stats.active -= 1

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        try:  # like a real server: a 400 for a body it cannot use, not a 500
            body = json.loads(await request.read())
            tokens = int(body.get("max_tokens", self.settings.completion_tokens))
            if not 0 <= tokens <= 100_000:
                raise ValueError("max_tokens out of range")
        except (ValueError, TypeError, AttributeError):
            return web.json_response({"error": {"message": "bad request body"}}, status=400)
        chat = request.path == CHAT
        async with self._inference():
            if body.get("stream"):
                include = bool((body.get("stream_options") or {}).get("include_usage"))
                return await self._stream(request, tokens, chat, include)
            await asyncio.sleep(self.settings.decode_seconds * tokens)
            text = "".join(f"tok{i} " for i in range(tokens))
            choice = ({"index": 0, "message": {"role": "assistant", "content": text},
                       "finish_reason": "length"} if chat else
                      {"index": 0, "text": text, "finish_reason": "length"})
            return web.json_response({"object": "chat.completion" if chat else "text_completion",
                                      "choices": [choice], "usage": self._usage(tokens)})

    async def _stream(self, request: web.Request, tokens: int, chat: bool, include_usage: bool
                      ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
        await response.prepare(request)
        if chat:  # the role chunk comes first and carries no token
            await _event(response, {"choices": [{"index": 0, "delta": {
                "role": "assistant", "content": ""}, "finish_reason": None}]})
        for i in range(tokens):
            await asyncio.sleep(self.settings.decode_seconds)
            piece = {"delta": {"content": f"tok{i} "}} if chat else {"text": f"tok{i} "}
            await _event(response, {"choices": [{"index": 0, **piece, "finish_reason": None}],
                                    "usage": None})
        last: dict[str, object] = {"delta": {}} if chat else {"text": ""}
        await _event(response, {"choices": [{"index": 0, **last, "finish_reason": "length"}]})
        if include_usage:
            await _event(response, {"choices": [], "usage": self._usage(tokens)})
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    def _usage(self, completion: int) -> dict[str, int]:
        prompt = self.settings.prompt_tokens
        return {"prompt_tokens": prompt, "completion_tokens": completion,
                "total_tokens": prompt + completion}

    async def _embed(self, request: web.Request) -> web.Response:
        await request.read()
        async with self._inference():
            prompt = self.settings.prompt_tokens
            return web.json_response({"object": "list", "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})

    async def _echo(self, request: web.Request) -> web.Response:
        seen = {"method": request.method, "path": request.path,
                "query": request.rel_url.raw_query_string,
                "headers": [[k, v] for k, v in request.headers.items()],
                "body": (await request.read()).decode("latin-1")}
        self.stats.echoes.append(seen)
        response = web.json_response(seen, status=int(request.query.get("status", "200")))
        # End-to-end headers the proxy must keep, hop-by-hop ones it must drop.
        response.headers.add("X-Upstream", "fake")
        response.headers.add("Set-Cookie", "a=1")
        response.headers.add("Set-Cookie", "b=2")
        response.headers["Keep-Alive"] = "timeout=5"
        response.headers["Proxy-Authenticate"] = 'Basic realm="fake"'
        response.headers["Connection"] = "X-Hop-Response"
        response.headers["X-Hop-Response"] = "dropped"
        return response

    async def _die(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await _event(response, {"choices": [{"index": 0, "delta": {"content": "x"}}]})
        await asyncio.sleep(self.settings.decode_seconds)
        assert request.transport is not None
        request.transport.close()  # mid-stream: no terminating chunk
        return response

    async def _canned(self, request: web.Request) -> web.StreamResponse:
        await request.read()
        canned = self.canned
        response = web.StreamResponse(status=canned.status,
                                      headers={"Content-Type": canned.content_type})
        await response.prepare(request)
        for chunk in canned.chunks:
            await response.write(chunk)
        await response.write_eof()
        return response


async def _event(response: web.StreamResponse, data: object) -> None:
    await response.write(b"data: " + json.dumps(data).encode() + b"\n\n")


@contextlib.asynccontextmanager
async def running(fake: FakeOpenAI, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Serve the fake on an ephemeral port; yields its base URL."""
    runner = web.AppRunner(fake.app(), access_log=None, handler_cancellation=True,
                           auto_decompress=False)  # /echo shows bodies as the proxy sent them
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, 0)
        await site.start()
        yield f"http://{host}:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()
