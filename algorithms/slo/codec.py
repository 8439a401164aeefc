"""`spec.sloRecommender` <-> SloSpec, and the rules tying it to `spec.metrics`.

Every problem is collected with its field path, like the HPA spec's codec:
`spec.sloRecommender.attainment: Invalid value: 1.5: must be greater than 0 and less than 1`.
Numbers may be YAML integers or floats, never booleans, NaN or infinities.

The wiring rule: an autoscaler with a `sloRecommender` block must list an External metric
named `llm_slo_replicas` with target `AverageValue: 1` (so upstream's External math gives
desired = ceil(value / 1) = the recommendation), and that metric name is reserved for the
recommender (a `llm_slo_replicas` metric without the block is refused rather than silently
unavailable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from algorithms.errors import FieldError, SpecError
from algorithms.slo.model import (
    FORECAST_HOLT,
    FORECAST_METHODS,
    FORECAST_SEASONAL_NAIVE,
    ROUTING_RANDOM,
    ROUTINGS,
    SLO_METRIC_NAME,
    ForecastSpec,
    PanicSpec,
    PodModel,
    SloSpec,
)
from algorithms.spec import AVERAGE_VALUE, EXTERNAL, HorizontalPodAutoscalerSpec, MetricTarget

FIELD = "sloRecommender"


@dataclass(frozen=True, slots=True)
class _Range:
    low: float
    high: float
    low_open: bool = False  # low itself is refused

    def describe(self) -> str:
        low = f"greater than {self.low:g}" if self.low_open else f"at least {self.low:g}"
        return f"must be {low} and at most {self.high:g}"

    def holds(self, value: float) -> bool:
        above = value > self.low if self.low_open else value >= self.low
        return above and value <= self.high


class _Reader:
    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def obj(self, raw: object, path: str, known: tuple[str, ...]) -> Mapping[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.errors.append(FieldError(path, raw, "must be an object"))
            return None
        for key in raw:
            if key not in known:
                self.errors.append(FieldError(f"{path}.{key}", raw[key], "unknown field",
                                              "Unsupported value"))
        return raw

    def number(self, raw: Mapping[str, Any], key: str, path: str, default: float,
               bounds: _Range) -> float:
        value = raw.get(key)
        if value is None:
            return default
        where = f"{path}.{key}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            self.errors.append(FieldError(where, value, "must be a number"))
            return default
        number = float(value)
        if not math.isfinite(number) or not bounds.holds(number):
            self.errors.append(FieldError(where, value, bounds.describe()))
            return default
        return number

    def optional_number(self, raw: Mapping[str, Any], key: str, path: str,
                        bounds: _Range) -> float | None:
        if raw.get(key) is None:
            return None
        number = self.number(raw, key, path, math.nan, bounds)
        return None if math.isnan(number) else number

    def integer(self, raw: Mapping[str, Any], key: str, path: str, default: int,
                low: int, high: int) -> int:
        value = raw.get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            self.errors.append(FieldError(f"{path}.{key}", value,
                                          f"must be an integer from {low} to {high}"))
            return default
        return value

    def choice(self, raw: Mapping[str, Any], key: str, path: str, default: str,
               choices: tuple[str, ...]) -> str:
        value = raw.get(key)
        if value is None:
            return default
        if value not in choices:
            supported = ", ".join(f'"{c}"' for c in choices)
            self.errors.append(FieldError(f"{path}.{key}", value,
                                          f"supported values: {supported}",
                                          "Unsupported value"))
            return default
        return str(value)


SECONDS_IN_A_DAY = 86400.0


def parse_slo_spec(raw: object, path: str = f"spec.{FIELD}") -> SloSpec:
    """Parse the block; raise SpecError with every problem found."""
    r = _Reader()
    obj = r.obj(raw, path, ("ttftSeconds", "attainment", "routing", "windowSeconds",
                            "leadTimeSeconds", "serviceScv", "pod", "forecast", "panic"))
    if obj is None:
        raise SpecError(r.errors)
    window = r.number(obj, "windowSeconds", path, 60.0, _Range(1, 3600))
    spec = SloSpec(
        ttft_seconds=r.number(obj, "ttftSeconds", path, 5.0, _Range(0, 3600, low_open=True)),
        attainment=r.number(obj, "attainment", path, 0.95, _Range(0, 0.9999, low_open=True)),
        routing=r.choice(obj, "routing", path, ROUTING_RANDOM, ROUTINGS),
        window_seconds=window,
        lead_time_seconds=r.number(obj, "leadTimeSeconds", path, 60.0, _Range(0, 3600)),
        service_scv=r.number(obj, "serviceScv", path, 1.0, _Range(0, 100)),
        pod=_pod(r, obj.get("pod"), f"{path}.pod"),
        forecast=_forecast(r, obj.get("forecast"), f"{path}.forecast"),
        panic=_panic(r, obj.get("panic"), f"{path}.panic", window))
    if r.errors:
        raise SpecError(r.errors)
    return spec


def _pod(r: _Reader, raw: object, path: str) -> PodModel:
    if raw is None:
        return PodModel()
    obj = r.obj(raw, path, ("slots", "prefillTokensPerSecond", "decodeTokensPerSecond"))
    if obj is None:
        return PodModel()
    rate = _Range(0, 1e7, low_open=True)
    return PodModel(slots=r.integer(obj, "slots", path, 1, 1, 1024),
                    prefill_tokens_per_second=r.optional_number(
                        obj, "prefillTokensPerSecond", path, rate),
                    decode_tokens_per_second=r.optional_number(
                        obj, "decodeTokensPerSecond", path, rate))


def _forecast(r: _Reader, raw: object, path: str) -> ForecastSpec | None:
    if raw is None:
        return None
    obj = r.obj(raw, path, ("method", "historySeconds", "stepSeconds", "seasonSeconds"))
    if obj is None:
        return None
    method = r.choice(obj, "method", path, FORECAST_HOLT, FORECAST_METHODS)
    step = r.number(obj, "stepSeconds", path, 15.0, _Range(1, 3600))
    history = r.number(obj, "historySeconds", path, 600.0, _Range(1, SECONDS_IN_A_DAY))
    if history < 3 * step:  # Holt needs three points to see a trend
        r.errors.append(FieldError(f"{path}.historySeconds", obj.get("historySeconds", history),
                                   f"must be at least 3 x stepSeconds ({3 * step:g})"))
    season = r.number(obj, "seasonSeconds", path, SECONDS_IN_A_DAY,
                      _Range(60, 7 * SECONDS_IN_A_DAY))
    if method == FORECAST_SEASONAL_NAIVE and season < history:
        r.errors.append(FieldError(f"{path}.seasonSeconds", obj.get("seasonSeconds", season),
                                   f"must be at least historySeconds ({history:g})"))
    return ForecastSpec(method=method, history_seconds=history, step_seconds=step,
                        season_seconds=season)


def _panic(r: _Reader, raw: object, path: str, window: float) -> PanicSpec | None:
    if raw is None:
        return None
    obj = r.obj(raw, path, ("windowSeconds", "threshold"))
    if obj is None:
        return None
    panic_window = r.number(obj, "windowSeconds", path, 6.0, _Range(1, 3600))
    if panic_window >= window:
        r.errors.append(FieldError(f"{path}.windowSeconds", obj.get("windowSeconds",
                                                                    panic_window),
                                   f"must be shorter than the stable window ({window:g} s)"))
    return PanicSpec(window_seconds=panic_window,
                     threshold=r.number(obj, "threshold", path, 2.0, _Range(1, 100)))


def slo_spec_to_dict(spec: SloSpec) -> dict[str, Any]:
    """The block as a user would write it (`parse_slo_spec(slo_spec_to_dict(s)) == s`)."""
    pod: dict[str, Any] = {"slots": spec.pod.slots}
    if spec.pod.prefill_tokens_per_second is not None:
        pod["prefillTokensPerSecond"] = spec.pod.prefill_tokens_per_second
    if spec.pod.decode_tokens_per_second is not None:
        pod["decodeTokensPerSecond"] = spec.pod.decode_tokens_per_second
    out: dict[str, Any] = {
        "ttftSeconds": spec.ttft_seconds, "attainment": spec.attainment,
        "routing": spec.routing, "windowSeconds": spec.window_seconds,
        "leadTimeSeconds": spec.lead_time_seconds, "serviceScv": spec.service_scv,
        "pod": pod}
    if spec.forecast is not None:
        f = spec.forecast
        out["forecast"] = {"method": f.method, "historySeconds": f.history_seconds,
                           "stepSeconds": f.step_seconds, "seasonSeconds": f.season_seconds}
    if spec.panic is not None:
        out["panic"] = {"windowSeconds": spec.panic.window_seconds,
                        "threshold": spec.panic.threshold}
    return out


def slo_wiring_errors(spec: HorizontalPodAutoscalerSpec, slo: SloSpec | None,
                      path: str = "spec") -> list[FieldError]:
    """The block and the `llm_slo_replicas` External metric come together, target 1."""
    errors: list[FieldError] = []
    found = False
    for index, metric in enumerate(spec.metrics):
        source = metric.pods or metric.object or metric.external
        if source is None or source.metric.name != SLO_METRIC_NAME:
            continue
        where = f"{path}.metrics[{index}]"
        if metric.type != EXTERNAL or metric.external is None:
            errors.append(FieldError(f"{where}.type", metric.type,
                                     f"{SLO_METRIC_NAME} must be an External metric"))
            continue
        found = True
        target = metric.external.target
        if target.type != AVERAGE_VALUE or target.average_value is None \
                or target.average_value.value != 1:
            errors.append(FieldError(f"{where}.external.target", _target_text(target),
                                     f"{SLO_METRIC_NAME} needs type AverageValue with "
                                     "averageValue 1 (the recommender answers replicas)"))
        if slo is None:
            errors.append(FieldError(f"{path}.{FIELD}", None, f"must be set: {where} names "
                                     f"{SLO_METRIC_NAME}, the recommender's metric",
                                     "Required value"))
    if slo is not None and not found:
        errors.append(FieldError(f"{path}.metrics", len(spec.metrics),
                                 f"{path}.{FIELD} needs an External metric named "
                                 f"{SLO_METRIC_NAME} with target AverageValue 1",
                                 "Required value"))
    return errors


def _target_text(target: MetricTarget) -> str:
    value = target.average_value or target.value
    return f"{target.type} {value.text}" if value is not None else str(target.type)
