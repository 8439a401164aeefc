"""A controller sync as the decision log shows it (`DecisionRecord`), from its Plan."""

from __future__ import annotations

from algorithms.plan import Plan
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.status import Condition
from autoscaler.replay.model import DecisionRecord


def target_percent(spec: HorizontalPodAutoscalerSpec) -> int | None:
    for metric in spec.metrics:
        if metric.resource is not None and metric.resource.target.average_utilization:
            return metric.resource.target.average_utilization
    return None


def kept_reason(conditions: tuple[Condition, ...]) -> str:
    """The reason of a sync that kept the size with its metrics working: AbleToScale's and
    ScalingLimited's reasons."""
    by_type = {c.type: c for c in conditions}
    return "; ".join(c.reason for c in (by_type.get("AbleToScale"),
                                        by_type.get("ScalingLimited")) if c is not None)


def decision_record(plan: Plan, spec: HorizontalPodAutoscalerSpec, now: float
                    ) -> DecisionRecord:
    status = plan.state.status
    metrics = status.current_metrics
    current = metrics[0].current.average_utilization if metrics else None
    conditions = {c.type: c for c in status.conditions}
    active = conditions.get("ScalingActive")
    if plan.rescale:
        reason = plan.reason
    elif active is not None and active.status == "False":
        reason = active.reason
    else:
        reason = kept_reason(status.conditions)
    return DecisionRecord(now, plan.current_replicas or 0, plan.target_replicas, current,
                          target_percent(spec), plan.rescale, reason)
