"""Trace readers for `autoscaler replay`: every supported file format -> a model Workload.

| fmt | file | result |
|---|---|---|
| csv | `timestamp,value` (seconds or ISO-8601) | DemandSeries on a 1-s grid |
| azure-llm | `TIMESTAMP,ContextTokens,GeneratedTokens` | RequestTrace |
| per-minute | Azure Functions `...,minute_1..minute_N` | DemandSeries, 60-s steps |
| prometheus | `/api/v1/query_range` JSON | DemandSeries, the query's step |
| rps | per-second counts, text or `.tbz2` | DemandSeries, 1-s steps |
| kubectl-watch | `kubectl get hpa -w` output | HpaWatchTrace |

Scaling, the same for every reader: `time_scale` multiplies durations (0.5 plays the trace
twice as fast) and leaves levels alone; `rate_scale` multiplies the level (DemandSeries
values) or the number of requests (RequestTrace: floor(k) copies of each request plus one
more with probability frac(k), drawn from `numpy.random.default_rng(seed)`). To replay a
rate series faster with the same total number of requests, pass rate_scale=1/time_scale.
Every series starts at 0 s: time counts from the first sample or request.

Bad files raise `TraceError` (an InputError, so a ValueError) as `<file>:<line>: <problem>`,
options that do not apply raise `UsageError`; nothing else, whatever the bytes. Every reader
takes `limits` (autoscaler.replay.limits.TraceLimits: span, rows, line length, values...).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autoscaler.replay.input_errors import TraceError, UsageError
from autoscaler.replay.limits import DEFAULT_LIMITS, TraceLimits
from autoscaler.replay.model import Workload
from autoscaler.replay.traces_common import check_file
from autoscaler.replay.traces_csv import (
    AZURE_LLM_HEADER,
    read_azure_llm_csv,
    read_value_csv,
    resample_step,
)
from autoscaler.replay.traces_kubectl import HEADER as KUBECTL_HEADER
from autoscaler.replay.traces_kubectl import read_kubectl_watch
from autoscaler.replay.traces_minute import read_per_minute_csv
from autoscaler.replay.traces_prometheus import read_prometheus_range_json
from autoscaler.replay.traces_rps import iter_rps_chunks, read_rps_lines

__all__ = [
    "FORMATS",
    "TraceError",
    "UsageError",
    "iter_rps_chunks",
    "read_azure_llm_csv",
    "read_kubectl_watch",
    "read_per_minute_csv",
    "read_prometheus_range_json",
    "read_rps_lines",
    "read_trace",
    "read_value_csv",
    "resample_step",
    "sniff_format",
]


def _kubectl(path: Path, limits: TraceLimits = DEFAULT_LIMITS) -> Workload:
    return read_kubectl_watch(path, limits)


_SCALES = ("time_scale", "rate_scale")
FORMATS: dict[str, tuple[Callable[..., Workload], tuple[str, ...]]] = {
    "csv": (read_value_csv, ("unit", *_SCALES)),
    "azure-llm": (read_azure_llm_csv, (*_SCALES, "seed")),
    "per-minute": (read_per_minute_csv, ("column", "unit", *_SCALES)),
    "prometheus": (read_prometheus_range_json, ("unit", "series", *_SCALES)),
    "rps": (read_rps_lines, _SCALES),
    "kubectl-watch": (_kubectl, ()),
}
_CHOICES = ", ".join(FORMATS)


def _first_line(path: Path) -> str:
    try:
        with path.open(encoding="utf-8", errors="replace") as handle:
            head = handle.read(8192)
    except OSError as exc:
        raise TraceError(path, None, f"cannot read: {exc.strerror or exc}") from None
    for line in head.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def _is_numbers(words: list[str]) -> bool:
    try:
        [float(word) for word in words]
    except ValueError:
        return False
    return bool(words)


def sniff_format(path: str | Path) -> str:
    """The format of a file from its extension, else its first line."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith((".tbz2", ".tbz", ".bz2")):
        return "rps"
    if name.endswith(".json"):
        return "prometheus"
    line = _first_line(path)
    fields = next(csv.reader([line]), []) if line else []
    lowered = [field.strip().lower() for field in fields]
    if line.startswith("{"):
        return "prometheus"
    if lowered == [h.lower() for h in AZURE_LLM_HEADER]:
        return "azure-llm"
    if "minute_1" in lowered:
        return "per-minute"
    if "kubectl" in line or tuple(line.split()[:2]) == KUBECTL_HEADER[:2]:
        return "kubectl-watch"
    if len(fields) == 2:
        return "csv"
    if _is_numbers(line.split()):
        return "rps"
    raise TraceError(path, 1 if line else None,
                     f"cannot tell the trace format; pass one of: {_CHOICES}")


def read_trace(path: str | Path, fmt: str | None = None,
               limits: TraceLimits = DEFAULT_LIMITS, **options: Any) -> Workload:
    """Read `path` as `fmt` (sniffed when None) with that reader's keyword options."""
    path = Path(path)
    check_file(path)
    chosen = sniff_format(path) if fmt is None else fmt
    if chosen not in FORMATS:
        raise TraceError(path, None, f"unknown trace format {chosen!r}; choose one of: "
                                     f"{_CHOICES}")
    reader, allowed = FORMATS[chosen]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise UsageError(f"option(s) {', '.join(unknown)} do not apply to format {chosen!r} "
                         f"(it takes: {', '.join(allowed) or 'none'})")
    return reader(path, limits=limits, **options)
