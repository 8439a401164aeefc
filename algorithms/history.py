"""The controller's memory for one autoscaler: recommendations and scale events.

Upstream keeps these in process memory (and loses them on restart); here they are a value
passed into `decide` and returned updated, so the daemon can persist them.

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


@dataclass(frozen=True, slots=True)
class History:
    # None = the controller has no entry for this autoscaler yet (first pass).
    recommendations: tuple[TimestampedRecommendation, ...] | None = None
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()


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


def _store(events: tuple[ScaleEvent, ...], period: int, change: int, now: float
           ) -> tuple[ScaleEvent, ...]:
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


def store_scale_event(history: History, behavior: HorizontalPodAutoscalerBehavior | None,
                      prev_replicas: int, new_replicas: int, now: float) -> History:
    """`storeScaleEvent`, after a successful rescale. `behavior` must be API-defaulted.

    With no behavior (the legacy path) nothing is stored: no policy would read it.
    """
    if behavior is None:
        return history
    if new_replicas > prev_replicas:
        rules = behavior.scale_up or HPAScalingRules()
        events = _store(history.scale_up_events, longest_policy_period(rules),
                        new_replicas - prev_replicas, now)
        return replace(history, scale_up_events=events)
    rules = behavior.scale_down or HPAScalingRules()
    events = _store(history.scale_down_events, longest_policy_period(rules),
                    prev_replicas - new_replicas, now)
    return replace(history, scale_down_events=events)
