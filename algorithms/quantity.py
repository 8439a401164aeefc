"""Kubernetes resource quantities, parsed to exact values and Go's int64 milli-values.

Upstream is `k8s.io/apimachinery/pkg/api/resource` (quantity.go, suffix.go). The grammar:

    <quantity>     ::= <sign>? <number> <suffix>
    <number>       ::= <digits> | <digits>.<digits> | <digits>. | .<digits>
    <suffix>       ::= <binarySI> | <decimalSI> | ("e" | "E") <sign>? <digits>
    <binarySI>     ::= Ki | Mi | Gi | Ti | Pi | Ei            (powers of 1024)
    <decimalSI>    ::= n | u | m | "" | k | M | G | T | P | E (powers of 1000)

Parsing follows `ParseQuantity` exactly where it matters for arithmetic:

* the amount is rounded *up in magnitude* to a whole nano (`inf.RoundUp` on |x|), so
  "0.1n" is 1n, not 0;
* |amount| is capped at 2**63 - 1 (units, not milli);
* `MilliValue()` rounds away from zero: "0.1m" -> 1, "1.5m" -> 2, "-1.5m" -> -2;
* a milli-value that does not fit int64 keeps the low 64 bits of its magnitude, as Go's
  `big.Int.Int64()` does (only reachable with amounts above ~9.2e15).

Exact arithmetic uses `fractions.Fraction`, so no float ever touches a quantity here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

from algorithms.errors import CoreError
from algorithms.goints import MAX_INT64, wrap_int64

_BINARY = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

# A number must carry at least one digit, before or after the point.
_QUANTITY_RE = re.compile(
    r"^(?P<sign>[+-]?)(?P<number>[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?P<suffix>[eEinumkKMGTP]*[+-]?[0-9]*)$"
)
_EXPONENT_RE = re.compile(r"^[eE](?P<exp>[+-]?[0-9]+)$")

_NANO = Fraction(1, 10**9)


class QuantityError(CoreError):
    """A string is not a Kubernetes quantity; the message names the string."""


@dataclass(frozen=True, slots=True)
class Quantity:
    """An exact quantity: `value` is the amount in base units (cores, bytes, ...)."""

    value: Fraction
    text: str

    @property
    def milli(self) -> int:
        return _milli_of(self.value)

    def as_float(self) -> float:
        """Go's `AsApproximateFloat64` (used for tolerances): nearest float64."""
        return float(self.value)


def parse_quantity(text: str) -> Quantity:
    """Parse `text` like `resource.ParseQuantity`; raise `QuantityError` naming it."""
    if not isinstance(text, str):
        raise QuantityError(f"quantity {text!r}: must be a string, got {type(text).__name__}")
    match = _QUANTITY_RE.match(text)
    if text == "" or match is None:
        raise QuantityError(f"quantity {text!r}: quantities must match the regular expression "
                            "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")
    number = Fraction(match["number"] if not match["number"].endswith(".")
                      else match["number"][:-1])
    multiplier = _suffix_multiplier(text, match["suffix"])
    amount = number * multiplier
    # ParseQuantity rounds any non-zero magnitude up to whole nanos, then caps it.
    if amount != 0:
        nanos = -((-amount) // _NANO)  # ceil for a positive amount
        amount = nanos * _NANO
    amount = min(amount, Fraction(MAX_INT64))
    if match["sign"] == "-":
        amount = -amount
    return Quantity(value=amount, text=text)


def _suffix_multiplier(text: str, suffix: str) -> Fraction:
    if suffix in _DECIMAL:
        return Fraction(10) ** _DECIMAL[suffix]
    if suffix in _BINARY:
        return Fraction(1024) ** _BINARY[suffix]
    exp = _EXPONENT_RE.match(suffix)
    if exp is None:
        raise QuantityError(f"quantity {text!r}: unable to parse quantity's suffix {suffix!r}")
    exponent = int(exp["exp"])
    if abs(exponent) > 10**4:
        raise QuantityError(f"quantity {text!r}: exponent {exponent} out of range")
    return Fraction(10) ** exponent


def _milli_of(value: Fraction) -> int:
    """Round value*1000 away from zero, then keep Go's int64 semantics.

    Worked example: "1.5m" is 0.0015 -> 1.5 milli -> 2; "-1.5m" -> -2.
    """
    scaled = value * 1000
    magnitude = -((-abs(scaled)) // 1)  # ceil of |x|
    low = wrap_int64(magnitude)
    return -low if scaled < 0 else low


# The spellings a cluster actually sends (metrics-server's "12345n" and "1234Ki", requests
# like "250m", "2", "128Mi"): digits and at most one plain suffix. Whole numbers of a unit
# of 1 milli or more are exact integers, so their milli-value needs no Fraction.
_COMMON_RE = re.compile(r"([0-9]{1,18})(n|u|m|k|M|G|Ki|Mi|Gi|)", re.ASCII)
# Milli per unit of each suffix, as a (numerator, divisor) pair of integers.
_COMMON_MILLI = {"n": (1, 10**6), "u": (1, 10**3), "m": (1, 1), "": (1000, 1),
                 "k": (10**6, 1), "M": (10**9, 1), "G": (10**12, 1),
                 "Ki": (1024 * 1000, 1), "Mi": (1024**2 * 1000, 1), "Gi": (1024**3 * 1000, 1)}


def milli_value(text: str) -> int:
    """`resource.MustParse(text).MilliValue()` for a well-formed string.

    Common spellings take an integer path (~10x faster; tests/test_quantity.py checks it
    equals the exact one): "12345n" is 12345 / 10**6 milli rounded up, 1; "250m" is 250;
    "128Mi" is 128 * 1024**2 * 1000. Anything near the int64 edges, signed, fractional or
    exponent-form takes the exact path.
    """
    match = _COMMON_RE.fullmatch(text) if isinstance(text, str) else None
    if match is not None:
        per_unit, divisor = _COMMON_MILLI[match[2]]
        milli = -(-int(match[1]) * per_unit // divisor)  # ceil: ParseQuantity rounds up
        if milli <= MAX_INT64 // 1000:  # the amount is far below the int64 cap in units
            return milli
    return parse_quantity(text).milli


def format_milli(milli: int, binary: bool = False) -> str:
    """Canonical string of `resource.NewMilliQuantity(milli, format)`.

    DecimalSI strips factors of 1000: 400 -> "400m", 1000 -> "1", 1500000 -> "1500",
    2000000 -> "2k". BinarySI (memory) is used only for whole units and strips factors of
    1024: 1048576000 milli = 1048576 bytes -> "1Mi"; otherwise it falls back to DecimalSI.
    """
    if milli == 0:
        return "0"
    sign = "-" if milli < 0 else ""
    magnitude = abs(milli)
    if binary and magnitude % 1000 == 0:
        units = magnitude // 1000
        suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        index = 0
        while units % 1024 == 0 and index < len(suffixes) - 1:
            units //= 1024
            index += 1
        return f"{sign}{units}{suffixes[index]}"
    suffixes = ["m", "", "k", "M", "G", "T", "P", "E"]
    index = 0
    while magnitude % 1000 == 0 and index < len(suffixes) - 1:
        magnitude //= 1000
        index += 1
    return f"{sign}{magnitude}{suffixes[index]}"
