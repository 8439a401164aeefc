"""The cluster simulator: hand-computed timelines on tiny traces, conservation, the oracle
bound, and determinism."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.replay.fluid import FluidEngine
from autoscaler.replay.llm import LLMEngine
from autoscaler.replay.model import (
    DecisionRecord,
    DemandSeries,
    RequestTrace,
    StepChunk,
    Summary,
)
from autoscaler.replay.run import Policy, replay, with_bounded_oracles
from autoscaler.replay.scenarios import IN_FLIGHT_HPA, SEED_HPA, TUNED_HPA, UPSTREAM_DEFAULT_HPA
from autoscaler.replay.settings import (
    LLMCapacity,
    MetricsPartition,
    ModelOverrides,
    PodLifecycle,
    SimulationSettings,
)
from autoscaler.replay.sim_pods import PodSet


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

    def column(self, policy: str, name: str) -> np.ndarray:
        return np.concatenate([getattr(c, name) for c in self.chunks[policy]])


def series(values: list[float], unit: str = "cores") -> DemandSeries:
    return DemandSeries(0.0, 1.0, np.array(values, dtype=np.float64), unit)


# ----------------------------------------------------------------------------- fluid


@pytest.mark.parametrize(("demand", "pods", "served", "queued", "dropped"), [
    pytest.param([2, 2, 2], 1, [2, 2, 2], [0, 0, 0], [0, 0, 0], id="under-capacity"),
    pytest.param([8, 8, 2], 2, [6, 6, 6], [2, 4, 0], [0, 0, 0], id="backlog-builds-and-drains"),
    pytest.param([40, 0, 0], 1, [3, 3, 3], [30, 27, 24], [7, 0, 0],
                 id="bounded-backlog-drops-overflow"),
])
def test_fluid_timeline_by_hand(demand: list[float], pods: int, served: list[float],
                                queued: list[float], dropped: list[float]) -> None:
    # 3000m limit pods: each serves 3 cores a second; the backlog holds 10 s of one pod.
    sim = SimulationSettings(max_backlog_seconds=10.0)
    rec = Recorder()
    replay(series(demand), [Policy.fixed(pods)], sim, rec)
    name = f"fixed:{pods}"
    assert rec.column(name, "served").tolist() == served
    assert rec.column(name, "queued").tolist() == queued
    assert rec.column(name, "dropped").tolist() == dropped


def test_lindley_fast_path_matches_the_per_second_loop() -> None:
    rng = np.random.default_rng(7)
    work = rng.uniform(0, 12, 500)
    engine = FluidEngine(series(list(work)), SimulationSettings(max_backlog_seconds=1e9))
    capacity = np.full(500, 6.0)
    fast, _ = engine._backlog(work, capacity)
    slow, _ = engine._backlog_loop(work, capacity)
    np.testing.assert_allclose(fast, slow, atol=1e-9)


# ----------------------------------------------------------------------------- LLM


def test_llm_single_pod_queue_by_hand() -> None:
    # One pod, 100 tok/s prefill and 10 tok/s decode: each request = 1 s prefill + 1 s decode.
    cap = LLMCapacity(prefill_tokens_per_second=100, decode_tokens_per_second=10,
                      max_queue_per_pod=1)
    sim = SimulationSettings(capacity=cap)
    trace = RequestTrace(np.array([0.0, 0.5, 1.0, 5.0]), np.array([100] * 4),
                         np.array([10] * 4))
    rec = Recorder()
    replay(trace, [Policy.fixed(1)], sim, rec)
    # r0 runs 0-2 (TTFT 1); r1 waits for 2, runs 2-4 (TTFT 2.5); r2 arrives at 1.0 with r1
    # already waiting: the queue bound (1) drops it; r3 runs 5-7 (TTFT 1) but the run ends
    # with the trace (6 s), so r3 is still in the system.
    summary = rec.summaries[0]
    assert (summary.arrived, summary.served, summary.dropped, summary.queued_at_end) == (
        4, 2, 1, 1)
    assert rec.column("fixed:1", "dropped").tolist() == [0, 1, 0, 0, 0, 0]
    assert rec.column("fixed:1", "served").tolist() == [0, 0, 1, 0, 1, 0]
    assert rec.column("fixed:1", "queued").tolist() == [2, 2, 1, 1, 0, 1]
    assert summary.delay_p50_seconds == pytest.approx(1.0, rel=0.02)


def test_busy_llm_pod_reads_full_cpu_whatever_its_queue() -> None:
    sim = SimulationSettings()
    trace = RequestTrace(np.arange(0.0, 60.0, 0.5), np.full(120, 1100), np.full(120, 76))
    engine = LLMEngine(trace, sim)
    pods = PodSet(sim.lifecycle)
    pods.add(0.0, 1, warm=True)
    engine.advance_chunk(0, 60, pods.ready(0.0))
    assert engine.usage_cores(pods.pods[0], 10.0, 40.0) == pytest.approx(3.0)


# ----------------------------------------------------------------------------- invariants


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 20), min_size=30, max_size=400), st.integers(1, 4))
def test_conservation_served_queued_dropped_equal_arrived(demand: list[float],
                                                          pods: int) -> None:
    rec = Recorder()
    replay(series(demand), [Policy.fixed(pods), SEED_HPA], SimulationSettings(), rec)
    for summary in rec.summaries:
        assert summary.served + summary.queued_at_end + summary.dropped == pytest.approx(
            summary.arrived, rel=1e-9, abs=1e-6)


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0.0, 2.0), min_size=5, max_size=60))
def test_llm_conservation(gaps: list[float]) -> None:
    arrivals = np.cumsum(np.array(gaps))
    n = len(arrivals)
    trace = RequestTrace(arrivals, np.full(n, 800), np.full(n, 20))
    rec = Recorder()
    replay(trace, [Policy.fixed(1), SEED_HPA], SimulationSettings(), rec)
    for summary in rec.summaries:
        assert summary.served + summary.queued_at_end + summary.dropped == summary.arrived == n


@settings(max_examples=15, deadline=None)
@given(st.lists(st.floats(0, 30), min_size=60, max_size=600))
def test_oracle_is_the_cheapest_at_zero_violations(demand: list[float]) -> None:
    rec = Recorder()
    policies = [SEED_HPA, UPSTREAM_DEFAULT_HPA, TUNED_HPA, Policy.fixed(3), Policy.oracle()]
    replay(series(demand), policies, SimulationSettings(), rec)
    oracle = next(s for s in rec.summaries if s.policy == "oracle")
    assert oracle.violation_seconds == 0
    for summary in rec.summaries:
        if summary.violation_seconds == 0:
            assert oracle.replica_seconds <= summary.replica_seconds


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0, 30), min_size=30, max_size=300), st.integers(1, 6),
       st.integers(1, 4))
def test_bounded_demand_oracle(demand: list[float], bound: int, more: int) -> None:
    rec = Recorder()
    replay(series(demand), [Policy.oracle(bound), Policy.oracle(bound + more), Policy.oracle()],
           SimulationSettings(max_backlog_seconds=20.0), rec)
    low, high, free = rec.summaries
    for summary in (low, high):
        assert int(rec.column(summary.policy, "replicas").max()) <= summary.max_replicas
        assert summary.served + summary.queued_at_end + summary.dropped == pytest.approx(
            summary.arrived, rel=1e-9, abs=1e-6)
    assert low.max_replicas <= bound and high.max_replicas <= bound + more
    # More pods allowed: never more violating seconds or dropped work (Lindley's backlog
    # only shrinks with capacity), and a bound at the peak costs nothing.
    assert high.violation_seconds <= low.violation_seconds
    assert high.dropped <= low.dropped + 1e-9
    if free.max_replicas <= bound:
        assert (low.replica_seconds, low.violation_seconds) == (free.replica_seconds, 0.0)


@pytest.mark.parametrize(("policies", "names"), [
    pytest.param([Policy.oracle()], ["oracle"], id="no-hpa-no-bound"),
    pytest.param([SEED_HPA, Policy.fixed(2), Policy.oracle()],
                 ["hpa:seed-cpu50", "fixed:2", "oracle", "oracle<=10"], id="hpa-max"),
    pytest.param([Policy.oracle(), Policy.oracle(10), SEED_HPA],
                 ["oracle", "oracle<=10", "hpa:seed-cpu50"], id="given-already"),
    pytest.param([SEED_HPA], ["hpa:seed-cpu50"], id="no-oracle"),
])
def test_oracle_gets_the_bound_of_the_hpa_policies(policies: list[Policy],
                                                    names: list[str]) -> None:
    assert [p.name for p in with_bounded_oracles(policies)] == names


def test_same_seed_same_run() -> None:
    rng = np.random.default_rng(3)
    trace = RequestTrace(np.sort(rng.uniform(0, 600, 400)), rng.integers(10, 3000, 400),
                         rng.integers(1, 200, 400))
    first, second = Recorder(), Recorder()
    replay(trace, [SEED_HPA], SimulationSettings(seed=11), first)
    replay(trace, [SEED_HPA], SimulationSettings(seed=11), second)
    assert first.summaries == second.summaries
    assert first.decisions == second.decisions


def test_scale_up_timeline_by_hand() -> None:
    # One warm pod at 3 cores (100 %) from t=0. First sync at 15 s reads the scrape at 10 s
    # (window 15 s: seconds 0..9 at 3 cores, 10 s sample) -> 100 % / 50 % -> 2 replicas.
    # The new pod is Pending 2 s, loads 30 s -> Ready at 47 s; its first sample needs a
    # full window after start (17 s): the 25 s scrape has it (at startup CPU: unready).
    sim = SimulationSettings(lifecycle=PodLifecycle(startup_cpu_cores=1.0))
    rec = Recorder()
    replay(series([3.0] * 120), [SEED_HPA], sim, rec)
    first = rec.decisions["hpa:seed-cpu50"][0]
    assert (first.t_seconds, first.current_replicas, first.desired_replicas,
            first.current_percent) == (15.0, 1, 2, 100)
    ready = rec.column("hpa:seed-cpu50", "ready")
    assert ready[46] == 1 and ready[47] == 2


@pytest.mark.parametrize(("overrides", "prefill", "decode", "window", "startup"), [
    pytest.param(ModelOverrides(), 1100.0, 76.0, 15.0, 30.0, id="nothing-given-keeps-defaults"),
    pytest.param(ModelOverrides(capacity_preset="pi5"), 290.0, 34.0, 15.0, 30.0, id="pi5"),
    pytest.param(ModelOverrides(capacity_preset="pi5", prefill_tokens_per_second=500.0),
                 500.0, 34.0, 15.0, 30.0, id="explicit-beats-preset"),
    pytest.param(ModelOverrides(metric_window_seconds=60.0, startup_seconds=90.0),
                 1100.0, 76.0, 60.0, 90.0, id="window-and-startup"),
])
def test_model_overrides(overrides: ModelOverrides, prefill: float, decode: float,
                         window: float, startup: float) -> None:
    applied = overrides.apply(SimulationSettings())
    assert (applied.capacity.prefill_tokens_per_second,
            applied.capacity.decode_tokens_per_second, applied.metrics.window_seconds,
            applied.lifecycle.startup_seconds) == (prefill, decode, window, startup)


def test_in_flight_gauge_counts_waiting_and_served_requests() -> None:
    # One pod, 1 s per request (100 prompt tokens at 100 tok/s, no output): arrivals at
    # 0, 0.1, 0.2 -> finishing at 1, 2, 3. At t=1.5 two are still in flight.
    cap = LLMCapacity(prefill_tokens_per_second=100, decode_tokens_per_second=10)
    engine = LLMEngine(RequestTrace(np.array([0.0, 0.1, 0.2]), np.array([100] * 3),
                                    np.array([0] * 3)), SimulationSettings(capacity=cap))
    pods = PodSet(SimulationSettings().lifecycle)
    pods.add(0.0, 1, warm=True)
    engine.advance_chunk(0, 1, pods.ready(0.0))
    assert [engine.in_flight(pods.pods[0], t) for t in (0.5, 1.5, 2.5, 3.0)] == [3, 2, 1, 0]


def test_in_flight_policy_runs_in_the_simulator() -> None:
    rng = np.random.default_rng(5)
    trace = RequestTrace(np.sort(rng.uniform(0, 300, 600)), rng.integers(500, 2000, 600),
                         rng.integers(5, 50, 600))
    rec = Recorder()
    replay(trace, [IN_FLIGHT_HPA], SimulationSettings(), rec)
    decisions = rec.decisions["hpa:inflight-1-per-pod"]
    assert any(d.rescale for d in decisions)
    assert all(d.reason != "FailedGetPodsMetric" for d in decisions)


def test_partition_cloud_only_vs_edge_fallback() -> None:
    # Load rises to 9 cores at 100 s; the cloud controller is blind from 60 s to 400 s.
    demand = [1.0] * 100 + [9.0] * 500
    sim = SimulationSettings(partition=MetricsPartition(60.0, 400.0))
    rec = Recorder()
    replay(series(demand), [SEED_HPA], sim, rec)
    cloud = next(s for s in rec.summaries if s.policy.endswith("(cloud only)"))
    edge = next(s for s in rec.summaries if s.policy.endswith("(+edge fallback)"))
    cloud_replicas = rec.column(cloud.policy, "replicas")
    edge_replicas = rec.column(edge.policy, "replicas")
    # Blind, the cloud-only controller keeps 1 pod until the partition ends at 400 s ...
    assert cloud_replicas[399] == 1 and cloud_replicas[420] > 1
    # ... while the edge agent, writer from 77 s on, scales up as soon as the load rises.
    assert edge_replicas[130] > 1
    assert edge.violation_seconds < cloud.violation_seconds
