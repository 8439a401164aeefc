"""HPA status: conditions and current metrics, as upstream's autoscaling/v2 status.

Condition types and reasons are upstream's strings, so `kubectl describe` users and alerting
rules keep working. `set_condition` mirrors `setConditionInList`: replace the condition of
that type in place (or append it) and move `lastTransitionTime` only when the status flips.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.spec import CrossVersionObjectReference, MetricIdentifier

ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"
SCALED_TO_ZERO = "ScaledToZero"

TRUE = "True"
FALSE = "False"


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str
    last_transition_time: float | None = None


@dataclass(frozen=True, slots=True)
class MetricValueStatus:
    value_milli: int | None = None
    average_value_milli: int | None = None
    average_utilization: int | None = None
    # Memory is reported in BinarySI (Ki, Mi) like metrics-server; everything else DecimalSI.
    binary: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True)
class MetricStatus:
    """One entry of status.currentMetrics. `type == ""` is Go's zero value: the metric of
    that index failed this pass (upstream leaves the slot empty)."""

    type: str = ""
    name: str = ""  # resource name for Resource / ContainerResource
    container: str = ""
    metric: MetricIdentifier | None = None
    described_object: CrossVersionObjectReference | None = None
    current: MetricValueStatus = MetricValueStatus()


@dataclass(frozen=True, slots=True)
class HPAStatus:
    current_replicas: int = 0
    desired_replicas: int = 0
    observed_generation: int | None = None
    last_scale_time: float | None = None
    current_metrics: tuple[MetricStatus, ...] = ()
    conditions: tuple[Condition, ...] = ()

    def condition(self, condition_type: str) -> Condition | None:
        for condition in self.conditions:  # a loop, not next(genexpr): read every pass
            if condition.type == condition_type:
                return condition
        return None


def set_condition(conditions: tuple[Condition, ...], condition_type: str, status: str,
                  reason: str, message: str, now: float) -> tuple[Condition, ...]:
    for index, existing in enumerate(conditions):
        if existing.type == condition_type:
            moved = existing.last_transition_time
            if existing.status != status:
                moved = now
            updated = Condition(condition_type, status, reason, message, moved)
            return (*conditions[:index], updated, *conditions[index + 1:])
    # A new condition starts with an empty status in upstream, so it always "transitions".
    return (*conditions, Condition(condition_type, status, reason, message, now))


def remove_condition(conditions: tuple[Condition, ...], condition_type: str
                     ) -> tuple[Condition, ...]:
    return tuple(c for c in conditions if c.type != condition_type)
