"""The waiting-time model: worked examples with independently known values, properties, and
a discrete-event simulation of each routing that the predictions must match.

Measured (seeds 7 and 8, 40,000 requests each, the first 10 % dropped as warm-up), predicted
minus simulated P(W > t) at t = 0, S/2, S, 2S, utilization 0.5 to 0.85 per slot:

| model | errors |
|---|---|
| one shared queue, pure Allen-Cunneen (M/G/c) | -0.005 .. +0.011 |
| random routing (M/G/slots per pod) | -0.008 .. +0.006 |
| round-robin with the QNA / KLB refinements | -0.033 .. +0.043 (-0.033: P(W > 0), scv 2) |
| round-robin, plain Allen-Cunneen (P(W > 0) = rho) | about +0.25 at t = 0 (0.50 vs 0.25) |
| least-in-flight (per-pod queues, fewest in flight) | +0.008 .. +0.119: on the safe side |

Over eight single seeds the standard deviation of a simulated value is up to 0.03 at
utilization 0.85, so the tolerances below are the bias plus that noise. The shared-queue
formula alone was up to 0.06 too hopeful for least-in-flight (0.025 predicted vs 0.082
simulated at P(W > S), 8 pods at 0.7), which sized one pod short of the target; hence the
residual-service term of `conditional_wait_seconds`.

End to end (2.4 req/s, exponential prompt and output lengths, TTFT = wait + own prefill),
the recommended counts reach 95.0-95.5 % simulated against the 95 % target, one pod fewer
does not; with a mean prefill half the target the mean-prefill criterion is blind to the
13.5 % of requests whose prefill alone is too long (a documented limit, tested as such).
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.slo.model import (
    ROUTING_LEAST_IN_FLIGHT,
    ROUTING_RANDOM,
    ROUTING_ROUND_ROBIN,
    ROUTINGS,
    PodModel,
    SloObservation,
    SloSpec,
)
from algorithms.slo.queueing import (
    Fleet,
    Queue,
    conditional_wait_seconds,
    erlang_b,
    erlang_c,
    fleet_utilization,
    fleet_wait_tail,
    klb_factor,
    mean_wait_seconds,
    regular_arrivals_factor,
    wait_probability,
    wait_tail,
)
from algorithms.slo.recommend import recommend

Floats = npt.NDArray[np.float64]


# --- Erlang B and C against independent computations -----------------------------------

def _erlang_b_exact(servers: int, load: Fraction) -> Fraction:
    """B(c, a) = (a^c / c!) / sum_k a^k / k!, in exact rational arithmetic."""
    terms = [load ** k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


def _erlang_b_poisson(servers: int, load: float) -> float:
    """B(c, a) = P(X = c) / P(X <= c), X ~ Poisson(a), in log space (a second method)."""
    k = np.arange(servers + 1, dtype=np.float64)
    log_terms = k * math.log(load) - np.array([math.lgamma(x + 1.0) for x in k])
    top = float(log_terms.max())
    return math.exp(float(log_terms[-1]) - top - math.log(float(np.exp(log_terms - top).sum())))


@pytest.mark.parametrize(("servers", "load", "expected"), [
    pytest.param(1, 0.5, 0.5, id="mm1-rho-half-waits-half"),
    pytest.param(1, 0.9, 0.9, id="mm1-rho-0.9"),
    pytest.param(2, 1.0, 1 / 3, id="two-servers-one-erlang"),
    pytest.param(10, 8.0, 0.4092, id="table-c10-a8"),
    pytest.param(3, 2.0, 4 / 9, id="three-servers-two-erlangs"),
    pytest.param(4, 5.0, 1.0, id="overloaded-waits-always"),
    pytest.param(4, 0.0, 0.0, id="no-load-never-waits"),
])
def test_erlang_c_worked_examples(servers: int, load: float, expected: float) -> None:
    assert erlang_c(servers, load) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(("servers", "load"), [
    pytest.param(1, Fraction(1, 2), id="one-server"),
    pytest.param(2, Fraction(1), id="b-2-1-is-a-fifth"),
    pytest.param(5, Fraction(3), id="five-servers"),
    pytest.param(40, Fraction(35), id="forty-servers"),
    pytest.param(120, Fraction(100), id="past-the-skip-start"),
])
def test_erlang_b_matches_exact_rationals(servers: int, load: Fraction) -> None:
    assert erlang_b(servers, float(load)) == pytest.approx(
        float(_erlang_b_exact(servers, load)), rel=1e-12)


@pytest.mark.parametrize(("servers", "load"), [
    pytest.param(1000, 950.0, id="thousand-servers"),
    pytest.param(10_000, 9_800.0, id="ten-thousand-servers"),
    pytest.param(10_000, 9_999.5, id="ten-thousand-at-the-edge"),
])
def test_erlang_b_is_stable_for_thousands_of_servers(servers: int, load: float) -> None:
    assert erlang_b(servers, load) == pytest.approx(_erlang_b_poisson(servers, load),
                                                    rel=1e-9)
    assert 0.0 < erlang_c(servers, load) < 1.0


def test_erlang_b_far_below_capacity_underflows_to_zero_not_an_error() -> None:
    assert erlang_b(20_000, 15_000.0) == 0.0 == erlang_c(20_000, 15_000.0)
    assert _erlang_b_poisson(20_000, 15_000.0) < 1e-300


@given(servers=st.integers(1, 3000), load=st.floats(1e-6, 4000.0))
@settings(max_examples=60, deadline=None)
def test_erlang_c_is_a_probability_above_erlang_b(servers: int, load: float) -> None:
    blocking, waiting = erlang_b(servers, load), erlang_c(servers, load)
    assert 0.0 <= blocking <= waiting <= 1.0


# --- closed forms: M/M/1, M/M/c, GI/M/1 --------------------------------------------------

@pytest.mark.parametrize(("rho", "t"), [
    pytest.param(0.5, 0.0, id="rho-half-t0"),
    pytest.param(0.5, 1.0, id="rho-half-t1"),
    pytest.param(0.9, 3.0, id="rho-0.9-t3"),
    pytest.param(0.2, 0.5, id="rho-0.2"),
])
def test_mm1_closed_forms(rho: float, t: float) -> None:
    queue = Queue(1, rho, 1.0)  # S = 1 s: mu = 1/s, lambda = rho/s
    assert wait_tail(queue, t) == pytest.approx(rho * math.exp(-(1.0 - rho) * t))
    assert mean_wait_seconds(queue) == pytest.approx(rho / (1.0 - rho))


def test_mmc_tail_is_exact() -> None:
    queue = Queue(10, 4.0, 2.0)  # 8 erlangs on 10 servers: C = 0.4092, rate 10/2 - 4 = 1/s
    assert wait_tail(queue, 1.5) == pytest.approx(erlang_c(10, 8.0) * math.exp(-1.5))


def _gi_m_1_sigma(phases: int, rho: float) -> float:
    """Exact E_k/M/1 (S = 1): sigma = (k lambda / (k lambda + 1 - sigma))^k, by iteration."""
    sigma = rho
    for _ in range(2000):
        sigma = (phases * rho / (phases * rho + 1.0 - sigma)) ** phases
    return sigma


@pytest.mark.parametrize(("pods", "rho"), [
    pytest.param(4, 0.5, id="erlang-4-rho-half"),
    pytest.param(4, 0.8, id="erlang-4-rho-0.8"),
    pytest.param(10, 0.6, id="erlang-10-rho-0.6"),
    pytest.param(50, 0.5, id="erlang-50-nearly-deterministic"),
])
def test_round_robin_against_exact_gi_m_1(pods: int, rho: float) -> None:
    # Round-robin over `pods` single-slot pods of S = 1 s: each is E_pods/M/1, solved exactly.
    sigma = _gi_m_1_sigma(pods, rho)
    fleet = Fleet(ROUTING_ROUND_ROBIN, pods, 1, 1.0, 1.0)
    for t in (0.0, 1.0, 3.0):
        exact = sigma * math.exp(-(1.0 - sigma) * t)
        assert fleet_wait_tail(fleet, rho * pods, t) == pytest.approx(exact, abs=0.03)


@pytest.mark.parametrize(("ca2", "rho", "factor", "g"), [
    pytest.param(0.0, 0.5, 0.4, math.exp(-2 * 0.5 / 1.5), id="d-m-1-rho-half"),
    pytest.param(0.25, 0.5, 0.28125 / 0.5, math.exp(-0.3), id="erlang-4-rho-half"),
    pytest.param(1.0, 0.7, 1.0, 1.0, id="poisson-unchanged"),
])
def test_qna_and_klb_worked_examples(ca2: float, rho: float, factor: float, g: float) -> None:
    assert regular_arrivals_factor(rho, ca2, 1.0) == pytest.approx(factor)
    assert klb_factor(rho, ca2, 1.0) == pytest.approx(g)


def test_least_in_flight_waits_at_least_a_residual_service() -> None:
    # The docstring's example: 8 single-slot pods, S = 1 s, rho 0.7.
    queue = Queue(8, 5.6, 1.0, pod_slots=1)
    assert conditional_wait_seconds(queue) == pytest.approx(math.hypot(1 / 2.4, 1.0))
    assert wait_tail(queue, 1.0) == pytest.approx(0.108, abs=5e-4)


@pytest.mark.parametrize(("fleet", "rate", "tail", "utilization"), [
    pytest.param(Fleet(ROUTING_RANDOM, 0, 1, 2.0), 1.0, 1.0, math.inf, id="no-pods"),
    pytest.param(Fleet(ROUTING_RANDOM, 3, 1, 2.0), 0.0, 0.0, 0.0, id="no-arrivals"),
    pytest.param(Fleet(ROUTING_LEAST_IN_FLIGHT, 2, 1, 2.0), 1.0, 1.0, 1.0, id="rho-one"),
    pytest.param(Fleet(ROUTING_ROUND_ROBIN, 2, 2, 2.0), 3.0, 1.0, 1.5, id="overloaded"),
    pytest.param(Fleet(ROUTING_RANDOM, 2, 1, 0.0), 5.0, 0.0, 0.0, id="instant-service"),
])
def test_edges(fleet: Fleet, rate: float, tail: float, utilization: float) -> None:
    assert fleet_wait_tail(fleet, rate, 1.0) == tail
    assert fleet_utilization(fleet, rate) == utilization


# --- properties: the search and the recommender rely on these -----------------------------

routings = st.sampled_from(ROUTINGS)
rates = st.floats(0.01, 50.0)
services = st.floats(0.05, 30.0)
scvs = st.floats(0.0, 4.0)
waits = st.floats(0.0, 60.0)


@given(routing=routings, slots=st.integers(1, 4), rate=rates, service=services, scv=scvs,
       t=waits, pods=st.integers(1, 60))
@settings(max_examples=300, deadline=None)
def test_tail_never_grows_with_pods(routing: str, slots: int, rate: float, service: float,
                                    scv: float, t: float, pods: int) -> None:
    fewer = fleet_wait_tail(Fleet(routing, pods, slots, service, scv), rate, t)
    more = fleet_wait_tail(Fleet(routing, pods + 1, slots, service, scv), rate, t)
    assert 0.0 <= more <= fewer * (1 + 1e-12) <= 1.0 + 1e-12


@given(routing=routings, slots=st.integers(1, 4), rate=rates, service=services, scv=scvs,
       t=waits, pods=st.integers(1, 60), more=st.floats(1.0, 3.0))
@settings(max_examples=300, deadline=None)
def test_tail_never_shrinks_with_load(routing: str, slots: int, rate: float, service: float,
                                      scv: float, t: float, pods: int, more: float) -> None:
    base = fleet_wait_tail(Fleet(routing, pods, slots, service, scv), rate, t)
    tolerance = 1e-12 + base * 1e-12
    assert fleet_wait_tail(Fleet(routing, pods, slots, service, scv), rate * more, t) \
        >= base - tolerance
    assert fleet_wait_tail(Fleet(routing, pods, slots, service * more, scv), rate, t) \
        >= base - tolerance
    assert fleet_wait_tail(Fleet(routing, pods, slots, service, scv * more), rate, t) \
        >= base - tolerance
    assert fleet_wait_tail(Fleet(routing, pods, slots, service, scv), rate, t / more) \
        >= base - tolerance


# --- simulation: are the predictions honest? ----------------------------------------------

def _fifo_waits(arrivals: Floats, services: Floats, servers: int) -> Floats:
    """FIFO in front of `servers` slots: each request takes the slot that frees first."""
    free = [0.0] * servers
    waits = np.empty(len(arrivals))
    for i, (arrival, service) in enumerate(zip(arrivals.tolist(), services.tolist(),
                                               strict=True)):
        start = max(arrival, heapq.heappop(free))
        waits[i] = start - arrival
        heapq.heappush(free, start + service)
    return waits


def _per_pod_waits(arrivals: Floats, services: Floats, slots: int,
                   pod_of: npt.NDArray[np.int64]) -> Floats:
    waits = np.empty(len(arrivals))
    for pod in np.unique(pod_of):
        mine = np.flatnonzero(pod_of == pod)
        waits[mine] = _fifo_waits(arrivals[mine], services[mine], slots)
    return waits


def _least_in_flight_waits(arrivals: Floats, services: Floats, pods: int,
                           slots: int) -> Floats:
    """Each request goes to the pod with the fewest accepted-not-finished requests (ties:
    the lowest index, like the replay's oldest pod) and queues there, FIFO."""
    free = [[0.0] * slots for _ in range(pods)]
    finishing: list[list[float]] = [[] for _ in range(pods)]
    waits = np.empty(len(arrivals))
    for i, (arrival, service) in enumerate(zip(arrivals.tolist(), services.tolist(),
                                               strict=True)):
        for pending in finishing:
            while pending and pending[0] <= arrival:
                heapq.heappop(pending)
        pod = min(range(pods), key=lambda p: len(finishing[p]))
        start = max(arrival, heapq.heappop(free[pod]))
        waits[i] = start - arrival
        heapq.heappush(free[pod], start + service)
        heapq.heappush(finishing[pod], start + service)
    return waits


@dataclass(frozen=True)
class SimCase:
    routing: str  # a ROUTING_* name, or "shared" for one central queue
    pods: int
    slots: int
    utilization: float
    service_scv: float
    too_hopeful: float  # how far the prediction may fall below the simulation
    too_cautious: float  # and rise above it


SERVICE_SECONDS = 2.0
REQUESTS = 40_000


def simulate_waits(case: SimCase, seed: int) -> Floats:
    rng = np.random.default_rng(seed)
    rate = case.utilization * case.pods * case.slots / SERVICE_SECONDS
    arrivals = np.cumsum(rng.exponential(1.0 / rate, REQUESTS))
    scv = case.service_scv
    services = rng.gamma(1.0 / scv, SERVICE_SECONDS * scv, REQUESTS)
    if case.routing == "shared":
        waits = _fifo_waits(arrivals, services, case.pods * case.slots)
    elif case.routing == ROUTING_LEAST_IN_FLIGHT:
        waits = _least_in_flight_waits(arrivals, services, case.pods, case.slots)
    elif case.routing == ROUTING_RANDOM:
        waits = _per_pod_waits(arrivals, services, case.slots,
                               rng.integers(0, case.pods, REQUESTS))
    else:
        waits = _per_pod_waits(arrivals, services, case.slots,
                               np.arange(REQUESTS, dtype=np.int64) % case.pods)
    return waits[REQUESTS // 10:]


def predicted_tail(case: SimCase, t: float) -> float:
    rate = case.utilization * case.pods * case.slots / SERVICE_SECONDS
    if case.routing == "shared":
        return wait_tail(Queue(case.pods * case.slots, rate, SERVICE_SECONDS, 1.0,
                               case.service_scv), t)
    fleet = Fleet(case.routing, case.pods, case.slots, SERVICE_SECONDS, case.service_scv)
    return fleet_wait_tail(fleet, rate, t)


SIM_CASES = [
    pytest.param(SimCase("shared", 4, 1, 0.7, 1.0, 0.03, 0.03), id="shared-4-rho0.7-exp"),
    pytest.param(SimCase("shared", 8, 1, 0.85, 0.5, 0.03, 0.04), id="shared-8-rho0.85-gamma"),
    pytest.param(SimCase("shared", 2, 2, 0.5, 2.0, 0.03, 0.03), id="shared-2x2-rho0.5-scv2"),
    pytest.param(SimCase(ROUTING_LEAST_IN_FLIGHT, 8, 1, 0.7, 1.0, 0.02, 0.10),
                 id="least-in-flight-8-rho0.7"),
    pytest.param(SimCase(ROUTING_LEAST_IN_FLIGHT, 4, 1, 0.5, 2.0, 0.02, 0.06),
                 id="least-in-flight-4-rho0.5-scv2"),
    pytest.param(SimCase(ROUTING_LEAST_IN_FLIGHT, 4, 2, 0.85, 1.0, 0.03, 0.09),
                 id="least-in-flight-4x2-rho0.85"),
    pytest.param(SimCase(ROUTING_LEAST_IN_FLIGHT, 16, 1, 0.8, 1.0, 0.02, 0.14),
                 id="least-in-flight-16-rho0.8"),
    pytest.param(SimCase(ROUTING_RANDOM, 4, 1, 0.7, 1.0, 0.03, 0.03), id="random-4-rho0.7"),
    pytest.param(SimCase(ROUTING_RANDOM, 2, 2, 0.85, 0.5, 0.03, 0.03),
                 id="random-2x2-rho0.85-gamma"),
    pytest.param(SimCase(ROUTING_ROUND_ROBIN, 4, 1, 0.5, 1.0, 0.03, 0.03),
                 id="round-robin-4-rho0.5"),
    pytest.param(SimCase(ROUTING_ROUND_ROBIN, 8, 1, 0.7, 0.5, 0.03, 0.03),
                 id="round-robin-8-rho0.7-gamma"),
    pytest.param(SimCase(ROUTING_ROUND_ROBIN, 4, 2, 0.85, 2.0, 0.03, 0.06),
                 id="round-robin-4x2-rho0.85-scv2"),
    pytest.param(SimCase(ROUTING_ROUND_ROBIN, 16, 1, 0.5, 2.0, 0.045, 0.03),
                 id="round-robin-16-rho0.5-scv2"),
]


@pytest.mark.parametrize("case", SIM_CASES)
def test_predicted_waits_match_simulation(case: SimCase) -> None:
    waits = np.concatenate([simulate_waits(case, seed) for seed in (7, 8)])
    for multiple in (0.0, 0.5, 1.0, 2.0):
        t = multiple * SERVICE_SECONDS
        simulated = float(np.mean(waits > t))
        predicted = predicted_tail(case, t)
        assert simulated - case.too_hopeful <= predicted <= simulated + case.too_cautious, (
            f"t = {t} s: predicted {predicted:.3f}, simulated {simulated:.3f}")


def test_plain_allen_cunneen_was_far_too_cautious_for_round_robin() -> None:
    # Why round-robin has the QNA / KLB refinements: with rho kept as P(W > 0), 16 pods at
    # rho 0.5 predicted 0.50 waiting; the simulation (and the refined model) say ~0.25.
    case = SimCase(ROUTING_ROUND_ROBIN, 16, 1, 0.5, 1.0, 0.0, 0.0)
    simulated = float(np.mean(simulate_waits(case, seed=3) > 0.0))
    plain = wait_probability(Queue(1, 0.25, SERVICE_SECONDS, 1 / 16, 1.0)) / \
        regular_arrivals_factor(0.5, 1 / 16, 1.0)
    assert plain == pytest.approx(0.5)
    assert abs(predicted_tail(case, 0.0) - simulated) < 0.03 < plain - simulated


# --- end to end: the recommended count in a simulation with varying prompts ----------------

def _ttft_attainment(routing: str, pods: int, prompts: Floats, outputs: Floats,
                     ttft: float) -> float:
    """Share of simulated requests (2.4 req/s, exponential prompt and output lengths at 400
    and 34 tokens/s, one slot per pod) whose wait plus their own prefill is within `ttft`."""
    rng = np.random.default_rng(5)
    arrivals = np.cumsum(rng.exponential(1.0 / 2.4, len(prompts)))
    prefill = prompts / 400.0
    services = prefill + outputs / 34.0
    if routing == ROUTING_LEAST_IN_FLIGHT:
        waits = _least_in_flight_waits(arrivals, services, pods, 1)
    elif routing == ROUTING_RANDOM:
        waits = _per_pod_waits(arrivals, services, 1, rng.integers(0, pods, len(prompts)))
    else:
        waits = _per_pod_waits(arrivals, services, 1,
                               np.arange(len(prompts), dtype=np.int64) % pods)
    warm = len(prompts) // 10
    return float(np.mean((waits + prefill)[warm:] <= ttft))


def _sized(routing: str, prompt: float, output: float) -> tuple[int, Floats, Floats]:
    rng = np.random.default_rng(11)
    prompts, outputs = rng.exponential(prompt, REQUESTS), rng.exponential(output, REQUESTS)
    service = prompt / 400.0 + output / 34.0
    scv = ((prompt / 400.0) ** 2 + (output / 34.0) ** 2) / service ** 2  # exponential parts
    spec = SloSpec(routing=routing, service_scv=scv, pod=PodModel(1, 400.0, 34.0))
    answer = recommend(spec, SloObservation(2.4, prompt, output, None, None), 1, 300)
    return answer.replicas, prompts, outputs


@pytest.mark.parametrize("routing", ROUTINGS)
def test_recommended_pods_meet_the_target_in_simulation(routing: str) -> None:
    # Mean prefill 0.75 s of a 5 s target: measured 0.950 (random, 19 pods), 0.953
    # (round-robin, 9), 0.955 (least-in-flight, 7); one pod fewer: 0.945, 0.912, 0.786.
    pods, prompts, outputs = _sized(routing, 300.0, 50.0)
    assert _ttft_attainment(routing, pods, prompts, outputs, 5.0) >= 0.945
    assert _ttft_attainment(routing, pods - 1, prompts, outputs, 5.0) < 0.95


def test_the_mean_prefill_approximation_fails_when_prefill_is_half_the_target() -> None:
    # A known limit, kept visible: TTFT = wait + prefill is judged with prefill at its mean.
    # With exponential prompts of mean 1000 tokens (2.5 s of a 5 s target) e^-2 = 13.5 % of
    # requests miss on their own prefill, whatever the pod count; the model sees 2.5 s of
    # budget and calls 95 % feasible (least-in-flight: 14 pods, simulated 0.85).
    pods, prompts, outputs = _sized(ROUTING_LEAST_IN_FLIGHT, 1000.0, 200.0)
    assert _ttft_attainment(ROUTING_LEAST_IN_FLIGHT, pods, prompts, outputs, 5.0) < 0.87
    assert float(np.mean(prompts / 400.0 > 5.0)) == pytest.approx(math.exp(-2.0), abs=0.01)
