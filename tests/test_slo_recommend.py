"""The recommender and its metric: worked examples, missing and bad inputs, and invariants."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.observation import ExternalMetricData, MetricUnavailable
from algorithms.slo.errors import SloUnavailable
from algorithms.slo.metric import slo_metric
from algorithms.slo.model import (
    FORECAST_HOLT,
    FORECAST_SEASONAL_NAIVE,
    ROUTING_LEAST_IN_FLIGHT,
    ROUTING_RANDOM,
    ROUTING_ROUND_ROBIN,
    ROUTINGS,
    ForecastSpec,
    PanicSpec,
    PodModel,
    SloObservation,
    SloSpec,
)
from algorithms.slo.queueing import Fleet, fleet_wait_tail
from algorithms.slo.recommend import (
    MODE_FORECAST,
    MODE_PANIC,
    MODE_STABLE,
    Recommendation,
    recommend,
)

POD = PodModel(slots=1, prefill_tokens_per_second=400.0, decode_tokens_per_second=34.0)
# 300 prompt tokens at 400/s and 50 output tokens at 34/s: 0.75 s + 1.47 s = 2.22 s a request.
LOAD = SloObservation(2.4, 300.0, 50.0, None, None)
LEAST = SloSpec(routing=ROUTING_LEAST_IN_FLIGHT, pod=POD)


def _run(spec: SloSpec, observation: SloObservation = LOAD, current: int = 3,
         maximum: int = 40) -> Recommendation:
    return recommend(spec, observation, current, maximum)


# --- worked examples ---------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "observation", "maximum", "replicas", "message"), [
    pytest.param(LEAST, LOAD, 40, 8,
                 "8 pods: 2.40 req/s x 2.22 s on 1 slot each, least-in-flight, predicts 96.3% "
                 "of requests within 5 s TTFT (target 95%)", id="least-in-flight"),
    pytest.param(replace(LEAST, routing=ROUTING_ROUND_ROBIN), LOAD, 40, 12,
                 "12 pods: 2.40 req/s x 2.22 s on 1 slot each, round-robin, predicts 96.0% "
                 "of requests within 5 s TTFT (target 95%)", id="round-robin"),
    pytest.param(replace(LEAST, routing=ROUTING_RANDOM), LOAD, 40, 25,
                 "25 pods: 2.40 req/s x 2.22 s on 1 slot each, random, predicts 95.3% "
                 "of requests within 5 s TTFT (target 95%)", id="random-needs-three-times-more"),
    pytest.param(replace(LEAST, routing=ROUTING_RANDOM), LOAD, 20, 20,
                 "20 pods: 2.40 req/s x 2.22 s on 1 slot each, random, predicts 93.5% of "
                 "requests within 5 s TTFT, short of the 95% target even at maxReplicas",
                 id="short-at-max"),
    pytest.param(replace(LEAST, routing=ROUTING_RANDOM), LOAD, 5, 5,
                 "5 pods: 2.40 req/s x 2.22 s on 1 slot each, random, predicts 0.0% of "
                 "requests within 5 s TTFT, short of the 95% target even at maxReplicas, "
                 "utilization 1.07: the queue grows without bound", id="unstable-at-max"),
    pytest.param(replace(LEAST, ttft_seconds=0.5), LOAD, 40, 11,
                 "11 pods: 2.40 req/s x 2.22 s on 1 slot each, least-in-flight, target "
                 "infeasible: the mean prefill 0.75 s alone exceeds the 0.5 s TTFT target; "
                 "sized for at most 5% of requests waiting at all (model: 2.3%)",
                 id="prefill-over-target"),
    pytest.param(replace(LEAST, ttft_seconds=0.5, routing=ROUTING_RANDOM), LOAD, 20, 20,
                 "20 pods: 2.40 req/s x 2.22 s on 1 slot each, random, target infeasible: the "
                 "mean prefill 0.75 s alone exceeds the 0.5 s TTFT target; 26.6% of requests "
                 "would wait at all, more than the 5% wanted, even at maxReplicas",
                 id="prefill-over-target-and-max"),
    pytest.param(LEAST, SloObservation(0.0, None, None, None, None), 40, 0,
                 "0 pods: no requests in the last 60 s and none in flight", id="idle"),
    pytest.param(LEAST, SloObservation(0.0, None, None, None, None, in_flight_requests=2.0),
                 40, 1, "1 pod: no requests in the last 60 s, 2 still in flight",
                 id="idle-but-in-flight"),
    pytest.param(replace(LEAST, pod=replace(POD, slots=2)), LOAD, 40, 4,
                 "4 pods: 2.40 req/s x 2.22 s on 2 slots each, least-in-flight, predicts "
                 "99.0% of requests within 5 s TTFT (target 95%)", id="two-slots"),
])
def test_worked_examples(spec: SloSpec, observation: SloObservation, maximum: int,
                         replicas: int, message: str) -> None:
    result = _run(spec, observation, maximum=maximum)
    assert (result.replicas, result.message) == (replicas, message)


def test_the_answer_explained() -> None:
    result = _run(LEAST)
    service = 0.75 + 50 / 34
    assert result.service_seconds == pytest.approx(service)
    assert (result.prefill_seconds, result.wait_budget_seconds) == (0.75, 4.25)
    assert result.utilization == pytest.approx(2.4 * service / 8)
    assert result.predicted_attainment == pytest.approx(
        1 - fleet_wait_tail(Fleet(ROUTING_LEAST_IN_FLIGHT, 8, 1, service), 2.4, 4.25))
    assert (result.mode, result.feasible, result.arrival_rate_per_second) == \
        (MODE_STABLE, True, 2.4)
    details = result.details()
    assert details["replicas"] == 8 and details["prefillRateSource"] == "spec"
    assert details["message"] == result.message
    assert all(key[0].islower() and "_" not in key for key in details)
    assert all(isinstance(value, float | int | str | bool) for value in details.values())


def test_measured_rates_are_used_when_the_spec_has_none() -> None:
    measured = replace(LOAD, prefill_tokens_per_second=400.0, decode_tokens_per_second=34.0)
    result = _run(replace(LEAST, pod=PodModel()), measured)
    assert result.replicas == 8
    assert result.details()["decodeRateSource"] == "measured"


def test_spec_rates_override_measured_ones() -> None:
    slow = replace(LOAD, prefill_tokens_per_second=1.0, decode_tokens_per_second=1.0)
    assert _run(LEAST, slow).replicas == 8


def test_no_output_tokens_needs_no_decode_rate() -> None:
    prompt_only = SloObservation(2.0, 400.0, 0.0, 400.0, None)
    result = _run(replace(LEAST, pod=PodModel()), prompt_only)
    assert result.service_seconds == 1.0
    assert result.details()["decodeRateSource"] == "unused"


@pytest.mark.parametrize(("panic_rate", "current", "mode", "replicas"), [
    pytest.param(8.0, 3, MODE_PANIC, 22, id="burst-needs-22-over-2x3"),
    pytest.param(3.0, 5, MODE_PANIC, 10, id="needs-10-at-2x5-panics"),
    pytest.param(3.0, 6, MODE_STABLE, 8, id="needs-10-under-2x6-no-panic"),
    pytest.param(3.0, 0, MODE_PANIC, 10, id="from-zero-always-panics"),
    pytest.param(1.0, 0, MODE_STABLE, 8, id="panic-rate-below-stable-changes-nothing"),
])
def test_panic(panic_rate: float, current: int, mode: str, replicas: int) -> None:
    observation = replace(LOAD, panic_arrival_rate_per_second=panic_rate)
    result = _run(replace(LEAST, panic=PanicSpec()), observation, current=current)
    assert (result.mode, result.replicas) == (mode, replicas)


@pytest.mark.parametrize(("forecast", "recent", "seasonal", "mode", "replicas", "note"), [
    pytest.param(ForecastSpec(), (1.2, 1.6, 2.0, 2.4), (), MODE_FORECAST, 12,
                 "holt forecast 4.00 req/s in 60 s", id="rising"),
    pytest.param(ForecastSpec(), (3.0, 2.8, 2.6, 2.4), (), MODE_STABLE, 8,
                 "holt forecast 1.60 req/s in 60 s, not above 2.40", id="falling-never-lowers"),
    pytest.param(ForecastSpec(), (2.4,), (), MODE_STABLE, 8,
                 "no forecast: 1 recent rate, holt needs 3", id="too-short"),
    pytest.param(ForecastSpec(FORECAST_SEASONAL_NAIVE), (2.4,), (1.2, 1.2, 2.0, 2.0, 2.4),
                 MODE_FORECAST, 14, "seasonal-naive forecast 4.80 req/s in 60 s",
                 id="seasonal-doubled"),
])
def test_forecast(forecast: ForecastSpec, recent: tuple[float, ...],
                  seasonal: tuple[float, ...], mode: str, replicas: int, note: str) -> None:
    observation = replace(LOAD, recent_rates_per_second=recent,
                          seasonal_rates_per_second=seasonal)
    result = _run(replace(LEAST, forecast=forecast), observation)
    assert (result.mode, result.replicas) == (mode, replicas)
    assert result.message.endswith(f"; {note}")


def test_a_forecast_from_idle_needs_the_tokens() -> None:
    rising = SloObservation(0.0, None, None, None, None, recent_rates_per_second=(0, 0.5, 1))
    with pytest.raises(SloUnavailable, match="no mean prompt length"):
        _run(replace(LEAST, forecast=ForecastSpec()), rising)


# --- missing and bad inputs ---------------------------------------------------------------

@pytest.mark.parametrize(("spec", "observation", "message"), [
    pytest.param(replace(LEAST, pod=PodModel()), LOAD,
                 "llm_slo_replicas: no prefill rate measured (no prompt tokens in the last "
                 "60 s) and sloRecommender.pod.prefillTokensPerSecond is not set",
                 id="no-prefill-rate"),
    pytest.param(replace(LEAST, pod=replace(POD, decode_tokens_per_second=None)), LOAD,
                 "llm_slo_replicas: no decode rate measured (no completion tokens in the "
                 "last 60 s) and sloRecommender.pod.decodeTokensPerSecond is not set",
                 id="no-decode-rate"),
    pytest.param(replace(LEAST, pod=PodModel()),
                 replace(LOAD, prefill_tokens_per_second=0.0, decode_tokens_per_second=3.0),
                 "llm_slo_replicas: the measured prefill rate is 0 tokens/s and "
                 "sloRecommender.pod.prefillTokensPerSecond is not set", id="zero-rate"),
    pytest.param(LEAST, replace(LOAD, mean_prompt_tokens=None),
                 "llm_slo_replicas: no mean prompt length (no request finished in the last "
                 "60 s) while requests arrive", id="no-prompt-length"),
    pytest.param(LEAST, replace(LOAD, mean_output_tokens=None),
                 "llm_slo_replicas: no mean output length (no request finished in the last "
                 "60 s) while requests arrive", id="no-output-length"),
    pytest.param(LEAST, replace(LOAD, arrival_rate_per_second=math.nan),
                 "llm_slo_replicas: observation arrivalRatePerSecond is nan (must be a "
                 "finite number >= 0)", id="nan-rate"),
    pytest.param(LEAST, replace(LOAD, mean_output_tokens=-1.0),
                 "llm_slo_replicas: observation meanOutputTokens is -1.0 (must be a finite "
                 "number >= 0)", id="negative-tokens"),
    pytest.param(LEAST, replace(LOAD, recent_rates_per_second=(1.0, math.inf)),
                 "llm_slo_replicas: observation recentRatesPerSecond[1] is inf (must be a "
                 "finite number >= 0)", id="infinite-recent-rate"),
    pytest.param(replace(LEAST, ttft_seconds=0.0), LOAD,
                 "llm_slo_replicas: sloRecommender.ttftSeconds is 0.0 (must be a finite "
                 "number > 0)", id="zero-ttft"),
    pytest.param(replace(LEAST, attainment=1.5), LOAD,
                 "llm_slo_replicas: sloRecommender.attainment is 1.5 (must be at most 1)",
                 id="attainment-over-one"),
    pytest.param(replace(LEAST, routing="sticky"), LOAD,
                 "llm_slo_replicas: sloRecommender.routing is 'sticky' (supported: random, "
                 "round-robin, least-in-flight)", id="unknown-routing"),
    pytest.param(replace(LEAST, pod=replace(POD, slots=0)), LOAD,
                 "llm_slo_replicas: sloRecommender.pod.slots is 0 (must be from 1 to "
                 "1,000,000)",
                 id="no-slots"),
    pytest.param(replace(LEAST, panic=PanicSpec(threshold=-2.0)), LOAD,
                 "llm_slo_replicas: sloRecommender.panic.threshold is -2.0 (must be a finite "
                 "number > 0)", id="negative-threshold"),
])
def test_unavailable(spec: SloSpec, observation: SloObservation, message: str) -> None:
    with pytest.raises(SloUnavailable) as raised:
        _run(spec, observation)
    assert str(raised.value) == message
    assert slo_metric(spec, observation, 3, 40).data == MetricUnavailable(message)


def test_idle_needs_no_tokens_and_no_rates() -> None:
    idle = SloObservation(0.0, None, None, None, None, panic_arrival_rate_per_second=0.0)
    result = _run(SloSpec(panic=PanicSpec()), idle)
    assert (result.replicas, result.service_seconds, result.feasible) == (0, None, True)


@pytest.mark.parametrize(("current", "maximum", "message"), [
    pytest.param(-1, 10, "llm_slo_replicas: current replicas is -1 (must be >= 0)",
                 id="negative-current"),
    pytest.param(1, -1, "llm_slo_replicas: maxReplicas is -1 (must be >= 0)",
                 id="negative-max"),
])
def test_bad_replica_counts(current: int, maximum: int, message: str) -> None:
    with pytest.raises(SloUnavailable, match=re.escape(message)):
        _run(LEAST, current=current, maximum=maximum)


# --- the metric ----------------------------------------------------------------------------

def test_the_metric_is_replicas_in_milli_units() -> None:
    metric = slo_metric(LEAST, LOAD, 3, 40)
    assert metric.data == ExternalMetricData((8000,))
    assert metric.recommendation == _run(LEAST)


def test_the_metric_of_an_idle_workload_is_zero() -> None:
    idle = slo_metric(LEAST, SloObservation(0.0, None, None, None, None), 3, 40)
    assert idle.data == ExternalMetricData((0,))


# --- invariants ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Case:
    spec: SloSpec
    observation: SloObservation
    current: int
    maximum: int


@st.composite
def cases(draw: st.DrawFn) -> Case:
    measured = draw(st.booleans())
    prefill = draw(st.floats(20.0, 4000.0))
    decode = draw(st.floats(2.0, 200.0))
    pod = PodModel(draw(st.integers(1, 4)), None if measured else prefill,
                   None if measured else decode)
    spec = SloSpec(ttft_seconds=draw(st.floats(0.2, 30.0)),
                   attainment=draw(st.floats(0.5, 0.999)), routing=draw(st.sampled_from(ROUTINGS)),
                   service_scv=draw(st.floats(0.0, 3.0)), pod=pod)
    rate = draw(st.one_of(st.just(0.0), st.floats(0.0, 20.0)))
    observation = SloObservation(rate, draw(st.floats(0.0, 3000.0)), draw(st.floats(0.0, 800.0)),
                                 prefill if measured else None, decode if measured else None,
                                 in_flight_requests=draw(st.none() | st.floats(0.0, 20.0)))
    return Case(spec, observation, draw(st.integers(0, 100)), draw(st.integers(0, 150)))


def _recommend(case: Case) -> Recommendation:
    return recommend(case.spec, case.observation, case.current, case.maximum)


def _meets(case: Case, result: Recommendation, pods: int) -> bool:
    """The criterion, evaluated independently of the search."""
    spec, service = case.spec, result.service
    assert service is not None
    fleet = Fleet(spec.routing, pods, spec.pod.slots, service.service_seconds, spec.service_scv)
    late = fleet_wait_tail(fleet, result.arrival_rate_per_second,
                           max(0.0, spec.ttft_seconds - service.prefill_seconds))
    return pods >= 1 and late < 1.0 and late <= 1.0 - spec.attainment


@given(case=cases())
@settings(max_examples=300, deadline=None)
def test_the_answer_is_the_smallest_that_meets_the_target(case: Case) -> None:
    result = _recommend(case)
    assert 0 <= result.replicas <= case.maximum
    if result.arrival_rate_per_second == 0.0:
        busy = (case.observation.in_flight_requests or 0.0) > 0.0
        assert result.replicas == min(case.maximum, 1 if busy else 0)
        return
    assert result.replicas >= min(case.maximum, 1)
    if _meets(case, result, result.replicas):
        assert not _meets(case, result, result.replicas - 1)
    else:
        assert result.replicas == case.maximum and not result.feasible
    if result.feasible:
        assert result.predicted_attainment >= case.spec.attainment - 1e-12


HARDER = ("rate", "prompt", "output", "prefill", "decode", "ttft", "attainment", "scv")


def _harder(case: Case, what: str, factor: float) -> Case:
    """The same case with more load or a stricter target (factor >= 1)."""
    spec, obs, pod = case.spec, case.observation, case.spec.pod

    def slower(rate: float | None) -> float | None:
        return None if rate is None else rate / factor

    changes = {
        "rate": (spec, replace(obs, arrival_rate_per_second=obs.arrival_rate_per_second * factor)),
        "prompt": (spec, replace(obs, mean_prompt_tokens=(obs.mean_prompt_tokens or 0) * factor)),
        "output": (spec, replace(obs, mean_output_tokens=(obs.mean_output_tokens or 0) * factor)),
        "prefill": (replace(spec, pod=replace(pod, prefill_tokens_per_second=slower(
            pod.prefill_tokens_per_second))), replace(obs, prefill_tokens_per_second=slower(
                obs.prefill_tokens_per_second))),
        "decode": (replace(spec, pod=replace(pod, decode_tokens_per_second=slower(
            pod.decode_tokens_per_second))), replace(obs, decode_tokens_per_second=slower(
                obs.decode_tokens_per_second))),
        "ttft": (replace(spec, ttft_seconds=spec.ttft_seconds / factor), obs),
        "attainment": (replace(spec, attainment=1 - (1 - spec.attainment) / factor), obs),
        "scv": (replace(spec, service_scv=spec.service_scv * factor), obs),
    }
    harder_spec, harder_obs = changes[what]
    return replace(case, spec=harder_spec, observation=harder_obs)


@given(case=cases(), what=st.sampled_from(HARDER), factor=st.floats(1.0, 4.0))
@settings(max_examples=400, deadline=None)
def test_more_load_or_a_stricter_target_never_needs_fewer_pods(case: Case, what: str,
                                                               factor: float) -> None:
    assert _recommend(_harder(case, what, factor)).replicas >= _recommend(case).replicas


@given(case=cases(), panic_rate=st.floats(0.0, 40.0), threshold=st.floats(1.0, 4.0),
       recent=st.lists(st.floats(0.0, 30.0), max_size=8))
@settings(max_examples=200, deadline=None)
def test_panic_and_forecast_never_lower_the_answer(case: Case, panic_rate: float,
                                                   threshold: float,
                                                   recent: list[float]) -> None:
    base = _recommend(case)
    observation = replace(case.observation, panic_arrival_rate_per_second=panic_rate,
                          recent_rates_per_second=tuple(recent))
    spec = replace(case.spec, panic=PanicSpec(threshold=threshold),
                   forecast=ForecastSpec(FORECAST_HOLT))
    both = _recommend(replace(case, spec=spec, observation=observation))
    assert both.replicas >= base.replicas
    assert both.arrival_rate_per_second >= base.arrival_rate_per_second
    assert both.mode in (MODE_STABLE, MODE_PANIC, MODE_FORECAST)


finite = st.floats(allow_nan=False, allow_infinity=False)
maybe_finite = st.none() | finite


@st.composite
def any_finite_case(draw: st.DrawFn) -> Case:
    pod = PodModel(draw(st.integers(-2, 2000)), draw(maybe_finite), draw(maybe_finite))
    forecast = draw(st.none() | st.builds(
        ForecastSpec, st.sampled_from((FORECAST_HOLT, FORECAST_SEASONAL_NAIVE, "arima")),
        finite, finite, finite))
    panic = draw(st.none() | st.builds(PanicSpec, finite, finite))
    spec = SloSpec(draw(finite), draw(finite), draw(st.sampled_from((*ROUTINGS, "x"))),
                   draw(finite), draw(finite), draw(finite), pod, forecast, panic)
    observation = SloObservation(
        draw(finite), draw(maybe_finite), draw(maybe_finite), draw(maybe_finite),
        draw(maybe_finite), draw(maybe_finite), draw(maybe_finite),
        tuple(draw(st.lists(finite, max_size=6))), tuple(draw(st.lists(finite, max_size=6))))
    return Case(spec, observation, draw(st.integers(-2, 2**31 - 1)),
                draw(st.integers(-2, 2**31 - 1)))


@given(case=any_finite_case())
@settings(max_examples=400, deadline=None)
def test_any_finite_input_answers_or_is_unavailable(case: Case) -> None:
    try:
        result = _recommend(case)
    except SloUnavailable as error:
        assert str(error).startswith("llm_slo_replicas: ")
        return
    assert 0 <= result.replicas <= case.maximum
    assert result.message


BAD_NUMBERS = st.sampled_from((math.nan, math.inf, -math.inf, -1.0, -1e-300))
BREAK_OBSERVATION: dict[str, Callable[[SloObservation, float], SloObservation]] = {
    "arrivalRatePerSecond": lambda o, bad: replace(o, arrival_rate_per_second=bad),
    "meanPromptTokens": lambda o, bad: replace(o, mean_prompt_tokens=bad),
    "decodeTokensPerSecond": lambda o, bad: replace(o, decode_tokens_per_second=bad),
    "inFlightRequests": lambda o, bad: replace(o, in_flight_requests=bad),
    "panicArrivalRatePerSecond": lambda o, bad: replace(o, panic_arrival_rate_per_second=bad),
    r"seasonalRatesPerSecond\[1\]": lambda o, bad: replace(
        o, seasonal_rates_per_second=(1.0, bad)),
}
BREAK_SPEC: dict[str, Callable[[SloSpec, float], SloSpec]] = {
    "ttftSeconds": lambda s, bad: replace(s, ttft_seconds=bad),
    "attainment": lambda s, bad: replace(s, attainment=bad),
    "leadTimeSeconds": lambda s, bad: replace(s, lead_time_seconds=bad),
    "serviceScv": lambda s, bad: replace(s, service_scv=bad),
    "windowSeconds": lambda s, bad: replace(s, window_seconds=bad),
    r"pod\.prefillTokensPerSecond": lambda s, bad: replace(
        s, pod=replace(s.pod, prefill_tokens_per_second=bad)),
    r"forecast\.stepSeconds": lambda s, bad: replace(s, forecast=ForecastSpec(step_seconds=bad)),
}


@given(case=cases(), field=st.sampled_from(sorted(BREAK_OBSERVATION)), bad=BAD_NUMBERS)
def test_nan_inf_or_negative_inputs_are_unavailable(case: Case, field: str, bad: float) -> None:
    observation = BREAK_OBSERVATION[field](case.observation, bad)
    with pytest.raises(SloUnavailable, match=f"observation {field} is "):
        recommend(case.spec, observation, case.current, case.maximum)


@given(case=cases(), field=st.sampled_from(sorted(BREAK_SPEC)), bad=BAD_NUMBERS)
def test_nan_inf_or_negative_spec_fields_are_unavailable(case: Case, field: str,
                                                         bad: float) -> None:
    spec = BREAK_SPEC[field](case.spec, bad)
    with pytest.raises(SloUnavailable, match=f"sloRecommender\\.{field} is "):
        recommend(spec, case.observation, case.current, case.maximum)
