"""Stabilization windows over the recommendation history.

Legacy path (behavior null, upstream `stabilizeRecommendation`): the result is the max of
the new recommendation and every recommendation not older than the downscale window, so a
dip must last the whole window (default 5 min) before the target shrinks.

Behavior path (`stabilizeRecommendationWithBehaviors`): scale-up uses the *min* over its own
window and scale-down the *max* over its own window, and the current size is moved only as
far as both allow. Worked example: current 5, recommendations in the last 300 s were
[7, 4, 6], the new one is 3 -> down-window max = 7, up-window (0 s) min = 3 ->
stabilized = min(max(5, 3), 7) = 5: stay at 5 (ScaleDownStabilized).

Window edges follow Go's strict `After`/`Before`: a recommendation stamped exactly at
`now - window` is in neither set, and one stamped `now` is outside a 0-second window.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.history import TimestampedRecommendation, replace_or_append


@dataclass(frozen=True, slots=True)
class Stabilized:
    replicas: int
    recommendations: tuple[TimestampedRecommendation, ...]
    reason: str
    message: str


READY_FOR_NEW_SCALE = ("ReadyForNewScale", "recommended size matches current size")
SCALE_DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent "
    "recommendation")
SCALE_UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent "
    "recommendation")


def stabilize_legacy(recommendations: tuple[TimestampedRecommendation, ...], desired: int,
                     window_seconds: float, now: float) -> Stabilized:
    cutoff = now - window_seconds
    highest = desired
    old_index: int | None = None
    for index, rec in enumerate(recommendations):
        if rec.timestamp < cutoff:
            old_index = index
        elif rec.replicas > highest:
            highest = rec.replicas
    stored = replace_or_append(recommendations, old_index,
                               TimestampedRecommendation(desired, now))
    reason, message = READY_FOR_NEW_SCALE if highest == desired else SCALE_DOWN_STABILIZED
    return Stabilized(highest, stored, reason, message)


def stabilize_with_behaviors(recommendations: tuple[TimestampedRecommendation, ...],
                             current: int, desired: int, up_window_seconds: int,
                             down_window_seconds: int, now: float) -> Stabilized:
    up_cutoff = now - up_window_seconds
    down_cutoff = now - down_window_seconds
    up_recommendation = desired
    down_recommendation = desired
    old_index: int | None = None
    for index, rec in enumerate(recommendations):
        if rec.timestamp > up_cutoff:
            up_recommendation = min(rec.replicas, up_recommendation)
        if rec.timestamp > down_cutoff:
            down_recommendation = max(rec.replicas, down_recommendation)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old_index = index
    stabilized = current
    stabilized = max(stabilized, up_recommendation)
    stabilized = min(stabilized, down_recommendation)
    stored = replace_or_append(recommendations, old_index,
                               TimestampedRecommendation(desired, now))
    if stabilized == desired:
        reason, message = READY_FOR_NEW_SCALE
    elif desired >= current:
        reason, message = SCALE_UP_STABILIZED
    else:
        reason, message = SCALE_DOWN_STABILIZED
    return Stabilized(stabilized, stored, reason, message)
