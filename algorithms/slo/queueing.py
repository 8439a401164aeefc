"""How long a request waits for a free inference slot, per routing of the Service.

Every routing is reduced to one FIFO queue in front of `servers` identical slots and
answered with the Allen-Cunneen approximation for the G/G/c queue (P(W > 0) from Erlang C,
an exponential wait given a wait), refined where simulation showed it was far off:

* random (kube-proxy iptables): a random split of a Poisson stream is Poisson, so each pod
  is an independent M/G/slots queue fed rate / pods. Plain Allen-Cunneen.
* round-robin (IPVS rr): each pod receives every `pods`-th arrival of a Poisson stream, so
  Erlang-`pods` interarrival times, squared coefficient of variation ca^2 = 1 / pods: a
  G/G/slots queue per pod. Plain Allen-Cunneen keeps P(W > 0) = rho and over-predicts waits
  for regular arrivals (simulated 4 pods at rho 0.5: 0.30 wait, it says 0.50; with 50 pods
  it asked for 50 pods where 14 met the target), so P(W > 0) takes Whitt's QNA factor and
  the mean Kraemer-Langenbach-Belz's (both refinements of Kingman's formula for ca^2 < 1).
* least-in-flight (an inference gateway): all `pods * slots` slots form one M/G/c queue, as
  joining the pod with the fewest requests in flight balances the pods; but a waiting
  request waits at its pod, not for the first of all slots, so the wait given a wait is at
  least a residual service time (`conditional_wait_seconds`). Without that, the shared
  queue's tail was 3x too hopeful at the loads that meet a 95 % target.

All pods are alike, so a random request waits like a request at one queue. Unstable queues
(utilization >= 1) wait forever: P(W > t) = 1. The measured errors against simulation are
asserted in tests/test_slo_queueing.py.

Monotonicity in the number of pods N (the recommender's search relies on it): the offered
load per queue a never grows with N and the slots per queue never shrink; Erlang C grows
with a and shrinks with c, the shared queue's decay rate (c - a) / S grows, the residual
term does not depend on N, and for round-robin ca^2 = 1 / N only shrinks. The refined
round-robin tail is capped by plain Allen-Cunneen's, which falls with N by the above; with
the cap no increase was found over a grid (1-119 pods, 1-4 slots, cs^2 0-4, t up to 24 S)
nor by the property test. So P(W > t) is non-increasing in N for every routing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from algorithms.slo.model import (
    ROUTING_LEAST_IN_FLIGHT,
    ROUTING_RANDOM,
    ROUTING_ROUND_ROBIN,
)

# Below a - 10 sqrt(a) servers an Erlang-B value is fixed to ~1e-22 relative accuracy by the
# recursion that follows (see `erlang_b`), so it starts there instead of at 0 servers.
_SKIP_SIGMAS = 10.0


@dataclass(frozen=True, slots=True)
class Queue:
    """One FIFO queue in front of `servers` identical servers.

    `arrival_scv` and `service_scv` are squared coefficients of variation (variance / mean^2):
    1 for Poisson arrivals and exponential service, 1/k for Erlang-k, 0 for deterministic.
    """

    servers: int
    arrival_rate_per_second: float
    service_seconds: float
    arrival_scv: float = 1.0
    service_scv: float = 1.0
    pod_slots: int = 0  # > 0: per-pod queues of this many slots joined by least-in-flight

    @property
    def offered_load(self) -> float:
        """a = lambda * S in erlangs (busy servers on average). 2 req/s x 1.5 s = 3 erlangs."""
        return self.arrival_rate_per_second * self.service_seconds

    @property
    def utilization(self) -> float:
        """rho = a / c per server: 3 erlangs on 4 servers is 0.75."""
        return self.offered_load / self.servers

    @property
    def stable(self) -> bool:
        return self.offered_load < self.servers


@dataclass(frozen=True, slots=True)
class Fleet:
    """N pods of `slots` slots each behind a Service with `routing` (a `ROUTING_*` name)."""

    routing: str
    pods: int
    slots: int
    service_seconds: float
    service_scv: float = 1.0


def erlang_b(servers: int, offered_load: float) -> float:
    """Erlang's loss formula B(c, a): the blocking probability of M/G/c/c.

    Computed with the stable recursion 1/B(k) = 1 + (k / a) / B(k-1), B(0) = 1 (no factorials,
    no overflow: for c >> a 1/B grows to inf and B to its limit 0). Each step multiplies the
    relative error of 1/B by 1 - B(k) < 1, about k / a below a; so starting at
    k0 = a - 10 sqrt(a) with the overload value B(k0) ~ 1 - k0/a (relative error < 1 %) loses
    nothing: the error shrinks by prod(k/a) ~ exp(-10^2 / 2) before k reaches a. This makes the
    cost O(10 sqrt(a) + c - a) instead of O(c).

    Worked example: B(1, 1) = 1/2, B(2, 1) = 1 * 0.5 / (2 + 0.5) = 0.2.
    """
    if offered_load <= 0.0:
        return 0.0 if servers > 0 else 1.0
    start, inverse = 0, 1.0
    skip = offered_load - _SKIP_SIGMAS * math.sqrt(offered_load)
    if 1.0 < skip < servers:
        start = int(skip)
        inverse = 1.0 / (1.0 - start / offered_load)
    for k in range(start + 1, servers + 1):
        inverse = 1.0 + inverse * (k / offered_load)
        if inverse == math.inf:  # B < 1e-308 already and only falls further
            return 0.0
    return 1.0 / inverse


def erlang_c(servers: int, offered_load: float) -> float:
    """Erlang's delay formula C(c, a) = P(W > 0) in M/M/c, from Erlang B:
    C = c B / (c - a (1 - B)) for a < c, and 1 for an unstable queue (a >= c).

    Worked examples (standard tables): C(1, a) = a (M/M/1: P(wait) = rho, 0.5 at rho 0.5);
    C(2, 1) = 2 * 0.2 / (2 - 0.8) = 1/3; C(10, 8) = 0.4092.
    """
    if offered_load <= 0.0:
        return 0.0
    if offered_load >= servers:
        return 1.0
    blocking = erlang_b(servers, offered_load)
    return servers * blocking / (servers - offered_load * (1.0 - blocking))


def regular_arrivals_factor(utilization: float, arrival_scv: float, service_scv: float) -> float:
    """How much less often a request waits when arrivals are more regular than Poisson
    (ca^2 < 1): P(W > 0) ~= rho * factor in GI/G/1, from Whitt's QNA (W. Whitt, The Queueing
    Network Analyzer, Bell System Technical Journal 62(9), 1983):

        P(W > 0) ~= rho + (ca^2 - 1) rho (1 - rho) h,
        h = (1 + ca^2 + rho cs^2) / (1 + rho (cs^2 - 1) + rho^2 (4 ca^2 + cs^2)).

    1 for Poisson arrivals. Worked examples against exact GI/M/1 values (P(W > 0) = sigma, the
    root of sigma = A*(mu (1 - sigma))): D/M/1 at rho 0.5: h = 1.5 / 1.25 = 1.2, 0.5 - 0.5 * 0.5
    * 1.2 = 0.2 (exact 0.203); Erlang-4 arrivals (round-robin over 4 pods) at rho 0.5: h = 1.75
    / 1.5, 0.281 (exact 0.301). Used as C(c, a) * factor for c > 1 (a multi-slot pod).
    """
    if arrival_scv >= 1.0:
        return 1.0
    rho = utilization
    h = (1.0 + arrival_scv + rho * service_scv) / (
        1.0 + rho * (service_scv - 1.0) + rho * rho * (4.0 * arrival_scv + service_scv))
    return max(0.0, 1.0 - (1.0 - arrival_scv) * (1.0 - rho) * h)


def klb_factor(utilization: float, arrival_scv: float, service_scv: float) -> float:
    """Kraemer and Langenbach-Belz's correction of Kingman's mean wait for ca^2 < 1 (W.
    Kraemer, M. Langenbach-Belz, Approximate formulae for the delay in the queueing system
    GI/G/1, 8th International Teletraffic Congress, 1976):

        g = exp(-2 (1 - rho) (1 - ca^2)^2 / (3 rho (ca^2 + cs^2))),  E[W] ~= Kingman * g.

    1 for Poisson arrivals. Worked example: Erlang-4 arrivals, exponential service, rho 0.5:
    g = exp(-2 * 0.5 * 0.5625 / (3 * 0.5 * 1.25)) = e^-0.3 = 0.741; with S = 1 s Kingman's
    0.5 / 0.5 * 1.25 / 2 = 0.625 s becomes 0.463 s (exact E4/M/1: 0.431 s).
    """
    variability = arrival_scv + service_scv
    if arrival_scv >= 1.0:
        return 1.0
    if utilization <= 0.0 or variability <= 0.0:
        return 0.0
    rho = utilization
    return math.exp(-2.0 * (1.0 - rho) * (1.0 - arrival_scv) ** 2 / (3.0 * rho * variability))


def wait_probability(queue: Queue) -> float:
    """P(W > 0): Erlang C (Allen-Cunneen keeps it whatever the distributions are: exact for
    M/M/c, and rho for M/G/1), times the QNA factor for regular arrivals. 0 without
    arrivals, 1 when unstable. M/M/1 at rho 0.5: 0.5."""
    if queue.arrival_rate_per_second <= 0.0 or queue.service_seconds <= 0.0:
        return 0.0
    probability = erlang_c(queue.servers, queue.offered_load)
    if probability >= 1.0:
        return 1.0
    return probability * regular_arrivals_factor(queue.utilization, queue.arrival_scv,
                                                 queue.service_scv)


def conditional_wait_seconds(queue: Queue) -> float:
    """E[W | W > 0] of a stable queue that is waited in (P(W > 0) > 0).

    One shared queue, by Allen-Cunneen (A. O. Allen, Probability, Statistics, and Queueing
    Theory, 2nd ed., 1990): E[W] ~= C(c, a) / (c mu - lambda) * (ca^2 + cs^2) / 2, so given a
    wait S / (c - a) * (ca^2 + cs^2) / 2; for c = 1 this is Kingman's G/G/1 formula (J. F. C.
    Kingman, 1961), exact for M/G/1 (Pollaczek-Khinchine) and for M/M/c. With regular arrivals
    the mean is Kraemer-Langenbach-Belz's and the probability Whitt's: E[W] * g / factor.
    M/M/1 with S = 1 s at rho 0.5: 1 / (1 - 0.5) = 2 s, E[W] = 0.5 * 2 = 1 s.

    Per-pod queues joined by least-in-flight (`pod_slots` > 0): a request that has to wait
    waits at one pod, for the first of that pod's slots to free, not for the first of all
    c slots as in a shared queue. In light traffic that is a mean residual service time,
    S (1 + cs^2) / 2 / slots (exact for exponential service); in heavy traffic the queues
    balance and the shared queue's value holds. Their root-sum-square joins the two (a
    heuristic, checked by simulation in tests/test_slo_queueing.py). Worked example: 8 pods
    of 1 slot, S = 1 s exponential, rho 0.7: shared 1 / (8 - 5.6) = 0.417 s, residual 1 s,
    joined 1.083 s; P(W > 1 s) = 0.271 e^(-1 / 1.083) = 0.108 (simulated: 0.085; the shared
    queue's 0.025 would be far too hopeful).
    """
    rho, ca2, cs2 = queue.utilization, queue.arrival_scv, queue.service_scv
    factor = regular_arrivals_factor(rho, ca2, cs2)
    shared = (queue.service_seconds / (queue.servers - queue.offered_load) * (ca2 + cs2) / 2.0
              * klb_factor(rho, ca2, cs2) / factor)
    if queue.pod_slots <= 0:
        return shared
    return math.hypot(shared, queue.service_seconds * (1.0 + cs2) / 2.0 / queue.pod_slots)


def mean_wait_seconds(queue: Queue) -> float:
    """E[W] = P(W > 0) * E[W | W > 0]; inf when unstable. Worked examples: M/M/1 with S = 1 s
    at rho 0.5: 1 s. Round-robin over 4 pods of 1 slot, 2 req/s, S = 1.6 s, exponential
    service: per pod rho 0.8, ca^2 = 1/4: Kingman 0.8 * 1.6 / 0.2 * 1.25 / 2 = 4.0 s, times
    g = exp(-2 * 0.2 * 0.5625 / (3 * 0.8 * 1.25)) = 0.928: 3.71 s (random routing: 6.4 s)."""
    probability = wait_probability(queue)
    if probability == 0.0:
        return 0.0
    if not queue.stable:
        return math.inf
    return probability * conditional_wait_seconds(queue)


def wait_tail(queue: Queue, wait_seconds: float) -> float:
    """P(W > t) ~= P(W > 0) * exp(-t / E[W | W > 0]): an exponential conditional wait,
    exact for M/M/c and GI/M/1, Allen-Cunneen's shape otherwise.

    Worked example: M/M/1, S = 1 s, rho 0.5: P(W > 1 s) = 0.5 e^-0.5 = 0.303. The same pod fed
    round-robin by 4 pods: 0.281 e^(-1 / 1.65) = 0.153 (simulated 0.154; plain Allen-Cunneen,
    which keeps P(W > 0) = rho, says 0.225). `wait_seconds` <= 0 gives P(W > 0).
    """
    probability = wait_probability(queue)
    if probability in (0.0, 1.0) or wait_seconds <= 0.0:
        return probability
    conditional = conditional_wait_seconds(queue)
    tail = probability * math.exp(-wait_seconds / conditional) if conditional > 0.0 else 0.0
    if queue.arrival_scv >= 1.0:
        return tail
    # Regular arrivals: never above plain Allen-Cunneen, which over-predicts there but falls
    # with N for sure; the refinement alone can rise from 1 to 2 pods deep in the tail
    # (P(W > 24 S) 3.6e-4 -> 4.9e-4 at cs^2 = 4), which would break the search's monotonicity.
    variability = queue.arrival_scv + queue.service_scv
    if variability <= 0.0:  # deterministic arrivals and service below capacity: no waits
        return 0.0
    decay = (queue.servers - queue.offered_load) / queue.service_seconds * 2.0 / variability
    plain = erlang_c(queue.servers, queue.offered_load) * math.exp(-wait_seconds * decay)
    return min(tail, plain)


def queue_for(fleet: Fleet, arrival_rate_per_second: float) -> Queue:
    """The queue one request joins, per routing (see the module docstring). Needs pods >= 1."""
    if fleet.routing == ROUTING_LEAST_IN_FLIGHT:
        return Queue(fleet.pods * fleet.slots, arrival_rate_per_second, fleet.service_seconds,
                     1.0, fleet.service_scv, pod_slots=fleet.slots)
    per_pod = arrival_rate_per_second / fleet.pods
    if fleet.routing == ROUTING_ROUND_ROBIN:
        return Queue(fleet.slots, per_pod, fleet.service_seconds, 1.0 / fleet.pods,
                     fleet.service_scv)
    if fleet.routing == ROUTING_RANDOM:
        return Queue(fleet.slots, per_pod, fleet.service_seconds, 1.0, fleet.service_scv)
    raise ValueError(f"unknown routing {fleet.routing!r}")


def fleet_wait_tail(fleet: Fleet, arrival_rate_per_second: float, wait_seconds: float) -> float:
    """P(W > t) of a random request: 0 without arrivals, 1 with arrivals and no pods."""
    if arrival_rate_per_second <= 0.0:
        return 0.0
    if fleet.pods <= 0:
        return 1.0
    return wait_tail(queue_for(fleet, arrival_rate_per_second), wait_seconds)


def fleet_utilization(fleet: Fleet, arrival_rate_per_second: float) -> float:
    """Busy share of each slot: lambda * S / (N * slots); 2.4 req/s x 2.23 s on 6 slots is
    0.89. 0 without arrivals, inf with arrivals and no pods."""
    if arrival_rate_per_second <= 0.0:
        return 0.0
    if fleet.pods <= 0:
        return math.inf
    return arrival_rate_per_second * fleet.service_seconds / (fleet.pods * fleet.slots)
