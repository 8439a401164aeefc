"""How the Service spreads LLM requests over the Ready pods (`SimulationSettings.routing`).

The names are `algorithms.slo.model`'s, so a spec's `sloRecommender.routing` and the
simulator mean the same thing. For each request:

- random (the default), kube-proxy's iptables mode: a uniformly random Ready pod, drawn
  from the run's seeded generator;
- round-robin, kube-proxy's IPVS mode with the `rr` scheduler: the next Ready pod in a
  stable order (a counter that persists across the run, taken modulo the Ready pods);
- least-in-flight, an inference gateway: the Ready pod with the fewest accepted-not-finished
  requests at the arrival; ties go to the pod that became Ready first.

The stable order is the order in which pods became Ready (creation order: every pod has
the same lifecycle), and so is the tie-break: the oldest pods fill first, so the newest,
which a scale-down removes first, are the idlest and drain soonest.

A router sees keys (pod names), never servers: the engine tells it which pods are Ready
(`added` / `removed`) and which request went where (`accepted`), and asks `pick`. Each call
costs O(1) or O(log pods): a 35,000-request trace stays cheap however many pods there are.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Protocol

import numpy as np

from algorithms.slo.model import (
    ROUTING_LEAST_IN_FLIGHT,
    ROUTING_RANDOM,
    ROUTING_ROUND_ROBIN,
    ROUTINGS,
)
from autoscaler.errors import InputError

__all__ = ["ROUTINGS", "Router", "make_router"]


class Router(Protocol):
    def added(self, key: str) -> None: ...

    def removed(self, key: str) -> None: ...

    def pick(self, arrival: float, ready: Sequence[str]) -> str: ...

    def accepted(self, key: str, finish: float) -> None: ...


class RandomRouter:
    """kube-proxy iptables: one draw per request (the same draws as before routing was a
    setting, so seeded runs are unchanged)."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng

    def added(self, key: str) -> None:
        pass

    def removed(self, key: str) -> None:
        pass

    def pick(self, arrival: float, ready: Sequence[str]) -> str:
        return ready[int(self.rng.integers(len(ready)))]

    def accepted(self, key: str, finish: float) -> None:
        pass


class RoundRobinRouter:
    """IPVS rr: a pointer cycling over the Ready pods. When the set changes the pointer
    keeps counting, so a new pod joins the cycle without resetting it."""

    def __init__(self) -> None:
        self.turn = 0

    def added(self, key: str) -> None:
        pass

    def removed(self, key: str) -> None:
        pass

    def pick(self, arrival: float, ready: Sequence[str]) -> str:
        key = ready[self.turn % len(ready)]
        self.turn += 1
        return key

    def accepted(self, key: str, finish: float) -> None:
        pass


class LeastInFlightRouter:
    """An inference gateway: the Ready pod with the fewest requests in flight.

    `count` holds each Ready pod's accepted-not-finished requests; `ends` is a min-heap of
    the finish times of those requests (a finish at the arrival instant counts as done, as
    in the engine's in-flight gauge). `candidates` is a min-heap of (count, ordinal, key)
    with lazy deletion: an entry is current while its pod is Ready with that count; stale
    ones are dropped when they surface, and the heap is rebuilt when they pile up."""

    def __init__(self) -> None:
        self.count: dict[str, int] = {}
        self.ordinal: dict[str, int] = {}
        self.ends: list[tuple[float, str]] = []
        self.candidates: list[tuple[int, int, str]] = []
        self.serial = 0

    def added(self, key: str) -> None:
        self.ordinal[key] = self.serial
        self.serial += 1
        self.count[key] = 0
        heapq.heappush(self.candidates, (0, self.ordinal[key], key))

    def removed(self, key: str) -> None:
        # Its requests finish on the draining pod; the router forgets it (keys never return).
        del self.ordinal[key]
        del self.count[key]

    def pick(self, arrival: float, ready: Sequence[str]) -> str:
        self._finish_until(arrival)
        candidates = self.candidates
        while True:
            count, ordinal, key = candidates[0]
            if self.ordinal.get(key) == ordinal and self.count[key] == count:
                return key
            heapq.heappop(candidates)

    def accepted(self, key: str, finish: float) -> None:
        count = self.count[key] + 1
        self.count[key] = count
        heapq.heappush(self.ends, (finish, key))
        self._push(key, count)

    def _finish_until(self, t: float) -> None:
        ends = self.ends
        while ends and ends[0][0] <= t:
            _, key = heapq.heappop(ends)
            count = self.count.get(key)
            if count is not None:  # else its pod was removed: nothing to track
                self.count[key] = count - 1
                self._push(key, count - 1)

    def _push(self, key: str, count: int) -> None:
        if len(self.candidates) > 4 * len(self.count) + 64:
            # Mostly stale entries: one current entry per Ready pod is enough.
            self.candidates = [(c, self.ordinal[k], k) for k, c in self.count.items()]
            heapq.heapify(self.candidates)
        heapq.heappush(self.candidates, (count, self.ordinal[key], key))


def make_router(routing: str, rng: np.random.Generator) -> Router:
    if routing == ROUTING_RANDOM:
        return RandomRouter(rng)
    if routing == ROUTING_ROUND_ROBIN:
        return RoundRobinRouter()
    if routing == ROUTING_LEAST_IN_FLIGHT:
        return LeastInFlightRouter()
    raise InputError(f"unknown routing {routing!r}; choose one of {', '.join(ROUTINGS)}")
