"""HPA status: conditions (setConditionInList / removeCondition) and semantic equality.

Times are floats on the case clock.  A condition's ``lastTransitionTime`` is a non-pointer
``metav1.Time`` in Go, so an absent one is the zero time (``ZERO_TIME``); ``lastScaleTime`` and
``observedGeneration`` are pointers, so absent is ``None``.  Metric statuses are kept in their
autoscaling/v2 JSON shape with quantities as strings.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .goint import ZERO_TIME
from .quantity import quantities_equal

_QUANTITY_KEYS = frozenset({"value", "averageValue"})


@dataclass
class Condition:
    type: str
    status: str = ""
    last_transition_time: float = ZERO_TIME
    reason: str = ""
    message: str = ""


@dataclass
class Status:
    current_replicas: int = 0
    desired_replicas: int = 0
    observed_generation: int | None = None
    last_scale_time: float | None = None
    current_metrics: list[dict[str, Any]] | None = None
    conditions: list[Condition] = field(default_factory=list)


def parse_status(obj: Mapping[str, Any] | None) -> Status:
    """An autoscaling/v2 status whose times are numbers on the case clock."""
    obj = obj or {}
    conditions = [
        Condition(
            type=str(c.get("type", "")),
            status=str(c.get("status", "")),
            last_transition_time=ZERO_TIME
            if c.get("lastTransitionTime") is None
            else float(c["lastTransitionTime"]),
            reason=str(c.get("reason", "")),
            message=str(c.get("message", "")),
        )
        for c in obj.get("conditions") or []
    ]
    generation = obj.get("observedGeneration")
    scale_time = obj.get("lastScaleTime")
    metrics = obj.get("currentMetrics")
    return Status(
        current_replicas=int(obj.get("currentReplicas", 0)),
        desired_replicas=int(obj.get("desiredReplicas", 0)),
        observed_generation=None if generation is None else int(generation),
        last_scale_time=None if scale_time is None else float(scale_time),
        current_metrics=None if metrics is None else copy.deepcopy(list(metrics)),
        conditions=conditions,
    )


def status_to_dict(status: Status) -> dict[str, Any]:
    """The autoscaling/v2 JSON shape (omitempty fields left out when unset)."""
    result: dict[str, Any] = {}
    if status.observed_generation is not None:
        result["observedGeneration"] = status.observed_generation
    if status.last_scale_time is not None:
        result["lastScaleTime"] = status.last_scale_time
    result["currentReplicas"] = status.current_replicas
    result["desiredReplicas"] = status.desired_replicas
    if status.current_metrics:
        result["currentMetrics"] = copy.deepcopy(status.current_metrics)
    if status.conditions:
        result["conditions"] = [
            {
                "type": c.type,
                "status": c.status,
                "lastTransitionTime": c.last_transition_time,
                "reason": c.reason,
                "message": c.message,
            }
            for c in status.conditions
        ]
    return result


def set_condition(
    status: Status, ctype: str, cstatus: str, reason: str, message: str, now: float
) -> None:
    """``setConditionInList``: replace in place or append; the time moves only on a flip."""
    existing = next((c for c in status.conditions if c.type == ctype), None)
    if existing is None:
        existing = Condition(type=ctype)
        status.conditions.append(existing)
    if existing.status != cstatus:
        existing.last_transition_time = now
    existing.status = cstatus
    existing.reason = reason
    existing.message = message


def remove_condition(status: Status, ctype: str) -> None:
    status.conditions = [c for c in status.conditions if c.type != ctype]


def condition_is_true(status: Status, ctype: str) -> bool:
    """``getScaledToZeroConditionStatus``: the first condition of that type is True."""
    for c in status.conditions:
        if c.type == ctype:
            return c.status == "True"
    return False


def _json_equal(a: Any, b: Any, key: str = "") -> bool:
    """apiequality.Semantic.DeepEqual on JSON: quantities by value, nil slice == empty slice."""
    if key in _QUANTITY_KEYS and a is not None and b is not None:
        return quantities_equal(a, b)
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        keys = set(a) | set(b)
        return all(_json_equal(a.get(k), b.get(k), k) for k in keys)
    if isinstance(a, list) or isinstance(b, list):
        left = a if a is not None else []
        right = b if b is not None else []
        if not isinstance(left, list) or not isinstance(right, list) or len(left) != len(right):
            return False
        return all(_json_equal(x, y) for x, y in zip(left, right, strict=True))
    if a is None or b is None:
        return (a if a is not None else "") == (b if b is not None else "")
    return bool(a == b)


def semantic_equal(a: Status, b: Status) -> bool:
    """Whether ``updateStatusIfNeeded`` would skip the write."""
    return (
        a.current_replicas == b.current_replicas
        and a.desired_replicas == b.desired_replicas
        and a.observed_generation == b.observed_generation
        and a.last_scale_time == b.last_scale_time
        and _json_equal(a.current_metrics, b.current_metrics)
        and a.conditions == b.conditions
    )
