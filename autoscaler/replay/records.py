"""A controller sync as the decision log shows it (`DecisionRecord`), from its Plan."""

from __future__ import annotations

from algorithms.plan import Plan
from algorithms.quantity import format_milli, milli_value
from algorithms.spec import EXTERNAL, OBJECT, HorizontalPodAutoscalerSpec
from algorithms.status import Condition, HPAStatus
from autoscaler.replay.model import DecisionRecord


def target_percent(spec: HorizontalPodAutoscalerSpec) -> int | None:
    for metric in spec.metrics:
        if metric.resource is not None and metric.resource.target.average_utilization:
            return metric.resource.target.average_utilization
    return None


def targets_cell(spec: HorizontalPodAutoscalerSpec, status: HPAStatus) -> str | None:
    """kubectl's TARGETS for a first metric with a value target: `current/target`, with
    ` (avg)` for Object and External AverageValue targets (Pods and Resource targets are
    averages already), `<unknown>` while the metric fails. None for utilization targets:
    the percent columns show them. Worked example: the SLO recommender asks for 6 replicas
    while 3 run: External total 6000m / 3 pods = 2 per pod, so `2/1 (avg)`."""
    if not spec.metrics:
        return None
    metric = spec.metrics[0]
    source = (metric.resource or metric.container_resource or metric.pods or metric.object
              or metric.external)
    if source is None or source.target.average_utilization is not None:
        return None
    target = source.target
    current = status.current_metrics[0].current if status.current_metrics \
        and status.current_metrics[0].type else None
    if target.average_value is not None:
        want = target.average_value
        have = None if current is None else current.average_value_milli
        suffix = " (avg)" if metric.type in (OBJECT, EXTERNAL) else ""
    elif target.value is not None:
        want, suffix = target.value, ""
        have = None if current is None else current.value_milli
    else:
        return None
    binary = want.text.rstrip().endswith("i")  # 128Mi stays 128Mi, as kubectl prints it
    shown = "<unknown>" if have is None else format_milli(have, binary)
    return f"{shown}/{format_milli(milli_value(want.text), binary)}{suffix}"


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
                          target_percent(spec), plan.rescale, reason,
                          targets_cell(spec, status))
