"""Fluid model for demand series (CPU cores, or requests/s at a CPU cost per request).

Work arrives every second; ready pods each serve up to their CPU limit; the rest waits in a
FIFO backlog bounded at `max_backlog_seconds` of one pod's work, beyond which it is dropped
(counted, never lost silently). The backlog follows Lindley's recursion
`W[t] = max(0, W[t-1] + offered[t] - capacity[t])`, solved for a whole chunk with prefix
sums: `W = max(b + S, S - min(0, min S[:t]))` with `S = cumsum(offered - capacity)`. Only a
chunk that would overflow the bound falls back to a per-second loop.

Worked example: capacity 6 cores, offered [8, 8, 2], empty backlog -> S = [2, 4, 0],
W = [2, 4, 0], served = offered + W[t-1] - W[t] = [6, 6, 6].
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from autoscaler.replay.model import DemandSeries, EngineStep, FloatArray
from autoscaler.replay.quantiles import Quantiles
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.sim_pods import SimPod

RING_SECONDS = 1024  # per-second usage kept for metric windows (must exceed any window)


@dataclass(frozen=True)
class ServedAhead:
    """`FluidEngine.serve_ahead`'s answer for chunks starting at `t0`."""

    t0: int
    demand: FloatArray  # per second, from t0 to the last chunk's end
    per_pod: list[float]  # cores one ready pod uses, per second
    sums: list[float]  # demand per chunk, each summed like `advance_chunk` sums it
    fits: list[bool]  # the chunk is served as it arrives (advance_chunk's all-served path)
    capacity: float  # of the ready pods, in the series' unit


class FluidEngine:
    def __init__(self, series: DemandSeries, settings: SimulationSettings) -> None:
        self.series = series
        self.unit = series.unit
        self.routing: str | None = None  # work spreads evenly: nothing is routed
        lifecycle = settings.lifecycle
        self.limit_cores = lifecycle.cpu_limit_milli / 1000.0
        self.cost = settings.cpu_seconds_per_request if series.unit == "requests_per_second" \
            else 1.0
        self.max_backlog = settings.max_backlog_seconds * self.limit_cores
        self.lifecycle = lifecycle
        self.backlog = 0.0
        self.delays = Quantiles()
        # Per-ready-pod cores, indexed by t % RING. A list: the metrics pipeline reads a
        # handful of seconds per pod per sync, where numpy's per-call overhead dominates.
        self._usage = [0.0] * RING_SECONDS

    def duration_seconds(self) -> int:
        return math.ceil(self.series.duration_seconds)

    def offered(self, t0: int, t1: int) -> FloatArray:
        """Demand in the series' unit for seconds [t0, t1) (held between samples)."""
        if self.series.step_seconds == 1.0 and self.series.start_seconds == 0.0 \
                and t1 <= len(self.series.values):
            values: FloatArray = self.series.values[t0:t1]  # the common per-second case
            return values
        index = ((np.arange(t0, t1) - self.series.start_seconds) // self.series.step_seconds)
        index = np.clip(index.astype(np.int64), 0, len(self.series.values) - 1)
        held: FloatArray = self.series.values[index]
        return held

    def pod_capacity(self) -> float:
        """One ready pod's capacity in the series' unit."""
        return self.limit_cores / self.cost

    def request_metrics(self) -> None:
        """A series has no individual requests."""
        return None

    def advance_chunk(self, t0: int, t1: int, ready: list[SimPod]) -> EngineStep:
        demand = self.offered(t0, t1)
        work = demand * self.cost
        pods = len(ready)
        if self.backlog == 0.0 and pods and float(work.max()) <= pods * self.limit_cores:
            return self._all_served(t0, demand, work, pods)
        ready_counts = np.full(t1 - t0, float(pods))
        capacity = ready_counts * self.limit_cores
        backlog, dropped = self._backlog(work, capacity)
        previous = np.concatenate(([self.backlog], backlog[:-1]))
        served = work + previous - backlog - dropped
        self.backlog = float(backlog[-1])
        per_pod = np.divide(served, ready_counts, out=np.zeros_like(served),
                            where=ready_counts > 0)
        self._store_usage(t0, np.maximum(per_pod, self.lifecycle.idle_cpu_cores))
        # Delay of work arriving in second t: the backlog ahead of it over the capacity.
        delay = np.divide(backlog, capacity, out=np.full_like(backlog, np.inf),
                          where=capacity > 0)
        delay[backlog <= 0] = 0.0
        self.delays.add(delay, demand)
        return EngineStep(demand=demand, capacity=capacity / self.cost,
                          served=served / self.cost, queued=backlog / self.cost,
                          dropped=dropped / self.cost,
                          violation=(work > capacity) | (backlog > 1e-9),
                          underprovisioned=work > capacity)

    def _all_served(self, t0: int, demand: FloatArray, work: FloatArray, pods: int
                    ) -> EngineStep:
        """The common case, with a fraction of the numpy calls: nothing waits."""
        self._store_usage(t0, np.maximum(work / pods, self.lifecycle.idle_cpu_cores))
        self.delays.add_zeros(float(demand.sum()))
        nothing = np.zeros(len(work))
        never = np.zeros(len(work), dtype=bool)
        return EngineStep(demand=demand, capacity=np.full(len(work), pods * self.pod_capacity()),
                          served=demand, queued=nothing, dropped=nothing, violation=never,
                          underprovisioned=never)

    def queue(self, work: FloatArray, capacity: FloatArray
              ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Lindley's recursion over a chunk from the engine's backlog, as `advance_chunk`
        runs it: (backlog after each second, backlog before it, dropped). The engine keeps
        the last backlog."""
        backlog, dropped = self._backlog(work, capacity)
        before = np.concatenate(([self.backlog], backlog[:-1]))
        self.backlog = float(backlog[-1])
        return backlog, before, dropped

    def _backlog(self, work: FloatArray, capacity: FloatArray) -> tuple[FloatArray, FloatArray]:
        s = np.cumsum(work - capacity)
        backlog = np.maximum(self.backlog + s, s - np.minimum.accumulate(np.minimum(s, 0.0)))
        if backlog.max(initial=0.0) <= self.max_backlog:
            return backlog, np.zeros_like(backlog)
        return self._backlog_loop(work, capacity)

    def _backlog_loop(self, work: FloatArray, capacity: FloatArray
                      ) -> tuple[FloatArray, FloatArray]:
        backlog = np.empty_like(work)
        dropped = np.zeros_like(work)
        w = self.backlog
        for i in range(len(work)):
            w = max(0.0, w + work[i] - capacity[i])
            if w > self.max_backlog:
                dropped[i] = w - self.max_backlog
                w = self.max_backlog
            backlog[i] = w
        return backlog, dropped

    def _store_usage(self, t0: int, per_pod: FloatArray) -> None:
        self.store_usage(t0, per_pod.tolist())

    def store_usage(self, t0: int, per_pod: list[float]) -> None:
        """Per-ready-pod cores for seconds [t0, t0 + len(per_pod)) into the ring (the last
        RING_SECONDS of them: older ones would be overwritten anyway)."""
        if len(per_pod) > RING_SECONDS:
            t0 += len(per_pod) - RING_SECONDS
            per_pod = per_pod[-RING_SECONDS:]
        start = t0 % RING_SECONDS
        end = start + len(per_pod)
        if end <= RING_SECONDS:
            self._usage[start:end] = per_pod
        else:
            split = RING_SECONDS - start
            self._usage[start:] = per_pod[:split]
            self._usage[:end - RING_SECONDS] = per_pod[split:]

    def serve_ahead(self, t0: int, ends: list[int], pods: int) -> ServedAhead:
        """Chunks [t0, ends[0]), [ends[0], ends[1]) ... with `pods` ready pods, computed at
        once without changing the engine: per-second usage of one pod, and per chunk its
        demand (summed as `advance_chunk` sums it) and whether `advance_chunk` would take
        its all-served path (nothing waiting before it, no second above capacity). Valid
        only while nothing waits: from `t0` with an empty backlog, up to the first chunk
        that does not fit (`advance_chunk` then takes over)."""
        demand = self.offered(t0, ends[-1])
        work = demand * self.cost
        per_pod = np.maximum(work / pods, self.lifecycle.idle_cpu_cores)
        bounds = [t0, *ends]
        lengths = {b - a for a, b in itertools.pairwise(bounds)}
        if len(lengths) == 1:
            # Equal chunks (a whole sync period each): one row per chunk. Row sums add in
            # the same (pairwise) order as each chunk's own `sum()`, so they are equal.
            length = lengths.pop()
            sums = demand.reshape(-1, length).sum(axis=1).tolist()
            peaks = work.reshape(-1, length).max(axis=1).tolist()
        else:
            cuts = [b - t0 for b in bounds]
            sums = [float(demand[a:b].sum()) for a, b in itertools.pairwise(cuts)]
            peaks = [float(work[a:b].max()) for a, b in itertools.pairwise(cuts)]
        capacity = pods * self.limit_cores
        return ServedAhead(t0, demand, per_pod.tolist(), sums,
                           [peak <= capacity for peak in peaks], pods * self.pod_capacity())

    def usage_cores(self, pod: SimPod, a: float, b: float) -> float:
        """Average cores `pod` used over [a, b): serving share while ready, model load
        while starting, nothing while pending. Seconds before the trace starts read as its
        first second (the workload is assumed steady before the replay begins)."""
        first, last = math.floor(a), math.floor(b)
        if last <= first:
            return 0.0
        if first >= pod.ready_at and first >= 0:
            # Ready the whole window (the usual case): one C-level sum over the ring.
            start = first % RING_SECONDS
            end = start + (last - first)
            ring = self._usage
            total = sum(ring[start:end]) if end <= RING_SECONDS else (
                sum(ring[start:]) + sum(ring[:end - RING_SECONDS]))
            return total / (last - first)
        total = 0.0
        for second in range(first, last):
            if second >= pod.ready_at:
                total += self._usage[max(second, 0) % RING_SECONDS]
            elif second >= pod.started:
                total += self.lifecycle.startup_cpu_cores
        return total / (last - first)
