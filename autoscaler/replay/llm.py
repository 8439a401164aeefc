"""Request-level model of LLM inference pods (llama.cpp / LlamaEdge semantics).

Each request goes to a uniformly random Ready pod (kube-proxy's iptables mode), waits FIFO
for one of the pod's `concurrency` slots, then takes `prompt/prefill_tps` to its first
token and `output/decode_tps` more to finish. Time to first token = wait + prefill. A pod
with `max_queue_per_pod` requests already waiting drops the new one; with no Ready pod at
all the Service has no endpoints and the request is dropped. Dropped requests are counted
and count as SLO violations. A busy pod uses its whole CPU limit whatever its queue length
(llama.cpp threads spin), an idle one `idle_cpu_cores`: exactly why CPU is a poor signal.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from dataclasses import dataclass, field

import numpy as np

from autoscaler.replay.model import EngineStep, RequestTrace
from autoscaler.replay.quantiles import Quantiles
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.sim_pods import SimPod


@dataclass
class _Server:
    slots_free_at: list[float]
    waiting_starts: deque[float] = field(default_factory=deque)
    busy: list[tuple[float, float]] = field(default_factory=list)  # merged busy intervals
    # Finish times of accepted requests not yet finished: what a metering proxy in front of
    # the server reports as `llm_proxy_requests_in_flight` (waiting + being served).
    finishing: deque[float] = field(default_factory=deque)

    def drained_at(self) -> float:
        return max(self.slots_free_at)


class LLMEngine:
    def __init__(self, trace: RequestTrace, settings: SimulationSettings) -> None:
        self.trace = trace
        self.unit = "requests"
        self.capacity = settings.capacity
        self.lifecycle = settings.lifecycle
        self.slo_seconds = settings.slo.ttft_seconds
        self.limit_cores = self.lifecycle.cpu_limit_milli / 1000.0
        self.rng = np.random.default_rng(settings.seed)
        self.servers: dict[str, _Server] = {}
        self.delays = Quantiles()
        self._next = 0
        self._completions: dict[int, int] = defaultdict(int)
        # Per-second changes of the requests in the system (accepted, not finished) and of
        # those waiting for a slot; applied as the clock passes each second.
        self._system_delta: dict[int, int] = defaultdict(int)
        self._waiting_delta: dict[int, int] = defaultdict(int)
        self._in_system = 0
        self._waiting = 0
        service = (trace.prompt_tokens / self.capacity.prefill_tokens_per_second
                   + trace.output_tokens / self.capacity.decode_tokens_per_second)
        # At least 1 ms a request: a trace of empty requests must not divide by zero.
        self.mean_service_seconds = max(float(service.mean()), 1e-3) if len(service) else 1.0

    def duration_seconds(self) -> int:
        return math.ceil(self.trace.duration_seconds) + 1

    def pod_capacity(self) -> float:
        """Requests per second one pod sustains at the trace's mean request size."""
        return self.capacity.concurrency / self.mean_service_seconds

    def _server(self, pod: SimPod) -> _Server:
        server = self.servers.get(pod.name)
        if server is None:
            server = _Server([0.0] * self.capacity.concurrency)
            self.servers[pod.name] = server
        return server

    def advance_chunk(self, t0: int, t1: int, ready: list[SimPod]) -> EngineStep:
        n = t1 - t0
        arrived = np.zeros(n)
        dropped = np.zeros(n)
        violation = np.zeros(n, dtype=bool)
        arrivals = self.trace.arrival_seconds
        while self._next < len(arrivals) and arrivals[self._next] < t1:
            i = self._next
            self._next += 1
            second = int(arrivals[i]) - t0
            arrived[second] += 1
            ttft = self._dispatch(i, float(arrivals[i]), ready)
            if ttft is None:
                dropped[second] += 1
                violation[second] = True
            elif ttft > self.slo_seconds:
                violation[second] = True
        served = np.array([self._completions.pop(t, 0) for t in range(t0, t1)], dtype=float)
        queued = np.empty(n)
        waiting = np.empty(n)
        for k, t in enumerate(range(t0, t1)):
            self._in_system += self._system_delta.pop(t, 0)
            self._waiting += self._waiting_delta.pop(t, 0)
            queued[k] = self._in_system
            waiting[k] = self._waiting
        capacity = np.full(n, len(ready) * self.pod_capacity())
        # "queued" counts every request accepted and not finished (waiting or in service),
        # so served + queued + dropped = arrived at any instant.
        return EngineStep(demand=arrived, capacity=capacity, served=served, queued=queued,
                          dropped=dropped, violation=violation, underprovisioned=waiting > 0)

    def _dispatch(self, i: int, arrival: float, ready: list[SimPod]) -> float | None:
        if not ready:
            return None
        pod = ready[int(self.rng.integers(len(ready)))]
        server = self._server(pod)
        while server.waiting_starts and server.waiting_starts[0] <= arrival:
            server.waiting_starts.popleft()
        if len(server.waiting_starts) >= self.capacity.max_queue_per_pod:
            return None
        slot = min(range(len(server.slots_free_at)), key=server.slots_free_at.__getitem__)
        start = max(arrival, server.slots_free_at[slot])
        prefill = float(self.trace.prompt_tokens[i]) / self.capacity.prefill_tokens_per_second
        decode = float(self.trace.output_tokens[i]) / self.capacity.decode_tokens_per_second
        end = start + prefill + decode
        server.slots_free_at[slot] = end
        if start > arrival:
            server.waiting_starts.append(start)
            self._waiting_delta[int(arrival)] += 1
            self._waiting_delta[int(start)] -= 1
        self._system_delta[int(arrival)] += 1
        self._system_delta[int(end)] -= 1
        self._add_busy(server, start, end)
        server.finishing.append(end)
        self._completions[int(end)] += 1
        ttft = start - arrival + prefill
        self.delays.add_one(ttft)
        return ttft

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
        """Requests accepted by `pod` and not finished at `t` (FIFO: finish times only grow,
        so finished ones leave from the left)."""
        server = self.servers.get(pod.name)
        if server is None:
            return 0
        while server.finishing and server.finishing[0] <= t:
            server.finishing.popleft()
        return len(server.finishing)

    def drain_time(self, pod: SimPod) -> float:
        server = self.servers.get(pod.name)
        return server.drained_at() if server is not None else 0.0
