"""Go numeric semantics: fixed-width integer wrapping and float conversions.

Go wraps int32/int64 arithmetic silently; ``int32(f)`` / ``int64(f)`` of a NaN, an infinity or
an out-of-range float is platform-defined.  This model saturates such conversions to the
target range instead, and maps NaN to 0 (so ``int64(NaN)`` of a 0/0 average is 0).
"""

from __future__ import annotations

import math

MAX_INT32 = (1 << 31) - 1
MIN_INT32 = -(1 << 31)
MAX_INT64 = (1 << 63) - 1
MIN_INT64 = -(1 << 63)

ZERO_TIME = -62135596800.0
"""Go's zero ``time.Time`` (0001-01-01T00:00:00Z) in Unix seconds."""


def wrap32(value: int) -> int:
    """Keep the low 32 bits of ``value`` as a signed int32 (Go ``int32(int64)``)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value > MAX_INT32 else value


def wrap64(value: int) -> int:
    """Keep the low 64 bits of ``value`` as a signed int64."""
    value &= 0xFFFFFFFFFFFFFFFF
    return value - (1 << 64) if value > MAX_INT64 else value


def add32(a: int, b: int) -> int:
    return wrap32(a + b)


def sub32(a: int, b: int) -> int:
    return wrap32(a - b)


def add64(a: int, b: int) -> int:
    return wrap64(a + b)


def mul64(a: int, b: int) -> int:
    return wrap64(a * b)


def div64(a: int, b: int) -> int:
    """Go int64 division: truncates toward zero; MinInt64 / -1 wraps."""
    if b == 0:
        raise ZeroDivisionError("integer divide by zero")
    quotient = abs(a) // abs(b)
    if (a < 0) != (b < 0):
        quotient = -quotient
    return wrap64(quotient)


def fdiv(a: float, b: float) -> float:
    """IEEE-754 division as Go does it (x/0 is +-Inf, 0/0 is NaN), never raising."""
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        negative = (a < 0) != (math.copysign(1.0, b) < 0)
        return -math.inf if negative else math.inf
    return a / b


def ceil(x: float) -> float:
    """``math.Ceil``: infinities and NaN pass through."""
    if math.isnan(x) or math.isinf(x):
        return x
    return float(math.ceil(x))


def _float_to_int(x: float, lo: int, hi: int) -> int:
    if math.isnan(x):
        return 0
    if math.isinf(x):
        return hi if x > 0 else lo
    truncated = math.trunc(x)
    return max(lo, min(hi, truncated))


def int32_of(x: float) -> int:
    """``int32(x)`` for a float64: truncation, saturating (NaN -> 0)."""
    return _float_to_int(x, MIN_INT32, MAX_INT32)


def int64_of(x: float) -> int:
    """``int64(x)`` for a float64: truncation, saturating (NaN -> 0)."""
    return _float_to_int(x, MIN_INT64, MAX_INT64)


def ceil32(x: float) -> int:
    """``int32(math.Ceil(x))``."""
    return int32_of(ceil(x))


def ceil64(x: float) -> int:
    """``int64(math.Ceil(x))``."""
    return int64_of(ceil(x))


_POW10_TAB = [float(10**i) for i in range(32)]
_POW10_POS32 = [float(10 ** (32 * i)) for i in range(10)]
_POW10_NEG32 = [float(f"1e-{32 * i}") for i in range(11)]


def pow10(n: int) -> float:
    """Go's ``math.Pow10`` (table based, so results match Go bit for bit)."""
    if 0 <= n <= 308:
        return _POW10_POS32[n // 32] * _POW10_TAB[n % 32]
    if -323 <= n <= 0:
        return _POW10_NEG32[(-n) // 32] / _POW10_TAB[(-n) % 32]
    return math.inf if n > 0 else 0.0
