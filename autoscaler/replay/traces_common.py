"""Pieces shared by the trace readers: the error types, option checks, bounded reading of
lines, numbers within limits, timestamps, scaling.

Every reader reports a bad file as `TraceError("<file>:<line>: <field> <what is wrong>")`,
so a user can open the file at that line; line numbers are 1-based. A reader returns a
workload or raises TraceError (or UsageError for a bad option): no other exception, whatever
the bytes (see autoscaler.replay.limits for the bounds).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import numpy as np

from autoscaler.replay.input_errors import TraceError, UsageError
from autoscaler.replay.limits import TraceLimits, describe_seconds
from autoscaler.replay.model import FloatArray

DEMAND_UNITS = ("cores", "requests_per_second")


def shown(text: str, limit: int = 40) -> str:
    """`text` quoted for a message, cut short: a 100 KiB field must not become the error."""
    return repr(text) if len(text) <= limit else repr(text[:limit]) + "..."


def check_scales(time_scale: float, rate_scale: float) -> None:
    """Options are checked before the file is opened: a typo must not cost a long parse."""
    if not (math.isfinite(time_scale) and time_scale > 0):
        raise UsageError(f"time_scale must be a finite number > 0, got {time_scale!r}")
    if not (math.isfinite(rate_scale) and rate_scale >= 0):
        raise UsageError(f"rate_scale must be a finite number >= 0, got {rate_scale!r}")


def check_unit(unit: str) -> None:
    if unit not in DEMAND_UNITS:
        raise UsageError(f"unit must be one of {', '.join(DEMAND_UNITS)}, got {unit!r}")


def check_file(path: Path) -> None:
    """A regular, readable file: a directory or a device (/dev/zero) is not a trace."""
    try:
        if not path.exists():
            raise TraceError(path, None, "no such file")
        if path.is_dir():
            raise TraceError(path, None, "is a directory, not a trace file")
        if not path.is_file():
            raise TraceError(path, None, "is not a regular file")
        with path.open("rb"):
            pass
    except OSError as exc:
        raise TraceError(path, None, f"cannot read: {exc.strerror or exc}") from None


def bounded_lines(handle: IO[str], source: str | Path, limits: TraceLimits
                  ) -> Iterator[str]:
    """The lines of a text stream, each read with a bound: a 2 GiB line without a newline
    (a sparse or binary file) is refused after `max_line_chars`, not held in memory."""
    line = 0
    while True:
        line += 1
        try:
            text = handle.readline(limits.max_line_chars + 1)
        except UnicodeDecodeError:
            raise TraceError(source, line, "not UTF-8 text (a binary file?)") from None
        except OSError as exc:
            raise TraceError(source, line, f"cannot read: {exc.strerror or exc}") from None
        if not text:
            return
        if len(text) > limits.max_line_chars:
            raise TraceError(source, line, f"line longer than {limits.max_line_chars} "
                                           "characters (a binary file?)")
        yield text


def check_span(source: str | Path, line: int | None, seconds: float, limits: TraceLimits
               ) -> None:
    """The replay's grid is whole seconds: a trace spanning years (or a millisecond epoch
    read as seconds) would ask for gigabytes of steps."""
    if not seconds <= limits.max_span_seconds:  # also catches NaN
        raise TraceError(source, line, f"the trace spans {describe_seconds(seconds)}, more "
                                       f"than {describe_seconds(limits.max_span_seconds)}: "
                                       "raise --max-span (or are the timestamps in "
                                       "milliseconds?)")


def check_level(source: str | Path, line: int | None, what: str, value: float,
                rate_scale: float, limits: TraceLimits) -> None:
    """A demand level after scaling: at most `max_value` (more is a unit mistake)."""
    if not value * rate_scale <= limits.max_value:
        scaled = f" x rate_scale {rate_scale:g}" if rate_scale != 1.0 else ""
        raise TraceError(source, line, f"{what} {value:g}{scaled} is above the limit "
                                       f"{limits.max_value:g} (a unit mistake?)")


def parse_number(text: str, source: str | Path, line: int, what: str = "value") -> float:
    """A finite float, else TraceError: NaN/Inf in a trace is missing data, never a load."""
    try:
        value = float(text)
    except ValueError:
        raise TraceError(source, line, f"{what} {shown(text)} is not a number") from None
    if not math.isfinite(value):
        raise TraceError(source, line, f"{what} {shown(text)} is not a finite number")
    return value


_DIGITS = re.compile(r"\s*[+-]?\d{1,18}\s*")


def parse_count(text: str, source: str | Path, line: int, what: str, most: int) -> int:
    """A non-negative integer up to `most` (token or request counts)."""
    if not _DIGITS.fullmatch(text):  # also keeps int() away from 5,000-digit strings
        raise TraceError(source, line, f"{what} {shown(text)} is not an integer of at most "
                                       "18 digits")
    value = int(text)
    if value < 0:
        raise TraceError(source, line, f"{what} {value} is negative")
    if value > most:
        raise TraceError(source, line, f"{what} {value} is above the limit {most}")
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
        seconds = moment.astimezone(UTC).timestamp()
    except (ValueError, OverflowError):
        return None  # e.g. month 13, or year 0001 shifted below year 1: the caller reports
    fraction = float(f"0.{match['frac'][:9]}") if match["frac"] else 0.0
    return seconds + fraction


def scale_values(values: FloatArray, rate_scale: float) -> FloatArray:
    # A fresh array even for 1.0: callers own what a reader returns.
    return np.asarray(values, dtype=np.float64) * rate_scale
