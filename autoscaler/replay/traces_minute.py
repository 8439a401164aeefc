"""Azure Functions style per-minute counts: one row per function, `minute_1..minute_N`.

Limits (see autoscaler.replay.limits): at most `max_columns` minutes (400 days, following
`--max-span`), `max_rows` rows, and the selected rows' sum per minute / 60 x rate_scale at
most `max_value`; counts must be finite and non-negative.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from autoscaler.replay.input_errors import TraceError
from autoscaler.replay.limits import DEFAULT_LIMITS, TraceLimits
from autoscaler.replay.model import DemandSeries, FloatArray
from autoscaler.replay.traces_common import (
    check_level,
    check_scales,
    check_span,
    check_unit,
    parse_number,
    scale_values,
    shown,
)
from autoscaler.replay.traces_csv import csv_rows

_MINUTE = re.compile(r"minute_(\d+)", re.IGNORECASE)


def _minute_number(path: Path, line: int, name: str, limits: TraceLimits) -> int | None:
    match = _MINUTE.fullmatch(name)
    if match is None:
        return None
    digits = match[1]
    # Bounded before int(): `minute_99999999999999999999` must not become a range to walk.
    if len(digits) > 9 or int(digits) > limits.max_columns:
        raise TraceError(path, line, f"column {shown(name)}: more than {limits.max_columns} "
                                     "minutes (the limit follows --max-span)")
    return int(digits)


def _minute_columns(path: Path, line: int, header: list[str], limits: TraceLimits
                    ) -> list[int]:
    """Indices of `minute_1..minute_N` in minute order; they must be consecutive from 1."""
    numbered = sorted((minute, i) for i, name in enumerate(header)
                      if (minute := _minute_number(path, line, name, limits)) is not None)
    if not numbered:
        raise TraceError(path, line, "no minute_<n> columns in the header")
    for expected, (minute, _) in enumerate(numbered, start=1):
        if minute != expected:
            problem = "minute columns repeat" if minute < expected else \
                f"minute_{expected} is missing"
            raise TraceError(path, line, f"minute columns must be minute_1..minute_N: "
                                         f"{problem}")
    return [index for _, index in numbered]


def _counts(path: Path, line: int, fields: list[str], header: list[str], indices: list[int]
            ) -> FloatArray:
    """One row's counts in minute order: finite and non-negative."""
    chosen = [fields[i] for i in indices]
    try:  # numpy parses a row at once; the slow path below only names the bad field
        counts = np.array(chosen, dtype=np.float64)
    except ValueError:
        counts = np.array([parse_number(text, path, line, header[i])
                           for text, i in zip(chosen, indices, strict=True)])
    bad = ~(np.isfinite(counts) & (counts >= 0))
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        name = header[indices[first]]
        if not np.isfinite(counts[first]):
            raise TraceError(path, line, f"{name} {shown(chosen[first])} is not a finite "
                                         "number")
        raise TraceError(path, line, f"{name} is negative")
    return counts


def read_per_minute_csv(path: str | Path, column: str | None = None,
                        unit: str = "requests_per_second", time_scale: float = 1.0,
                        rate_scale: float = 1.0, limits: TraceLimits = DEFAULT_LIMITS
                        ) -> DemandSeries:
    """`column=None` sums all rows; otherwise the rows whose first field equals `column` (a
    function hash). Values are count / 60, one per 60-s step (times `time_scale`)."""
    check_unit(unit)
    check_scales(time_scale, rate_scale)
    path = Path(path)
    rows = csv_rows(path, limits)
    first = next(rows, None)
    if first is None:
        raise TraceError(path, 1, "empty file (expected a header with minute_<n> columns)")
    header_line, header = first
    indices = _minute_columns(path, header_line, header, limits)
    check_span(path, header_line, len(indices) * 60.0 * time_scale, limits)
    total = np.zeros(len(indices), dtype=np.float64)
    seen = matched = 0
    for line, fields in rows:
        seen += 1
        if len(fields) != len(header):
            raise TraceError(path, line, f"expected {len(header)} fields, got {len(fields)}")
        counts = _counts(path, line, fields, header, indices)
        if column is None or fields[0] == column:
            matched += 1
            total += counts
            # The running sum only grows: the first row to cross the limit is named.
            peak = int(np.argmax(total))
            check_level(path, line, f"{header[indices[peak]]} (sum of the rows so far) / 60",
                        float(total[peak]) / 60.0, rate_scale, limits)
    if seen == 0:
        raise TraceError(path, header_line, "no data rows after the header")
    if column is not None and matched == 0:
        raise TraceError(path, None, f"no row has {header[0]} {shown(column)} (the file has "
                                     f"{seen} rows)")
    return DemandSeries(0.0, 60.0 * time_scale, scale_values(total / 60.0, rate_scale), unit,
                        str(path))
