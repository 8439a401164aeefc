"""``k8s.io/apimachinery/pkg/api/resource.Quantity``: parsing, MilliValue, String().

A parsed quantity keeps its exact value (after Go's round-up to nano precision), whether it is
BinarySI, and the ``(unscaled, scale)`` pair Go's ``AsApproximateFloat64`` works from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from .goint import pow10, wrap64

_NUMBER = re.compile(r"^([+-]?)(\d*)(?:\.(\d*))?(.*)$")
_EXPONENT = re.compile(r"^[eE]([+-]?\d+)$")
_DECIMAL_SUFFIXES = {
    "n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
}
_BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL_NAMES = {exp: name for name, exp in _DECIMAL_SUFFIXES.items()}
_BINARY_NAMES = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
_NANO = Fraction(1, 10**9)


class QuantityError(ValueError):
    """The string is not a Kubernetes quantity."""


@dataclass(frozen=True)
class Quantity:
    value: Fraction
    binary: bool
    unscaled: int
    scale: int
    """``value`` as Go stores it for AsApproximateFloat64: unscaled * 10**scale."""

    def milli_value(self) -> int:
        """``MilliValue()``: value * 1000, rounded away from zero, as an int64."""
        scaled = self.value * 1000
        magnitude = -((-abs(scaled.numerator)) // scaled.denominator)
        return wrap64(magnitude if scaled >= 0 else -magnitude)

    def approximate_float(self) -> float:
        """``AsApproximateFloat64()``."""
        base = float(self.unscaled)
        if self.scale == 0:
            return base
        return base * pow10(self.scale)


def _round_up_to_nano(value: Fraction) -> Fraction:
    if (value / _NANO).denominator == 1:
        return value
    scaled = value / _NANO
    magnitude = -((-abs(scaled.numerator)) // scaled.denominator)
    return Fraction(magnitude if value > 0 else -magnitude) * _NANO


def parse_quantity(text: str | int | float) -> Quantity:
    """``resource.ParseQuantity`` (JSON numbers are accepted like Quantity.UnmarshalJSON)."""
    raw = text if isinstance(text, str) else repr(text)
    match = _NUMBER.match(raw)
    if match is None or raw == "":
        raise QuantityError(f"quantities must match the regular expression: {raw!r}")
    sign, whole, frac, suffix = match.groups()
    frac = frac or ""
    if whole == "" and frac == "":
        raise QuantityError(f"quantities must match the regular expression: {raw!r}")
    digits = int(whole + frac) if whole + frac else 0
    binary = False
    if suffix in _DECIMAL_SUFFIXES:
        exp10 = _DECIMAL_SUFFIXES[suffix]
        exact = Fraction(digits) * Fraction(10) ** (exp10 - len(frac))
    elif suffix in _BINARY_SUFFIXES:
        binary = True
        exp10 = 0
        exact = Fraction(digits, 10 ** len(frac)) * (1 << _BINARY_SUFFIXES[suffix])
    else:
        exp_match = _EXPONENT.match(suffix)
        if exp_match is None:
            raise QuantityError(f"unable to parse quantity's suffix: {raw!r}")
        exp10 = int(exp_match.group(1))
        exact = Fraction(digits) * Fraction(10) ** (exp10 - len(frac))
    if sign == "-":
        exact = -exact
    unscaled, scale = _go_representation(sign, whole, frac, exp10, binary, suffix, exact)
    return Quantity(_round_up_to_nano(exact), binary, unscaled, scale)


def _go_representation(
    sign: str, whole: str, frac: str, exp10: int, binary: bool, suffix: str, exact: Fraction
) -> tuple[int, int]:
    """The (unscaled, scale) pair Go keeps: int64Amount when the fast path applies, else inf.Dec."""
    whole = whole.lstrip("0")
    digits = whole + frac
    negative = sign == "-"
    if not binary:
        scale = exp10 - len(frac)
        if 18 - len(digits) >= 0 and scale >= -9:
            value = int(digits) if digits else 0
            return (-value if negative else value), scale
    elif frac == "":
        bits = _BINARY_SUFFIXES[suffix]
        precision = 15 - len(whole) - int(bits * 3 / 10) - 1
        if precision >= 0:
            value = int(whole) << bits
            if value <= (1 << 63) - 1:
                return (-value if negative else value), 0
    rounded = _round_up_to_nano(exact)
    if rounded == 0:
        return 0, 0
    return int(rounded * 10**9), -9


def milli(text: str | int | float) -> int:
    """``ParseQuantity(text).MilliValue()``."""
    return parse_quantity(text).milli_value()


def _remove_factors(value: int, base: int) -> tuple[int, int]:
    negative = value < 0
    result = -value if negative else value
    times = 0
    while result >= base and result % base == 0:
        result //= base
        times += 1
    return (-result if negative else result), times


def format_milli(milli_value: int, binary: bool = False) -> str:
    """``resource.NewMilliQuantity(milli_value, format).String()`` (DecimalSI or BinarySI)."""
    if milli_value == 0:
        return "0"
    if binary and not -1024 * 1000 < milli_value < 1024 * 1000 and milli_value % 1000 == 0:
        amount, times = _remove_factors(milli_value // 1000, 1024)
        if times < len(_BINARY_NAMES):
            return f"{amount}{_BINARY_NAMES[times]}"
    amount, times = _remove_factors(milli_value, 10)
    exponent = -3 + times
    remainder = exponent % 3
    if remainder == 1:
        amount, exponent = amount * 10, exponent - 1
    elif remainder == 2:
        amount, exponent = amount * 100, exponent - 2
    suffix = _DECIMAL_NAMES.get(exponent, f"e{exponent}")
    return f"{amount}{suffix}"


def quantities_equal(a: str | int | float, b: str | int | float) -> bool:
    """Semantic equality of two quantities (Go's Quantity.Cmp == 0)."""
    try:
        return parse_quantity(a).value == parse_quantity(b).value
    except QuantityError:
        return a == b
