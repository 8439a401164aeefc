"""Kubernetes quantities: the grammar, Go's rounding, and clear errors."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms.goints import MAX_INT64
from algorithms.quantity import QuantityError, format_milli, milli_value, parse_quantity


@pytest.mark.parametrize(("text", "milli"), [
    pytest.param("1", 1000, id="plain-integer"),
    pytest.param("250m", 250, id="milli-suffix"),
    pytest.param("0.1m", 1, id="sub-milli-rounds-away-from-zero"),
    pytest.param("1.5m", 2, id="half-milli-rounds-up"),
    pytest.param("-1.5m", -2, id="negative-rounds-away-from-zero"),
    pytest.param("+2", 2000, id="explicit-plus"),
    pytest.param("1.", 1000, id="trailing-point"),
    pytest.param(".5", 500, id="leading-point"),
    pytest.param("1Ki", 1024000, id="binary-kibi"),
    pytest.param("1.5Gi", 1610612736000, id="fractional-gibi"),
    pytest.param("3k", 3000000, id="decimal-kilo"),
    pytest.param("1M", 10**9, id="decimal-mega"),
    pytest.param("1E", 10**21 % 2**64, id="exa-suffix-wraps-int64-like-go"),
    pytest.param("1e3", 10**6, id="exponent-lower"),
    pytest.param("1E-3", 1, id="negative-exponent-upper"),
    pytest.param("1.5e-3", 2, id="exponent-with-fraction"),
    pytest.param("100n", 1, id="nano-rounds-up-to-one-milli"),
    pytest.param("0.5n", 1, id="sub-nano-rounds-up-to-one-nano"),
    pytest.param("5u", 1, id="micro"),
    pytest.param("0", 0, id="zero"),
    pytest.param("000", 0, id="leading-zeros"),
    pytest.param("9223372036854775807m", MAX_INT64, id="max-int64-milli"),
])
def test_milli_value(text: str, milli: int) -> None:
    assert milli_value(text) == milli


def test_cap_at_max_int64_units() -> None:
    # ParseQuantity caps the amount at 2^63-1 base units before MilliValue is taken.
    assert parse_quantity("1e30").value == Fraction(MAX_INT64)
    assert parse_quantity("-1e30").value == -Fraction(MAX_INT64)


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"),
    pytest.param("m", id="suffix-only"),
    pytest.param("-", id="sign-only"),
    pytest.param(".", id="point-only"),
    pytest.param("1.2.3", id="two-points"),
    pytest.param("1Kb", id="unknown-binary-suffix"),
    pytest.param("1 m", id="inner-space"),
    pytest.param("1e", id="exponent-without-digits"),
    pytest.param("abc", id="letters"),
    pytest.param("1mm", id="double-suffix"),
])
def test_malformed_quantities_name_the_string(text: str) -> None:
    with pytest.raises(QuantityError) as info:
        parse_quantity(text)
    assert repr(text) in str(info.value)


def test_non_string_is_rejected_with_its_type() -> None:
    with pytest.raises(QuantityError, match="must be a string, got int"):
        parse_quantity(5)  # type: ignore[arg-type]


@pytest.mark.parametrize(("milli", "binary", "text"), [
    pytest.param(400, False, "400m", id="milli"),
    pytest.param(1000, False, "1", id="one"),
    pytest.param(1500000, False, "1500", id="not-divisible-by-1000"),
    pytest.param(2000000, False, "2k", id="kilo"),
    pytest.param(1048576000, True, "1Mi", id="binary-mebi"),
    pytest.param(1500, True, "1500m", id="binary-falls-back-to-decimal"),
    pytest.param(-3000, False, "-3", id="negative"),
    pytest.param(0, False, "0", id="zero"),
])
def test_format_milli(milli: int, binary: bool, text: str) -> None:
    assert format_milli(milli, binary) == text


@given(st.integers(min_value=-(10**15), max_value=10**15), st.booleans())
def test_format_then_parse_round_trips(milli: int, binary: bool) -> None:
    assert milli_value(format_milli(milli, binary)) == milli


@given(st.integers(min_value=0, max_value=10**12), st.integers(min_value=0, max_value=999))
def test_decimal_strings_round_up_to_whole_milli(whole: int, thousandths: int) -> None:
    # "12.0035m" is 12.0035 milli: any fraction of a milli rounds away from zero, to 13.
    text = f"{whole}.{thousandths:03d}5m"
    assert milli_value(text) == whole + 1
    assert milli_value(f"-{text}") == -(whole + 1)


# --- the integer fast path of milli_value ------------------------------------------------

_SUFFIXES = ["n", "u", "m", "", "k", "M", "G", "Ki", "Mi", "Gi"]


@given(digits=st.integers(min_value=0, max_value=10**18 - 1), suffix=st.sampled_from(_SUFFIXES))
def test_milli_value_fast_path_equals_the_exact_parse(digits: int, suffix: str) -> None:
    text = f"{digits}{suffix}"
    assert milli_value(text) == parse_quantity(text).milli


@pytest.mark.parametrize("text, milli", [
    pytest.param("12345n", 1, id="nanos-round-up"),
    pytest.param("1000000n", 1, id="nanos-exact"),
    pytest.param("1000001n", 2, id="nanos-just-over"),
    pytest.param("1u", 1, id="micro-rounds-up"),
    pytest.param("250m", 250, id="milli"),
    pytest.param("2", 2000, id="cores"),
    pytest.param("128Mi", 128 * 1024**2 * 1000, id="binary"),
    pytest.param("9223372036854775807", parse_quantity("9223372036854775807").milli,
                 id="int64-edge-takes-the-exact-path"),
    pytest.param("999999999999999999G", parse_quantity("999999999999999999G").milli,
                 id="capped-amount-exact-path"),
    pytest.param("0", 0, id="zero"),
])
def test_milli_value_table(text: str, milli: int) -> None:
    assert milli_value(text) == milli
