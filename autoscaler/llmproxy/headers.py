"""End-to-end headers only (RFC 7230 section 6.1 / RFC 9110 section 7.6.1).

Hop-by-hop headers describe one connection, so they are dropped in both directions, together
with any header the `Connection` header names. `Host` and `Content-Length` are recomputed by
the client library for the upstream connection; `Expect: 100-continue` is answered by the
proxy (limits.py), which sends the upstream a body it already has. Values are copied, never
inspected or logged (`Authorization` passes through untouched).
"""

from __future__ import annotations

from collections.abc import Iterable

from multidict import CIMultiDict, CIMultiDictProxy

HOP_BY_HOP = frozenset({
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
    "te", "trailer", "transfer-encoding", "upgrade",
})
RECOMPUTED_FOR_UPSTREAM = frozenset({"host", "content-length", "expect"})


def _named_by_connection(headers: CIMultiDictProxy[str]) -> set[str]:
    return {token.strip().lower() for value in headers.getall("Connection", [])
            for token in value.split(",") if token.strip()}


def _filtered(headers: CIMultiDictProxy[str], also_drop: Iterable[str]) -> CIMultiDict[str]:
    drop = HOP_BY_HOP | _named_by_connection(headers) | set(also_drop)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():  # items() keeps repeated headers (Set-Cookie)
        if name.lower() not in drop:
            out.add(name, value)
    return out


def request_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    return _filtered(headers, RECOMPUTED_FOR_UPSTREAM)


def response_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    # Content-Length stays: the body is relayed byte for byte (no decompression).
    return _filtered(headers, ())
