"""`spec.sloRecommender`: parsing, every error with its path, round trip, metric wiring."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms.errors import SpecError
from algorithms.slo.codec import parse_slo_spec, slo_spec_to_dict, slo_wiring_errors
from algorithms.slo.model import (
    FORECAST_METHODS,
    ROUTINGS,
    ForecastSpec,
    PanicSpec,
    PodModel,
    SloSpec,
)
from algorithms.spec_codec import parse_spec


@pytest.mark.parametrize(("raw", "expected"), [
    pytest.param({}, SloSpec(), id="empty-block-is-all-defaults"),
    pytest.param({"ttftSeconds": 2, "attainment": 0.99, "routing": "least-in-flight"},
                 SloSpec(ttft_seconds=2.0, attainment=0.99, routing="least-in-flight"),
                 id="integers-and-floats"),
    pytest.param({"pod": {"slots": 4, "decodeTokensPerSecond": 34}},
                 SloSpec(pod=PodModel(slots=4, decode_tokens_per_second=34.0)),
                 id="pod-rate-set-other-measured"),
    pytest.param({"forecast": {"method": "holt"}, "panic": {}},
                 SloSpec(forecast=ForecastSpec(), panic=PanicSpec()),
                 id="forecast-and-panic-defaults"),
    pytest.param({"forecast": {"method": "seasonal-naive", "historySeconds": 900,
                               "stepSeconds": 30, "seasonSeconds": 3600}},
                 SloSpec(forecast=ForecastSpec("seasonal-naive", 900.0, 30.0, 3600.0)),
                 id="seasonal"),
])
def test_parses(raw: dict[str, Any], expected: SloSpec) -> None:
    assert parse_slo_spec(raw) == expected


@pytest.mark.parametrize(("raw", "messages"), [
    pytest.param([], ["spec.sloRecommender: Invalid value: []: must be an object"],
                 id="not-an-object"),
    pytest.param({"ttftSecond": 5}, ["spec.sloRecommender.ttftSecond: Unsupported value: 5: "
                                     "unknown field"], id="typo-field"),
    pytest.param({"ttftSeconds": 0}, ["spec.sloRecommender.ttftSeconds: Invalid value: 0: "
                                      "must be greater than 0 and at most 3600"],
                 id="zero-ttft"),
    pytest.param({"attainment": 1}, ["spec.sloRecommender.attainment: Invalid value: 1: must "
                                     "be greater than 0 and at most 0.9999"],
                 id="attainment-one"),
    pytest.param({"attainment": 95}, ["spec.sloRecommender.attainment: Invalid value: 95:"],
                 id="attainment-as-percent"),
    pytest.param({"ttftSeconds": True}, ["spec.sloRecommender.ttftSeconds: Invalid value: "
                                         "True: must be a number"], id="boolean"),
    pytest.param({"ttftSeconds": "5s"}, ["ttftSeconds: Invalid value: '5s': must be a number"],
                 id="string-number"),
    pytest.param({"ttftSeconds": float("nan")}, ["ttftSeconds: Invalid value: nan"],
                 id="nan"),
    pytest.param({"windowSeconds": float("inf")}, ["windowSeconds: Invalid value: inf"],
                 id="infinite"),
    pytest.param({"routing": "ipvs"}, ['spec.sloRecommender.routing: Unsupported value: '
                                       "'ipvs': supported values: \"random\""],
                 id="unknown-routing"),
    pytest.param({"pod": {"slots": 0}}, ["spec.sloRecommender.pod.slots: Invalid value: 0: "
                                         "must be an integer from 1 to 1024"], id="zero-slots"),
    pytest.param({"pod": {"slots": 1.5}}, ["pod.slots: Invalid value: 1.5"],
                 id="fractional-slots"),
    pytest.param({"pod": {"prefillTokensPerSecond": -3}},
                 ["pod.prefillTokensPerSecond: Invalid value: -3"], id="negative-rate"),
    pytest.param({"forecast": {"method": "arima"}},
                 ["forecast.method: Unsupported value: 'arima'"], id="unknown-forecast"),
    pytest.param({"forecast": {"historySeconds": 30, "stepSeconds": 15}},
                 ["forecast.historySeconds: Invalid value: 30: must be at least 3 x "
                  "stepSeconds (45)"], id="history-too-short"),
    pytest.param({"forecast": {"method": "seasonal-naive", "seasonSeconds": 300}},
                 ["forecast.seasonSeconds: Invalid value: 300: must be at least "
                  "historySeconds (600)"], id="season-shorter-than-history"),
    pytest.param({"panic": {"windowSeconds": 60}},
                 ["panic.windowSeconds: Invalid value: 60: must be shorter than the stable "
                  "window (60 s)"], id="panic-window-not-shorter"),
    pytest.param({"panic": {"threshold": 0.5}}, ["panic.threshold: Invalid value: 0.5"],
                 id="panic-threshold-below-one"),
    pytest.param({"ttftSeconds": -1, "routing": 3, "pod": {"slots": "x"}},
                 ["ttftSeconds: Invalid value: -1", "routing: Unsupported value: 3",
                  "pod.slots: Invalid value: 'x'"], id="every-error-at-once"),
])
def test_refuses_with_path_and_value(raw: object, messages: list[str]) -> None:
    with pytest.raises(SpecError) as caught:
        parse_slo_spec(raw)
    text = str(caught.value)
    for message in messages:
        assert message in text
    assert len(caught.value.errors) == len(messages)


finite = st.floats(allow_nan=False, allow_infinity=False)


@st.composite
def slo_specs(draw: st.DrawFn) -> SloSpec:
    window = draw(st.floats(2, 3600))
    step = draw(st.floats(1, 3600))
    history = draw(st.floats(3 * step, 86400))  # the codec's range: 3 x step .. a day
    method = draw(st.sampled_from(FORECAST_METHODS))
    season = draw(st.floats(max(60.0, history), 7 * 86400)) if method == "seasonal-naive" \
        else draw(st.floats(60, 7 * 86400))
    rate = st.none() | st.floats(0.001, 1e7)
    return SloSpec(
        ttft_seconds=draw(st.floats(0.001, 3600)), attainment=draw(st.floats(0.001, 0.9999)),
        routing=draw(st.sampled_from(ROUTINGS)), window_seconds=window,
        lead_time_seconds=draw(st.floats(0, 3600)), service_scv=draw(st.floats(0, 100)),
        pod=PodModel(draw(st.integers(1, 1024)), draw(rate), draw(rate)),
        forecast=draw(st.none() | st.just(ForecastSpec(method, history, step, season))),
        panic=draw(st.none() | st.builds(PanicSpec, st.floats(1, max(1.0, window - 1)),
                                         st.floats(1, 100))))


@given(slo_specs())
def test_round_trip(spec: SloSpec) -> None:
    assert parse_slo_spec(slo_spec_to_dict(spec)) == spec


def _hpa(*metrics: dict[str, Any]) -> Any:
    return parse_spec({"scaleTargetRef": {"kind": "Deployment", "name": "llm"},
                       "maxReplicas": 10, "metrics": list(metrics)})


def _external(name: str, target: dict[str, str]) -> dict[str, Any]:
    return {"type": "External", "external": {"metric": {"name": name}, "target": target}}


SLO_METRIC = _external("llm_slo_replicas", {"type": "AverageValue", "averageValue": "1"})
CPU = {"type": "Resource", "resource": {"name": "cpu", "target": {
    "type": "Utilization", "averageUtilization": 50}}}


@pytest.mark.parametrize(("metrics", "slo", "messages"), [
    pytest.param([SLO_METRIC], SloSpec(), [], id="wired"),
    pytest.param([CPU, SLO_METRIC], SloSpec(), [], id="beside-cpu"),
    pytest.param([CPU], None, [], id="neither"),
    pytest.param([CPU], SloSpec(), ["spec.metrics: Required value: spec.sloRecommender needs "
                                    "an External metric named llm_slo_replicas"],
                 id="block-without-metric"),
    pytest.param([SLO_METRIC], None, ["spec.sloRecommender: Required value: must be set: "
                                      "spec.metrics[0] names llm_slo_replicas"],
                 id="metric-without-block"),
    pytest.param([_external("llm_slo_replicas", {"type": "AverageValue",
                                                 "averageValue": "2"})], SloSpec(),
                 ["spec.metrics[0].external.target: Invalid value: 'AverageValue 2': "
                  "llm_slo_replicas needs type AverageValue with averageValue 1"],
                 id="average-value-two"),
    pytest.param([_external("llm_slo_replicas", {"type": "Value", "value": "1"})], SloSpec(),
                 ["spec.metrics[0].external.target: Invalid value: 'Value 1'"],
                 id="value-target"),
    pytest.param([_external("llm_slo_replicas", {"type": "AverageValue",
                                                 "averageValue": "1000m"})], SloSpec(), [],
                 id="thousand-milli-is-one"),
    pytest.param([{"type": "Pods", "pods": {"metric": {"name": "llm_slo_replicas"}, "target": {
        "type": "AverageValue", "averageValue": "1"}}}], SloSpec(),
                 ["spec.metrics[0].type: Invalid value: 'Pods': llm_slo_replicas must be an "
                  "External metric", "spec.metrics: Required value"], id="pods-metric"),
])
def test_wiring(metrics: list[dict[str, Any]], slo: SloSpec | None,
                messages: list[str]) -> None:
    errors = [str(e) for e in slo_wiring_errors(_hpa(*metrics), slo)]
    assert len(errors) == len(messages)
    for error, message in zip(errors, messages, strict=True):
        assert message in error
