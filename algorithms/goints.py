"""Go integer and float semantics the HPA math depends on.

Python ints never overflow and `int(x)` of a float truncates like Go, but Go's int64/int32
arithmetic wraps and its float->int32 conversion of an out-of-range value is
implementation-defined. The helpers here pin down what upstream relies on.
"""

from __future__ import annotations

import math

MAX_INT32 = 2**31 - 1
MIN_INT32 = -(2**31)
MAX_INT64 = 2**63 - 1
MIN_INT64 = -(2**63)

# Go's zero time.Time (0001-01-01T00:00:00Z) in Unix seconds. Upstream adds offsets to zero
# times, so it must be a real number, never -inf.
ZERO_TIME = -62135596800.0


def wrap_int64(value: int) -> int:
    """Two's-complement wrap to int64, like Go's `a + b` on int64 overflow."""
    return ((value + 2**63) % 2**64) - 2**63


def wrap_int32(value: int) -> int:
    """Keep the low 32 bits, like Go's `int32(x)` of an int64."""
    return ((value + 2**31) % 2**32) - 2**31


def float_to_int32(value: float) -> int:
    """Go's `int32(f)` for a float64 in range: truncation toward zero.

    Out of range (or NaN) Go's result is platform-defined (amd64 gives MinInt32); upstream
    guards every such call, so reaching it here is a bug worth surfacing.
    """
    if math.isnan(value) or not MIN_INT32 - 1 < value < MAX_INT32 + 1:
        raise OverflowError(f"int32({value!r}) is out of range")
    return int(value)


def ceil_to_int32(value: float) -> int:
    """Go's `int32(math.Ceil(f))`."""
    return float_to_int32(float(math.ceil(value)) if math.isfinite(value) else value)


def div_trunc(a: int, b: int) -> int:
    """Go's integer division: truncates toward zero (Python's // floors)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def saturating_int32(value: float) -> int:
    """`int32(f)` (truncation) clamped to the int32 range instead of Go's platform-defined
    out-of-range result (MinInt32 on amd64), which would invert a limit's meaning."""
    if math.isnan(value):
        raise OverflowError("int32(NaN)")
    if value >= MAX_INT32:
        return MAX_INT32
    if value <= MIN_INT32:
        return MIN_INT32
    return int(value)
