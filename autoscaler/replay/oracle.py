"""The oracle baseline: it knows the demand and has exactly enough Ready pods at every
instant, with no startup delay. Its replica-seconds are the lower bound on cost at zero
violations (up to violations no capacity can prevent: a prompt whose prefill alone takes
longer than the TTFT threshold). It keeps at least one pod, like a Deployment with
minReplicas 1.

Demand series (`oracle_demand`): pods(t) = max(1, ceil(work(t) / pod_cores)). Request
traces: `Concurrency` counts the requests in service if every request starts on arrival,
and `oracle_requests` gives pods(t) = max(1, ceil(that peak in second t / slots)), the
schedule that serves every request on arrival. The replay's request oracle
(autoscaler.replay.oracle_llm) scales that schedule by a headroom and routes the requests
through the LLM engine, since only least-in-flight routing serves every request on arrival.

`oracle<=N` (the bounded form, `bound`) has at most N pods: for a demand series, each
second min(N, the pods the work and the backlog left by the bound need).

Both stream in chunks of an hour (bounded memory whatever the span) and sum replica-seconds
as Python integers, so the total is exact however large; a demand needing more than
MAX_ORACLE_PODS pods in one second (a unit mistake) is refused rather than wrapped.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from autoscaler.errors import InputError
from autoscaler.replay.fluid import FluidEngine
from autoscaler.replay.model import (
    DemandSeries,
    FloatArray,
    IntArray,
    ReplaySink,
    RequestTrace,
    StepChunk,
    Summary,
)
from autoscaler.replay.quantiles import Quantiles
from autoscaler.replay.settings import SimulationSettings

CHUNK_SECONDS = 3600
# float64 holds whole numbers exactly up to 2**53, and an hour of them must sum within int64.
MAX_ORACLE_PODS = 10**15
# A request takes at least this long: empty requests must not make a pod's capacity infinite.
MIN_SERVICE_SECONDS = 1e-3


def _emit(policy: str, sink: ReplaySink, t0: int, demand: np.ndarray, pods: np.ndarray,
          pod_capacity: float, served: np.ndarray, violation: np.ndarray) -> None:
    n = len(demand)
    sink.on_chunk(policy, StepChunk(
        t_seconds=np.arange(t0, t0 + n, dtype=np.float64), demand=demand.astype(np.float64),
        capacity=pods * pod_capacity, replicas=pods.astype(np.int64),
        ready=pods.astype(np.int64), served=served.astype(np.float64), queued=np.zeros(n),
        dropped=np.zeros(n), violation=violation))


def _demand_pods(policy: str, t0: int, needed: FloatArray) -> IntArray:
    peak = float(needed.max(initial=0.0))
    if not peak <= MAX_ORACLE_PODS:  # also NaN
        second = t0 + int(np.argmax(~(needed <= MAX_ORACLE_PODS)))
        raise InputError(f"{policy}: the demand at {second} s needs {peak:g} pods, more than "
                         f"{MAX_ORACLE_PODS:g} (a unit mistake?)")
    # A hair of tolerance so 6.0000000001 cores of float noise do not buy a pod.
    pods: IntArray = np.maximum(1, np.ceil(needed - 1e-9)).astype(np.int64)
    return pods


def oracle_demand(series: DemandSeries, settings: SimulationSettings, sink: ReplaySink,
                  policy: str = "oracle", bound: int | None = None) -> Summary:
    if bound is not None:
        return bounded_oracle_demand(series, settings, sink, policy, bound)
    limit = settings.lifecycle.cpu_limit_milli / 1000.0
    cost = settings.cpu_seconds_per_request if series.unit == "requests_per_second" else 1.0
    duration = math.ceil(series.duration_seconds)
    replica_seconds = 0  # a Python int: exact at any size
    arrived = 0.0
    peak = 0
    for t0 in range(0, duration, CHUNK_SECONDS):
        t1 = min(duration, t0 + CHUNK_SECONDS)
        index = np.clip(((np.arange(t0, t1) - series.start_seconds) // series.step_seconds)
                        .astype(np.int64), 0, len(series.values) - 1)
        demand = series.values[index]
        pods = _demand_pods(policy, t0, demand * cost / limit)
        replica_seconds += int(pods.sum())
        arrived += float(demand.sum())
        peak = max(peak, int(pods.max(initial=0)))
        _emit(policy, sink, t0, demand, pods, limit / cost, demand,
              np.zeros(len(demand), dtype=bool))
    summary = Summary(policy, float(duration), replica_seconds, 0.0, 0.0, 0, peak, arrived,
                      arrived, 0.0, 0.0, 0.0, 0.0, 0.0)
    sink.on_summary(summary)
    return summary


def bounded_oracle_demand(series: DemandSeries, settings: SimulationSettings,
                          sink: ReplaySink, policy: str, bound: int) -> Summary:
    """At most `bound` pods, each second as many as the work and the backlog need: the
    backlog then follows Lindley's recursion at the bound's capacity (below it, everything
    waiting is served), so one vectorized pass per chunk gives it."""
    engine = FluidEngine(series, settings)
    limit, cost = engine.limit_cores, engine.cost
    duration = math.ceil(series.duration_seconds)
    replica_seconds = peak = violations = underprovisioned = 0
    arrived = served = dropped_total = queued = 0.0
    for t0 in range(0, duration, CHUNK_SECONDS):
        t1 = min(duration, t0 + CHUNK_SECONDS)
        demand = engine.offered(t0, t1)
        work = demand * cost
        backlog, before, dropped = engine.queue(work, np.full(t1 - t0, bound * limit))
        pods = np.minimum(bound, _demand_pods(policy, t0, (work + before) / limit))
        capacity = pods * limit
        delay = np.where(backlog > 0, backlog / capacity, 0.0)
        engine.delays.add(delay, demand)
        violation = (work > capacity) | (backlog > 1e-9)
        served_work = work + before - backlog - dropped
        sink.on_chunk(policy, StepChunk(
            t_seconds=np.arange(t0, t1, dtype=np.float64), demand=demand,
            capacity=capacity / cost, replicas=pods, ready=pods, served=served_work / cost,
            queued=backlog / cost, dropped=dropped / cost, violation=violation))
        replica_seconds += int(pods.sum())
        peak = max(peak, int(pods.max(initial=0)))
        violations += int(np.count_nonzero(violation))
        underprovisioned += int(np.count_nonzero(work > capacity))
        arrived += float(demand.sum())
        served += float(served_work.sum()) / cost
        dropped_total += float(dropped.sum()) / cost
        queued = float(backlog[-1]) / cost if len(backlog) else queued
    delays = engine.delays
    summary = Summary(policy, float(duration), replica_seconds, float(violations),
                      float(underprovisioned), 0, peak, arrived, served, dropped_total, queued,
                      delays.quantile(0.5), delays.quantile(0.95), delays.quantile(0.99))
    sink.on_summary(summary)
    return summary


class Concurrency:
    """Requests in service per second, one chunk of seconds at a time (arrivals sorted).

    A request counts in its arrival second at the instant it arrives (the peak over the
    arrivals of that second) and in every later second that starts before it ends."""

    def __init__(self, trace: RequestTrace, service: FloatArray, duration: int) -> None:
        self.arrivals = trace.arrival_seconds.tolist()
        self.lengths = service.tolist()
        self.seconds = trace.arrival_seconds.astype(np.int64)
        self.busy_from = self.seconds + 1
        self.busy_to = np.minimum(duration + 1, np.ceil(trace.arrival_seconds + service)
                                  ).astype(np.int64)
        self.ends: list[float] = []  # min-heap of finish times of requests in service
        self.carried = np.empty(0, dtype=np.int64)  # busy_to of requests busy past a chunk
        self.next = 0

    def chunk(self, t0: int, t1: int) -> tuple[slice, IntArray]:
        """(the requests arriving in [t0, t1), concurrency of each second)."""
        first = self.next
        last = int(np.searchsorted(self.seconds, t1, side="left"))
        self.next = last
        n = t1 - t0
        peak = np.zeros(n, dtype=np.int64)
        for arrival, length in zip(self.arrivals[first:last], self.lengths[first:last],
                                   strict=True):
            while self.ends and self.ends[0] <= arrival:
                heapq.heappop(self.ends)
            heapq.heappush(self.ends, arrival + length)
            second = int(arrival) - t0
            peak[second] = max(peak[second], len(self.ends))
        starts = np.concatenate((np.full(len(self.carried), t0), self.busy_from[first:last]))
        stops = np.concatenate((self.carried, self.busy_to[first:last]))
        low, high = np.clip(starts - t0, 0, n), np.clip(stops - t0, 0, n)
        keep = high > low
        change = np.zeros(n + 1, dtype=np.int64)
        np.add.at(change, low[keep], 1)
        np.add.at(change, high[keep], -1)
        self.carried = stops[stops > t1]
        return slice(first, last), np.maximum(peak, np.cumsum(change[:n]))


def oracle_requests(trace: RequestTrace, settings: SimulationSettings, sink: ReplaySink,
                    policy: str = "oracle") -> Summary:
    capacity = settings.capacity
    prefill = trace.prompt_tokens / capacity.prefill_tokens_per_second
    service = prefill + trace.output_tokens / capacity.decode_tokens_per_second
    duration = math.ceil(trace.duration_seconds) + 1
    late = prefill > settings.slo.ttft_seconds
    mean_service = max(float(service.mean()), MIN_SERVICE_SECONDS) if len(service) else 1.0
    concurrency = Concurrency(trace, service, duration)
    replica_seconds = violations = peak = 0
    for t0 in range(0, duration, CHUNK_SECONDS):
        t1 = min(duration, t0 + CHUNK_SECONDS)
        requests, concurrent = concurrency.chunk(t0, t1)
        pods = np.maximum(1, -(-concurrent // capacity.concurrency)).astype(np.int64)
        seconds = concurrency.seconds[requests] - t0
        arrivals = np.bincount(seconds, minlength=t1 - t0).astype(np.float64)
        violation = np.zeros(t1 - t0, dtype=bool)
        violation[seconds[late[requests]]] = True
        _emit(policy, sink, t0, arrivals, pods, capacity.concurrency / mean_service, arrivals,
              violation)
        replica_seconds += int(pods.sum())
        violations += int(violation.sum())
        peak = max(peak, int(pods.max(initial=0)))
    delays = Quantiles()
    delays.add(prefill.astype(np.float64))
    summary = Summary(policy, float(duration), replica_seconds, float(violations), 0.0, 0,
                      peak, float(len(prefill)), float(len(prefill)), 0.0, 0.0,
                      delays.quantile(0.5), delays.quantile(0.95), delays.quantile(0.99))
    sink.on_summary(summary)
    return summary
