"""The smallest pod count whose predicted waiting meets a TTFT target.

The criterion, for a request whose TTFT is its wait for a slot plus its prefill:

    P(TTFT > ttft) = P(W + prefill > ttft) ~= P(W > ttft - mean prefill) <= 1 - attainment

Prefill is taken at its mean (an approximation: prompt lengths vary, so some requests with a
short wait still miss, and some long waits are saved by a short prompt). The wait budget
t = ttft - mean prefill is what the queue may spend. Worked example: TTFT target 5 s, mean
prefill 0.75 s: at least 95 % of requests must wait at most 4.25 s. Measured by simulation
with exponential prompt lengths: fine while the mean prefill is a small part of the target
(0.75 s of 5 s: 95.0-95.5 % simulated at the recommended count), wrong when it is not: at
2.5 s of 5 s, e^-2 = 13.5 % of requests miss on their own prefill whatever the pod count,
which the mean cannot show (tests/test_slo_queueing.py keeps both cases visible).

The search is bounded: P(W > t) is non-increasing in the pod count N for every routing (see
`algorithms.slo.queueing`), so the pods that meet the criterion are all N >= some N*, and N*
is found by doubling steps from the stability floor (N <= lambda S / slots can never meet it:
the queue is unstable) and then bisection, never beyond max_pods. The probes stay within
twice the answer above the floor, so the cost follows the answer, not maxReplicas.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from algorithms.slo.errors import SloUnavailable
from algorithms.slo.model import ROUTING_LEAST_IN_FLIGHT, SLO_METRIC_NAME
from algorithms.slo.queueing import Fleet, fleet_wait_tail

# Erlang B costs O(10 sqrt(a) + c - a) steps; beyond a million slots in one queue (an offered
# load no cluster serves) the recommender declines instead of computing for seconds.
MAX_SERVERS = 1_000_000


@dataclass(frozen=True, slots=True)
class Target:
    """P(W > wait_budget_seconds) <= max_late_share; 95 % within budget is 0.05."""

    wait_budget_seconds: float
    max_late_share: float


@dataclass(frozen=True, slots=True)
class Sizing:
    """The smallest pod count meeting the target, or max_pods with `meets` False."""

    pods: int
    meets: bool


def meets_target(fleet: Fleet, arrival_rate_per_second: float, target: Target) -> bool:
    if fleet.routing == ROUTING_LEAST_IN_FLIGHT and fleet.pods * fleet.slots > MAX_SERVERS:
        raise SloUnavailable(
            f"{SLO_METRIC_NAME}: {arrival_rate_per_second:.4g} req/s x "
            f"{fleet.service_seconds:.4g} s needs more than {MAX_SERVERS:,} slots in one "
            "queue, beyond the model's range")
    late = fleet_wait_tail(fleet, arrival_rate_per_second, target.wait_budget_seconds)
    # An unstable fleet (late = 1) never meets a target, even one whose 1 - attainment rounds
    # to 1: with arrivals, N = 0 is never an answer.
    return late < 1.0 and late <= target.max_late_share


def _stability_floor(template: Fleet, arrival_rate_per_second: float, max_pods: int) -> int:
    """The most pods that are surely unstable: floor(lambda S / slots), at most max_pods.
    2.4 req/s x 2.23 s on 1 slot = 5.35 erlangs: 5 pods cannot keep up, 6 can."""
    load = arrival_rate_per_second * template.service_seconds / template.slots
    if not load < max_pods:  # also an infinite load
        return max_pods
    return int(load)


def smallest_pods(template: Fleet, arrival_rate_per_second: float, target: Target,
                  max_pods: int) -> Sizing:
    """The smallest N in [0, max_pods] with `meets_target`; N = 0 only without arrivals.
    `template.pods` is ignored."""
    if arrival_rate_per_second <= 0.0:
        return Sizing(0, True)
    if max_pods < 1:
        return Sizing(0, False)

    def meets(pods: int) -> bool:
        return meets_target(replace(template, pods=pods), arrival_rate_per_second, target)

    floor = _stability_floor(template, arrival_rate_per_second, max_pods)
    if floor >= 1 and meets(floor):  # only by rounding at an integral load; search below
        failing, probe = 0, floor
    else:
        failing, step, probe = floor, 1, min(floor + 1, max_pods)
        while not meets(probe):  # doubling: floor + 1, + 2, + 4, ...
            if probe >= max_pods:
                return Sizing(max_pods, False)
            failing, step = probe, step * 2
            probe = min(failing + step, max_pods)
    while probe - failing > 1:  # bisection: `failing` misses (or is 0), `probe` meets
        middle = (failing + probe) // 2
        if meets(middle):
            probe = middle
        else:
            failing = middle
    return Sizing(probe, True)
