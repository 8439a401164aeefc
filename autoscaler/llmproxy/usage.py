"""Token accounting from OpenAI-compatible responses, fed chunk by chunk as they are relayed.

Non-streaming JSON: the `usage` object of the body (kept up to MAX_JSON_BYTES: an answer
larger than that is not metered rather than held in memory).
Streaming SSE (`text/event-stream`): `data:` lines are parsed as they complete, never waiting
for the stream to end. The last `usage` object seen wins (OpenAI sends it in a final chunk
with `stream_options.include_usage`; llama.cpp-based servers usually do too). Without one,
the completion is estimated as one token per choice with a non-empty delta (these servers
send one token per chunk) and flagged `estimated`.

Compressed bodies (gzip / deflate, relayed untouched) are inflated for metering only.

Counts are validated, never trusted: `prompt_tokens` and `completion_tokens` must be integers
(JSON numbers without fraction or exponent) in [0, MAX_TOKENS). A usage object that breaks
the rule is ignored (the response is still relayed untouched) and `TokenCount.rejected` says
why, one of REJECTED_REASONS (the label of `llm_proxy_usage_rejected_total`); a stream then
falls back to the estimate, as if it had sent none. Integers are parsed with a digit bound,
so a 10^400 costs no big-number arithmetic and nothing raises; nesting too deep for the JSON
parser makes the body unparseable, not an exception.
"""

from __future__ import annotations

import json
import logging
import zlib
from dataclasses import dataclass
from typing import Any

from autoscaler.llmproxy.logscrub import describe, stack

log = logging.getLogger("autoscaler.llmproxy")

# Per response. A real count is at most the model's context (10^6 for the largest today).
MAX_TOKENS = 10**9
# Stands in for an integer literal longer than any valid count: still too large (or
# negative), without converting it (int() of a long literal is quadratic in its length, and
# Python refuses past 4300 digits).
_HUGE = 10**18
_MAX_DIGITS = 18
REJECTED_REASONS = ("not_an_object", "missing", "not_an_integer", "negative", "too_large",
                    "meter_error")
MAX_JSON_BYTES = 8 << 20
MAX_SSE_LINE_BYTES = 1 << 20
_INFLATE_STEP = 1 << 20
_DELTA_KEYS = ("content", "reasoning_content", "tool_calls", "function_call")


@dataclass(frozen=True)
class TokenCount:
    prompt: int = 0
    completion: int = 0
    estimated: bool = False
    # Why the usage object was ignored (one of REJECTED_REASONS), None if it was not.
    rejected: str | None = None


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
        usage = usage_of(parse_json(self._body))
        return usage if usage is not None else TokenCount()


class SseUsageMeter(UsageMeter):
    def __init__(self) -> None:
        self._line = bytearray()
        self._skipping = False  # inside an over-long line: drop until its end
        self._usage: TokenCount | None = None
        self._rejected: str | None = None
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
        event = parse_json(line[5:].strip())
        usage = usage_of(event)
        if usage is not None and usage.rejected is None:
            self._usage = usage  # the last valid one wins
        elif usage is not None:
            self._rejected = usage.rejected
        self._chunks += non_empty_choices(event)

    def finish(self) -> TokenCount:
        if self._usage is not None:
            return self._usage
        return TokenCount(completion=self._chunks, estimated=self._chunks > 0,
                          rejected=self._rejected)


def _bounded_int(literal: str) -> int:
    if len(literal) - literal.startswith("-") > _MAX_DIGITS:
        return -_HUGE if literal.startswith("-") else _HUGE
    return int(literal)


def parse_json(data: bytes | bytearray) -> object:
    """The document, or None when it is not JSON (nor UTF-8/16/32, nor shallow enough)."""
    try:
        return json.loads(data, parse_int=_bounded_int)
    except (ValueError, RecursionError):
        return None


def usage_of(document: object) -> TokenCount | None:
    """The `usage` object's counts; None when there is none (`usage: null` is what OpenAI
    sends in every chunk but the last); `rejected` set when it breaks the rule."""
    if not isinstance(document, dict):
        return None
    usage = document.get("usage")
    if usage is None:
        return None
    if not isinstance(usage, dict):
        return TokenCount(rejected="not_an_object")
    if "prompt_tokens" not in usage:
        return TokenCount(rejected="missing")
    prompt = usage["prompt_tokens"]
    completion = usage.get("completion_tokens")
    if completion is None:  # embeddings generate nothing
        completion = 0
    for value in (prompt, completion):
        if (reason := _invalid(value)) is not None:
            return TokenCount(rejected=reason)
    return TokenCount(prompt=prompt, completion=completion)


def _invalid(value: object) -> str | None:
    # bool is an int in Python, not in JSON; floats (7.0, 1e3, NaN) are not counts either.
    if isinstance(value, bool) or not isinstance(value, int):
        return "not_an_integer"
    if value < 0:
        return "negative"
    if value >= MAX_TOKENS:
        return "too_large"
    return None


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


class _Guarded(UsageMeter):
    """A metering bug costs the response's count, never the response: the relay loop must
    not see it raise."""

    def __init__(self, inner: UsageMeter) -> None:
        self._inner = inner
        self._failed = False

    def feed(self, chunk: bytes) -> None:
        if self._failed:
            return
        try:
            self._inner.feed(chunk)
        except Exception as exc:
            self._fail(exc)

    def finish(self) -> TokenCount:
        if not self._failed:
            try:
                return self._inner.finish()
            except Exception as exc:
                self._fail(exc)
        return TokenCount(rejected="meter_error")

    def _fail(self, exc: Exception) -> None:
        self._failed = True
        log.error("usage metering failed, the response is not counted: %s\n%s",
                  describe(exc), stack(exc))


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
        return _Guarded(inner)
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Guarded(_Inflating(inner))
    return UsageMeter()  # br, zstd, stacked encodings: relayed, not metered
