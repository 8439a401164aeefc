"""Prometheus `/api/v1/query_range` JSON export -> DemandSeries.

Several series are summed per timestamp. A series counts as zero only outside its own first
and last sample (a pod that did not exist yet, or any more); a hole inside that span or a
NaN/Inf sample is missing data, which is reported rather than read as zero load.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from autoscaler.replay.model import DemandSeries
from autoscaler.replay.traces_common import TraceError, check_scales, check_unit

Sample = tuple[str, str]  # the timestamp and the value exactly as written in the file


class _Series:
    def __init__(self, labels: dict[str, str], samples: list[Sample]) -> None:
        self.labels = labels
        self.samples = samples

    def describe(self) -> str:
        inner = ",".join(f'{k}="{v}"' for k, v in self.labels.items())
        return "{" + inner + "}"


def _line_of(text: str, raw: Sample, occurrence: int) -> int | None:
    """Line of the `occurrence`-th `[ts, "v"]` pair equal to `raw` (json keeps no positions)."""
    pattern = re.compile(
        r"\[\s*" + re.escape(raw[0]) + r'\s*,\s*"?' + re.escape(raw[1]) + r'"?\s*\]')
    for index, match in enumerate(pattern.finditer(text)):
        if index == occurrence:
            return text.count("\n", 0, match.start()) + 1
    return None


def _load(path: Path) -> tuple[str, Any]:
    text = path.read_text(encoding="utf-8")
    try:
        # Numbers stay text so an error can quote them and find their line.
        return text, json.loads(text, parse_float=str, parse_int=str, parse_constant=str)
    except json.JSONDecodeError as error:
        raise TraceError(path, error.lineno, f"not JSON: {error.msg}") from None


def _series_list(path: Path, document: Any) -> list[_Series]:
    if not isinstance(document, dict):
        raise TraceError(path, 1, "expected a JSON object from /api/v1/query_range")
    if document.get("status") != "success":
        detail = document.get("error") or document.get("status")
        raise TraceError(path, 1, f"query did not succeed: {detail}")
    data = document.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix":
        kind = data.get("resultType") if isinstance(data, dict) else None
        raise TraceError(path, 1, f"resultType {kind!r} is not a range query result ('matrix')")
    result = data.get("result")
    if not isinstance(result, list) or not result:
        raise TraceError(path, 1, "the result holds no series")
    series = []
    for entry in result:
        if not (isinstance(entry, dict) and isinstance(entry.get("values"), list)):
            raise TraceError(path, 1, "a series lacks its 'values' list")
        labels = {str(k): str(v) for k, v in (entry.get("metric") or {}).items()}
        pairs = entry["values"]
        if not all(isinstance(p, list) and len(p) == 2 for p in pairs):
            raise TraceError(path, 1, f"series {_Series(labels, []).describe()}: values must "
                                      "be [timestamp, \"value\"] pairs")
        series.append(_Series(labels, [(str(p[0]), str(p[1])) for p in pairs]))
    return series


def _select(path: Path, series: list[_Series], selector: str | None) -> list[_Series]:
    if selector is None:
        return series
    key, sep, wanted = selector.partition("=")
    chosen = [s for s in series
              if (s.labels.get(key.strip()) == wanted.strip() if sep
                  else selector in s.labels.values())]
    if len(chosen) != 1:
        names = "; ".join(s.describe() for s in (chosen or series))
        problem = "matches no series" if not chosen else f"matches {len(chosen)} series"
        raise TraceError(path, None, f"selector {selector!r} {problem}: {names}")
    return chosen


def _parse_series(path: Path, text: str, chosen: list[_Series],
                  ) -> list[tuple[_Series, np.ndarray[Any, Any], np.ndarray[Any, Any]]]:
    parsed = []
    seen: dict[Sample, int] = {}
    for one in chosen:
        times: list[float] = []
        values: list[float] = []
        for raw in one.samples:
            occurrence = seen.get(raw, 0)
            seen[raw] = occurrence + 1
            try:
                t, v = float(raw[0]), float(raw[1])
            except ValueError:
                t = v = math.nan
            if not (math.isfinite(t) and math.isfinite(v)):
                raise TraceError(path, _line_of(text, raw, occurrence),
                                 f"series {one.describe()} at {raw[0]}: value {raw[1]!r} is "
                                 "missing data (not a finite number)")
            if times and t <= times[-1]:
                raise TraceError(path, _line_of(text, raw, occurrence),
                                 f"series {one.describe()}: timestamp {raw[0]} is not after "
                                 "the previous one")
            times.append(t)
            values.append(v)
        if times:
            parsed.append((one, np.asarray(times), np.asarray(values)))
    if not parsed:
        raise TraceError(path, 1, "the selected series hold no samples")
    return parsed


def _grid(path: Path, all_times: np.ndarray[Any, Any]) -> tuple[np.ndarray[Any, Any], float]:
    grid = np.unique(all_times)
    if len(grid) < 2:
        raise TraceError(path, None, "one timestamp only: the step cannot be inferred")
    steps = np.diff(grid)
    step = float(steps.min())
    irregular = np.flatnonzero(np.abs(steps - step) > 1e-6 * max(step, 1.0))
    if len(irregular):
        i = int(irregular[0])
        raise TraceError(path, None, f"irregular step: {grid[i]:g} to {grid[i + 1]:g} is "
                                     f"{steps[i]:g} s, the step is {step:g} s")
    return grid, step


def read_prometheus_range_json(path: str | Path, unit: str = "cores",
                               series: str | None = None, time_scale: float = 1.0,
                               rate_scale: float = 1.0) -> DemandSeries:
    """Sum (or pick, with `series`: a label value or `key=value`) the series of a range query.

    The step is inferred from the timestamps; time counts from the first one.
    """
    check_unit(unit)
    check_scales(time_scale, rate_scale)
    path = Path(path)
    text, document = _load(path)
    parsed = _parse_series(path, text, _select(path, _series_list(path, document), series))
    grid, step = _grid(path, np.concatenate([times for _, times, _ in parsed]))
    total = np.zeros(len(grid), dtype=np.float64)
    for one, times, values in parsed:
        index = np.searchsorted(grid, times)
        expected = np.searchsorted(grid, times[-1]) - index[0] + 1
        if len(times) != expected:
            hole = grid[index[0]:index[-1] + 1][~np.isin(grid[index[0]:index[-1] + 1], times)]
            raise TraceError(path, None, f"series {one.describe()} has no sample at "
                                         f"{hole[0]:g} (missing data is not zero load)")
        total[index] += values
    return DemandSeries(0.0, step * time_scale, total * rate_scale, unit, str(path))
