"""CSV readers: `timestamp,value` demand, the Azure LLM inference trace, per-minute counts."""

from __future__ import annotations

import csv
import math
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from autoscaler.replay.model import DemandSeries, FloatArray, IntArray, RequestTrace
from autoscaler.replay.traces_common import (
    TraceError,
    check_scales,
    check_unit,
    parse_count,
    parse_iso_seconds,
    parse_number,
    scale_values,
)


def _rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank, non-comment lines.

    Line numbers come from the reader, so they stay right for quoted multi-line fields.
    """
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.reader(handle)
        line = reader.line_num + 1
        for fields in reader:
            if fields and not (len(fields) == 1 and not fields[0].strip()) and not (
                    fields[0].lstrip().startswith("#")):
                yield line, [field.strip() for field in fields]
            line = reader.line_num + 1


# --------------------------------------------------------------------- timestamp,value


def _parse_timestamp(text: str) -> tuple[float, bool] | None:
    """(seconds, is_iso) or None if `text` is neither seconds nor ISO-8601."""
    try:
        seconds = float(text)
    except ValueError:
        iso = parse_iso_seconds(text)
        return None if iso is None else (iso, True)
    return (seconds, False) if math.isfinite(seconds) else None


def _is_header(fields: list[str]) -> bool:
    # A header is a first line where neither field is data; `0,abc` is a bad row, not a header.
    if len(fields) != 2 or _parse_timestamp(fields[0]) is not None:
        return False
    try:
        float(fields[1])
    except ValueError:
        return True
    return False


def _value_rows(path: Path) -> tuple[list[float], list[float], int]:
    """Timestamps (seconds), values and the last data line number, all checked."""
    times: list[float] = []
    values: list[float] = []
    iso_kind: bool | None = None
    last_line = 0
    for line, fields in _rows(path):
        if not times and last_line == 0 and _is_header(fields):
            last_line = line
            continue
        last_line = line
        if len(fields) != 2:
            raise TraceError(path, line, f"expected 2 fields (timestamp,value), got {len(fields)}")
        parsed = _parse_timestamp(fields[0])
        if parsed is None:
            raise TraceError(path, line, f"timestamp {fields[0]!r} is neither seconds nor "
                                         "ISO-8601")
        seconds, is_iso = parsed
        if iso_kind is not None and is_iso != iso_kind:
            raise TraceError(path, line, "timestamps mix seconds and ISO-8601")
        iso_kind = is_iso
        if times and seconds <= times[-1]:
            raise TraceError(path, line, f"timestamp {fields[0]!r} is not after the previous one")
        value = parse_number(fields[1], path, line)
        if value < 0:
            raise TraceError(path, line, f"value {fields[1]!r} is negative")
        times.append(seconds)
        values.append(value)
    if not times:
        raise TraceError(path, max(last_line, 1), "no data rows (expected timestamp,value)")
    return times, values, last_line


def resample_step(times: FloatArray, values: FloatArray) -> FloatArray:
    """Per-second averages of the step function that holds each value until the next time.

    `times` start at 0 and increase strictly. The last value holds for the median spacing
    (1 s for a single sample), rounded up to a whole second so every bin is fully covered;
    bins are time-weighted averages, so a sample between grid points keeps its share of the
    load instead of vanishing. A bin with no change inside takes the held value itself, so
    whole-second timestamps give the values exactly (no cumulative-sum rounding).
    """
    hold = float(np.median(np.diff(times))) if len(times) > 1 else 1.0
    bins = max(1, math.ceil(times[-1] + hold - 1e-9))
    edges = np.arange(bins + 1, dtype=np.float64)
    # Integral of the step function at each sample time, then at each grid edge.
    at_samples = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(times))))
    index = np.searchsorted(times, edges, side="right") - 1
    integral = at_samples[index] + values[index] * (edges - times[index])
    averages = np.diff(integral)
    in_force_at_end = np.searchsorted(times, edges[1:], side="left") - 1
    steady = in_force_at_end == index[:-1]
    averages[steady] = values[index[:-1][steady]]
    return averages


MAX_GRID_SECONDS = 400 * 86400  # over a year of 1-s steps: 280 MB of float64


def read_value_csv(path: str | Path, unit: str = "cores", time_scale: float = 1.0,
                   rate_scale: float = 1.0) -> DemandSeries:
    """`timestamp,value` rows (header optional; seconds or ISO-8601, naive = UTC).

    Time counts from the first sample (start_seconds 0). After time scaling the step
    function is resampled onto a 1-second grid (see `resample_step`).
    """
    check_unit(unit)
    check_scales(time_scale, rate_scale)
    path = Path(path)
    times, values, last_line = _value_rows(path)
    relative = (np.asarray(times) - times[0]) * time_scale
    if relative[-1] > MAX_GRID_SECONDS:
        # Millisecond epochs read as seconds would ask for terabytes of grid.
        raise TraceError(path, last_line, f"the trace spans {relative[-1]:.0f} s, more than "
                                          f"{MAX_GRID_SECONDS} s (timestamps in milliseconds?)")
    grid = resample_step(relative, np.asarray(values, dtype=np.float64))
    return DemandSeries(0.0, 1.0, scale_values(grid, rate_scale), unit, str(path))


# -------------------------------------------------------------------- Azure LLM trace

AZURE_LLM_HEADER = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


def _azure_rows(path: Path) -> tuple[list[float], list[int], list[int]]:
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise TraceError(path, 1, f"empty file (expected header {','.join(AZURE_LLM_HEADER)})")
    line, header = first
    if [h.lower() for h in header] != [h.lower() for h in AZURE_LLM_HEADER]:
        raise TraceError(path, line, f"header {','.join(header)!r} is not "
                                     f"{','.join(AZURE_LLM_HEADER)}")
    times: list[float] = []
    prompts: list[int] = []
    outputs: list[int] = []
    for line, fields in rows:
        if len(fields) != 3:
            raise TraceError(path, line, f"expected 3 fields, got {len(fields)}")
        seconds = parse_iso_seconds(fields[0])
        if seconds is None:
            raise TraceError(path, line, f"timestamp {fields[0]!r} is not ISO-8601")
        times.append(seconds)
        prompts.append(parse_count(fields[1], path, line, "ContextTokens"))
        outputs.append(parse_count(fields[2], path, line, "GeneratedTokens"))
    if not times:
        raise TraceError(path, line, "no requests after the header")
    return times, prompts, outputs


def scale_requests(count: int, rate_scale: float, seed: int) -> IntArray:
    """Copies of each request: floor(k), plus one more with probability frac(k).

    Thinning (k < 1) and duplication share one rule, so the expected count is k*n and the
    result is fixed by the seed.
    """
    whole = math.floor(rate_scale)
    fraction = rate_scale - whole
    copies = np.full(count, whole, dtype=np.int64)
    if fraction > 0:
        copies += np.random.default_rng(seed).random(count) < fraction
    return copies


def read_azure_llm_csv(path: str | Path, time_scale: float = 1.0, rate_scale: float = 1.0,
                       seed: int = 0) -> RequestTrace:
    """`TIMESTAMP,ContextTokens,GeneratedTokens` requests, arrivals from the first request."""
    check_scales(time_scale, rate_scale)
    path = Path(path)
    times, prompts, outputs = _azure_rows(path)
    order = np.argsort(np.asarray(times), kind="stable")
    arrivals = (np.asarray(times)[order] - min(times)) * time_scale
    copies = scale_requests(len(times), rate_scale, seed)
    return RequestTrace(
        np.repeat(arrivals, copies).astype(np.float64),
        np.repeat(np.asarray(prompts, dtype=np.int64)[order], copies),
        np.repeat(np.asarray(outputs, dtype=np.int64)[order], copies),
        str(path),
    )


# ------------------------------------------------------------------ per-minute counts

_MINUTE = re.compile(r"minute_(\d+)", re.IGNORECASE)


def _minute_columns(path: Path, line: int, header: list[str]) -> list[int]:
    """Indices of `minute_1..minute_N` in minute order; they must be consecutive from 1."""
    numbered = sorted((int(m[1]), i) for i, name in enumerate(header)
                      if (m := _MINUTE.fullmatch(name)))
    if not numbered:
        raise TraceError(path, line, "no minute_<n> columns in the header")
    minutes = [minute for minute, _ in numbered]
    if minutes != list(range(1, len(minutes) + 1)):
        missing = sorted(set(range(1, minutes[-1] + 1)) - set(minutes))
        problem = f"minute_{missing[0]} is missing" if missing else "minute columns repeat"
        raise TraceError(path, line, f"minute columns must be minute_1..minute_N: {problem}")
    return [index for _, index in numbered]


def read_per_minute_csv(path: str | Path, column: str | None = None,
                        unit: str = "requests_per_second", time_scale: float = 1.0,
                        rate_scale: float = 1.0) -> DemandSeries:
    """Azure Functions style counts: one row per function, `minute_1..minute_N` columns.

    `column=None` sums all rows; otherwise the rows whose first field equals `column` (a
    function hash). Values are count / 60, one per 60-s step (times `time_scale`).
    """
    check_unit(unit)
    check_scales(time_scale, rate_scale)
    path = Path(path)
    rows = _rows(path)
    first = next(rows, None)
    if first is None:
        raise TraceError(path, 1, "empty file (expected a header with minute_<n> columns)")
    header_line, header = first
    indices = _minute_columns(path, header_line, header)
    total = np.zeros(len(indices), dtype=np.float64)
    seen = matched = 0
    for line, fields in rows:
        seen += 1
        if len(fields) != len(header):
            raise TraceError(path, line, f"expected {len(header)} fields, got {len(fields)}")
        counts = [parse_number(fields[i], path, line, header[i]) for i in indices]
        negative = [header[i] for i, count in zip(indices, counts, strict=True) if count < 0]
        if negative:
            raise TraceError(path, line, f"{negative[0]} is negative")
        if column is None or fields[0] == column:
            matched += 1
            total += counts
    if seen == 0:
        raise TraceError(path, header_line, "no data rows after the header")
    if column is not None and matched == 0:
        raise TraceError(path, None, f"no row has {header[0]} {column!r} (the file has "
                                     f"{seen} rows)")
    return DemandSeries(0.0, 60.0 * time_scale, scale_values(total / 60.0, rate_scale), unit,
                        str(path))
