"""No header value reaches a log, whatever logs it.

The risk is not the proxy's own lines (they name the path label, the status and exception
types, never values) but its libraries': aiohttp logs a request it cannot parse with the
exception, whose message quotes the offending line (`b'Authorization: Bearer sk-...'` for a
value holding a control character); asyncio's fallback handler prints task and callback
reprs that can carry the same exceptions or raw bytes.

`ScrubFilter` rewrites such records before any handler sees them:
- an exception becomes its type names, the chain included, plus, for a bug (not a client's
  malformed request), the stack: file, line and source of each frame, never a value;
- a message not written by the proxy itself is cut to its first line, before the first quote
  or bracket (where reprs start);
- a malformed request (aiohttp's HttpProcessingError) is the client's error, not ours: it is
  logged at DEBUG, so scanners and broken clients cannot flood the log at INFO and above.

It is attached to the loggers the proxy hands aiohttp and asyncio (`SERVER_LOG`,
`LOOP_LOG`) and, by the command line, to the root handler as well (everything printed).
"""

from __future__ import annotations

import asyncio
import logging
import traceback
from typing import Any

from aiohttp.http_exceptions import HttpProcessingError

# The proxy's own logger: its messages are written never to hold a value.
TRUSTED = "autoscaler.llmproxy"
_REPR_STARTS = "'\"<([{"


def describe(exc: BaseException) -> str:
    """`RequestPayloadError <- ContentEncodingError <- error`: the types, never the
    messages (they may quote what the client sent)."""
    names: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names.append(type(current).__name__)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__)
    return " <- ".join(names)


def stack(exc: BaseException) -> str:
    """Where it was raised: frames and source lines only (no locals, no message)."""
    return "".join(traceback.format_tb(exc.__traceback__)).rstrip()


def safe_text(message: str) -> str:
    first = message.split("\n", 1)[0]
    cut = min((i for i in (first.find(c) for c in _REPR_STARTS) if i >= 0), default=len(first))
    return first[:cut].rstrip(" :=,")


class ScrubFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "scrubbed", False):  # both the logger and the handler filter
            return True
        record.__dict__["scrubbed"] = True
        exc = record.exc_info[1] if record.exc_info else None
        client_error = isinstance(exc, HttpProcessingError)
        if client_error:
            if not logging.getLogger(record.name).isEnabledFor(logging.DEBUG):
                return False
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        if record.name == TRUSTED and exc is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format must not break the caller: logging would not either
            message = str(record.msg)
        if record.name != TRUSTED:
            message = safe_text(message)
        if exc is not None:
            message = f"{message}: {describe(exc)}"
            if not client_error and exc.__traceback__ is not None:
                message = f"{message}\n{stack(exc)}"
        record.msg, record.args = message, None
        record.exc_info, record.exc_text = None, None
        return True


def _scrubbed_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    if not any(isinstance(f, ScrubFilter) for f in logger.filters):
        logger.addFilter(ScrubFilter())
    return logger


# Handed to aiohttp's request handler instead of its `aiohttp.server` logger.
SERVER_LOG = _scrubbed_logger("autoscaler.llmproxy.http")
LOOP_LOG = _scrubbed_logger("autoscaler.llmproxy.asyncio")


def loop_exception_handler(_loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
    """Replaces asyncio's default handler, which logs reprs of tasks, callbacks and their
    arguments (raw request bytes included)."""
    exc = context.get("exception")
    LOOP_LOG.error("%s", context.get("message", "event loop error"),
                   exc_info=exc if isinstance(exc, BaseException) else None)
