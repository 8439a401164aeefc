"""CSV readers: `timestamp,value` demand and the Azure LLM inference trace.

Both stream the file through `csv_rows` (bounded lines, at most `max_rows` rows) into
compact arrays (8 bytes a number, not a Python float object), check each row as it comes
(finite, non-negative, within the span and level limits of `autoscaler.replay.limits`) and
name the line of the first bad one. Per-minute counts are in `traces_minute`.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from autoscaler.replay.input_errors import TraceError
from autoscaler.replay.limits import DEFAULT_LIMITS, TraceLimits
from autoscaler.replay.model import DemandSeries, FloatArray, IntArray, RequestTrace
from autoscaler.replay.traces_common import (
    bounded_lines,
    check_level,
    check_scales,
    check_span,
    check_unit,
    parse_count,
    parse_iso_seconds,
    parse_number,
    scale_values,
    shown,
)


def csv_rows(path: Path, limits: TraceLimits) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of the non-blank, non-comment lines, at most `max_rows`.

    Line numbers come from the reader, so they stay right for quoted multi-line fields.
    """
    try:
        handle = path.open(newline="", encoding="utf-8")
    except OSError as exc:
        raise TraceError(path, None, f"cannot read: {exc.strerror or exc}") from None
    with handle:
        reader = csv.reader(bounded_lines(handle, path, limits))
        line = 1
        rows = 0
        while True:
            try:
                fields = next(reader, None)
            except csv.Error as exc:  # e.g. a field over the csv module's 128 KiB limit
                raise TraceError(path, reader.line_num, f"not CSV: {exc}") from None
            if fields is None:
                return
            if fields and not (len(fields) == 1 and not fields[0].strip()) and not (
                    fields[0].lstrip().startswith("#")):
                rows += 1
                if rows > limits.max_rows:
                    raise TraceError(path, line, f"more than {limits.max_rows} rows: raise "
                                                 "--max-rows")
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


class _ValueRows:
    """Timestamps (seconds) and values, checked row by row as they are added."""

    def __init__(self, path: Path, time_scale: float, rate_scale: float,
                 limits: TraceLimits) -> None:
        self.path, self.limits = path, limits
        self.time_scale, self.rate_scale = time_scale, rate_scale
        self.times = array("d")
        self.values = array("d")
        self.iso_kind: bool | None = None
        self.last_line = 0
        # The limits as plain bounds on the raw numbers: one comparison a row, the helper
        # (and its message) only for a row past them.
        self.latest = math.inf
        self.highest = limits.max_value / rate_scale if rate_scale > 0 else math.inf

    def add(self, line: int, fields: list[str]) -> None:
        path = self.path
        if len(fields) != 2:
            raise TraceError(path, line, f"expected 2 fields (timestamp,value), got {len(fields)}")
        parsed = _parse_timestamp(fields[0])
        if parsed is None:
            raise TraceError(path, line, f"timestamp {shown(fields[0])} is neither seconds nor "
                                         "ISO-8601")
        seconds, is_iso = parsed
        if is_iso != self.iso_kind:
            self._first_or_mixed(line, seconds, is_iso)
        elif not seconds > self.times[-1]:
            raise TraceError(path, line, f"timestamp {shown(fields[0])} is not after the "
                                         "previous one")
        if not seconds <= self.latest:
            # Checked per row, so a millisecond epoch fails at its second line, not after a
            # whole file of them.
            check_span(path, line, (seconds - self.times[0]) * self.time_scale, self.limits)
        value = parse_number(fields[1], path, line)
        if value < 0:
            raise TraceError(path, line, f"value {shown(fields[1])} is negative")
        if not value <= self.highest:
            check_level(path, line, "value", value, self.rate_scale, self.limits)
        self.times.append(seconds)
        self.values.append(value)
        self.last_line = line

    def _first_or_mixed(self, line: int, seconds: float, is_iso: bool) -> None:
        if self.iso_kind is not None:
            raise TraceError(self.path, line, "timestamps mix seconds and ISO-8601")
        self.iso_kind = is_iso
        # The last timestamp within the span; a little early, so rounding cannot let one
        # past it (check_span decides exactly).
        self.latest = seconds + self.limits.max_span_seconds / self.time_scale * (1 - 1e-9)

def _value_rows(path: Path, time_scale: float, rate_scale: float, limits: TraceLimits
                ) -> _ValueRows:
    rows = _ValueRows(path, time_scale, rate_scale, limits)
    header_line = 0
    for line, fields in csv_rows(path, limits):
        if not rows.times and header_line == 0 and _is_header(fields):
            header_line = line
            continue
        rows.add(line, fields)
    if not rows.times:
        raise TraceError(path, max(header_line, 1), "no data rows (expected timestamp,value)")
    return rows


_RESAMPLE_BLOCK = 1 << 20  # bins per block: temporaries stay ~50 MB whatever the span


def resample_step(times: FloatArray, values: FloatArray) -> FloatArray:
    """Per-second averages of the step function that holds each value until the next time.

    `times` start at 0 and increase strictly. The last value holds for the median spacing
    (1 s for a single sample), rounded up to a whole second so every bin is fully covered;
    bins are time-weighted averages, so a sample between grid points keeps its share of the
    load instead of vanishing. A bin with no change inside takes the held value itself, so
    whole-second timestamps give the values exactly (no cumulative-sum rounding).
    """
    bins = max(1, math.ceil(times[-1] + _hold(times) - 1e-9))
    # Integral of the step function at each sample time, then at each grid edge.
    at_samples = np.concatenate(([0.0], np.cumsum(values[:-1] * np.diff(times))))
    averages = np.empty(bins, dtype=np.float64)
    for start in range(0, bins, _RESAMPLE_BLOCK):
        stop = min(bins, start + _RESAMPLE_BLOCK)
        edges = np.arange(start, stop + 1, dtype=np.float64)
        index = np.searchsorted(times, edges, side="right") - 1
        integral = at_samples[index] + values[index] * (edges - times[index])
        block = np.diff(integral)
        in_force_at_end = np.searchsorted(times, edges[1:], side="left") - 1
        steady = in_force_at_end == index[:-1]
        block[steady] = values[index[:-1][steady]]
        averages[start:stop] = block
    return averages


def _hold(times: FloatArray) -> float:
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def read_value_csv(path: str | Path, unit: str = "cores", time_scale: float = 1.0,
                   rate_scale: float = 1.0, limits: TraceLimits = DEFAULT_LIMITS
                   ) -> DemandSeries:
    """`timestamp,value` rows (header optional; seconds or ISO-8601, naive = UTC).

    Time counts from the first sample (start_seconds 0). After time scaling the step
    function is resampled onto a 1-second grid (see `resample_step`).
    """
    check_unit(unit)
    check_scales(time_scale, rate_scale)
    path = Path(path)
    rows = _value_rows(path, time_scale, rate_scale, limits)
    relative = (np.frombuffer(rows.times, dtype=np.float64) - rows.times[0]) * time_scale
    # The grid also covers the hold of the last value.
    check_span(path, rows.last_line, relative[-1] + _hold(relative), limits)
    grid = resample_step(relative, np.frombuffer(rows.values, dtype=np.float64))
    return DemandSeries(0.0, 1.0, scale_values(grid, rate_scale), unit, str(path))


# -------------------------------------------------------------------- Azure LLM trace

AZURE_LLM_HEADER = ("TIMESTAMP", "ContextTokens", "GeneratedTokens")


class _Requests:
    def __init__(self) -> None:
        self.times = array("d")
        self.prompts = array("q")
        self.outputs = array("q")
        self.first = math.inf  # rows need not be sorted: the span is max - min
        self.last = -math.inf


def _azure_rows(path: Path, time_scale: float, limits: TraceLimits) -> _Requests:
    rows = csv_rows(path, limits)
    first = next(rows, None)
    if first is None:
        raise TraceError(path, 1, f"empty file (expected header {','.join(AZURE_LLM_HEADER)})")
    line, header = first
    if [h.lower() for h in header] != [h.lower() for h in AZURE_LLM_HEADER]:
        raise TraceError(path, line, f"header {shown(','.join(header))} is not "
                                     f"{','.join(AZURE_LLM_HEADER)}")
    found = _Requests()
    for line, fields in rows:
        if len(fields) != 3:
            raise TraceError(path, line, f"expected 3 fields, got {len(fields)}")
        seconds = parse_iso_seconds(fields[0])
        if seconds is None:
            raise TraceError(path, line, f"TIMESTAMP {shown(fields[0])} is not ISO-8601")
        found.first, found.last = min(found.first, seconds), max(found.last, seconds)
        check_span(path, line, (found.last - found.first) * time_scale, limits)
        found.times.append(seconds)
        found.prompts.append(parse_count(fields[1], path, line, "ContextTokens",
                                         limits.max_tokens))
        found.outputs.append(parse_count(fields[2], path, line, "GeneratedTokens",
                                         limits.max_tokens))
    if not found.times:
        raise TraceError(path, line, "no requests after the header")
    return found


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
                       seed: int = 0, limits: TraceLimits = DEFAULT_LIMITS) -> RequestTrace:
    """`TIMESTAMP,ContextTokens,GeneratedTokens` requests, arrivals from the first request."""
    check_scales(time_scale, rate_scale)
    path = Path(path)
    found = _azure_rows(path, time_scale, limits)
    times = np.frombuffer(found.times, dtype=np.float64)
    order = np.argsort(times, kind="stable")
    arrivals = (times[order] - found.first) * time_scale
    copies = scale_requests(len(times), rate_scale, seed)
    total = int(copies.sum())
    if total > limits.max_rows:
        raise TraceError(path, None, f"rate_scale {rate_scale:g} makes {total} requests, "
                                     f"more than {limits.max_rows}: raise --max-rows")
    return RequestTrace(
        np.repeat(arrivals, copies).astype(np.float64),
        np.repeat(np.frombuffer(found.prompts, dtype=np.int64)[order], copies),
        np.repeat(np.frombuffer(found.outputs, dtype=np.int64)[order], copies),
        str(path),
    )
