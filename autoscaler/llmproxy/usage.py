"""Token accounting from OpenAI-compatible responses, fed chunk by chunk as they are relayed.

Non-streaming JSON: the `usage` object of the body (kept up to MAX_JSON_BYTES: an answer
larger than that is not metered rather than held in memory).
Streaming SSE (`text/event-stream`): `data:` lines are parsed as they complete, never waiting
for the stream to end. The last `usage` object seen wins (OpenAI sends it in a final chunk
with `stream_options.include_usage`; llama.cpp-based servers usually do too). Without one,
the completion is estimated as one token per choice with a non-empty delta (these servers
send one token per chunk) and flagged `estimated`.

Compressed bodies (gzip / deflate, relayed untouched) are inflated for metering only.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass
from typing import Any

MAX_JSON_BYTES = 8 << 20
MAX_SSE_LINE_BYTES = 1 << 20
_INFLATE_STEP = 1 << 20
_DELTA_KEYS = ("content", "reasoning_content", "tool_calls", "function_call")


@dataclass(frozen=True)
class TokenCount:
    prompt: int = 0
    completion: int = 0
    estimated: bool = False


class UsageMeter:
    """Base: meters nothing (unknown content types, unsupported encodings)."""

    def feed(self, chunk: bytes) -> None:
        pass

    def finish(self) -> TokenCount:
        return TokenCount()


class _Inflating(UsageMeter):
    """Decompresses before metering; a corrupt stream stops metering, never relaying."""

    def __init__(self, inner: UsageMeter) -> None:
        self._inner = inner
        self._inflater: Any = zlib.decompressobj(wbits=zlib.MAX_WBITS | 32)  # gzip or zlib
        self._broken = False

    def feed(self, chunk: bytes) -> None:
        if self._broken:
            return
        data = chunk
        try:
            # Bounded steps: a small compressed chunk may inflate to gigabytes.
            while data:
                self._inner.feed(self._inflater.decompress(data, _INFLATE_STEP))
                data = self._inflater.unconsumed_tail
        except zlib.error:
            self._broken = True

    def finish(self) -> TokenCount:
        return TokenCount() if self._broken else self._inner.finish()


class JsonUsageMeter(UsageMeter):
    def __init__(self) -> None:
        self._body = bytearray()
        self._too_big = False

    def feed(self, chunk: bytes) -> None:
        if self._too_big or len(self._body) + len(chunk) > MAX_JSON_BYTES:
            self._too_big = True
            self._body.clear()
            return
        self._body += chunk

    def finish(self) -> TokenCount:
        if self._too_big:
            return TokenCount()
        try:
            document = json.loads(self._body)
        except ValueError:
            return TokenCount()
        usage = usage_of(document)
        return usage if usage is not None else TokenCount()


class SseUsageMeter(UsageMeter):
    def __init__(self) -> None:
        self._line = bytearray()
        self._skipping = False  # inside an over-long line: drop until its end
        self._usage: TokenCount | None = None
        self._chunks = 0

    def feed(self, chunk: bytes) -> None:
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            if not self._skipping:
                self._line += chunk[start:end]
                self._on_line(bytes(self._line))
            self._line.clear()
            self._skipping = False
            start = end + 1
        if not self._skipping:
            self._line += chunk[start:]
            if len(self._line) > MAX_SSE_LINE_BYTES:
                self._line.clear()
                self._skipping = True

    def _on_line(self, line: bytes) -> None:
        # Each OpenAI event is one `data:` line; other fields (event:, id:, comments) and
        # payloads that are not JSON (`[DONE]`) are ignored.
        if not line.startswith(b"data:"):
            return
        try:
            event = json.loads(line[5:].strip())
        except ValueError:
            return
        usage = usage_of(event)
        if usage is not None:
            self._usage = usage
        self._chunks += non_empty_choices(event)

    def finish(self) -> TokenCount:
        if self._usage is not None:
            return self._usage
        return TokenCount(completion=self._chunks, estimated=self._chunks > 0)


def usage_of(document: object) -> TokenCount | None:
    """The `usage` object's counts, or None when absent or malformed (`usage: null` is what
    OpenAI sends in every chunk but the last)."""
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if not isinstance(usage, dict):
        return None
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens", 0))  # embeddings have none
    if prompt is None or completion is None:
        return None
    return TokenCount(prompt=prompt, completion=completion)


def _count(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None
    return value


def non_empty_choices(event: object) -> int:
    """Choices of a streamed chunk that carry generated output (a role-only delta or the
    final finish_reason chunk carries none)."""
    if not isinstance(event, dict) or not isinstance(event.get("choices"), list):
        return 0
    count = 0
    for choice in event["choices"]:
        if not isinstance(choice, dict):
            continue
        delta = choice.get("delta")
        streamed_delta = isinstance(delta, dict) and any(delta.get(k) for k in _DELTA_KEYS)
        # /v1/completions streams `text`, not `delta`.
        if streamed_delta or choice.get("text"):
            count += 1
    return count


def meter_for(content_type: str, content_encoding: str) -> UsageMeter:
    mime = content_type.split(";", 1)[0].strip().lower()
    inner: UsageMeter
    if mime == "text/event-stream":
        inner = SseUsageMeter()
    elif mime == "application/json" or mime.endswith("+json"):
        inner = JsonUsageMeter()
    else:
        return UsageMeter()
    encoding = content_encoding.strip().lower()
    if encoding in ("", "identity"):
        return inner
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflating(inner)
    return UsageMeter()  # br, zstd, stacked encodings: relayed, not metered
