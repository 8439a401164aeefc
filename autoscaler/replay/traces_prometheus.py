"""Prometheus `/api/v1/query_range` JSON export -> DemandSeries.

Several series are summed per timestamp. A series counts as zero only outside its own first
and last sample (a pod that did not exist yet, or any more); a hole inside that span or a
NaN/Inf sample is missing data, which is reported rather than read as zero load.

The file is read whole, so it is bounded first (`max_json_bytes`, 64 MiB by default,
`--max-json-bytes`) and parsed by `autoscaler.safeload.load_json` (nesting depth, huge
integers, NaN literals refused). Values must be finite and non-negative, the summed demand
at most `max_value`, and the grid (points x step x time_scale) within `max_span_seconds`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from autoscaler.errors import InputError
from autoscaler.replay.input_errors import TraceError
from autoscaler.replay.limits import DEFAULT_LIMITS, TraceLimits
from autoscaler.replay.model import DemandSeries, FloatArray
from autoscaler.replay.traces_common import (
    check_level,
    check_scales,
    check_span,
    check_unit,
    shown,
)
from autoscaler.safeload import Limits as JsonLimits
from autoscaler.safeload import load_json

Sample = tuple[str, str]  # the timestamp and the value as text, for messages


@dataclass(frozen=True)
class _Series:
    labels: dict[str, str]
    samples: list[list[Any]]  # [timestamp, value] pairs as parsed: text only for messages

    def describe(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return "{" + inner + "}"


@dataclass(frozen=True)
class _Parsed:
    series: _Series
    times: FloatArray
    values: FloatArray


def _text(number: Any) -> str:
    # JSON numbers arrive as int or float; `100` must read as "100", as written.
    return repr(number) if isinstance(number, float) else str(number)


def _line_of(text: str, raw: Sample, occurrence: int) -> int | None:
    """Line of the `occurrence`-th `[ts, "v"]` pair equal to `raw` (json keeps no positions;
    None when the file spells the number differently)."""
    pattern = re.compile(
        r"\[\s*" + re.escape(raw[0]) + r'\s*,\s*"?' + re.escape(raw[1]) + r'"?\s*\]')
    for index, match in enumerate(pattern.finditer(text)):
        if index == occurrence:
            return text.count("\n", 0, match.start()) + 1
    return None


def _read(path: Path, limits: TraceLimits) -> bytes:
    try:
        with path.open("rb") as handle:
            data = handle.read(limits.max_json_bytes + 1)
    except OSError as exc:
        raise TraceError(path, None, f"cannot read: {exc.strerror or exc}") from None
    if len(data) > limits.max_json_bytes:
        raise TraceError(path, None, f"larger than {limits.max_json_bytes} bytes: raise "
                                     "--max-json-bytes")
    return data


def _load(path: Path, limits: TraceLimits) -> tuple[str, Any]:
    data = _read(path, limits)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise TraceError(path, line, "not UTF-8 text (a binary file?)") from None
    try:
        return text, load_json(text, path.name, JsonLimits(max_bytes=limits.max_json_bytes))
    except InputError as exc:
        cause = exc.__cause__
        if isinstance(cause, json.JSONDecodeError):
            raise TraceError(path, cause.lineno, f"not JSON: {cause.msg}") from None
        raise TraceError(path, None, f"not JSON: {exc.message.removeprefix(path.name + ': ')}"
                         ) from None


def _envelope(path: Path, document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise TraceError(path, 1, "expected a JSON object from /api/v1/query_range")
    if document.get("status") != "success":
        detail = document.get("error") or document.get("status")
        raise TraceError(path, 1, f"query did not succeed: {str(detail)[:200]}")
    data = document.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise TraceError(path, 1, f"resultType {shown(str(kind))} is not a range query "
                                  "result ('matrix')")
    result = data.get("result")
    if not isinstance(result, list) or not result:
        raise TraceError(path, 1, "the result holds no series")
    return result


def _series_list(path: Path, document: Any) -> list[_Series]:
    series = []
    for number, entry in enumerate(_envelope(path, document), start=1):
        if not (isinstance(entry, dict) and isinstance(entry.get("values"), list)):
            raise TraceError(path, None, f"series {number} lacks its 'values' list")
        metric = entry.get("metric") or {}
        if not isinstance(metric, dict):
            raise TraceError(path, None, f"series {number}: 'metric' must be an object of "
                                         f"labels, got {type(metric).__name__}")
        labels = {str(k): _text(v) for k, v in metric.items()}
        pairs = entry["values"]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise TraceError(path, None, f"series {_Series(labels, []).describe()}: values "
                                         "must be [timestamp, \"value\"] pairs")
        series.append(_Series(labels, pairs))
    return series


def _select(path: Path, series: list[_Series], selector: str | None) -> list[_Series]:
    if selector is None:
        return series
    key, sep, wanted = selector.partition("=")
    chosen = [s for s in series
              if (s.labels.get(key.strip()) == wanted.strip() if sep
                  else selector in s.labels.values())]
    if len(chosen) != 1:
        names = "; ".join(s.describe() for s in (chosen or series)[:5])
        problem = "matches no series" if not chosen else f"matches {len(chosen)} series"
        raise TraceError(path, None, f"selector {shown(selector)} {problem}: {names}")
    return chosen


class _Checker:
    """Checks samples one series at a time; finds a bad sample's line only when needed."""

    def __init__(self, path: Path, text: str, everything: list[_Series]) -> None:
        self.path, self.text, self.everything = path, text, everything

    def fail(self, one: _Series, index: int, problem: str) -> TraceError:
        pair = one.samples[index]
        # json keeps no positions: count the equal pairs written before this one.
        before = 0
        for other in self.everything:
            if other is one:
                before += one.samples[:index].count(pair)
                break
            before += other.samples.count(pair)
        raw = (_text(pair[0]), _text(pair[1]))
        line = _line_of(self.text, raw, before)
        return TraceError(self.path, line, f"series {one.describe()} at {raw[0][:40]}: "
                                           f"{problem}")

    def parse(self, one: _Series) -> _Parsed | None:
        times = np.empty(len(one.samples))
        values = np.empty(len(one.samples))
        for index, (t_raw, v_raw) in enumerate(one.samples):
            t, v = _number(t_raw), _number(v_raw)
            if not (np.isfinite(t) and np.isfinite(v)):
                raise self.fail(one, index, f"value {shown(_text(v_raw))} is missing data "
                                            "(not a finite number)")
            if v < 0:
                raise self.fail(one, index, f"value {shown(_text(v_raw))} is negative")
            if index and t <= times[index - 1]:
                raise self.fail(one, index, f"timestamp {_text(t_raw)[:40]} is not after "
                                            "the previous one")
            times[index], values[index] = t, v
        return _Parsed(one, times, values) if len(times) else None


def _number(raw: Any) -> float:
    """A JSON number or numeric string as float; NaN for anything else (true, [], {})."""
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return float("nan")
    try:
        return float(raw)
    except (ValueError, OverflowError):  # OverflowError: a 100-digit integer
        return float("nan")


def _grid(path: Path, all_times: FloatArray, time_scale: float, limits: TraceLimits
          ) -> tuple[FloatArray, float]:
    grid = np.unique(all_times)
    if len(grid) < 2:
        raise TraceError(path, None, "one timestamp only: the step cannot be inferred")
    steps = np.diff(grid)
    step = float(steps.min())
    # Checked before anything is sized by it: samples at 0 and 1e15 are two points 31
    # million years apart.
    check_span(path, None, float(grid[-1] - grid[0] + step) * time_scale, limits)
    if len(grid) > limits.max_steps:
        raise TraceError(path, None, f"{len(grid)} timestamps, more than {limits.max_steps}")
    irregular = np.flatnonzero(np.abs(steps - step) > 1e-6 * max(step, 1.0))
    if len(irregular):
        i = int(irregular[0])
        raise TraceError(path, None, f"irregular step: {grid[i]:g} to {grid[i + 1]:g} is "
                                     f"{steps[i]:g} s, the step is {step:g} s")
    return grid, step


def read_prometheus_range_json(path: str | Path, unit: str = "cores",
                               series: str | None = None, time_scale: float = 1.0,
                               rate_scale: float = 1.0, limits: TraceLimits = DEFAULT_LIMITS
                               ) -> DemandSeries:
    """Sum (or pick, with `series`: a label value or `key=value`) the series of a range query.

    The step is inferred from the timestamps; time counts from the first one.
    """
    check_unit(unit)
    check_scales(time_scale, rate_scale)
    path = Path(path)
    text, document = _load(path, limits)
    everything = _series_list(path, document)
    checker = _Checker(path, text, everything)
    parsed = [p for one in _select(path, everything, series)
              if (p := checker.parse(one)) is not None]
    if not parsed:
        raise TraceError(path, 1, "the selected series hold no samples")
    grid, step = _grid(path, np.concatenate([p.times for p in parsed]), time_scale, limits)
    total = np.zeros(len(grid), dtype=np.float64)
    for one in parsed:
        times = one.times
        index = np.searchsorted(grid, times)
        if len(times) != index[-1] - index[0] + 1:
            span = grid[index[0]:index[-1] + 1]
            hole = span[~np.isin(span, times)]
            raise TraceError(path, None, f"series {one.series.describe()} has no sample at "
                                         f"{hole[0]:g} (missing data is not zero load)")
        total[index] += one.values
    peak = int(np.argmax(total))
    check_level(path, None, f"the demand at {grid[peak]:g}", float(total[peak]), rate_scale,
                limits)
    return DemandSeries(0.0, step * time_scale, total * rate_scale, unit, str(path))
