"""Skipping steady syncs (autoscaler.replay.steady) changes nothing but the speed.

Random demand traces (steady stretches, bursts, ramps, zeros), random specs (behavior null
or random windows, policies and tolerances; min/max) and random simulator settings are
replayed with `skip_steady_syncs` on and off: the summaries, the decision records and the
per-second timelines must be identical, and so must the controller's final state.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strategies import policies, tolerances

from algorithms.config import ControllerConfig
from algorithms.decide import decide
from algorithms.defaults import set_defaults
from algorithms.history import TimestampedRecommendation
from algorithms.plan import Plan
from algorithms.pods import ReadinessRules
from algorithms.replicas import Tolerances
from algorithms.spec import (
    UTILIZATION,
    CrossVersionObjectReference,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
)
from algorithms.validation import check_spec
from autoscaler.replay.cluster import Controller, run_cluster
from autoscaler.replay.fluid import FluidEngine
from autoscaler.replay.model import DecisionRecord, DemandSeries, StepChunk, Summary
from autoscaler.replay.run import Policy, replay
from autoscaler.replay.scenarios import SEED_HPA, TUNED_HPA, UPSTREAM_DEFAULT_HPA
from autoscaler.replay.settings import (
    MetricsPartition,
    MetricsPipeline,
    PodLifecycle,
    SimulationSettings,
)

COLUMNS = ("t_seconds", "demand", "capacity", "replicas", "ready", "served", "queued",
           "dropped", "violation")


@dataclass
class Recorder:
    chunks: dict[str, list[StepChunk]] = field(default_factory=dict)
    decisions: dict[str, list[DecisionRecord]] = field(default_factory=dict)
    summaries: list[Summary] = field(default_factory=list)

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        self.chunks.setdefault(policy, []).append(chunk)

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        self.decisions.setdefault(policy, []).append(record)

    def on_summary(self, summary: Summary) -> None:
        self.summaries.append(summary)

    def timeline(self, policy: str) -> dict[str, np.ndarray]:
        chunks = self.chunks.get(policy, [])
        return {name: np.concatenate([getattr(c, name) for c in chunks]) if chunks
                else np.empty(0) for name in COLUMNS}


def assert_same_run(slow: Recorder, fast: Recorder) -> None:
    assert fast.summaries == slow.summaries
    assert fast.decisions == slow.decisions
    assert fast.chunks.keys() == slow.chunks.keys()
    for policy in slow.chunks:
        expected, got = slow.timeline(policy), fast.timeline(policy)
        for name in COLUMNS:
            assert got[name].dtype == expected[name].dtype, (policy, name)
            assert np.array_equal(got[name], expected[name]), (policy, name)


# ------------------------------------------------------------------ strategies


@st.composite
def demand_traces(draw: st.DrawFn, peak: float) -> np.ndarray:
    """Stretches of steady load (with noise), bursts, ramps and silence."""
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    parts = []
    for _ in range(draw(st.integers(1, 5))):
        length = draw(st.integers(20, 3000))
        shape = draw(st.sampled_from(["steady", "steady", "burst", "ramp", "zero", "sine"]))
        level = draw(st.floats(0.0, peak))
        noise = draw(st.sampled_from([0.0, 0.01, 0.05, 0.2]))
        if shape == "zero":
            values = np.zeros(length)
        elif shape == "burst":
            values = np.full(length, level)
            start = int(rng.integers(0, length))
            values[start:start + int(rng.integers(1, 120))] += draw(st.floats(0.0, 2 * peak))
        elif shape == "ramp":
            values = np.linspace(level, draw(st.floats(0.0, peak)), length)
        elif shape == "sine":
            values = level * (1 + 0.5 * np.sin(np.arange(length) / draw(st.floats(20, 900))))
        else:
            values = np.full(length, level)
        values = values * (1 + noise * rng.standard_normal(length))
        parts.append(np.maximum(values, 0.0))
    # At least half an hour (padded at a steady level): long enough for stretches to form.
    tail = max(0, 1800 - sum(len(part) for part in parts))
    parts.append(np.full(tail, draw(st.floats(0.0, peak))))
    return np.concatenate(parts)


def _rules() -> st.SearchStrategy[HPAScalingRules]:
    return st.builds(
        HPAScalingRules,
        stabilization_window_seconds=st.one_of(st.none(), st.sampled_from([0, 15, 45, 120,
                                                                           300, 600])),
        select_policy=st.one_of(st.none(), st.sampled_from(["Max", "Min", "Disabled"])),
        policies=st.one_of(st.none(), st.lists(policies, min_size=1, max_size=3).map(tuple)),
        tolerance=st.one_of(st.none(), tolerances))


@st.composite
def cpu_specs(draw: st.DrawFn) -> HorizontalPodAutoscalerSpec:
    """Specs the skipping applies to (one CPU Utilization metric), behavior null or not."""
    max_replicas = draw(st.integers(1, 12))
    min_replicas = draw(st.one_of(st.none(), st.integers(1, max_replicas)))
    behavior = draw(st.one_of(st.none(), st.builds(
        HorizontalPodAutoscalerBehavior, scale_up=st.one_of(st.none(), _rules()),
        scale_down=st.one_of(st.none(), _rules()))))
    metric = MetricSpec(type="Resource", resource=ResourceMetricSource(
        name="cpu", target=MetricTarget(type=UTILIZATION,
                                        average_utilization=draw(st.integers(5, 150)))))
    spec = set_defaults(HorizontalPodAutoscalerSpec(
        scale_target_ref=CrossVersionObjectReference("Deployment", "app", "apps/v1"),
        max_replicas=max_replicas, min_replicas=min_replicas, metrics=(metric,),
        behavior=behavior))
    check_spec(spec)
    return spec


@st.composite
def simulations(draw: st.DrawFn) -> SimulationSettings:
    request = draw(st.sampled_from([250, 1000, 3000]))
    lifecycle = PodLifecycle(
        scheduling_seconds=draw(st.sampled_from([0.0, 2.0, 3.5])),
        startup_seconds=draw(st.sampled_from([0.0, 5.0, 30.0, 61.5, 400.0])),
        startup_cpu_cores=draw(st.sampled_from([0.0, 1.0])),
        cpu_request_milli=request,
        cpu_limit_milli=request * draw(st.sampled_from([1, 2])),
        idle_cpu_cores=draw(st.sampled_from([0.0, 0.01])))
    metrics = MetricsPipeline(
        kind=draw(st.sampled_from(["metrics-server", "prometheus"])),
        resolution_seconds=draw(st.sampled_from([15.0, 10.0, 30.0, 7.5])),
        window_seconds=draw(st.sampled_from([15.0, 30.0, 60.0, 22.5, 5.0])))
    controller = ControllerConfig(
        tolerances=draw(st.sampled_from([Tolerances(), Tolerances(0.05, 0.2),
                                         Tolerances(0.0, 0.0)])),
        readiness=draw(st.sampled_from([ReadinessRules(), ReadinessRules(30.0, 10.0)])),
        downscale_stabilization_window_seconds=draw(st.sampled_from([300.0, 0.0, 60.0,
                                                                     37.5])),
        sync_period_seconds=draw(st.sampled_from([15.0, 15.0, 10.0, 30.0, 12.5, 1.0])))
    partition = draw(st.one_of(st.none(), st.builds(
        MetricsPartition, start_seconds=st.floats(0, 3000), end_seconds=st.floats(0, 6000),
        takeover_seconds=st.sampled_from([17.0, 0.0, 100.0]))))
    return SimulationSettings(
        lifecycle=lifecycle, metrics=metrics, controller=controller,
        cpu_seconds_per_request=draw(st.sampled_from([0.5, 0.02])),
        max_backlog_seconds=draw(st.sampled_from([60.0, 5.0])),
        initial_replicas=draw(st.one_of(st.none(), st.integers(1, 8))),
        partition=partition)


@contextmanager
def counting_decide() -> Iterator[list[int]]:
    """Counts the simulator's `decide()` calls while in the block."""
    calls = [0]

    def counted(*args: Any, **kwargs: Any) -> Plan:
        calls[0] += 1
        return decide(*args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("autoscaler.replay.cluster.decide", counted)
        yield calls


def both_ways(run: Callable[[SimulationSettings, Recorder], Any], sim: SimulationSettings
              ) -> tuple[Recorder, Recorder, Any, Any]:
    slow, fast = Recorder(), Recorder()
    slow_result = run(dataclasses.replace(sim, skip_steady_syncs=False), slow)
    fast_result = run(dataclasses.replace(sim, skip_steady_syncs=True), fast)
    return slow, fast, slow_result, fast_result


# ---------------------------------------------------------------------- tests


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(data=st.data(), spec=cpu_specs(), sim=simulations(),
       unit=st.sampled_from(["cores", "requests_per_second"]),
       step=st.sampled_from([1.0, 1.0, 1.0, 60.0, 2.5]))
def test_skipping_steady_syncs_changes_nothing(data: st.DataObject,
                                               spec: HorizontalPodAutoscalerSpec,
                                               sim: SimulationSettings, unit: str,
                                               step: float) -> None:
    pod_capacity = sim.lifecycle.cpu_limit_milli / 1000.0
    if unit == "requests_per_second":
        pod_capacity /= sim.cpu_seconds_per_request
    values = data.draw(demand_traces(peak=pod_capacity * spec.max_replicas * 1.2))
    if step != 1.0:
        values = values[:max(1, int(len(values) / step))]  # about the same duration
    series = DemandSeries(0.0, step, values, unit, "hypothesis")

    def run(settings: SimulationSettings, sink: Recorder) -> int:
        with counting_decide() as calls:
            replay(series, [Policy.hpa("p", spec)], settings, sink)
        return calls[0]

    slow, fast, slow_calls, fast_calls = both_ways(run, sim)
    assert_same_run(slow, fast)
    syncs = sum(len(d) for d in slow.decisions.values())
    event("skipped: " + ("none" if fast_calls == slow_calls else
                         "most" if fast_calls * 2 < syncs else "some"))


@settings(max_examples=60, deadline=None)
@given(data=st.data(), spec=cpu_specs(), sim=simulations())
def test_the_controller_state_ends_the_same(data: st.DataObject,
                                            spec: HorizontalPodAutoscalerSpec,
                                            sim: SimulationSettings) -> None:
    """Recommendations (slot for slot), status with its conditions and metric reading, and
    the time of the last pass, as the uninterrupted `decide()` calls leave them."""
    values = data.draw(demand_traces(peak=sim.lifecycle.cpu_limit_milli / 1000.0
                                     * spec.max_replicas))
    series = DemandSeries(0.0, 1.0, values, "cores", "hypothesis")

    def run(settings: SimulationSettings, sink: Recorder) -> Controller:
        controller = Controller(spec)
        initial = settings.initial_replicas or spec.min_replicas or 1
        run_cluster("p", FluidEngine(series, settings), settings, initial, controller, sink)
        return controller

    slow, fast, slow_controller, fast_controller = both_ways(run, sim)
    assert_same_run(slow, fast)
    assert fast_controller.state == slow_controller.state


def diurnal(days: float, seed: int = 0) -> DemandSeries:
    seconds = int(days * 86400)
    t = np.arange(seconds)
    rng = np.random.default_rng(seed)
    demand = 4.0 + 3.0 * np.sin(t / 86400 * 2 * np.pi) + rng.gamma(2.0, 0.5, seconds)
    demand[20000:21000] = 0.0  # silence
    demand[40000:40300] += 25.0  # a burst past every pod's limit: work waits
    return DemandSeries(0.0, 1.0, demand, "cores", "diurnal")


@pytest.mark.parametrize("sim", [
    pytest.param(SimulationSettings(), id="metrics-server"),
    pytest.param(SimulationSettings(metrics=MetricsPipeline(kind="prometheus",
                                                            window_seconds=60.0)),
                 id="prometheus"),
    pytest.param(SimulationSettings(partition=MetricsPartition(30000.0, 33000.0)),
                 id="partition"),
])
def test_a_day_of_diurnal_load_skips_most_syncs_and_matches(sim: SimulationSettings) -> None:
    series = diurnal(1.0)
    policies_run = [SEED_HPA, UPSTREAM_DEFAULT_HPA, TUNED_HPA, Policy.fixed(3)]

    def run(settings: SimulationSettings, sink: Recorder) -> int:
        with counting_decide() as calls:
            replay(series, policies_run, settings, sink)
        return calls[0]

    slow, fast, slow_calls, fast_calls = both_ways(run, sim)
    assert_same_run(slow, fast)
    syncs = sum(len(d) for d in slow.decisions.values())
    assert slow_calls == syncs
    assert fast_calls < 0.2 * syncs


def test_the_slot_rule_matches_decide_after_a_gap() -> None:
    """A state whose list has several entries outside the windows (e.g. restored after a
    gap): the new recommendation takes the *last* such slot, the others stay."""
    from autoscaler.replay.steady import _Slots  # noqa: PLC0415 - internal helper

    recs = (TimestampedRecommendation(3, 0.0), TimestampedRecommendation(5, 10.0),
            TimestampedRecommendation(2, 20.0), TimestampedRecommendation(4, 400.0))
    slots = _Slots(recs, 3)
    slots.expire(100.0)
    assert slots.slot() == 2
    assert slots.above == 1  # the 4 stamped 400 is still inside
    slots.record(TimestampedRecommendation(3, 415.0))
    slots.expire(115.0)
    assert slots.slot() == 1
    assert slots.items[2] == TimestampedRecommendation(3, 415.0)
