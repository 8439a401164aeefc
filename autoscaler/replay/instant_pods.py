"""The LLM engine driven by a per-second pod count whose pods are Ready at once: the
request oracle's cluster (`autoscaler.replay.oracle_llm`).

New pods are Ready the second they are wanted. A scale-down removes idle pods only, the
newest first, and keeps a busy pod Ready (counted, serving) until a later second finds it
idle: an oracle picks which pods go, and a deleted busy pod would drain its queue outside
replica-seconds and beyond any bound (an early version's `oracle<=10` beat fixed:10 at a
third of its cost that way). So the wanted count is a floor; `advance_pods` reports the
pods that were Ready.
"""

from __future__ import annotations

import math

import numpy as np

from autoscaler.replay.llm import LLMEngine
from autoscaler.replay.model import EngineStep, IntArray, RequestTrace
from autoscaler.replay.settings import SimulationSettings


class InstantPodsEngine(LLMEngine):
    def __init__(self, trace: RequestTrace, settings: SimulationSettings) -> None:
        super().__init__(trace, settings)
        self._serial = 0  # names the pods: oracle-0, oracle-1, ... (never reused)
        self._idle_from = -math.inf  # no Ready pod is idle before this time

    def advance_pods(self, t0: int, t1: int, pods: IntArray) -> tuple[EngineStep, IntArray]:
        """Seconds [t0, t1) wanting pods[s - t0] Ready pods in second s: the step, and the
        pods Ready in each second."""
        n = t1 - t0
        first, last = self._arrivals_before(t1)
        seconds = self.trace.arrival_seconds[first:last].astype(np.int64) - t0
        bounds = (np.searchsorted(seconds, np.arange(n + 1), side="left") + first).tolist()
        ready = np.empty(n, dtype=np.int64)
        dropped = np.zeros(n)
        late: list[int] = []
        for k, wanted in enumerate(pods.tolist()):
            if wanted != len(self._ready):
                self._resize(wanted, float(t0 + k))
            ready[k] = len(self._ready)
            if bounds[k] < bounds[k + 1]:
                self._dispatch_range(t0, bounds[k], bounds[k + 1], dropped, late)
        step = self._step(t0, t1, first, last, dropped, late, ready * self.pod_capacity())
        return step, ready

    def _resize(self, pods: int, now: float) -> None:
        """Make `pods` pods Ready at `now` as the module docstring says."""
        ready = self._ready
        if pods > len(ready):
            for _ in range(pods - len(ready)):
                key = f"oracle-{self._serial}"
                self._serial += 1
                ready.append(key)
                self.router.added(key)
            self._idle_from = -math.inf
            return
        if now < self._idle_from:
            return  # no Ready pod is idle yet (finish times only grow)
        excess = len(ready) - pods
        idle: list[str] = []
        busy_until = math.inf
        servers = self.servers
        for key in reversed(ready):
            server = servers.get(key)  # None: never given a request
            drained = server.drained_at() if server is not None else -math.inf
            if drained <= now:
                idle.append(key)
                if len(idle) == excess:
                    break
            else:
                busy_until = min(busy_until, drained)
        if len(idle) < excess:  # every pod was looked at: none is idle before busy_until
            self._idle_from = busy_until
        if busy_until == math.inf:  # the newest pods, the common case
            del ready[len(ready) - len(idle):]
        else:
            gone = set(idle)
            ready[:] = [key for key in ready if key not in gone]
        for key in idle:
            self.router.removed(key)
            servers.pop(key, None)  # nothing reads a removed pod: bounded memory
