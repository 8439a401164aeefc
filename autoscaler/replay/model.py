"""Data shared by trace readers, the simulator and the reports.

Traces stop at the readers: whatever the file format, a workload arrives here as one of
three shapes, with units in the names. Simulation results leave as chunks of per-second
steps (numpy arrays, so a 58-day replay streams in bounded memory) plus one record per
controller decision.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


@dataclass(frozen=True)
class DemandSeries:
    """Offered load sampled on a regular grid.

    `unit` is "cores" (CPU demand) or "requests_per_second" (then each request costs
    `cpu_seconds_per_request` of CPU in the simulator). `values[i]` holds for
    `[start_seconds + i*step_seconds, start_seconds + (i+1)*step_seconds)`.
    """

    start_seconds: float
    step_seconds: float
    values: FloatArray
    unit: str = "cores"
    source: str = ""

    @property
    def duration_seconds(self) -> float:
        return float(len(self.values)) * self.step_seconds


@dataclass(frozen=True)
class RequestTrace:
    """Individual LLM requests: arrival time (seconds from trace start) and token counts."""

    arrival_seconds: FloatArray
    prompt_tokens: IntArray
    output_tokens: IntArray
    source: str = ""

    @property
    def duration_seconds(self) -> float:
        return float(self.arrival_seconds[-1]) if len(self.arrival_seconds) else 0.0


@dataclass(frozen=True)
class HpaWatchRow:
    """One line of `kubectl get hpa -w`."""

    name: str
    reference: str
    current_percent: int | None  # None for "<unknown>"
    target_percent: int
    min_replicas: int
    max_replicas: int
    replicas: int
    age_seconds: float


@dataclass(frozen=True)
class HpaWatchTrace:
    rows: tuple[HpaWatchRow, ...]
    source: str = ""


Workload = DemandSeries | RequestTrace | HpaWatchTrace


@dataclass(frozen=True)
class StepChunk:
    """Consecutive 1-second steps of one policy's run (all arrays have the same length).

    demand/capacity/served/queued/dropped are in the workload's unit: cores for CPU demand,
    requests per second for request-rate series, requests for LLM request traces.
    """

    t_seconds: FloatArray
    demand: FloatArray
    capacity: FloatArray
    replicas: IntArray  # the scale's spec.replicas
    ready: IntArray  # pods Ready and serving
    served: FloatArray
    queued: FloatArray  # backlog at the end of the step
    dropped: FloatArray
    violation: NDArray[np.bool_]  # SLO violated during this step


@dataclass(frozen=True)
class EngineStep:
    """What a workload engine computed for a run of seconds (before replicas are known)."""

    demand: FloatArray
    capacity: FloatArray
    served: FloatArray
    queued: FloatArray
    dropped: FloatArray
    violation: NDArray[np.bool_]
    underprovisioned: NDArray[np.bool_]


def step_chunk(t0: int, t1: int, replicas: int, ready: int, step: EngineStep) -> StepChunk:
    """Seconds [t0, t1) of a run with constant replicas and Ready pods."""
    n = t1 - t0
    return StepChunk(
        t_seconds=np.arange(t0, t1, dtype=np.float64), demand=step.demand,
        capacity=step.capacity, replicas=np.full(n, replicas, dtype=np.int64),
        ready=np.full(n, ready, dtype=np.int64), served=step.served, queued=step.queued,
        dropped=step.dropped, violation=step.violation)


@dataclass(frozen=True)
class DecisionRecord:
    """One controller sync, as `kubectl get hpa -w` would show it, plus its reason."""

    t_seconds: float
    current_replicas: int
    desired_replicas: int
    current_percent: int | None
    target_percent: int | None
    rescale: bool
    reason: str  # rescale reason, or the limiting condition's reason
    # The TARGETS cell when the first metric has no utilization target, e.g. "4/1 (avg)".
    targets: str | None = None


@dataclass(frozen=True)
class RequestMetrics:
    """Request-level outcome of an LLM request trace (autoscaler.replay.outcomes).

    A request *meets* the SLO when its time to first token is at most `slo_ttft_seconds`;
    a dropped request fails. Every accepted request is judged by the TTFT the engine
    committed when it was accepted (FIFO slots, and removed pods drain), also when its first
    token comes after the run ends. Percentiles (bounded-memory histogram, never
    under-reported, <= 1.8 % over) are over the accepted requests: TTFT = wait + prefill,
    latency = arrival to last token. `unavoidable` requests have a prefill alone above the
    threshold: no capacity meets them, so `ceiling` is the best attainment any policy gets.
    """

    slo_ttft_seconds: float
    attainment_target: float
    arrived: int
    met_slo: int
    dropped: int
    unavoidable: int
    ttft_p50_seconds: float | None = None
    ttft_p95_seconds: float | None = None
    ttft_p99_seconds: float | None = None
    latency_p50_seconds: float | None = None
    latency_p95_seconds: float | None = None
    latency_p99_seconds: float | None = None

    @property
    def attainment(self) -> float:
        """Share of the arrived requests meeting the SLO (1.0 when none arrived)."""
        return self.met_slo / self.arrived if self.arrived else 1.0

    @property
    def ceiling(self) -> float:
        """The attainment of a policy that starts every request on arrival."""
        return (self.arrived - self.unavoidable) / self.arrived if self.arrived else 1.0


@dataclass(frozen=True)
class OracleChoice:
    """How a request oracle sized itself (autoscaler.replay.oracle_llm): pods(t) =
    max(1, ceil(headroom * concurrent(t) / slots)), capped at `bound_pods` when set, with the
    smallest grid `headroom` whose run reaches `target_attainment`. `basis` says where the
    target came from: "target" (SLO.attainment), "ceiling" (unreachable because of
    unavoidable requests: the ceiling minus 0.5 percentage points); `missed`: no grid
    value reached it, and `headroom` is the smallest with the best attainment."""

    headroom: float
    target_attainment: float
    basis: str
    missed: bool = False
    bound_pods: int | None = None


@dataclass(frozen=True)
class Summary:
    policy: str
    duration_seconds: float
    replica_seconds: float  # whole pod-seconds: the simulators sum them as exact ints
    violation_seconds: float
    underprovisioned_seconds: float
    scale_events: int
    max_replicas: int
    arrived: float
    served: float
    dropped: float
    queued_at_end: float
    delay_p50_seconds: float | None = None  # queueing delay or TTFT where modeled
    delay_p95_seconds: float | None = None
    delay_p99_seconds: float | None = None
    routing: str | None = None  # LLM request traces: how requests reach the Ready pods
    requests: RequestMetrics | None = None  # LLM request traces only
    oracle: OracleChoice | None = None  # request oracles only

    @property
    def replica_hours(self) -> float:
        return self.replica_seconds / 3600.0

    @property
    def goodput_per_second(self) -> float | None:
        """Requests meeting the SLO per second of the run (LLM request traces)."""
        if self.requests is None:
            return None
        return self.requests.met_slo / self.duration_seconds if self.duration_seconds else 0.0

    @property
    def violation_share(self) -> float:
        return self.violation_seconds / self.duration_seconds if self.duration_seconds else 0.0

    @property
    def underprovisioned_share(self) -> float:
        return (self.underprovisioned_seconds / self.duration_seconds
                if self.duration_seconds else 0.0)


class ReplaySink(Protocol):
    """Receives a run as it happens: the simulator never holds a whole timeline.

    Per policy, chunks arrive in time order and so do decisions; a decision comes after the
    chunk holding the seconds before it, which may also hold later seconds (a steady
    stretch is reported as one chunk followed by its decisions)."""

    def on_chunk(self, policy: str, chunk: StepChunk) -> None: ...

    def on_decision(self, policy: str, record: DecisionRecord) -> None: ...

    def on_summary(self, summary: Summary) -> None: ...


class NullSink:
    """A ReplaySink that keeps nothing: for runs whose summaries are the only output (the
    request oracle's search trials, benchmarks)."""

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        pass

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        pass

    def on_summary(self, summary: Summary) -> None:
        pass
