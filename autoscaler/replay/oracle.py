"""The oracle baseline: it knows the demand and has exactly enough Ready pods at every
instant, with no startup delay. Its replica-seconds are the lower bound on cost at zero
violations (up to violations no capacity can prevent: a prompt whose prefill alone takes
longer than the TTFT threshold). It keeps at least one pod, like a Deployment with
minReplicas 1.

Demand series: pods(t) = max(1, ceil(work(t) / pod_cores)). Request traces: every request
starts on arrival, so pods(t) = max(1, ceil(peak concurrent requests in second t / slots)).
"""

from __future__ import annotations

import heapq
import math

import numpy as np

from autoscaler.replay.model import DemandSeries, ReplaySink, RequestTrace, StepChunk, Summary
from autoscaler.replay.quantiles import Quantiles
from autoscaler.replay.settings import SimulationSettings

CHUNK_SECONDS = 3600


def _emit(policy: str, sink: ReplaySink, t0: int, demand: np.ndarray, pods: np.ndarray,
          pod_capacity: float, served: np.ndarray, violation: np.ndarray) -> None:
    n = len(demand)
    sink.on_chunk(policy, StepChunk(
        t_seconds=np.arange(t0, t0 + n, dtype=np.float64), demand=demand.astype(np.float64),
        capacity=pods * pod_capacity, replicas=pods.astype(np.int64),
        ready=pods.astype(np.int64), served=served.astype(np.float64), queued=np.zeros(n),
        dropped=np.zeros(n), violation=violation))


def oracle_demand(series: DemandSeries, settings: SimulationSettings, sink: ReplaySink,
                  policy: str = "oracle") -> Summary:
    limit = settings.lifecycle.cpu_limit_milli / 1000.0
    cost = settings.cpu_seconds_per_request if series.unit == "requests_per_second" else 1.0
    duration = math.ceil(series.duration_seconds)
    replica_seconds = 0.0
    arrived = 0.0
    peak = 0
    for t0 in range(0, duration, CHUNK_SECONDS):
        t1 = min(duration, t0 + CHUNK_SECONDS)
        index = np.clip(((np.arange(t0, t1) - series.start_seconds) // series.step_seconds)
                        .astype(np.int64), 0, len(series.values) - 1)
        demand = series.values[index]
        # A hair of tolerance so 6.0000000001 cores of float noise do not buy a pod.
        pods = np.maximum(1, np.ceil(demand * cost / limit - 1e-9)).astype(np.int64)
        replica_seconds += float(pods.sum())
        arrived += float(demand.sum())
        peak = max(peak, int(pods.max(initial=0)))
        _emit(policy, sink, t0, demand, pods, limit / cost, demand,
              np.zeros(len(demand), dtype=bool))
    summary = Summary(policy, float(duration), replica_seconds, 0.0, 0.0, 0, peak, arrived,
                      arrived, 0.0, 0.0, 0.0, 0.0, 0.0)
    sink.on_summary(summary)
    return summary


def oracle_requests(trace: RequestTrace, settings: SimulationSettings, sink: ReplaySink,
                    policy: str = "oracle") -> Summary:
    capacity = settings.capacity
    prefill = trace.prompt_tokens / capacity.prefill_tokens_per_second
    service = prefill + trace.output_tokens / capacity.decode_tokens_per_second
    duration = math.ceil(trace.duration_seconds) + 1
    peak_in_second = np.zeros(duration + 1, dtype=np.int64)
    ends: list[float] = []  # min-heap of finish times of requests in service
    for arrival, length in zip(trace.arrival_seconds.tolist(), service.tolist(), strict=True):
        while ends and ends[0] <= arrival:
            heapq.heappop(ends)
        heapq.heappush(ends, arrival + length)
        second = int(arrival)
        peak_in_second[second] = max(peak_in_second[second], len(ends))
    # A request also occupies the seconds after its arrival second until it ends.
    busy = np.zeros(duration + 2, dtype=np.int64)
    for arrival, length in zip(trace.arrival_seconds.tolist(), service.tolist(), strict=True):
        busy[int(arrival) + 1:min(duration + 1, math.ceil(arrival + length))] += 1
    concurrent = np.maximum(peak_in_second[:duration], busy[:duration])
    pods = np.maximum(1, -(-concurrent // capacity.concurrency)).astype(np.int64)
    arrivals = np.bincount(trace.arrival_seconds.astype(np.int64), minlength=duration)[:duration]
    late = prefill > settings.slo.ttft_seconds
    violation = np.zeros(duration, dtype=bool)
    violation[trace.arrival_seconds[late].astype(np.int64)] = True
    delays = Quantiles()
    delays.add(prefill.astype(np.float64))
    mean_service = float(service.mean()) if len(service) else 1.0
    _emit(policy, sink, 0, arrivals, pods, capacity.concurrency / mean_service, arrivals,
          violation)
    summary = Summary(policy, float(duration), float(pods.sum()), float(violation.sum()), 0.0,
                      0, int(pods.max(initial=0)), float(len(prefill)), float(len(prefill)),
                      0.0, 0.0, delays.quantile(0.5), delays.quantile(0.95),
                      delays.quantile(0.99))
    sink.on_summary(summary)
    return summary
