"""Forecasts of the arrival rate: Holt's linear trend and seasonal-naive."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.slo.forecast import (
    HOLT_ALPHA,
    HOLT_BETA,
    SEASONAL_MAX_LEVEL_RATIO,
    Forecast,
    forecast_rate,
    holt_forecast,
    holt_state,
    seasonal_naive_forecast,
)
from algorithms.slo.model import FORECAST_HOLT, FORECAST_SEASONAL_NAIVE, ForecastSpec

rates = st.floats(0.0, 1e4)


# --- Holt ------------------------------------------------------------------------------

@given(intercept=st.floats(0.0, 100.0), slope=st.floats(-5.0, 5.0),
       points=st.integers(3, 60), steps_ahead=st.integers(0, 20))
def test_holt_forecasts_a_straight_line_exactly(intercept: float, slope: float, points: int,
                                                steps_ahead: int) -> None:
    line = [intercept + slope * i for i in range(points)]
    expected = intercept + slope * (points - 1 + steps_ahead)
    got = holt_forecast(line, 15.0, 15.0 * steps_ahead)
    assert got is not None
    assert got == pytest.approx(max(0.0, expected), abs=1e-9 * (1 + abs(expected)))


@pytest.mark.parametrize(("series", "horizon", "expected"), [
    pytest.param((1.0, 2.0, 3.0), 60.0, 7.0, id="rising-line-four-steps"),
    pytest.param((3.0, 2.0, 1.0), 60.0, 0.0, id="falling-line-never-negative"),
    pytest.param((1.0, 1.0, 1.0, 1.0, 2.0), 60.0, 1.9, id="step-response"),
    pytest.param((1.0, 1.0, 1.0, 1.0, 2.0, 2.0), 60.0, 2.36, id="step-then-flat"),
    pytest.param((2.0, 2.0, 2.0), 7.5, 2.0, id="flat-half-step"),
    pytest.param((1.0, 2.0, 3.0), 0.0, 3.0, id="no-horizon-is-the-level"),
])
def test_holt_worked_examples(series: tuple[float, ...], horizon: float,
                              expected: float) -> None:
    assert holt_forecast(series, 15.0, horizon) == pytest.approx(expected)


def test_holt_constants_and_state() -> None:
    assert (HOLT_ALPHA, HOLT_BETA) == (0.5, 0.2)
    state = holt_state((1.0, 1.0, 1.0, 1.0, 2.0))
    assert (state.level, state.trend) == pytest.approx((1.5, 0.1))


@pytest.mark.parametrize("series", [
    pytest.param((), id="empty"),
    pytest.param((1.0,), id="one-point"),
    pytest.param((1.0, 2.0), id="two-points"),
])
def test_holt_needs_three_points(series: tuple[float, ...]) -> None:
    assert holt_forecast(series, 15.0, 60.0) is None


def test_holt_takes_numpy_arrays_and_is_deterministic() -> None:
    series = np.array([0.5, 0.7, 0.6, 0.9, 1.2])
    first = holt_forecast(series, 15.0, 60.0)
    assert first == holt_forecast(tuple(series.tolist()), 15.0, 60.0) == \
        holt_forecast(series, 15.0, 60.0)


@given(series=st.lists(rates, min_size=3, max_size=50), horizon=st.floats(0.0, 3600.0))
def test_holt_is_finite_and_never_negative(series: list[float], horizon: float) -> None:
    got = holt_forecast(series, 15.0, horizon)
    assert got is not None and math.isfinite(got) and got >= 0.0


# --- seasonal-naive ----------------------------------------------------------------------

@pytest.mark.parametrize(("recent", "seasonal", "lead", "expected"), [
    pytest.param((1.5, 1.5), (1.0, 1.0, 2.0, 4.0), 30.0, 6.0, id="docstring-example"),
    pytest.param((1.0, 2.0, 3.0), (1.0, 2.0, 3.0, 4.0, 5.0), 30.0, 5.0,
                 id="same-as-last-season"),
    pytest.param((2.0, 4.0, 6.0), (1.0, 2.0, 3.0, 4.0, 5.0), 30.0, 10.0,
                 id="twice-as-busy"),
    pytest.param((0.0, 0.0), (0.0, 0.0, 3.0), 15.0, 3.0, id="no-level-then-ratio-one"),
    pytest.param((0.0, 0.0), (1.0, 1.0, 3.0), 15.0, 0.0, id="quiet-today"),
    pytest.param((100.0,), (1.0, 1.0, 3.0), 15.0, 3.0 * SEASONAL_MAX_LEVEL_RATIO,
                 id="ratio-capped"),
    pytest.param((1.0, 1.0, 1.0, 1.0), (2.0, 2.0), 15.0, 1.0, id="season-shorter-than-today"),
    pytest.param((2.0,), (1.0, 5.0), 0.0, 2.0, id="no-lead-is-todays-level"),
    pytest.param((3.0, 3.0), (1.0, 1.0, 2.0, 2.0), 25.0, 6.0, id="lead-rounds-to-two-steps"),
])
def test_seasonal_naive_worked_examples(recent: tuple[float, ...], seasonal: tuple[float, ...],
                                        lead: float, expected: float) -> None:
    assert seasonal_naive_forecast(recent, seasonal, 15.0, lead) == pytest.approx(expected)


@given(pattern=st.lists(st.floats(0.1, 100.0), min_size=4, max_size=24),
       scale=st.floats(0.25, 4.0), lead_steps=st.integers(0, 3))
def test_seasonal_naive_on_a_repeated_pattern(pattern: list[float], scale: float,
                                              lead_steps: int) -> None:
    # Yesterday's pattern up to now + lead; today is the same pattern scaled: the forecast is
    # yesterday's value at now + lead, scaled the same.
    now = len(pattern) - 1 - lead_steps
    today = [scale * value for value in pattern[:now + 1]]
    got = seasonal_naive_forecast(today, pattern, 15.0, 15.0 * lead_steps)
    assert got == pytest.approx(scale * pattern[-1], rel=1e-9)


@pytest.mark.parametrize(("recent", "seasonal", "lead"), [
    pytest.param((), (1.0, 2.0), 0.0, id="no-recent-rates"),
    pytest.param((1.0,), (), 0.0, id="no-seasonal-rates"),
    pytest.param((1.0,), (1.0, 2.0), 30.0, id="season-does-not-reach-now"),
    pytest.param((1.0,), (1.0, 2.0), 1e308, id="absurd-lead"),
])
def test_seasonal_naive_without_enough_data(recent: tuple[float, ...],
                                            seasonal: tuple[float, ...], lead: float) -> None:
    assert seasonal_naive_forecast(recent, seasonal, 15.0, lead) is None


@given(recent=st.lists(rates, max_size=10), seasonal=st.lists(rates, max_size=20),
       lead=st.floats(0.0, 600.0))
def test_seasonal_naive_is_finite_and_never_negative(recent: list[float],
                                                     seasonal: list[float],
                                                     lead: float) -> None:
    got = seasonal_naive_forecast(recent, seasonal, 15.0, lead)
    assert got is None or (math.isfinite(got) and got >= 0.0)


# --- the dispatch the recommender calls ----------------------------------------------------

@pytest.mark.parametrize(("spec", "recent", "seasonal", "expected"), [
    pytest.param(ForecastSpec(FORECAST_HOLT), (1.0, 2.0, 3.0), (),
                 Forecast(7.0, "holt forecast 7.00 req/s in 60 s"), id="holt"),
    pytest.param(ForecastSpec(FORECAST_HOLT), (3.0,), (),
                 Forecast(None, "no forecast: 1 recent rate, holt needs 3"), id="holt-short"),
    pytest.param(ForecastSpec(FORECAST_HOLT, history_seconds=30.0),
                 (9.0, 9.0, 9.0, 1.0, 2.0, 3.0), (),
                 Forecast(7.0, "holt forecast 7.00 req/s in 60 s"),
                 id="holt-reads-only-its-history"),
    pytest.param(ForecastSpec(FORECAST_SEASONAL_NAIVE), (2.0,), (1.0, 1.0, 1.0, 1.0, 3.0),
                 Forecast(6.0, "seasonal-naive forecast 6.00 req/s in 60 s"), id="seasonal"),
    pytest.param(ForecastSpec(FORECAST_SEASONAL_NAIVE), (2.0,), (1.0, 3.0),
                 Forecast(None, "no forecast: 1 recent and 2 seasonal rates do not reach "
                                "back to now"), id="seasonal-short"),
])
def test_forecast_rate(spec: ForecastSpec, recent: tuple[float, ...],
                       seasonal: tuple[float, ...], expected: Forecast) -> None:
    assert forecast_rate(spec, 60.0, recent, seasonal) == expected


@given(series=st.lists(st.floats(0.0, 1e308), min_size=3, max_size=8),
       horizon=st.floats(0.0, 1e308))
@settings(max_examples=200)
def test_huge_inputs_give_no_forecast_rather_than_inf(series: list[float],
                                                      horizon: float) -> None:
    forecast = forecast_rate(ForecastSpec(FORECAST_HOLT), horizon, series, ())
    rate = forecast.rate_per_second
    assert rate is None or (math.isfinite(rate) and rate >= 0.0)
