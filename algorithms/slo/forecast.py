"""Forecasts of the arrival rate `lead_time_seconds` ahead, so pods are asked for before the
load arrives (a pod needs scheduling, the model load and one sync before it helps).

Both methods are deterministic functions of the rate series; the recommender only ever sizes
for max(observed, forecast), so a forecast can add pods but never remove them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from algorithms.slo.model import FORECAST_HOLT, FORECAST_SEASONAL_NAIVE, ForecastSpec

if TYPE_CHECKING:  # numpy arrays are accepted, but only the simulator has them: the daemon
    # never imports numpy (about 12 MB of RSS)
    import numpy as np
    import numpy.typing as npt

    Series: TypeAlias = Sequence[float] | npt.NDArray[np.float64]

# Holt's smoothing constants, fixed rather than fitted: a fit on 40 noisy points can pick an
# extreme trend weight and extrapolate noise, and an autoscaler should react the same way to
# the same shape every time. The series is a 60 s window sampled every 15 s, already averaged
# over 4 steps, so the level can follow the newest point closely (alpha 0.5: half the weight on
# the newest point, memory ~2 steps) while the trend changes slowly (beta 0.2: memory ~5 steps,
# about a minute and a quarter). Step response: 1, 1, 1, 1, 2 gives level 1.5, trend 0.1, so
# 4 steps (60 s) ahead 1.9; one more point at 2 gives level 1.8, trend 0.14: 2.36 (a ramp
# is being assumed, and only pods are added on it). On a straight line Holt is exact whatever
# the constants are (a test checks it).
HOLT_ALPHA = 0.5
HOLT_BETA = 0.2
HOLT_MIN_POINTS = 3  # 2 points only initialize level and trend: nothing is smoothed yet

# Seasonal-naive multiplies last season's rate by today's level / last season's level. A past
# level near zero would make that ratio explode (0.01 req/s then, 1 req/s now: x100), so it is
# capped: a level more than 4x the season's says today does not follow the season.
SEASONAL_MAX_LEVEL_RATIO = 4.0


@dataclass(frozen=True, slots=True)
class HoltState:
    """Level and per-step trend after the last point of a series."""

    level: float
    trend: float


@dataclass(frozen=True, slots=True)
class Forecast:
    """A forecast rate, or None with `note` saying why there is none (never an error)."""

    rate_per_second: float | None
    note: str


def holt_state(series: Series, alpha: float = HOLT_ALPHA, beta: float = HOLT_BETA) -> HoltState:
    """Holt's linear trend (double exponential smoothing; C. C. Holt, 1957):

        level_i = alpha y_i + (1 - alpha) (level_{i-1} + trend_{i-1})
        trend_i = beta (level_i - level_{i-1}) + (1 - beta) trend_{i-1}

    initialized with level_0 = y_0 and trend_0 = y_1 - y_0 (needs 2 points). On a line
    y_i = a + b i every level_i is a + b i and every trend b, so forecasts are exact.
    """
    values = [float(value) for value in series]
    level, trend = values[0], values[1] - values[0]
    for value in values[1:]:
        previous = level
        level = alpha * value + (1.0 - alpha) * (level + trend)
        trend = beta * (level - previous) + (1.0 - beta) * trend
    return HoltState(level, trend)


def holt_forecast(series: Series, step_seconds: float, horizon_seconds: float) -> float | None:
    """The rate `horizon_seconds` after the last point of `series` (spaced `step_seconds`):
    level + trend * horizon / step, never negative; None with fewer than 3 points.

    Worked example: 1, 2, 3 req/s every 15 s, 60 s ahead: level 3, trend 1 per step, 4 steps:
    7 req/s. A falling line 3, 2, 1 forecasts 1 - 4 = -3, reported as 0. Numbers near the
    float limit may overflow to inf or nan, which `forecast_rate` reports as no forecast.
    """
    if len(series) < HOLT_MIN_POINTS:
        return None
    state = holt_state(series)
    rate = state.level + state.trend * (horizon_seconds / step_seconds)
    return max(0.0, rate) if math.isfinite(rate) else rate  # overflow: inf or nan, kept


def seasonal_naive_forecast(recent: Series, seasonal: Series, step_seconds: float,
                            lead_seconds: float) -> float | None:
    """Last season's rate at now + lead, scaled by how busy today is compared with then.

    `recent` ends now; `seasonal` has the same spacing and ends one season before now + lead,
    so with k = round(lead / step) its point at index -1-k is one season before now. Over the
    m = min(len(recent), len(seasonal) - k) points both series have at the same times of day:

        today = mean(recent[-m:]),  then = mean(seasonal[n-m+1 .. n]) with n = len - 1 - k,
        ratio = today / then (1 when then = 0: no level to compare), capped at 4,
        forecast = seasonal[-1] * ratio.

    Worked example: yesterday 1, 1, 2, 4 req/s at now-15 s, now, now+15 s, now+30 s; today 1.5,
    1.5 req/s; lead 30 s (k = 2): then = mean(1, 1) = 1, today = 1.5, forecast 4 * 1.5 = 6.
    None when `recent` is empty or `seasonal` does not reach back to now.
    """
    lead_steps = lead_seconds / step_seconds
    if len(recent) == 0 or not lead_steps < len(seasonal):  # also catches an infinite ratio
        return None
    now_index = len(seasonal) - 1 - round(lead_steps)
    if now_index < 0:
        return None
    matched = min(len(recent), now_index + 1)
    today = _mean(recent[-matched:])
    then = _mean(seasonal[now_index - matched + 1:now_index + 1])
    ratio = today / then if then > 0.0 else 1.0
    return float(seasonal[-1]) * min(ratio, SEASONAL_MAX_LEVEL_RATIO)


def _mean(values: Series) -> float:
    """The mean without overflow: each term is divided first (1e308 twice has mean 1e308)."""
    return sum(float(value) / len(values) for value in values)


def _trimmed(series: Series, spec: ForecastSpec) -> Series:
    """The last history_seconds of the series: 600 s at 15 s steps is 41 points (both ends)."""
    points = spec.history_seconds / spec.step_seconds
    if not points < len(series) - 1:
        return series
    return series[-(int(points) + 1):]


def forecast_rate(spec: ForecastSpec, lead_seconds: float, recent: Series,
                  seasonal: Series) -> Forecast:
    """Dispatch on `spec.method`; the note reads e.g. "holt forecast 3.10 req/s in 60 s" or
    "no forecast: 2 recent rates, holt needs 3"."""
    recent = _trimmed(recent, spec)
    if spec.method == FORECAST_HOLT:
        rate = holt_forecast(recent, spec.step_seconds, lead_seconds)
        if rate is None:
            points = "1 recent rate" if len(recent) == 1 else f"{len(recent)} recent rates"
            return Forecast(None, f"no forecast: {points}, holt needs {HOLT_MIN_POINTS}")
    elif spec.method == FORECAST_SEASONAL_NAIVE:
        rate = seasonal_naive_forecast(recent, seasonal, spec.step_seconds, lead_seconds)
        if rate is None:
            return Forecast(None, f"no forecast: {len(recent)} recent and {len(seasonal)} "
                                  "seasonal rates do not reach back to now")
    else:
        return Forecast(None, f"no forecast: unknown method {spec.method!r}")
    if not math.isfinite(rate):
        return Forecast(None, f"no forecast: {spec.method} gave {rate}")
    return Forecast(rate, f"{spec.method} forecast {rate:.2f} req/s in {lead_seconds:g} s")
