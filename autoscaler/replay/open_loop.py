"""Open-loop replay of a `kubectl get hpa -w` trace: feed each recorded reading (TARGETS,
REPLICAS) to `decide()` and compare its answer with the replicas recorded next.

The recorded utilization is what the controller computed, so every pod is modelled as ready
with that exact utilization (1000m request, usage = percent x 10m). Hidden state the watch
output does not show (unready pods, missing metrics) cannot be recovered here; a difference
therefore means "the spec, fed these readings alone, would have done otherwise".
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.decide import decide
from algorithms.observation import (
    Observation,
    PodResourceUsage,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.plan import NotAttempted, Written, settle
from algorithms.pods import ContainerInfo, PodInfo
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState
from autoscaler.replay.model import HpaWatchRow, HpaWatchTrace
from autoscaler.replay.run import spec_from_object

REQUEST_MILLI = 1000


@dataclass(frozen=True)
class Comparison:
    row: HpaWatchRow
    ours: int
    recorded_next: int | None  # None for the last row of an HPA
    reason: str

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
    pods = tuple(PodInfo(name=f"{row.name}-{i}", start_time=now - 3600,
                         ready_transition_time=now - 3590, labels={"hpa": row.name},
                         containers=(ContainerInfo("c", {"cpu": REQUEST_MILLI}),))
                 for i in range(row.replicas))
    usage = {} if row.current_percent is None else {
        p.name: PodResourceUsage(now - 1, 15.0, {"c": {"cpu": row.current_percent * 10}})
        for p in pods}
    return Observation(scale=ScaleObservation(row.replicas, row.replicas, f"hpa={row.name}"),
                       pods=pods, metrics=(ResourceMetricsData(usage),))


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
            plan = decide(chosen, _observation(row, row.age_seconds), state, row.age_seconds)
            state = settle(plan, Written() if plan.rescale else NotAttempted(), row.age_seconds)
            ours = plan.target_replicas
            reasons = {c.type: c.reason for c in state.status.conditions}
            reason = plan.reason if plan.rescale else "; ".join(
                reasons.get(t, "") for t in ("AbleToScale", "ScalingLimited") if t in reasons)
            following = rows[index + 1].replicas if index + 1 < len(rows) else None
            out.append(Comparison(row, ours, following, reason))
    return out


def format_comparisons(comparisons: list[Comparison]) -> str:
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
    return "\n".join(lines)
