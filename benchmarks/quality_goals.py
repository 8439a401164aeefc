"""Issue #11's quality goals, computed from replay summaries (used by quality.py).

For each SLO-driven policy P against the upstream default U (CPU 80 %, `kubectl autoscale`):

- fewer = violations(U) / violations(P): >= 1.5 wanted. Violations are SLO-violating
  requests for LLM request traces (dropped ones included), violation seconds for series.
  For requests, `avoidable` repeats it without the requests whose prefill alone exceeds the
  TTFT threshold (no policy can meet those; they dilute every ratio towards 1);
- cost = replica-hours(P) / replica-hours(U): <= 1.0 wanted;
- vs oracle = replica-hours(P) / replica-hours(oracle<=maxReplicas): <= 1.25 wanted;
- at equal cost: the CPU-target sweep's violations interpolated (linearly, between the two
  sweep points around P's replica-hours) divided by P's: how much better P is than just
  moving the CPU target to spend the same. "-" when P's cost is outside the sweep.

Worked example: U has 1,000 violating requests at 10 replica-hours, P 600 at 9:
fewer 1.67, cost 0.90; with oracle<=10 at 8 replica-hours, vs oracle 1.125: all met.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from autoscaler.replay.model import Summary

FEWER_GOAL = 1.5
COST_GOAL = 1.0
ORACLE_GOAL = 1.25


def violations(summary: Summary, avoidable: bool = False) -> float:
    """Violating requests (request traces) or violation seconds (series)."""
    requests = summary.requests
    if requests is None:
        return summary.violation_seconds
    missed = float(requests.arrived - requests.met_slo)
    return missed - requests.unavoidable if avoidable else missed


def _ratio(top: float, bottom: float) -> float | None:
    if bottom > 0:
        return top / bottom
    return None if top > 0 else 1.0


def equal_cost_violations(sweep: Sequence[Summary], replica_hours: float,
                          avoidable: bool = False) -> float | None:
    """The CPU sweep's violations at `replica_hours`, linearly between its neighbours."""
    points = sorted((s.replica_hours, violations(s, avoidable)) for s in sweep)
    for (x0, y0), (x1, y1) in itertools.pairwise(points):
        if x0 <= replica_hours <= x1:
            return y0 if x1 == x0 else y0 + (y1 - y0) * (replica_hours - x0) / (x1 - x0)
    return None


@dataclass(frozen=True)
class Goal:
    policy: str
    fewer: float | None
    fewer_avoidable: float | None  # None for series
    cost: float | None
    vs_oracle: float | None
    equal_cost: float | None  # CPU-sweep violations at P's cost / P's violations

    @property
    def met(self) -> bool:
        return (self.fewer is not None and self.fewer >= FEWER_GOAL
                and self.cost is not None and self.cost <= COST_GOAL
                and self.vs_oracle is not None and self.vs_oracle <= ORACLE_GOAL)

    def missed(self) -> str:
        parts = []
        if self.fewer is None or self.fewer < FEWER_GOAL:
            parts.append("fewer")
        if self.cost is None or self.cost > COST_GOAL:
            parts.append("cost")
        if self.vs_oracle is None or self.vs_oracle > ORACLE_GOAL:
            parts.append("vs oracle")
        return ", ".join(parts) or "-"


def goals(summaries: Sequence[Summary], upstream: str, sweep: Sequence[str],
          candidates: Sequence[str], oracle: str) -> list[Goal]:
    by_name = {s.policy: s for s in summaries}
    base, bound = by_name[upstream], by_name.get(oracle)
    cpu = [by_name[name] for name in sweep]
    out = []
    for name in candidates:
        p = by_name[name]
        requests = p.requests is not None
        at_cost = equal_cost_violations(cpu, p.replica_hours)
        out.append(Goal(
            name, _ratio(violations(base), violations(p)),
            _ratio(violations(base, True), violations(p, True)) if requests else None,
            _ratio(p.replica_hours, base.replica_hours),
            None if bound is None else _ratio(p.replica_hours, bound.replica_hours),
            None if at_cost is None else _ratio(at_cost, violations(p))))
    return out


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def format_goals(rows: Sequence[Goal], upstream: str, oracle: str) -> str:
    lines = [f"goals vs {upstream} (fewer >= {FEWER_GOAL}, cost <= {COST_GOAL}) and "
             f"{oracle} (<= {ORACLE_GOAL}):",
             "| policy | fewer violations | fewer avoidable | cost | vs oracle | "
             "better than CPU sweep at equal cost | goal |",
             "|---|---|---|---|---|---|---|"]
    for g in rows:
        verdict = "met" if g.met else f"missed ({g.missed()})"
        lines.append(f"| {g.policy} | {_cell(g.fewer)} | {_cell(g.fewer_avoidable)} | "
                     f"{_cell(g.cost)} | {_cell(g.vs_oracle)} | {_cell(g.equal_cost)} | "
                     f"{verdict} |")
    return "\n".join(lines)
