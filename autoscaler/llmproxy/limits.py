"""What a client may send: `--max-body-bytes`, and the body half of `--read-timeout`
(connections.py has the head half).

The body is read whole before it is forwarded (the upstream gets a Content-Length: not every
server accepts a chunked request), so the limit is what one request can cost in memory:
- a declared Content-Length above the limit: 413 before a byte of the body is read (and
  before `100 Continue`, so a client that asked never sends it);
- a chunked body: 413 as soon as it passes the limit;
- the body must have arrived `read_timeout` seconds after the head, else 408;
- a malformed body (bad chunk framing): 400; an `Expect` other than 100-continue: 417.
Each refusal closes the connection: aiohttp then discards what is still coming for at most
its lingering time (10 s), and the connection's head deadline cuts that shorter.
Bodies are relayed as sent (compressed ones are not inflated), so the limit counts the bytes
on the wire. The messages sent back are fixed text: nothing the client sent is echoed.
"""

from __future__ import annotations

import asyncio

from aiohttp import web
from aiohttp.http import HttpVersion11

DEFAULT_MAX_BODY_BYTES = 8 << 20
DEFAULT_READ_TIMEOUT = 30.0


class RequestRefusedError(Exception):
    """Answered to the client as an OpenAI-style error; the connection is then closed."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.kind = kind
        self.message = message


def _too_large(max_bytes: int) -> RequestRefusedError:
    return RequestRefusedError(413, "request_too_large",
                               f"request body larger than {max_bytes} bytes (--max-body-bytes)")


async def read_body(request: web.Request, max_bytes: int, timeout: float) -> bytearray:
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise _too_large(max_bytes)
    await _answer_expectation(request)
    # A bytearray is forwarded as it is: no second copy of the body (bytes(...) would make one).
    body = bytearray()
    try:
        async with asyncio.timeout(timeout):
            while chunk := await request.content.readany():
                if len(body) + len(chunk) > max_bytes:
                    raise _too_large(max_bytes)
                body += chunk
    except TimeoutError:
        raise RequestRefusedError(408, "request_timeout", f"request body not received "
                                  f"within {timeout:g} s (--read-timeout)") from None
    except web.RequestPayloadError:
        raise RequestRefusedError(400, "invalid_request", "malformed request body") from None
    return body


async def _answer_expectation(request: web.Request) -> None:
    """What aiohttp's default expect handler does (which the proxy's route turns off), but
    after the size check."""
    expect = request.headers.get("Expect")
    if expect is None or request.version < HttpVersion11:
        return
    if expect.lower() != "100-continue":
        raise RequestRefusedError(417, "expectation_failed",
                                  "only Expect: 100-continue is supported")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # an interim response: the real one has not started


async def no_expect_handler(_request: web.Request) -> None:
    """The route's expect handler: read_body answers the expectation once the size is known."""
