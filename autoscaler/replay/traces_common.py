"""Pieces shared by the trace readers: the error type, option checks, timestamps, scaling.

Every reader reports a bad file as `TraceError("<file>:<line>: <what is wrong>")`, so a
user can open the file at that line; line numbers are 1-based.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from autoscaler.errors import InputError
from autoscaler.replay.model import FloatArray

DEMAND_UNITS = ("cores", "requests_per_second")


class TraceError(InputError):
    """A trace file cannot be read; the message names the file, the line and the problem."""

    def __init__(self, source: str | Path, line: int | None, problem: str) -> None:
        name = Path(source).name if isinstance(source, Path) else source
        where = f"{name}:{line}" if line is not None else name
        super().__init__(f"{where}: {problem}")
        self.source = str(source)
        self.line = line
        self.problem = problem


def check_scales(time_scale: float, rate_scale: float) -> None:
    """Options are checked before the file is opened: a typo must not cost a long parse."""
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise ValueError(f"time_scale must be a finite number > 0, got {time_scale!r}")
    if not (math.isfinite(rate_scale) and rate_scale >= 0):
        raise ValueError(f"rate_scale must be a finite number >= 0, got {rate_scale!r}")


def check_unit(unit: str) -> None:
    if unit not in DEMAND_UNITS:
        raise ValueError(f"unit must be one of {', '.join(DEMAND_UNITS)}, got {unit!r}")


def parse_number(text: str, source: str | Path, line: int, what: str = "value") -> float:
    """A finite float, else TraceError: NaN/Inf in a trace is missing data, never a load."""
    try:
        value = float(text)
    except ValueError:
        raise TraceError(source, line, f"{what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise TraceError(source, line, f"{what} {text!r} is not a finite number")
    return value


def parse_count(text: str, source: str | Path, line: int, what: str) -> int:
    """A non-negative integer (token or request counts)."""
    try:
        value = int(text)
    except ValueError:
        raise TraceError(source, line, f"{what} {text!r} is not an integer") from None
    if value < 0:
        raise TraceError(source, line, f"{what} {value} is negative")
    return value


# ISO-8601 with a date, a time, any number of fractional digits (the Azure traces print 7,
# which `datetime.fromisoformat` rejects before Python 3.12) and an optional zone.
_ISO = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<time>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:[.,](?P<frac>\d+))?\s*(?P<zone>Z|[+-]\d{2}(?::?\d{2})?)?",
    re.IGNORECASE,
)


def parse_iso_seconds(text: str) -> float | None:
    """Seconds since the epoch for an ISO-8601 timestamp (naive = UTC), None if not one."""
    match = _ISO.fullmatch(text.strip())
    if match is None:
        return None
    zone = match["zone"] or "+00:00"
    if zone.upper() == "Z":
        zone = "+00:00"
    try:
        moment = datetime.fromisoformat(f"{match['date']}T{match['time']}{zone}")
    except ValueError:
        return None  # e.g. month 13: the caller reports the line
    fraction = float(f"0.{match['frac']}") if match["frac"] else 0.0
    return moment.astimezone(UTC).timestamp() + fraction


def scale_values(values: FloatArray, rate_scale: float) -> FloatArray:
    # A fresh array even for 1.0: callers own what a reader returns.
    return np.asarray(values, dtype=np.float64) * rate_scale
