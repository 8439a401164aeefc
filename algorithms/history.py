"""The two lists of the controller's memory: recommendations and scale events.

Upstream keeps these in process memory (and loses them on restart); here they are part of
`algorithms.state.ControllerState`, a value passed into `decide` and returned updated.

Slots are reused like upstream: a new recommendation overwrites the *last* one that fell out
of every window, and a new scale event overwrites the *last* outdated event. That keeps the
lists bounded by (window / sync period) without ever dropping data a window still needs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from algorithms.spec import HorizontalPodAutoscalerBehavior, HPAScalingRules


@dataclass(frozen=True, slots=True)
class TimestampedRecommendation:
    replicas: int
    timestamp: float


@dataclass(frozen=True, slots=True)
class ScaleEvent:
    replica_change: int  # absolute value: scale-down events store prev - new
    timestamp: float
    outdated: bool = False


def replace_or_append(items: tuple[TimestampedRecommendation, ...], index: int | None,
                      item: TimestampedRecommendation) -> tuple[TimestampedRecommendation, ...]:
    if index is None:
        return (*items, item)
    return (*items[:index], item, *items[index + 1:])


def replicas_change_per_period(period_seconds: int, events: tuple[ScaleEvent, ...],
                               now: float) -> int:
    """Sum of changes strictly after `now - period` (`getReplicasChangePerPeriod`).

    Outdated flags are ignored here on purpose: upstream only uses them to pick a slot.
    """
    cutoff = now - period_seconds
    return sum(e.replica_change for e in events if e.timestamp > cutoff)


def longest_policy_period(rules: HPAScalingRules) -> int:
    return max((p.period_seconds for p in rules.policies or ()), default=0)


def store_event(events: tuple[ScaleEvent, ...], period: int, change: int, now: float
                ) -> tuple[ScaleEvent, ...]:
    """`storeScaleEvent` for one direction: mark events older than `period` outdated (never
    reset), then overwrite the *last* outdated slot with the new event, or append."""
    cutoff = now - period
    marked = tuple(replace(e, outdated=True) if e.timestamp < cutoff else e for e in events)
    slot = None
    for index, event in enumerate(marked):
        if event.outdated:
            slot = index
    new_event = ScaleEvent(change, now, False)
    if slot is None:
        return (*marked, new_event)
    return (*marked[:slot], new_event, *marked[slot + 1:])


def scale_event_period(behavior: HorizontalPodAutoscalerBehavior | None, scaling_up: bool
                       ) -> int | None:
    """The period a scale event of this direction is kept for: the direction's longest policy
    period. None on the legacy path (behavior null): upstream stores no event there, no policy
    would read it. `behavior` must be API-defaulted."""
    if behavior is None:
        return None
    rules = (behavior.scale_up if scaling_up else behavior.scale_down) or HPAScalingRules()
    return longest_policy_period(rules)
