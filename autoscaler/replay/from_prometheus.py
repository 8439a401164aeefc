"""`autoscaler replay --prometheus URL`: pull a demand series from a real Prometheus.

The range query's answer is saved next to the other outputs (`prometheus-range.json`), so a
replay can be re-run and audited offline, then read by the ordinary trace reader (the same
validation: missing samples, NaN or irregular steps are errors, never zeros).

A bad request (times, step, too many points) is a UsageError; an unreachable Prometheus is
a TransientError and a refused or unreadable answer a PermanentError, so the command can
tell the user's mistakes (exit 2) from runtime failures (exit 1). The answer is read up to
`max_json_bytes` and parsed by `autoscaler.safeload.load_json`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import requests

from autoscaler.errors import InputError, PermanentError, TransientError
from autoscaler.prometheus import promql
from autoscaler.prometheus.auth import auth_headers, tls_verify
from autoscaler.replay.input_errors import UsageError
from autoscaler.replay.limits import DEFAULT_LIMITS, TraceLimits
from autoscaler.safeload import Limits as JsonLimits
from autoscaler.safeload import load_json

MAX_POINTS = 11000  # Prometheus refuses range queries with more points per series
MAX_INSTANT = 253402300799.0  # 9999-12-31T23:59:59Z, the last RFC 3339 second


@dataclass(frozen=True)
class RangeRequest:
    url: str
    query: str
    start: float
    end: float
    step_seconds: float = 15.0
    bearer_token_file: Path | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_seconds: float = 30.0


def parse_instant(text: str) -> float:
    """Unix seconds or RFC 3339 (without a zone: UTC, like the trace readers)."""
    try:
        seconds = float(text)
    except ValueError:
        seconds = _rfc3339(text)
    if not 0 <= seconds <= MAX_INSTANT:  # also NaN and infinities
        raise UsageError(f"time {text[:40]!r} is outside 1970..9999: use Unix seconds or "
                         "RFC 3339 such as 2024-05-01T12:00:00Z")
    return seconds


def _rfc3339(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
    except (ValueError, OverflowError):
        raise UsageError(f"time {text[:40]!r}: use Unix seconds or RFC 3339 such as "
                         "2024-05-01T12:00:00Z") from None


def cpu_demand_query(namespace: str, pod_regex: str, window_seconds: float = 60.0) -> str:
    """Total CPU cores of the pods matching `pod_regex` (a regex on purpose, e.g. `web-.*`;
    it is still string-escaped so it cannot leave its quotes)."""
    return (f'sum(rate(container_cpu_usage_seconds_total{{'
            f'{promql.matcher("namespace", namespace)}, '
            f'pod=~"{promql.escape_string(pod_regex)}", container!="", container!="POD"}}'
            f'[{int(window_seconds)}s]))')


def check_range(request: RangeRequest) -> None:
    """What can be said before asking: the range is ordered and not too fine."""
    if request.end <= request.start:
        raise UsageError(f"--end ({request.end:g}) must be after --start ({request.start:g})")
    if not (math.isfinite(request.step_seconds) and request.step_seconds > 0):
        raise UsageError(f"--step must be > 0, got {request.step_seconds:g}")
    points = (request.end - request.start) / request.step_seconds
    if points > MAX_POINTS:
        raise UsageError(f"{math.ceil(points)} points per series; Prometheus allows "
                         f"{MAX_POINTS}: raise --step or shorten the range")


def _headers(request: RangeRequest) -> dict[str, str]:
    try:
        return auth_headers(request.bearer_token_file)
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"--prometheus-token-file {request.bearer_token_file}: cannot read: "
                         f"{getattr(exc, 'strerror', None) or exc}") from None


def _get(request: RangeRequest, max_bytes: int) -> bytes:
    """The answer's body, at most `max_bytes` of it (an answer is never trusted whole)."""
    params = {"query": request.query, "start": f"{request.start:.3f}",
              "end": f"{request.end:.3f}", "step": f"{request.step_seconds:g}"}
    try:
        with requests.get(f"{request.url.rstrip('/')}/api/v1/query_range",
                          headers=_headers(request),
                          verify=tls_verify(request.ca_file, request.verify_tls),
                          timeout=request.timeout_seconds, params=params,
                          stream=True) as response:
            body = bytearray()  # grows in place: bytes += bytes would copy every time
            for piece in response.iter_content(1 << 16):
                body += piece
                if len(body) > max_bytes:
                    raise PermanentError(f"{request.url}: the answer is larger than "
                                         f"{max_bytes} bytes: raise --max-json-bytes or "
                                         "--step")
            status = response.status_code
    except requests.RequestException as exc:
        raise TransientError(f"{request.url}: range query failed: {type(exc).__name__}"
                             ) from exc
    if status != 200:
        text = bytes(body[:200]).decode("utf-8", "replace").replace("\n", " ")
        raise PermanentError(f"{request.url}: range query answered HTTP {status}: {text}")
    return bytes(body)


def fetch_range(request: RangeRequest, destination: Path,
                limits: TraceLimits = DEFAULT_LIMITS) -> Path:
    check_range(request)
    body = _get(request, limits.max_json_bytes)
    try:
        document = load_json(body, request.url, JsonLimits(max_bytes=limits.max_json_bytes))
    except InputError as exc:  # Prometheus' answer, not the user's input: a runtime failure
        raise PermanentError(f"unreadable range query answer: {exc}") from None
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    return destination
