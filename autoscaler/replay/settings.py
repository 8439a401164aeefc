"""The simulator's model, every delay and default in one place (the README documents them).

Defaults describe the seed's LlamaEdge Deployment: qwen-2-0.5b on llama.cpp (which LlamaEdge
wraps), 3000m CPU request = limit, one inference at a time per pod.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TypeVar

from algorithms.config import ControllerConfig
from algorithms.slo.model import ROUTING_RANDOM

# The embedded scenarios (autoscaler.replay.scenarios.SCENARIOS has one entry for each).
SCENARIO_NAMES = ("llamaedge", "sedna-cloud", "sedna-edge")


@dataclass(frozen=True)
class PodLifecycle:
    """Pending for `scheduling_seconds` (scheduling, image already cached), then
    Running-not-ready for `startup_seconds` (model load), then Ready. While loading, a pod
    burns `startup_cpu_cores` (reading and mapping weights)."""

    scheduling_seconds: float = 2.0
    startup_seconds: float = 30.0
    startup_cpu_cores: float = 1.0
    cpu_request_milli: int = 3000
    cpu_limit_milli: int = 3000
    idle_cpu_cores: float = 0.01


@dataclass(frozen=True)
class MetricsPipeline:
    """How CPU samples reach the controller.

    metrics-server (default): kubelet/cAdvisor scraped every `resolution_seconds`; each sample
    is the average usage over the preceding `window_seconds`, stamped at the scrape time.
    A pod gets its first sample once it has run a whole window. Prometheus: scraped every
    `resolution_seconds`, `rate()` over `window_seconds`, evaluated at the sync time.
    """

    kind: str = "metrics-server"  # or "prometheus"
    resolution_seconds: float = 15.0
    window_seconds: float = 15.0


@dataclass(frozen=True)
class LLMCapacity:
    """Per-pod inference capacity (llama.cpp on CPU).

    Published figures for Qwen2/2.5-0.5B: 4 x86 AVX-512 cores, Q8_0: ~1,100 prompt tok/s and
    ~76 output tok/s (the defaults); Raspberry Pi 5, 4 threads, Q4_0: ~290 and ~34 (decode is
    memory-bound: more threads do not help). A busy server shows ~100 % of its threads' CPU
    whatever its queue length, and ~0 when idle.
    """

    prefill_tokens_per_second: float = 1100.0
    decode_tokens_per_second: float = 76.0
    concurrency: int = 1  # LlamaEdge serves one inference at a time
    max_queue_per_pod: int = 32  # waiting requests beyond this are dropped (counted)


PI5_CAPACITY = LLMCapacity(prefill_tokens_per_second=290.0, decode_tokens_per_second=34.0)


@dataclass(frozen=True)
class SLO:
    """A request violates when its time to first token exceeds `ttft_seconds`; a demand
    series violates in every second its demand exceeds the ready pods' capacity.
    `attainment` is the share of requests that should meet `ttft_seconds`: the target the
    request oracle sizes its headroom for (autoscaler.replay.oracle_llm)."""

    ttft_seconds: float = 5.0
    attainment: float = 0.95


@dataclass(frozen=True)
class MetricsPartition:
    """The cloud controller gets no metrics in [start, end) (KubeEdge: metrics-server cannot
    reach the edge kubelets, or the cloud-edge link is down for metrics). With the edge
    fallback, the edge agent reads the node's cgroups and takes over the target's writer
    Lease once it has expired: `takeover_seconds` after the start (Lease duration 15 s +
    clock-skew margin 2 s by default); the cloud takes it back after the end."""

    start_seconds: float
    end_seconds: float
    takeover_seconds: float = 17.0

    def cloud_blind(self, now: float) -> bool:
        return self.start_seconds <= now < self.end_seconds

    def edge_writes(self, now: float) -> bool:
        return self.start_seconds + self.takeover_seconds <= now < self.end_seconds


@dataclass(frozen=True)
class SimulationSettings:
    lifecycle: PodLifecycle = field(default_factory=PodLifecycle)
    metrics: MetricsPipeline = field(default_factory=MetricsPipeline)
    capacity: LLMCapacity = field(default_factory=LLMCapacity)
    slo: SLO = field(default_factory=SLO)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    cpu_seconds_per_request: float = 0.5  # for request-rate series
    max_backlog_seconds: float = 60.0  # fluid backlog bound, in seconds of one pod's work
    initial_replicas: int | None = None  # None: the spec's minReplicas
    seed: int = 0
    partition: MetricsPartition | None = None
    # How the Service spreads LLM requests over the Ready pods (algorithms.slo.model's
    # ROUTINGS; autoscaler.replay.routing): random is kube-proxy's iptables mode.
    routing: str = ROUTING_RANDOM
    # Speed only, never results: compute syncs whose Plan is known without calling decide()
    # (autoscaler.replay.steady; tests/test_replay_fast.py checks both ways agree).
    skip_steady_syncs: bool = True


@dataclass(frozen=True)
class ModelOverrides:
    """Command-line changes to a scenario's model; None keeps the scenario's value."""

    metrics: str | None = None
    metric_window_seconds: float | None = None
    startup_seconds: float | None = None
    sync_period_seconds: float | None = None
    capacity_preset: str | None = None  # "x86-avx512" | "pi5"
    prefill_tokens_per_second: float | None = None
    decode_tokens_per_second: float | None = None
    concurrency: int | None = None
    ttft_slo_seconds: float | None = None
    slo_attainment: float | None = None
    routing: str | None = None
    cpu_seconds_per_request: float | None = None
    partition: tuple[float, float] | None = None  # (start, end) seconds

    def apply(self, base: SimulationSettings) -> SimulationSettings:
        presets = {"pi5": PI5_CAPACITY, "x86-avx512": LLMCapacity()}
        cap = presets.get(self.capacity_preset or "", base.capacity)
        capacity = replace(
            cap,
            prefill_tokens_per_second=_pick(self.prefill_tokens_per_second,
                                            cap.prefill_tokens_per_second),
            decode_tokens_per_second=_pick(self.decode_tokens_per_second,
                                           cap.decode_tokens_per_second),
            concurrency=_pick(self.concurrency, cap.concurrency))
        metrics = replace(base.metrics, kind=_pick(self.metrics, base.metrics.kind),
                          window_seconds=_pick(self.metric_window_seconds,
                                               base.metrics.window_seconds))
        lifecycle = replace(base.lifecycle, startup_seconds=_pick(
            self.startup_seconds, base.lifecycle.startup_seconds))
        controller = replace(base.controller, sync_period_seconds=_pick(
            self.sync_period_seconds, base.controller.sync_period_seconds))
        slo = replace(base.slo, ttft_seconds=_pick(self.ttft_slo_seconds, base.slo.ttft_seconds),
                      attainment=_pick(self.slo_attainment, base.slo.attainment))
        return replace(base, capacity=capacity, metrics=metrics, lifecycle=lifecycle,
                       controller=controller, slo=slo, routing=_pick(self.routing, base.routing),
                       partition=MetricsPartition(*self.partition) if self.partition
                       else base.partition,
                       cpu_seconds_per_request=_pick(self.cpu_seconds_per_request,
                                                     base.cpu_seconds_per_request))


_T = TypeVar("_T")


def _pick(value: _T | None, default: _T) -> _T:
    return default if value is None else value
