"""Behavior defaulting and the normalization steps of horizontal.go."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .goint import MAX_INT32, MIN_INT32, ceil32, int32_of, wrap32
from .history import History, Recommendation, ScaleEvent
from .settings import Settings

Rules = dict[str, Any]

_DEFAULT_UP: Rules = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
_DEFAULT_DOWN: Rules = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}
_RULE_FIELDS = ("selectPolicy", "stabilizationWindowSeconds", "policies", "tolerance")

READY_MSG = "recommended size matches current size"
UP_STABILIZED_MSG = (
    "recent recommendations were lower than current one, applying the lowest recent recommendation"
)
DOWN_STABILIZED_MSG = (
    "recent recommendations were higher than current one, applying the highest recent "
    "recommendation"
)
WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
UP_LIMIT = (
    "ScaleUpLimit", "the desired replica count is increasing faster than the maximum scale rate"
)
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
DOWN_LIMIT = (
    "ScaleDownLimit", "the desired replica count is decreasing faster than the maximum scale rate"
)
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")


def _copy_rules(src: Mapping[str, Any] | None, default: Rules) -> Rules:
    """``copyHPAScalingRules`` over a deep copy of the defaults."""
    rules = copy.deepcopy(default)
    for name in _RULE_FIELDS:
        if src is not None and src.get(name) is not None:
            rules[name] = copy.deepcopy(src[name])
    return rules


def generate_scale_up_rules(src: Mapping[str, Any] | None) -> Rules:
    return _copy_rules(src, _DEFAULT_UP)


def generate_scale_down_rules(src: Mapping[str, Any] | None) -> Rules:
    return _copy_rules(src, _DEFAULT_DOWN)


def default_behavior(behavior: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``SetDefaults_HorizontalPodAutoscalerBehavior`` (idempotent)."""
    if behavior is None:
        return None
    result = dict(copy.deepcopy(behavior))
    result["scaleUp"] = generate_scale_up_rules(behavior.get("scaleUp"))
    result["scaleDown"] = generate_scale_down_rules(behavior.get("scaleDown"))
    return result


@dataclass(frozen=True)
class Normalized:
    replicas: int
    stabilized: int
    able_reason: str
    able_message: str
    limited_status: str
    limited_reason: str
    limited_message: str


def _record(recs: list[Recommendation], index: int | None, desired: int, now: float) -> None:
    if index is None:
        recs.append(Recommendation(desired, now))
    else:
        recs[index] = Recommendation(desired, now)


def stabilize_recommendation(history: History, now: float, window: float, desired: int) -> int:
    """``stabilizeRecommendation`` (legacy path)."""
    recs = history.recommendations if history.recommendations is not None else []
    history.recommendations = recs
    highest = desired
    old_index: int | None = None
    cutoff = now - window
    for i, rec in enumerate(recs):
        if rec.timestamp < cutoff:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    _record(recs, old_index, desired, now)
    return highest


def convert_with_rules(
    current: int, desired: int, min_replicas: int, max_replicas: int, settings: Settings
) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithRules`` with ``calculateScaleUpLimit``."""
    factor, minimum = settings.scale_up_limit_factor, settings.scale_up_limit_minimum
    limit = int32_of(max(factor * float(current), minimum))
    if max_replicas > limit:
        maximum, reason = limit, UP_LIMIT
    else:
        maximum, reason = max_replicas, TOO_MANY
    if desired < min_replicas:
        return min_replicas, *TOO_FEW
    if desired > maximum:
        return maximum, *reason
    return desired, *WITHIN_RANGE


def normalize_legacy(
    history: History, now: float, settings: Settings,
    current: int, desired: int, min_replicas: int, max_replicas: int,
) -> Normalized:
    """``normalizeDesiredReplicas``."""
    stabilized = stabilize_recommendation(
        history, now, settings.downscale_stabilization_window, desired
    )
    able = ("ScaleDownStabilized", DOWN_STABILIZED_MSG) if stabilized != desired else (
        "ReadyForNewScale", READY_MSG
    )
    replicas, reason, message = convert_with_rules(
        current, stabilized, min_replicas, max_replicas, settings
    )
    limited = "False" if replicas == stabilized else "True"
    return Normalized(replicas, stabilized, *able, limited, reason, message)


def stabilize_with_behaviors(
    history: History, now: float, up: Rules, down: Rules, current: int, desired: int
) -> tuple[int, str, str]:
    """``stabilizeRecommendationWithBehaviors``."""
    recs = history.recommendations if history.recommendations is not None else []
    history.recommendations = recs
    up_cutoff = now - float(up["stabilizationWindowSeconds"])
    down_cutoff = now - float(down["stabilizationWindowSeconds"])
    up_rec = down_rec = desired
    old_index: int | None = None
    for i, rec in enumerate(recs):
        if rec.timestamp > up_cutoff:
            up_rec = min(rec.replicas, up_rec)
        if rec.timestamp > down_cutoff:
            down_rec = max(rec.replicas, down_rec)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old_index = i
    recommendation = current
    recommendation = max(recommendation, up_rec)
    recommendation = min(recommendation, down_rec)
    _record(recs, old_index, desired, now)
    if desired >= current:
        return recommendation, "ScaleUpStabilized", UP_STABILIZED_MSG
    return recommendation, "ScaleDownStabilized", DOWN_STABILIZED_MSG


def replicas_change_per_period(period_seconds: int, events: list[ScaleEvent], now: float) -> int:
    """``getReplicasChangePerPeriod``."""
    cutoff = now - float(period_seconds)
    total = 0
    for event in events:
        if event.timestamp > cutoff:
            total = wrap32(total + event.replica_change)
    return total


def _limit(history: History, now: float, current: int, rules: Rules, up: bool) -> int:
    """``calculateScaleUpLimitWithScalingRules`` / ``calculateScaleDownLimitWithBehaviors``."""
    select = rules.get("selectPolicy")
    if select == "Disabled":
        return current
    pick: Callable[[int, int], int]
    if (select == "Min") == up:
        result, pick = MAX_INT32, min
    else:
        result, pick = MIN_INT32, max
    proposed = 0
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds", 0))
        added = replicas_change_per_period(period, history.scale_up_events, now)
        deleted = replicas_change_per_period(period, history.scale_down_events, now)
        start = wrap32(wrap32(current - added) + deleted)
        value = int(policy.get("value", 0))
        if policy.get("type") == "Pods":
            proposed = wrap32(start + value if up else start - value)
        elif policy.get("type") == "Percent":
            factor = (1 + float(value) / 100) if up else (1 - float(value) / 100)
            proposed = ceil32(float(start) * factor) if up else int32_of(float(start) * factor)
        result = pick(result, proposed)
    return result


def convert_with_behavior_rate(
    history: History, now: float, up: Rules, down: Rules,
    min_replicas: int, max_replicas: int, current: int, desired: int,
) -> tuple[int, str, str]:
    """``convertDesiredReplicasWithBehaviorRate``."""
    if desired > current:
        limit = max(_limit(history, now, current, up, up=True), current)
        if max_replicas > limit:
            allowed, reason = limit, UP_LIMIT
        else:
            allowed, reason = max_replicas, TOO_MANY
        if desired > allowed:
            return allowed, *reason
    elif desired < current:
        limit = min(_limit(history, now, current, down, up=False), current)
        if min_replicas < limit:
            allowed, reason = limit, DOWN_LIMIT
        else:
            allowed, reason = min_replicas, TOO_FEW
        if desired < allowed:
            return allowed, *reason
    return desired, *WITHIN_RANGE


def with_down_window(behavior: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """``maybeInitScaleDownStabilizationWindow`` on a defaulted behavior (returns a copy)."""
    result = copy.deepcopy(dict(behavior))
    down = result.get("scaleDown")
    if down is not None and down.get("stabilizationWindowSeconds") is None:
        down["stabilizationWindowSeconds"] = int32_of(settings.downscale_stabilization_window)
    return result


def normalize_with_behaviors(
    history: History, now: float, settings: Settings, behavior: Mapping[str, Any],
    current: int, desired: int, min_replicas: int, max_replicas: int,
) -> Normalized:
    """``normalizeDesiredReplicasWithBehaviors`` (``behavior`` already API-defaulted)."""
    rules = with_down_window(behavior, settings)
    up, down = rules["scaleUp"], rules["scaleDown"]
    stabilized, reason, message = stabilize_with_behaviors(history, now, up, down, current, desired)
    able = (reason, message) if stabilized != desired else ("ReadyForNewScale", READY_MSG)
    replicas, lreason, lmessage = convert_with_behavior_rate(
        history, now, up, down, min_replicas, max_replicas, current, stabilized
    )
    limited = "False" if replicas == stabilized else "True"
    return Normalized(replicas, stabilized, *able, limited, lreason, lmessage)


def store_scale_event(
    behavior: Mapping[str, Any] | None, history: History, now: float, prev: int, new: int
) -> None:
    """``storeScaleEvent`` with ``markScaleEventsOutdated`` (``behavior`` defaulted)."""
    if behavior is None:
        return
    if new > prev:
        rules, events, change = behavior["scaleUp"], history.scale_up_events, wrap32(new - prev)
    else:
        rules, events, change = behavior["scaleDown"], history.scale_down_events, wrap32(prev - new)
    longest = 0
    for policy in rules.get("policies") or []:
        longest = max(longest, int(policy.get("periodSeconds", 0)))
    cutoff = now - float(longest)
    old_index: int | None = None
    for i, event in enumerate(events):
        if event.timestamp < cutoff:
            event.outdated = True
        if event.outdated:
            old_index = i
    if old_index is None:
        events.append(ScaleEvent(change, now, False))
    else:
        events[old_index] = ScaleEvent(change, now, False)
