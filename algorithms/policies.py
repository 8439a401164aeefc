"""Rate limits: behavior policies (Pods/Percent over periodSeconds) and the legacy limit.

Every limit is computed from the replica count at the *start* of the policy's period:
`periodStart = current - added_in_period + removed_in_period`. Worked example with the
default scale-up rules {Pods 4 / 15 s, Percent 100 / 15 s, selectPolicy Max} at current 3 and
no recent events: Pods -> 3 + 4 = 7, Percent -> ceil(3 * 2.0) = 6, Max -> 7 replicas allowed.
Scale-down Percent rounds *down* (`int32(x)` truncates): 100 % of 5 -> 0, 50 % of 5 -> 2.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from algorithms.goints import MAX_INT32, MIN_INT32, saturating_int32, wrap_int32
from algorithms.history import ScaleEvent, replicas_change_per_period
from algorithms.spec import HPAScalingRules

PODS_POLICY = "Pods"
PERCENT_POLICY = "Percent"
MAX_SELECT = "Max"
MIN_SELECT = "Min"
DISABLED_SELECT = "Disabled"


@dataclass(frozen=True, slots=True)
class Limited:
    replicas: int
    reason: str
    message: str


WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
SCALE_UP_LIMIT = ("ScaleUpLimit",
                  "the desired replica count is increasing faster than the maximum scale rate")
SCALE_DOWN_LIMIT = ("ScaleDownLimit",
                    "the desired replica count is decreasing faster than the maximum scale rate")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")


@dataclass(frozen=True, slots=True)
class Events:
    up: tuple[ScaleEvent, ...]
    down: tuple[ScaleEvent, ...]


def _period_start(current: int, period: int, events: Events, now: float) -> int:
    added = replicas_change_per_period(period, events.up, now)
    removed = replicas_change_per_period(period, events.down, now)
    return wrap_int32(current - added + removed)


def scale_up_limit(current: int, events: Events, rules: HPAScalingRules, now: float) -> int:
    """`calculateScaleUpLimitWithScalingRules`: Max picks the largest proposal, Min the
    smallest; Disabled freezes at current."""
    if rules.select_policy == DISABLED_SELECT:
        return current
    use_min = rules.select_policy == MIN_SELECT
    result = MAX_INT32 if use_min else MIN_INT32
    for policy in rules.policies or ():
        start = _period_start(current, policy.period_seconds, events, now)
        if policy.type == PODS_POLICY:
            proposed = wrap_int32(start + policy.value)
        else:
            # Round up: a small percentage of a small count must still allow +1.
            proposed = saturating_int32(math.ceil(float(start) * (1 + float(policy.value) / 100)))
        result = min(result, proposed) if use_min else max(result, proposed)
    return result


def scale_down_limit(current: int, events: Events, rules: HPAScalingRules, now: float) -> int:
    """`calculateScaleDownLimitWithBehaviors`: for scale-down the *largest change* (Max)
    is the *lowest* replica count, so Max combines with min() and Min with max()."""
    if rules.select_policy == DISABLED_SELECT:
        return current
    use_min_change = rules.select_policy == MIN_SELECT
    result = MIN_INT32 if use_min_change else MAX_INT32
    for policy in rules.policies or ():
        start = _period_start(current, policy.period_seconds, events, now)
        if policy.type == PODS_POLICY:
            proposed = wrap_int32(start - policy.value)
        else:
            proposed = saturating_int32(float(start) * (1 - float(policy.value) / 100))
        result = max(result, proposed) if use_min_change else min(result, proposed)
    return result


def limit_with_behaviors(current: int, desired: int, min_replicas: int, max_replicas: int,
                         up: HPAScalingRules, down: HPAScalingRules, events: Events,
                         now: float) -> Limited:
    """`convertDesiredReplicasWithBehaviorRate`: rate limits, then min/max."""
    if desired > current:
        limit = max(scale_up_limit(current, events, up, now), current)
        if max_replicas > limit:
            allowed, (reason, message) = limit, SCALE_UP_LIMIT
        else:
            allowed, (reason, message) = max_replicas, TOO_MANY
        if desired > allowed:
            return Limited(allowed, reason, message)
    elif desired < current:
        limit = min(scale_down_limit(current, events, down, now), current)
        if min_replicas < limit:
            allowed, (reason, message) = limit, SCALE_DOWN_LIMIT
        else:
            allowed, (reason, message) = min_replicas, TOO_FEW
        if desired < allowed:
            return Limited(allowed, reason, message)
    return Limited(desired, *WITHIN_RANGE)


def limit_legacy(current: int, desired: int, min_replicas: int, max_replicas: int,
                 factor: float, minimum: float) -> Limited:
    """`convertDesiredReplicasWithRules`: at most max(factor x current, minimum) per step, a
    guard against bogus usage spikes (kubernetes issue 32304)."""
    limit = saturating_int32(max(factor * float(current), minimum))
    if max_replicas > limit:
        allowed, (reason, message) = limit, SCALE_UP_LIMIT
    else:
        allowed, (reason, message) = max_replicas, TOO_MANY
    if desired < min_replicas:
        return Limited(min_replicas, *TOO_FEW)
    if desired > allowed:
        return Limited(allowed, reason, message)
    return Limited(desired, *WITHIN_RANGE)
