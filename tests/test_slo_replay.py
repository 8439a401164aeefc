"""The SLO recommender in replay: the inputs measured on the simulated requests (checked
against a brute-force recount from the engine's per-request log), the same `slo_metric` as
the daemon, specs with `sloRecommender` accepted and refused with the field named, and
request-rate series mapped onto the model."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.slo.metric import SloMetric
from algorithms.slo.model import (
    ROUTING_LEAST_IN_FLIGHT,
    ROUTINGS,
    ForecastSpec,
    PanicSpec,
    PodModel,
    SloObservation,
    SloSpec,
)
from algorithms.slo.recommend import recommend
from autoscaler.replay import observe, slo_observe
from autoscaler.replay.cluster import Controller, run_cluster
from autoscaler.replay.fluid import FluidEngine
from autoscaler.replay.llm import LLMEngine, RequestRecord
from autoscaler.replay.model import DecisionRecord, DemandSeries, RequestTrace, StepChunk, Summary
from autoscaler.replay.run import Policy, PolicyError, policy_from_object, replay
from autoscaler.replay.settings import LLMCapacity, SimulationSettings
from autoscaler.replay.sim_pods import PodSet, SimPod

SMALL = LLMCapacity(prefill_tokens_per_second=100, decode_tokens_per_second=10)
SLO = SloSpec(ttft_seconds=5.0, attainment=0.9, routing=ROUTING_LEAST_IN_FLIGHT,
              window_seconds=60.0, lead_time_seconds=30.0, pod=PodModel(slots=1),
              forecast=ForecastSpec(history_seconds=120.0, step_seconds=15.0),
              panic=PanicSpec(window_seconds=6.0, threshold=2.0))


@dataclass
class Decisions:
    records: dict[str, list[DecisionRecord]] = field(default_factory=dict)
    summaries: list[Summary] = field(default_factory=list)
    late_seconds: list[float] = field(default_factory=list)  # with a violation

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        self.late_seconds.extend(chunk.t_seconds[chunk.violation].tolist())

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        self.records.setdefault(policy, []).append(record)

    def on_summary(self, summary: Summary) -> None:
        self.summaries.append(summary)


def slo_object(block: dict[str, object] | None, metrics: list[dict[str, object]] | None = None,
               max_replicas: int = 10) -> dict[str, object]:
    spec: dict[str, object] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "minReplicas": 1, "maxReplicas": max_replicas,
        "metrics": metrics if metrics is not None else [{"type": "External", "external": {
            "metric": {"name": "llm_slo_replicas"},
            "target": {"type": "AverageValue", "averageValue": "1"}}}]}
    if block is not None:
        spec["sloRecommender"] = block
    return {"apiVersion": "autoscaling.example/v1", "kind": "ElasticAutoscaler",
            "metadata": {"name": "slo"}, "spec": spec}


BLOCK = {"ttftSeconds": 5, "attainment": 0.9, "routing": "least-in-flight",
         "windowSeconds": 60, "leadTimeSeconds": 30, "pod": {"slots": 1}}


def poisson_trace(rate: float, seconds: float, seed: int, prompt: int = 100,
                  output: int = 10) -> RequestTrace:
    rng = np.random.default_rng(seed)
    arrivals = np.cumsum(rng.exponential(1.0 / rate, int(rate * seconds * 1.5) + 10))
    arrivals = arrivals[arrivals < seconds]
    n = len(arrivals)
    return RequestTrace(arrivals, rng.integers(1, 2 * prompt, n), rng.integers(0, 2 * output, n))


# -- the inputs against a brute-force recount --------------------------------------------


def recount(trace: RequestTrace, log: list[RequestRecord], slo: SloSpec, now: float,
            capacity: LLMCapacity) -> SloObservation:
    """What the metering proxy's counters give over the spec's windows, from scratch."""
    end = math.floor(now)

    def rate(t: float, seconds: float) -> float:
        a = max(0, math.floor(t) - round(seconds))
        b = math.floor(t)
        return float(np.count_nonzero((trace.arrival_seconds >= a)
                                      & (trace.arrival_seconds < b))) / (b - a)

    start = max(0, end - round(slo.window_seconds))
    done = [(int(trace.prompt_tokens[i]), int(trace.output_tokens[i])) for i, r in enumerate(log)
            if r.pod is not None and start <= math.floor(r.end) < end]
    prompt = sum(p for p, _ in done)
    output = sum(o for _, o in done)
    assert slo.forecast is not None and slo.panic is not None
    recent = [rate(t, 30.0) for t in np.arange(end, end - 120.0 - 1e-9, -15.0) if t >= 30.0]
    return SloObservation(
        arrival_rate_per_second=rate(now, slo.window_seconds),
        mean_prompt_tokens=prompt / len(done) if done else None,
        mean_output_tokens=output / len(done) if done else None,
        prefill_tokens_per_second=capacity.prefill_tokens_per_second if prompt else None,
        decode_tokens_per_second=capacity.decode_tokens_per_second if output else None,
        panic_arrival_rate_per_second=rate(now, 30.0),
        recent_rates_per_second=tuple(reversed(recent)))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rate=st.floats(0.05, 3.0), pods=st.integers(1, 5),
       syncs=st.lists(st.integers(1, 400), min_size=1, max_size=6, unique=True))
def test_inputs_match_a_recount_of_the_requests(seed: int, rate: float, pods: int,
                                                syncs: list[int]) -> None:
    trace = poisson_trace(rate, 420.0, seed)
    engine = LLMEngine(trace, SimulationSettings(capacity=SMALL, routing="random", seed=seed))
    engine.track_finishes()
    engine.request_log = []
    ready = [SimPod(f"pod-{i}", -100.0, SimulationSettings().lifecycle) for i in range(pods)]
    t = 0
    for now in sorted(syncs):
        if now > t:
            engine.advance_chunk(t, now, ready)
            t = now
        seen = slo_observe.observation(engine, SLO, ready, float(now))
        assert seen is not None
        expected = recount(trace, engine.request_log, SLO, float(now), SMALL)
        assert seen.arrival_rate_per_second == pytest.approx(expected.arrival_rate_per_second)
        assert seen.panic_arrival_rate_per_second == pytest.approx(
            expected.panic_arrival_rate_per_second)
        for name in ("mean_prompt_tokens", "mean_output_tokens", "prefill_tokens_per_second",
                     "decode_tokens_per_second"):
            got, want = getattr(seen, name), getattr(expected, name)
            assert (got is None) == (want is None), name
            if want is not None:
                assert got == pytest.approx(want, rel=1e-9), name
        assert seen.recent_rates_per_second == pytest.approx(expected.recent_rates_per_second)
        assert seen.in_flight_requests == sum(
            1 for r in engine.request_log if r.pod is not None and r.arrival < now < r.end)


@pytest.mark.parametrize("now, points", [
    pytest.param(29.0, 0, id="no-full-window-yet"),
    pytest.param(30.0, 1, id="first-full-window"),
    pytest.param(100.0, 5, id="cut-at-the-trace-start"),
    pytest.param(400.0, 9, id="whole-history"),
])
def test_rate_history_holds_no_points_before_the_trace(now: float, points: int) -> None:
    engine = LLMEngine(poisson_trace(1.0, 500.0, 1), SimulationSettings(capacity=SMALL))
    seen = slo_observe.observation(engine, SLO, [], now)
    assert seen is not None and len(seen.recent_rates_per_second) == points


def test_a_season_shorter_than_the_lead_time_never_reads_ahead() -> None:
    engine = LLMEngine(poisson_trace(1.0, 500.0, 1), SimulationSettings(capacity=SMALL))
    spec = replace(SLO, lead_time_seconds=120.0, forecast=ForecastSpec(
        method="seasonal-naive", history_seconds=60.0, step_seconds=15.0, season_seconds=60.0))
    seen = slo_observe.observation(engine, spec, [], 200.0)
    assert seen is not None and seen.seasonal_rates_per_second == ()
    assert spec.forecast is not None
    ok = replace(spec, forecast=replace(spec.forecast, season_seconds=150.0))
    seen = slo_observe.observation(engine, ok, [], 200.0)
    # 110, 125, ..., 170: both ends, as a range query gives them
    assert seen is not None and len(seen.seasonal_rates_per_second) == 5


# -- one code path: the replay's metric is slo_metric of those inputs ---------------------


def test_replay_answers_with_the_recommendation_of_the_recounted_inputs(
        monkeypatch: pytest.MonkeyPatch) -> None:
    answers: list[tuple[float, int, SloMetric]] = []
    real = slo_observe.slo_replicas

    def spy(engine: object, slo: SloSpec, pods: list[SimPod], now: float,
            max_replicas: int) -> SloMetric:
        answer = real(engine, slo, pods, now, max_replicas)
        answers.append((now, len(pods), answer))
        return answer

    monkeypatch.setattr(observe, "slo_replicas", spy)
    trace = poisson_trace(2.0, 900.0, 7, prompt=150, output=20)
    settings_ = SimulationSettings(capacity=SMALL, routing=ROUTING_LEAST_IN_FLIGHT)
    engine = LLMEngine(trace, settings_)
    engine.request_log = []
    policy = policy_from_object(slo_object({**BLOCK, "forecast": {"method": "holt",
                                                                  "historySeconds": 120},
                                            "panic": {"windowSeconds": 6}}), "slo.yaml")
    assert policy.spec is not None and policy.slo is not None
    sink = Decisions()
    run_cluster(policy.name, engine, settings_, 1, Controller(policy.spec, slo=policy.slo),
                sink)
    records = sink.records[policy.name]
    assert len(answers) == len(records) >= 900 // 15 - 1
    grew = False
    for (now, current, answer), record in zip(answers, records, strict=True):
        assert record.t_seconds == now and record.current_replicas == current
        expected = recount(trace, engine.request_log, policy.slo, now, SMALL)
        # In flight only keeps one pod while requests arrive: sizing says >= 1 then.
        want = recommend(policy.slo, replace(expected, in_flight_requests=1.0), current, 10)
        assert answer.recommendation is not None
        assert answer.recommendation.replicas == want.replicas, now
        assert answer.data.values_milli == (want.replicas * 1000,)  # type: ignore[union-attr]
        grew = grew or record.desired_replicas > 1
    assert grew  # 2 req/s of ~3.5 s requests: one pod is not enough


@pytest.mark.parametrize("routing", ROUTINGS)
def test_the_slo_policy_beats_one_pod_and_stays_within_bounds(routing: str) -> None:
    trace = poisson_trace(1.5, 1200.0, 3, prompt=150, output=20)
    policy = policy_from_object(slo_object({**BLOCK, "routing": routing}, max_replicas=8), "x")
    sink = Decisions()
    summaries = replay(trace, [policy, Policy.fixed(1)],
                       SimulationSettings(capacity=SMALL, routing=routing), sink)
    slo_run, one = summaries
    assert slo_run.requests is not None and one.requests is not None
    assert slo_run.requests.attainment > one.requests.attainment + 0.2
    assert 1 < slo_run.max_replicas <= 8
    assert all(r.reason != "FailedGetExternalMetric" for r in sink.records[slo_run.policy])


# -- request-rate series ----------------------------------------------------------------


def test_a_request_rate_series_is_sized_by_the_model() -> None:
    """20 req/s of 0.5 CPU-s each on 3-core pods = 3 slots of 2 requests/s per pod: the
    inputs are the series' rate and one "token" decoded at 1 / 0.5 tokens/s."""
    series = DemandSeries(0.0, 1.0, np.full(1800, 20.0), "requests_per_second")
    settings_ = SimulationSettings(cpu_seconds_per_request=0.5)
    block = {**BLOCK, "pod": {"slots": 3}, "serviceScv": 0.0}
    policy = policy_from_object(slo_object(block), "x")
    assert policy.slo is not None
    engine = FluidEngine(series, settings_)
    seen = slo_observe.observation(engine, policy.slo, [], 600.0)
    assert seen is not None
    assert (seen.arrival_rate_per_second, seen.mean_output_tokens,
            seen.decode_tokens_per_second) == (20.0, 1.0, 2.0)
    want = recommend(policy.slo, seen, 4, 10).replicas
    assert 20 * 0.5 / 3 < want <= 10  # more than the work alone needs, within the bound
    sink = Decisions()
    (summary,) = replay(series, [policy], settings_, sink)
    assert sink.records[policy.name][-1].current_replicas == want
    # Only until the first pods are Ready and the backlog of the start is served.
    assert summary.violation_seconds > 0 and max(sink.late_seconds) < 300


def test_a_cpu_series_has_no_requests_to_size() -> None:
    series = DemandSeries(0.0, 1.0, np.full(120, 2.0), "cores")
    policy = policy_from_object(slo_object(BLOCK), "x")
    sink = Decisions()
    replay(series, [policy], SimulationSettings(), sink)
    assert {r.reason for r in sink.records[policy.name]} == {"FailedGetExternalMetric"}
    pods = PodSet(SimulationSettings().lifecycle)
    assert policy.slo is not None
    answer = slo_observe.slo_replicas(FluidEngine(series, SimulationSettings()), policy.slo,
                                      pods.pods, 30.0, 10)
    assert "needs requests" in str(answer.data)


# -- specs --------------------------------------------------------------------------------


@pytest.mark.parametrize("raw, message", [
    pytest.param(slo_object(None), "llm_slo_replicas", id="metric-without-block"),
    pytest.param(slo_object({**BLOCK, "ttftSeconds": -1}), "spec.sloRecommender.ttftSeconds",
                 id="bad-field-named"),
    pytest.param(slo_object({**BLOCK, "routing": "dns"}), "spec.sloRecommender.routing",
                 id="unknown-routing"),
    pytest.param(slo_object(BLOCK, metrics=[{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]),
        "sloRecommender", id="block-without-metric"),
])
def test_bad_slo_specs_are_refused_naming_the_field(raw: dict[str, object],
                                                    message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        policy_from_object(raw, "policy.yaml")
    assert caught.value.message.startswith("policy.yaml: ")
    assert message in caught.value.message


def test_the_daemon_only_fields_are_accepted() -> None:
    raw = slo_object(BLOCK)
    raw["spec"] = {**raw["spec"], "dryRun": True, "syncPeriodSeconds": 30,  # type: ignore[dict-item]
                   "metricsSource": "prometheus"}
    policy = policy_from_object(raw, "x")
    assert policy.slo is not None and policy.slo.pod.slots == 1 and policy.name == "hpa:slo"
