"""`autoscaler replay --prometheus URL`: pull a demand series from a real Prometheus.

The range query's answer is saved next to the other outputs (`prometheus-range.json`), so a
replay can be re-run and audited offline, then read by the ordinary trace reader (the same
validation: missing samples, NaN or irregular steps are errors, never zeros).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import requests

from autoscaler.prometheus import promql
from autoscaler.prometheus.auth import auth_headers, tls_verify
from autoscaler.replay.traces_common import TraceError

MAX_POINTS = 11000  # Prometheus refuses range queries with more points per series


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
    """Unix seconds or RFC 3339."""
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ValueError(f"time {text!r}: use Unix seconds or RFC 3339") from exc


def cpu_demand_query(namespace: str, pod_regex: str, window_seconds: float = 60.0) -> str:
    """Total CPU cores of the pods matching `pod_regex` (a regex on purpose, e.g. `web-.*`;
    it is still string-escaped so it cannot leave its quotes)."""
    return (f'sum(rate(container_cpu_usage_seconds_total{{'
            f'{promql.matcher("namespace", namespace)}, '
            f'pod=~"{promql.escape_string(pod_regex)}", container!="", container!="POD"}}'
            f'[{int(window_seconds)}s]))')


def fetch_range(request: RangeRequest, destination: Path) -> Path:
    if request.end <= request.start:
        raise ValueError(f"--end ({request.end}) must be after --start ({request.start})")
    points = (request.end - request.start) / request.step_seconds
    if points > MAX_POINTS:
        raise ValueError(f"{math.ceil(points)} points per series; Prometheus allows {MAX_POINTS}:"
                         " raise --step or shorten the range")
    try:
        response = requests.get(
            f"{request.url.rstrip('/')}/api/v1/query_range",
            headers=auth_headers(request.bearer_token_file),
            verify=tls_verify(request.ca_file, request.verify_tls),
            timeout=request.timeout_seconds,
            params={"query": request.query, "start": f"{request.start:.3f}",
                    "end": f"{request.end:.3f}", "step": f"{request.step_seconds:g}"})
    except requests.RequestException as exc:
        raise TraceError(request.url, None, f"range query failed: {type(exc).__name__}") from exc
    if response.status_code != 200:
        raise TraceError(request.url, None, f"range query answered HTTP "
                                            f"{response.status_code}: {response.text[:200]}")
    destination.parent.mkdir(parents=True, exist_ok=True)
    destination.write_text(json.dumps(response.json(), indent=1) + "\n", encoding="utf-8")
    return destination
