"""The request oracle under the run's routing: pods that are Ready the instant they are
wanted, following the requests in flight.

    pods(t) = max(1, ceil(k * concurrent(t) / slots))               "oracle"
    pods(t) = min(bound, max(1, ceil(k * concurrent(t) / slots)))   "oracle<=bound"

`concurrent(t)` is what `oracle.Concurrency` counts: the requests that would be in service
in second t if each started on arrival (the peak at the arrivals of t, and every request
running through its start). The pods serve the trace in the LLM engine like any policy's
(`instant_pods.InstantPodsEngine`), routed by `SimulationSettings.routing`. A scale-down
removes idle pods only and keeps a busy pod until it is idle (see that module), so pods(t)
is a floor; the reported replicas are what was Ready.

The headroom k is the smallest value of HEADROOM_GRID whose run reaches the attainment
target. The target is `SLO.attainment`, unless requests whose prefill alone exceeds the
TTFT threshold make it unreachable whatever the capacity: then it is the ceiling (the
attainment when every request starts on arrival, which least-in-flight reaches at k=1:
whenever a request arrives, fewer than pods * slots requests are in flight, so some Ready
pod has a free slot) minus CEILING_MARGIN. When no grid value reaches it (a bound too low,
a routing too uneven) the smallest k with the best attainment is used and the summary says
so (`OracleChoice.missed`). Each search trial stops as soon as it cannot matter (reach the
target, or match the best); the chosen k then runs again, streaming to the sink (same
seed, same run).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from autoscaler.replay.instant_pods import InstantPodsEngine
from autoscaler.replay.model import (
    IntArray,
    NullSink,
    OracleChoice,
    ReplaySink,
    RequestTrace,
    StepChunk,
    Summary,
)
from autoscaler.replay.oracle import CHUNK_SECONDS, Concurrency
from autoscaler.replay.settings import SimulationSettings

# In quarters, so k * concurrent / slots is exact integer arithmetic: 1, 1.25, ... 32. The
# top is high because random routing needs it: with one inference per pod, a request
# landing on a busy pod waits a whole request, and only a mostly idle fleet avoids that
# (the bundled Azure code trace needs k=32 at its real rate and k=48 at a quarter of it
# under random routing, k=1 under least-in-flight).
HEADROOM_QUARTERS = (4, 5, 6, 8, 10, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256)
HEADROOM_GRID = tuple(q / 4 for q in HEADROOM_QUARTERS)
CEILING_MARGIN = 0.005  # 0.5 percentage points below the best achievable attainment
# A search trial checks every 5 minutes whether it can still reach the target.
SEARCH_CHUNK_SECONDS = 300


def attainment_target(trace: RequestTrace, settings: SimulationSettings
                      ) -> tuple[float, str]:
    """(target attainment, "target" or "ceiling"): see the module docstring."""
    prefill = trace.prompt_tokens / settings.capacity.prefill_tokens_per_second
    arrived = len(prefill)
    unavoidable = int(np.count_nonzero(prefill > settings.slo.ttft_seconds))
    ceiling = (arrived - unavoidable) / arrived if arrived else 1.0
    if settings.slo.attainment <= ceiling:
        return settings.slo.attainment, "target"
    return max(0.0, ceiling - CEILING_MARGIN), "ceiling"


def _pods(concurrent: IntArray, quarters: int, slots: int, bound: int | None) -> IntArray:
    pods: IntArray = np.maximum(1, -(-(concurrent * quarters) // (4 * slots)))
    return pods if bound is None else np.minimum(pods, bound)


def run_oracle(trace: RequestTrace, settings: SimulationSettings, sink: ReplaySink,
               policy: str, quarters: int, bound: int | None,
               give_up: Callable[[int], bool] | None = None) -> Summary | None:
    """One oracle run at headroom quarters/4 (no summary is sent to the sink). A search
    trial passes `give_up`, asked with the requests failed so far every
    SEARCH_CHUNK_SECONDS: None as soon as it says yes."""
    engine = InstantPodsEngine(trace, settings)
    duration = engine.duration_seconds()
    concurrency = Concurrency(trace, engine.prefill_seconds + engine.decode_seconds, duration)
    slots = settings.capacity.concurrency
    chunk_seconds = CHUNK_SECONDS if give_up is None else SEARCH_CHUNK_SECONDS
    replica_seconds = peak = scale_events = violations = underprovisioned = 0
    served = 0.0
    queued = 0.0
    previous: int | None = None
    for t0 in range(0, duration, chunk_seconds):
        t1 = min(duration, t0 + chunk_seconds)
        _, concurrent = concurrency.chunk(t0, t1)
        step, pods = engine.advance_pods(t0, t1, _pods(concurrent, quarters, slots, bound))
        if give_up is not None and give_up(engine.tally.arrived - engine.tally.met):
            return None
        sink.on_chunk(policy, StepChunk(
            t_seconds=np.arange(t0, t1, dtype=np.float64), demand=step.demand,
            capacity=step.capacity, replicas=pods, ready=pods, served=step.served,
            queued=step.queued, dropped=step.dropped, violation=step.violation))
        replica_seconds += int(pods.sum())
        peak = max(peak, int(pods.max(initial=0)))
        changes = np.diff(pods) if previous is None else np.diff(pods, prepend=previous)
        scale_events += int(np.count_nonzero(changes))
        previous = int(pods[-1])
        violations += int(np.count_nonzero(step.violation))
        underprovisioned += int(np.count_nonzero(step.underprovisioned))
        served += float(step.served.sum())
        queued = float(step.queued[-1])
    requests = engine.request_metrics()
    delays = engine.delays
    return Summary(policy, float(duration), replica_seconds, float(violations),
                   float(underprovisioned), scale_events, peak, float(requests.arrived),
                   served, float(requests.dropped), queued, delays.quantile(0.5),
                   delays.quantile(0.95), delays.quantile(0.99), routing=settings.routing,
                   requests=requests)


def _distinct_schedules(bound: int | None, slots: int) -> tuple[int, ...]:
    """The grid without headrooms that give the same pods(t) as a smaller one: from
    k >= bound * slots on, every second with a request in service wants `bound` pods (the
    same run, so the smallest such k stands for them all)."""
    if bound is None:
        return HEADROOM_QUARTERS
    saturated = [q for q in HEADROOM_QUARTERS if q >= 4 * bound * slots]
    return tuple(q for q in HEADROOM_QUARTERS if q < 4 * bound * slots) + tuple(saturated[:1])


def _more_than(limit: int) -> Callable[[int], bool]:
    return lambda failed: failed > limit


def headroom_quarters(trace: RequestTrace, settings: SimulationSettings, bound: int | None,
                      target: float) -> tuple[int, bool]:
    """(the smallest grid headroom whose run reaches `target`, False), else (the smallest
    with the best attainment, True). Trials stop as soon as they cannot matter."""
    total = len(trace.arrival_seconds)
    grid = _distinct_schedules(bound, settings.capacity.concurrency)

    def hopeless(failed: int) -> bool:  # even if every later request met the SLO
        return (total - failed) / total < target

    for quarters in grid:
        trial = run_oracle(trace, settings, NullSink(), "search", quarters, bound, hopeless)
        if trial is not None and trial.requests is not None \
                and trial.requests.attainment >= target:
            return quarters, False
    # Missed: the best attainment, largest headroom first (it usually is the best), then
    # smaller ones while they can still match it.
    fewest, chosen = total + 1, grid[-1]
    for quarters in reversed(grid):
        trial = run_oracle(trace, settings, NullSink(), "search", quarters, bound,
                           _more_than(fewest))
        if trial is not None and trial.requests is not None:
            failed = trial.requests.arrived - trial.requests.met_slo
            if failed <= fewest:
                fewest, chosen = failed, quarters
    return chosen, True


def oracle_routed(trace: RequestTrace, settings: SimulationSettings, sink: ReplaySink,
                  policy: str = "oracle", bound: int | None = None) -> Summary:
    """The oracle of the module docstring, its headroom in `Summary.oracle`."""
    target, basis = attainment_target(trace, settings)
    chosen, missed = headroom_quarters(trace, settings, bound, target)
    summary = run_oracle(trace, settings, sink, policy, chosen, bound)
    assert summary is not None  # a run without give_up_below always finishes
    summary = replace(summary, oracle=OracleChoice(
        headroom=chosen / 4, target_attainment=target, basis=basis, missed=missed,
        bound_pods=bound))
    sink.on_summary(summary)
    return summary
