"""Open-loop replay of a `kubectl get hpa -w` trace: feed each recorded reading (TARGETS,
REPLICAS) to `decide()` and compare its answer with the replicas recorded next.

The recorded utilization is what the controller computed, so every pod is modelled as ready
with that exact utilization (1000m request, usage = percent x 10m). Hidden state the watch
output does not show (unready pods, missing metrics, what the stabilization window held) is
not guessed here: a difference means "the spec, fed these readings alone, would have done
otherwise". `autoscaler.replay.explain_watch` then searches the smallest hidden state under
which `decide` reproduces each differing transition; the formatter prints both, and
`open_loop_summary` gives the same as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithms.decide import decide
from algorithms.observation import Observation
from algorithms.plan import NotAttempted, Written, settle
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState
from autoscaler.replay.explain_watch import (
    BUDGET_WORDS,
    MAX_CANDIDATES,
    MAX_POD_EVALUATIONS,
    MAX_TRACE_CANDIDATES,
    REQUEST_MILLI,
    Explanation,
    Transition,
    explain,
    header,
    observation,
)
from autoscaler.replay.model import HpaWatchRow, HpaWatchTrace
from autoscaler.replay.run import spec_from_object

__all__ = ["REQUEST_MILLI", "Comparison", "compare", "explain_comparisons",
           "format_comparisons", "open_loop_summary", "spec_for_row", "write_summary"]


@dataclass(frozen=True)
class Comparison:
    row: HpaWatchRow
    ours: int
    recorded_next: int | None  # None for the last row of an HPA
    reason: str
    spec: HorizontalPodAutoscalerSpec | None = None  # the one it was replayed with
    state_before: ControllerState | None = None  # the readings alone's state before it

    @property
    def differs(self) -> bool:
        return self.recorded_next is not None and self.ours != self.recorded_next


def spec_for_row(row: HpaWatchRow) -> HorizontalPodAutoscalerSpec:
    kind, _, name = row.reference.partition("/")
    return spec_from_object({"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": kind, "name": name},
        "minReplicas": row.min_replicas, "maxReplicas": row.max_replicas,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": row.target_percent}}}]}},
        row.name)[1]


def _observation(row: HpaWatchRow, now: float) -> Observation:
    return observation(row, now)


def compare(trace: HpaWatchTrace, spec: HorizontalPodAutoscalerSpec | None = None
            ) -> list[Comparison]:
    """Per HPA name, in order; `spec` overrides the one implied by each row."""
    out: list[Comparison] = []
    names = list(dict.fromkeys(r.name for r in trace.rows))
    for name in names:
        rows = [r for r in trace.rows if r.name == name]
        state = ControllerState()
        for index, row in enumerate(rows):
            chosen = spec or spec_for_row(row)
            before = state
            plan = decide(chosen, _observation(row, row.age_seconds), state, row.age_seconds)
            state = settle(plan, Written() if plan.rescale else NotAttempted(), row.age_seconds)
            ours = plan.target_replicas
            reasons = {c.type: c.reason for c in state.status.conditions}
            reason = plan.reason if plan.rescale else "; ".join(
                reasons.get(t, "") for t in ("AbleToScale", "ScalingLimited") if t in reasons)
            following = rows[index + 1].replicas if index + 1 < len(rows) else None
            out.append(Comparison(row, ours, following, reason, chosen, before))
    return out


def explain_comparisons(comparisons: list[Comparison]) -> list[Explanation]:
    """The hidden-state search (`autoscaler.replay.explain_watch`) for every recorded
    transition, in order; only the differing ones carry a sentence."""
    return explain([Transition(c.row, c.spec or spec_for_row(c.row), c.recorded_next, c.ours,
                               c.differs, c.state_before) for c in comparisons])


def _differing(explanations: list[Explanation]) -> list[Explanation]:
    return [e for e in explanations if e.transition.differs]


def format_comparisons(comparisons: list[Comparison],
                       explanations: list[Explanation] | None = None) -> str:
    lines = ["NAME  TARGETS  REPLICAS  AGE  RECORDED-NEXT  OURS  VERDICT  REASON"]
    for c in comparisons:
        current = "<unknown>" if c.row.current_percent is None else f"{c.row.current_percent}%"
        recorded = "-" if c.recorded_next is None else str(c.recorded_next)
        verdict = "DIFFERS" if c.differs else ("same" if c.recorded_next is not None else "-")
        lines.append(f"{c.row.name}  {current}/{c.row.target_percent}%  {c.row.replicas}  "
                     f"{c.row.age_seconds:g}s  {recorded}  {c.ours}  {verdict}  {c.reason}")
    differing = sum(1 for c in comparisons if c.differs)
    lines.append(f"{differing} of {sum(1 for c in comparisons if c.recorded_next is not None)}"
                 " recorded transitions differ from the spec fed the recorded readings alone")
    if not differing:
        return "\n".join(lines)
    told = _differing(explain_comparisons(comparisons) if explanations is None
                      else explanations)
    lines.append(header())
    searched = [e for e in told if e.searched]
    lines.extend(f"- {e.sentence}" for e in searched)
    if len(searched) < len(told):
        lines.append(f"- {len(told) - len(searched)} more differing transitions not searched: "
                     f"{BUDGET_WORDS}")
    explained = sum(1 for e in searched if e.explained)
    lines.append(f"{explained} of {differing} differing transitions explained by hidden state")
    return "\n".join(lines)


def open_loop_summary(comparisons: list[Comparison],
                      explanations: list[Explanation] | None = None,
                      source: str = "") -> dict[str, Any]:
    """The open-loop result as JSON (what a `summary.json` of this mode holds): the rows as
    printed, the counts, and per differing transition the same sentence as printed with the
    hidden states behind it."""
    told = _differing(explain_comparisons(comparisons) if explanations is None
                      else explanations)
    return {
        "mode": "open-loop", "source": source,
        "rows": [{"hpa": c.row.name, "age_seconds": c.row.age_seconds,
                  "current_percent": c.row.current_percent,
                  "target_percent": c.row.target_percent, "replicas": c.row.replicas,
                  "recorded_next": c.recorded_next, "readings_alone": c.ours,
                  "differs": c.differs, "reason": c.reason} for c in comparisons],
        "transitions": sum(1 for c in comparisons if c.recorded_next is not None),
        "differing": sum(1 for c in comparisons if c.differs),
        "explained": sum(1 for e in told if e.explained),
        "search": {"candidates_per_transition": MAX_CANDIDATES,
                   "candidates_per_trace": MAX_TRACE_CANDIDATES,
                   "pods_evaluated_per_trace": MAX_POD_EVALUATIONS},
        "explanations": [e.json() for e in told],
    }


def write_summary(path: Path, comparisons: list[Comparison],
                  explanations: list[Explanation] | None = None, source: str = "") -> Path:
    """`open_loop_summary` written as JSON to `path` (e.g. `<out-dir>/summary.json`)."""
    summary = open_loop_summary(comparisons, explanations, source)
    path.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return path
