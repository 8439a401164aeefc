"""Hypothesis invariants of the pure stages, each checked against an independent oracle
written from the documented rule, never against the implementation itself."""

from __future__ import annotations

import math
from dataclasses import dataclass

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from algorithms.config import ControllerConfig
from algorithms.history import ScaleEvent, TimestampedRecommendation
from algorithms.normalize import NormalizeInput, normalize_desired_replicas
from algorithms.pods import ContainerInfo, PodInfo, PodMetric, ReadinessRules
from algorithms.policies import Events
from algorithms.replicas import Tolerances, get_resource_replicas
from algorithms.spec import HorizontalPodAutoscalerBehavior, HPAScalingPolicy, HPAScalingRules

T0 = 1_000_000.0
CONFIG = ControllerConfig()
RULES = ReadinessRules()

policies = st.builds(HPAScalingPolicy, type=st.sampled_from(["Pods", "Percent"]),
                     value=st.integers(1, 300), period_seconds=st.integers(1, 1800))
rules = st.builds(HPAScalingRules,
                  stabilization_window_seconds=st.integers(0, 3600),
                  select_policy=st.sampled_from(["Max", "Min", "Disabled"]),
                  policies=st.lists(policies, min_size=1, max_size=3).map(tuple))
behaviors = st.builds(HorizontalPodAutoscalerBehavior, scale_up=rules, scale_down=rules)
recommendations = st.lists(st.builds(TimestampedRecommendation, replicas=st.integers(0, 60),
                                     timestamp=st.floats(T0 - 4000, T0).map(round)),
                           max_size=8).map(tuple)
events = st.lists(st.builds(ScaleEvent, replica_change=st.integers(0, 10),
                            timestamp=st.floats(T0 - 2000, T0).map(round),
                            outdated=st.booleans()), max_size=5).map(tuple)


@dataclass(frozen=True)
class Bounds:
    min_replicas: int
    max_replicas: int
    current: int
    desired: int


@st.composite
def bounds(draw: st.DrawFn) -> Bounds:
    low = draw(st.integers(1, 20))
    high = draw(st.integers(low, 50))
    return Bounds(low, high, draw(st.integers(low, high)), draw(st.integers(0, 100)))


def _normalize(b: Bounds, behavior: HorizontalPodAutoscalerBehavior | None,
               recs: tuple[TimestampedRecommendation, ...], up: tuple[ScaleEvent, ...],
               down: tuple[ScaleEvent, ...]) -> int:
    return normalize_desired_replicas(NormalizeInput(
        current_replicas=b.current, desired_replicas=b.desired, min_replicas=b.min_replicas,
        max_replicas=b.max_replicas, behavior=behavior, recommendations=recs,
        events=Events(up, down)), CONFIG, T0).replicas


@given(bounds(), st.none() | behaviors, recommendations, events, events)
def test_result_is_within_min_and_max(b: Bounds, behavior: HorizontalPodAutoscalerBehavior | None,
                                      recs: tuple[TimestampedRecommendation, ...],
                                      up: tuple[ScaleEvent, ...],
                                      down: tuple[ScaleEvent, ...]) -> None:
    result = _normalize(b, behavior, recs, up, down)
    assert b.min_replicas <= result <= b.max_replicas


@given(bounds(), behaviors, recommendations, events, events)
def test_disabled_direction_never_moves(b: Bounds, behavior: HorizontalPodAutoscalerBehavior,
                                        recs: tuple[TimestampedRecommendation, ...],
                                        up: tuple[ScaleEvent, ...],
                                        down: tuple[ScaleEvent, ...]) -> None:
    result = _normalize(b, behavior, recs, up, down)
    assert behavior.scale_up is not None and behavior.scale_down is not None
    if behavior.scale_up.select_policy == "Disabled":
        assert result <= b.current
    if behavior.scale_down.select_policy == "Disabled":
        assert result >= b.current


def _period_start(current: int, period: int, up: tuple[ScaleEvent, ...],
                  down: tuple[ScaleEvent, ...]) -> int:
    added = sum(e.replica_change for e in up if e.timestamp > T0 - period)
    removed = sum(e.replica_change for e in down if e.timestamp > T0 - period)
    return current - added + removed


def _oracle_up_limit(current: int, r: HPAScalingRules, up: tuple[ScaleEvent, ...],
                     down: tuple[ScaleEvent, ...]) -> int:
    allowed = []
    for p in r.policies or ():
        start = _period_start(current, p.period_seconds, up, down)
        allowed.append(start + p.value if p.type == "Pods"
                       else math.ceil(float(start) * (1 + p.value / 100)))
    return max(allowed) if r.select_policy == "Max" else min(allowed)


def _oracle_down_limit(current: int, r: HPAScalingRules, up: tuple[ScaleEvent, ...],
                       down: tuple[ScaleEvent, ...]) -> int:
    allowed = []
    for p in r.policies or ():
        start = _period_start(current, p.period_seconds, up, down)
        allowed.append(start - p.value if p.type == "Pods"
                       else int(float(start) * (1 - p.value / 100)))
    return min(allowed) if r.select_policy == "Max" else max(allowed)


@given(bounds(), behaviors, recommendations, events, events)
def test_rate_limits_are_never_exceeded(b: Bounds, behavior: HorizontalPodAutoscalerBehavior,
                                        recs: tuple[TimestampedRecommendation, ...],
                                        up: tuple[ScaleEvent, ...],
                                        down: tuple[ScaleEvent, ...]) -> None:
    assert behavior.scale_up is not None and behavior.scale_down is not None
    result = _normalize(b, behavior, recs, up, down)
    if result > b.current and behavior.scale_up.select_policy != "Disabled":
        assert result <= max(_oracle_up_limit(b.current, behavior.scale_up, up, down), b.current)
    if result < b.current and behavior.scale_down.select_policy != "Disabled":
        # The documented formula is float64 (upstream's); e.g. 7% of 100 allows 92, not 93.
        limit = _oracle_down_limit(b.current, behavior.scale_down, up, down)
        assert result >= max(min(limit, b.current), b.min_replicas)


@given(bounds(), behaviors, recommendations)
def test_no_scale_down_below_max_recommendation_in_window(
        b: Bounds, behavior: HorizontalPodAutoscalerBehavior,
        recs: tuple[TimestampedRecommendation, ...]) -> None:
    assert behavior.scale_down is not None
    window = behavior.scale_down.stabilization_window_seconds or 0
    in_window = [r.replicas for r in recs if r.timestamp > T0 - window]
    assume(in_window)
    result = _normalize(b, behavior, recs, (), ())
    assert result >= min(b.current, max(in_window), b.max_replicas)


@given(bounds(), recommendations)
def test_legacy_path_holds_the_highest_recent_recommendation(
        b: Bounds, recs: tuple[TimestampedRecommendation, ...]) -> None:
    window = CONFIG.downscale_stabilization_window_seconds
    recent = [r.replicas for r in recs if r.timestamp >= T0 - window]
    result = _normalize(b, None, recs, (), ())
    target = max([b.desired, *recent])
    legacy_cap = max(2 * b.current, 4)
    assert result == min(max(target, b.min_replicas), b.max_replicas, legacy_cap) or (
        target < b.min_replicas and result == b.min_replicas)


# ------------------------------------------------------------------ replica calculator


def _pods(n: int) -> tuple[PodInfo, ...]:
    return tuple(PodInfo(name=f"p{i}", start_time=T0 - 3600, ready_transition_time=T0 - 3500,
                         containers=(ContainerInfo("c", {"cpu": 1000}),)) for i in range(n))


def _metrics(usages: list[int]) -> dict[str, PodMetric]:
    return {f"p{i}": PodMetric(u, T0 - 10, 30.0) for i, u in enumerate(usages)}


usage_lists = st.lists(st.integers(0, 5000), min_size=1, max_size=12)


@settings(max_examples=200)
@given(usage_lists, st.integers(1, 200), st.integers(0, 11), st.integers(1, 3000))
def test_more_load_never_proposes_fewer_replicas(usages: list[int], target: int, index: int,
                                                 extra: int) -> None:
    pods = _pods(len(usages))
    current = len(usages)
    before = get_resource_replicas(current, target, "cpu", "", pods, _metrics(usages),
                                   Tolerances(), RULES, T0)
    more = list(usages)
    more[index % len(more)] += extra
    after = get_resource_replicas(current, target, "cpu", "", pods, _metrics(more),
                                  Tolerances(), RULES, T0)
    assert after.replicas >= before.replicas


@given(usage_lists, st.integers(1, 200))
def test_inside_the_tolerance_band_nothing_changes(usages: list[int], target: int) -> None:
    utilization = sum(usages) * 100 // (1000 * len(usages))
    ratio = utilization / target
    result = get_resource_replicas(len(usages), target, "cpu", "", _pods(len(usages)),
                                   _metrics(usages), Tolerances(), RULES, T0)
    assert result.utilization == utilization
    if 0.9 <= ratio <= 1.1:
        assert result.replicas == len(usages)
    else:
        assert result.replicas == math.ceil(ratio * len(usages))


@given(usage_lists, st.integers(1, 200), st.floats(0, 0.5), st.floats(0, 0.5))
def test_per_direction_tolerance(usages: list[int], target: int, down: float, up: float) -> None:
    utilization = sum(usages) * 100 // (1000 * len(usages))
    ratio = utilization / target
    result = get_resource_replicas(len(usages), target, "cpu", "", _pods(len(usages)),
                                   _metrics(usages), Tolerances(down, up), RULES, T0)
    if 1 - down <= ratio <= 1 + up:
        assert result.replicas == len(usages)
    elif ratio > 1 + up:
        assert result.replicas >= len(usages)
    else:
        assert result.replicas <= len(usages)
