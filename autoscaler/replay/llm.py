"""Request-level model of LLM inference pods (llama.cpp / LlamaEdge semantics).

Each request goes to a Ready pod chosen by the run's routing (`autoscaler.replay.routing`:
uniformly random by default, kube-proxy's iptables mode), waits FIFO for one of the pod's
`concurrency` slots, then takes `prompt/prefill_tps` to its first token and
`output/decode_tps` more to finish. Time to first token = wait + prefill. A pod with
`max_queue_per_pod` requests already waiting drops the new one; with no Ready pod at all
the Service has no endpoints and the request is dropped. Dropped requests are counted and
count as SLO violations. A busy pod uses its whole CPU limit whatever its queue length
(llama.cpp threads spin), an idle one `idle_cpu_cores`: exactly why CPU is a poor signal.

A request's slot, start and finish are fixed when it is accepted (FIFO slots; a pod that
leaves the Ready set, deleted by a scale-down, drains: it takes no new requests and
finishes the ones it has), so its TTFT and latency are known then (`outcomes.RequestTally`).
`advance_chunk` takes the cluster's Ready pods (constant in a chunk); the request oracle
drives it second by second instead (`autoscaler.replay.instant_pods`).
"""

from __future__ import annotations

import heapq
import math
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from autoscaler.replay.finishes import FinishMeter
from autoscaler.replay.model import EngineStep, RequestMetrics, RequestTrace
from autoscaler.replay.outcomes import RequestTally
from autoscaler.replay.routing import make_router
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.sim_pods import SimPod


class RequestRecord(NamedTuple):
    """One request as the engine settled it (`LLMEngine.request_log`, for tests)."""

    arrival: float
    pod: str | None  # None: dropped
    start: float = math.nan
    ttft: float = math.nan
    end: float = math.nan


@dataclass
class _Server:
    slots_free_at: list[float]
    waiting_starts: deque[float] = field(default_factory=deque)
    busy: list[tuple[float, float]] = field(default_factory=list)  # merged busy intervals
    # Min-heap of the finish times of accepted requests not yet finished: what a metering
    # proxy in front of the server reports as `llm_proxy_requests_in_flight` (waiting +
    # being served). A heap: with several slots, requests do not finish in arrival order.
    finishing: list[float] = field(default_factory=list)

    def drained_at(self) -> float:
        return max(self.slots_free_at)


class LLMEngine:
    def __init__(self, trace: RequestTrace, settings: SimulationSettings) -> None:
        self.trace = trace
        self.unit = "requests"
        self.routing: str | None = settings.routing
        self.capacity = settings.capacity
        self.lifecycle = settings.lifecycle
        self.slo_seconds = settings.slo.ttft_seconds
        self.limit_cores = self.lifecycle.cpu_limit_milli / 1000.0
        self.rng = np.random.default_rng(settings.seed)
        self.router = make_router(settings.routing, self.rng)
        self.servers: dict[str, _Server] = {}
        self._ready: list[str] = []  # in the order the pods became Ready
        self._next = 0
        self._completions: dict[int, int] = defaultdict(int)
        # Per-second changes of the requests in the system (accepted, not finished) and of
        # those waiting for a slot; applied as the clock passes each second.
        self._system_delta: dict[int, int] = defaultdict(int)
        self._waiting_delta: dict[int, int] = defaultdict(int)
        self._in_system = 0
        self._waiting = 0
        self.prefill_seconds = trace.prompt_tokens / self.capacity.prefill_tokens_per_second
        self.decode_seconds = trace.output_tokens / self.capacity.decode_tokens_per_second
        self.tally = RequestTally(settings.slo, self.prefill_seconds)
        self.delays = self.tally.ttft
        self.request_log: list[RequestRecord] | None = None  # set to a list to keep one
        self.finishes: FinishMeter | None = None  # track_finishes() starts it
        service = self.prefill_seconds + self.decode_seconds
        # At least 1 ms a request: a trace of empty requests must not divide by zero.
        self.mean_service_seconds = max(float(service.mean()), 1e-3) if len(service) else 1.0

    def duration_seconds(self) -> int:
        return math.ceil(self.trace.duration_seconds) + 1

    def pod_capacity(self) -> float:
        """Requests per second one pod sustains at the trace's mean request size."""
        return self.capacity.concurrency / self.mean_service_seconds

    def request_metrics(self) -> RequestMetrics:
        return self.tally.metrics()

    def _new_server(self) -> _Server:
        return _Server([0.0] * self.capacity.concurrency)

    def _set_ready(self, keys: list[str]) -> None:
        """The cluster's Ready pods for the next chunk; the router hears of the changes (a
        deleted pod's name never returns: the ReplicaSet names each new pod afresh)."""
        if keys == self._ready:
            return
        now, before = set(keys), set(self._ready)
        for key in self._ready:
            if key not in now:
                self.router.removed(key)
        for key in keys:
            if key not in before:
                self.router.added(key)
        self._ready = keys

    def advance_chunk(self, t0: int, t1: int, ready: list[SimPod]) -> EngineStep:
        self._set_ready([pod.name for pod in ready])
        first, last = self._arrivals_before(t1)
        dropped = np.zeros(t1 - t0)
        late: list[int] = []
        self._dispatch_range(t0, first, last, dropped, late)
        capacity = np.full(t1 - t0, len(ready) * self.pod_capacity())
        return self._step(t0, t1, first, last, dropped, late, capacity)

    def _arrivals_before(self, t1: int) -> tuple[int, int]:
        """The requests arriving from where the last chunk stopped to `t1`."""
        first = self._next
        self._next = int(np.searchsorted(self.trace.arrival_seconds, t1, side="left"))
        return first, self._next

    def _dispatch_range(self, t0: int, first: int, last: int, dropped: np.ndarray,
                        late: list[int]) -> None:
        """Route requests [first, last); count the dropped ones per second from t0 and
        note the seconds holding a dropped or late request."""
        arrivals = self.trace.arrival_seconds[first:last]
        ends: list[float] = []  # of every request in the range; nan: dropped
        for arrival, prefill, decode in zip(
                arrivals.tolist(), self.prefill_seconds[first:last].tolist(),
                self.decode_seconds[first:last].tolist(), strict=True):
            ttft = self._dispatch(arrival, prefill, decode)
            if ttft is None:
                dropped[int(arrival) - t0] += 1
                late.append(int(arrival) - t0)
                ends.append(math.nan)
                continue
            if ttft > self.slo_seconds:
                late.append(int(arrival) - t0)
            ends.append(arrival + ttft + decode)
        if self.finishes is not None and ends:
            self._meter(first, last, np.array(ends))

    def track_finishes(self) -> FinishMeter:
        """Keep per-second totals of the finished requests from now on (what the metering
        proxy counts; the SLO recommender's inputs, `autoscaler.replay.slo_observe`)."""
        if self.finishes is None:
            self.finishes = FinishMeter(self.duration_seconds())
        return self.finishes

    def _meter(self, first: int, last: int, ends: np.ndarray) -> None:
        assert self.finishes is not None
        accepted = ~np.isnan(ends)
        trace = self.trace
        self.finishes.add(
            ends[accepted], trace.prompt_tokens[first:last][accepted].astype(np.float64),
            trace.output_tokens[first:last][accepted].astype(np.float64),
            self.prefill_seconds[first:last][accepted], self.decode_seconds[first:last][accepted])

    def arrivals_between(self, a: float, b: float) -> int:
        """Requests arriving in [a, b): the metering proxy's arrivals counter."""
        lo, hi = np.searchsorted(self.trace.arrival_seconds, (a, b), side="left")
        return int(hi - lo)

    def _step(self, t0: int, t1: int, first: int, last: int, dropped: np.ndarray,
              late: list[int], capacity: np.ndarray) -> EngineStep:
        n = t1 - t0
        self.tally.fold(first, last)
        seconds = self.trace.arrival_seconds[first:last].astype(np.int64) - t0
        arrived = np.bincount(seconds, minlength=n).astype(np.float64)
        violation = np.zeros(n, dtype=bool)
        violation[late] = True
        served = np.array([self._completions.pop(t, 0) for t in range(t0, t1)], dtype=float)
        queued = np.empty(n)
        waiting = np.empty(n)
        for k, t in enumerate(range(t0, t1)):
            self._in_system += self._system_delta.pop(t, 0)
            self._waiting += self._waiting_delta.pop(t, 0)
            queued[k] = self._in_system
            waiting[k] = self._waiting
        # "queued" counts every request accepted and not finished (waiting or in service),
        # so served + queued + dropped = arrived at any instant.
        return EngineStep(demand=arrived, capacity=capacity, served=served, queued=queued,
                          dropped=dropped, violation=violation,
                          underprovisioned=waiting > 0)

    def _dispatch(self, arrival: float, prefill: float, decode: float) -> float | None:
        """Route and accept (-> TTFT) or drop (-> None) one request."""
        ready = self._ready
        if not ready:
            self._dropped(arrival)
            return None
        key = self.router.pick(arrival, ready)
        server = self.servers.get(key)
        if server is None:
            server = self.servers[key] = self._new_server()
        waiting_starts = server.waiting_starts
        while waiting_starts and waiting_starts[0] <= arrival:
            waiting_starts.popleft()
        if len(waiting_starts) >= self.capacity.max_queue_per_pod:
            self._dropped(arrival)
            return None
        slots = server.slots_free_at
        slot = 0 if len(slots) == 1 else min(range(len(slots)), key=slots.__getitem__)
        start = max(arrival, slots[slot])
        end = start + prefill + decode
        slots[slot] = end
        if start > arrival:
            waiting_starts.append(start)
            self._waiting_delta[int(arrival)] += 1
            self._waiting_delta[int(start)] -= 1
        self._system_delta[int(arrival)] += 1
        self._system_delta[int(end)] -= 1
        self._add_busy(server, start, end)
        heapq.heappush(server.finishing, end)
        self._completions[int(end)] += 1
        self.router.accepted(key, end)
        ttft = start - arrival + prefill
        self.tally.accept(ttft, end - arrival)
        if self.request_log is not None:
            self.request_log.append(RequestRecord(arrival, key, start, ttft, end))
        return ttft

    def _dropped(self, arrival: float) -> None:
        self.tally.drop()
        if self.request_log is not None:
            self.request_log.append(RequestRecord(arrival, None))

    @staticmethod
    def _add_busy(server: _Server, start: float, end: float) -> None:
        # Slots start in FIFO order, so a new interval only ever overlaps the last one.
        if server.busy and start <= server.busy[-1][1]:
            last_start, last_end = server.busy[-1]
            server.busy[-1] = (last_start, max(last_end, end))
        else:
            server.busy.append((start, end))

    def forget_before(self, t: float) -> None:
        """Drop busy intervals no metric window can reach any more (bounded memory)."""
        for server in self.servers.values():
            keep = [iv for iv in server.busy if iv[1] >= t]
            server.busy[:] = keep

    def usage_cores(self, pod: SimPod, a: float, b: float) -> float:
        """Average cores over [a, b): nothing while pending, model load while starting,
        the whole limit while serving and `idle_cpu_cores` otherwise once ready."""
        if b <= a:
            return 0.0
        loading = max(0.0, min(b, pod.ready_at) - max(a, pod.started))
        ready_from = max(a, pod.ready_at)
        busy = 0.0
        server = self.servers.get(pod.name)
        if server is not None and ready_from < b:
            for start, end in server.busy:
                busy += max(0.0, min(end, b) - max(start, ready_from))
        idle = max(0.0, b - ready_from) - busy
        total = (loading * self.lifecycle.startup_cpu_cores + busy * self.limit_cores
                 + idle * self.lifecycle.idle_cpu_cores)
        return total / (b - a)

    def in_flight(self, pod: SimPod, t: float) -> int:
        """Requests accepted by `pod` and not finished at `t` (finished at `t`: gone)."""
        server = self.servers.get(pod.name)
        if server is None:
            return 0
        finishing = server.finishing
        while finishing and finishing[0] <= t:
            heapq.heappop(finishing)
        return len(finishing)

    def drain_time(self, pod: SimPod) -> float:
        server = self.servers.get(pod.name)
        return server.drained_at() if server is not None else 0.0
