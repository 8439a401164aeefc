"""The time-stepped cluster: pods, a workload engine, and the controller calling `decide()`.

Time advances in whole seconds, in chunks that end at every controller sync and every pod
readiness change, so within a chunk the set of Ready pods is constant and the engines can
work on numpy arrays. At each sync (every `sync_period_seconds`, 15 s by default) the
controller sees the pods and the metrics pipeline's latest CPU samples and runs the same
`algorithms.decide` as the daemon; a rescale creates or deletes pods at once.

Steady stretches of a fluid run (all pods Ready, the size kept) are computed ahead by
`autoscaler.replay.steady` without calling `decide()` at each sync, with identical results;
they reach the sink as longer chunks, each followed by the decisions of the syncs inside it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from algorithms.decide import decide
from algorithms.observation import MetricUnavailable, Observation, ScaleObservation
from algorithms.plan import NotAttempted, Plan, Written, settle
from algorithms.slo.model import SloSpec
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState
from autoscaler.replay.model import EngineStep, ReplaySink, RequestMetrics, Summary, step_chunk
from autoscaler.replay.observe import SloContext, metric_data
from autoscaler.replay.quantiles import Quantiles
from autoscaler.replay.records import decision_record
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.sim_pods import PodSet, SimPod
from autoscaler.replay.slo_observe import prepare
from autoscaler.replay.steady import SteadySyncs

LABELS = {"app": "replay"}
SELECTOR = "app=replay"


class Engine(Protocol):
    unit: str
    delays: Quantiles
    routing: str | None  # None: a demand series (no requests to route)

    def duration_seconds(self) -> int: ...

    def pod_capacity(self) -> float: ...

    def usage_cores(self, pod: SimPod, a: float, b: float) -> float: ...

    def advance_chunk(self, t0: int, t1: int, ready: list[SimPod]) -> EngineStep: ...

    def request_metrics(self) -> RequestMetrics | None: ...


@dataclass
class Totals:
    """Running sums for one policy's Summary."""

    replica_seconds: int = 0  # a Python int: exact however long the replay
    violation_seconds: float = 0.0
    underprovisioned_seconds: float = 0.0
    scale_events: int = 0
    max_replicas: int = 0
    arrived: float = 0.0
    served: float = 0.0
    dropped: float = 0.0
    queued: float = 0.0

    def add(self, step: EngineStep, seconds: int, replicas: int) -> None:
        # Replicas are constant within a chunk: scalars instead of array reductions.
        self.replica_seconds += replicas * seconds
        self.max_replicas = max(self.max_replicas, replicas)
        self.violation_seconds += float(np.count_nonzero(step.violation))
        self.underprovisioned_seconds += float(np.count_nonzero(step.underprovisioned))
        self.arrived += float(step.demand.sum())
        self.served += float(step.served.sum())
        self.dropped += float(step.dropped.sum())
        self.queued = float(step.queued[-1]) if len(step.queued) else self.queued

    def summary(self, policy: str, duration: float, engine: Engine) -> Summary:
        delays = engine.delays
        return Summary(policy, duration, self.replica_seconds, self.violation_seconds,
                       self.underprovisioned_seconds, self.scale_events, self.max_replicas,
                       self.arrived, self.served, self.dropped, self.queued,
                       delays.quantile(0.5), delays.quantile(0.95), delays.quantile(0.99),
                       routing=engine.routing, requests=engine.request_metrics())


@dataclass
class Controller:
    """The HPA controller's state between syncs."""

    spec: HorizontalPodAutoscalerSpec
    state: ControllerState = field(default_factory=ControllerState)
    edge_fallback: bool = False
    slo: SloSpec | None = None  # spec.sloRecommender: answers llm_slo_replicas

    def sync(self, pods: PodSet, engine: Engine, now: float, settings: SimulationSettings
             ) -> Plan:
        """One controller pass; the simulated scale write always succeeds."""
        infos = pods.infos(now, LABELS)
        slo = None if self.slo is None else SloContext(self.slo, self.spec.max_replicas)
        metrics = metric_data(self.spec.metrics, engine, pods.pods, now, settings.metrics, slo)
        partition = settings.partition
        if partition is not None and partition.cloud_blind(now) and not (
                self.edge_fallback and partition.edge_writes(now)):
            metrics = tuple(MetricUnavailable("partition: no metrics reach the cloud "
                                              "controller") for _ in metrics)
        observation = Observation(
            scale=ScaleObservation(len(pods), len(pods), SELECTOR), pods=infos,
            metrics=metrics)
        plan = decide(self.spec, observation, self.state, now, settings.controller)
        self.state = settle(plan, Written() if plan.rescale else NotAttempted(), now)
        return plan


def run_cluster(policy: str, engine: Engine, settings: SimulationSettings,
                initial_replicas: int, controller: Controller | None,
                sink: ReplaySink) -> Summary:
    """Run one policy (an HPA controller, or none for fixed:N) over the whole workload."""
    pods = PodSet(settings.lifecycle)
    pods.add(0.0, initial_replicas, warm=True)
    if controller is not None and controller.slo is not None:
        prepare(engine)
    totals = Totals()
    duration = engine.duration_seconds()
    sync_period = settings.controller.sync_period_seconds
    next_sync = sync_period
    steady = SteadySyncs.for_run(policy, controller, engine, pods, settings, totals, sink,
                                 duration)
    t = 0
    while t < duration:
        if steady is not None and steady.armed:
            # Steady syncs computed ahead; then either a sync is due now or chunks resume.
            t, next_sync, due = steady.advance(t, next_sync)
        else:
            end = _chunk_end(t, duration, next_sync if controller else math.inf, pods)
            ready = pods.ready(float(t))
            step = engine.advance_chunk(t, end, ready)
            chunk = step_chunk(t, end, len(pods), len(ready), step)
            totals.add(step, end - t, len(pods))
            sink.on_chunk(policy, chunk)
            t = end
            due = t >= next_sync
        if controller is not None and due:
            plan = controller.sync(pods, engine, float(t), settings)
            record = decision_record(plan, controller.spec, float(t))
            sink.on_decision(policy, record)
            if plan.rescale:
                totals.scale_events += 1
                pods.scale_to(float(t), plan.target_replicas)
            next_sync += sync_period
            if steady is not None:
                steady.observe(plan, record, t)
    summary = totals.summary(policy, float(duration), engine)
    sink.on_summary(summary)
    return summary


def _chunk_end(t: int, duration: int, next_sync: float, pods: PodSet) -> int:
    end = duration if math.isinf(next_sync) else min(duration, math.ceil(next_sync))
    for pod in pods.pods:
        transition = math.ceil(pod.ready_at)
        if t < transition < end:
            end = transition
    return max(end, t + 1)
