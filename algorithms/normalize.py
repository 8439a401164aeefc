"""Stabilize, then rate-limit and clamp: upstream `normalizeDesiredReplicas[WithBehaviors]`.

Returns the replicas plus the AbleToScale reason (stabilization) and the ScalingLimited
reason (rate limit / min / max) so the caller can set conditions exactly as upstream does.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.config import ControllerConfig
from algorithms.history import ScaleEvent, TimestampedRecommendation
from algorithms.policies import Events, Limited, limit_legacy, limit_with_behaviors
from algorithms.spec import HorizontalPodAutoscalerBehavior, HPAScalingRules
from algorithms.stabilization import Stabilized, stabilize_legacy, stabilize_with_behaviors


@dataclass(frozen=True, slots=True)
class Normalized:
    stabilized: Stabilized
    limited: Limited

    @property
    def replicas(self) -> int:
        return self.limited.replicas

    @property
    def scaling_limited(self) -> bool:
        return self.limited.replicas != self.stabilized.replicas


@dataclass(frozen=True, slots=True)
class NormalizeInput:
    current_replicas: int
    desired_replicas: int  # the max across metrics, before stabilization
    min_replicas: int
    max_replicas: int
    behavior: HorizontalPodAutoscalerBehavior | None  # API-defaulted, or None (legacy)
    recommendations: tuple[TimestampedRecommendation, ...]
    events: Events


def normalize_desired_replicas(args: NormalizeInput, config: ControllerConfig, now: float
                               ) -> Normalized:
    return normalize_replicas(args.current_replicas, args.desired_replicas, args.min_replicas,
                              args.max_replicas, args.behavior, args.recommendations,
                              args.events.up, args.events.down, config, now)


_NO_RULES = HPAScalingRules()


def normalize_replicas(current_replicas: int, desired_replicas: int, min_replicas: int,
                       max_replicas: int, behavior: HorizontalPodAutoscalerBehavior | None,
                       recommendations: tuple[TimestampedRecommendation, ...],
                       scale_up_events: tuple[ScaleEvent, ...],
                       scale_down_events: tuple[ScaleEvent, ...], config: ControllerConfig,
                       now: float) -> Normalized:
    """`normalize_desired_replicas` without the argument objects (`decide` calls it once per
    pass)."""
    if behavior is None:
        stabilized = stabilize_legacy(recommendations, desired_replicas,
                                      config.downscale_stabilization_window_seconds, now)
        limited = limit_legacy(current_replicas, stabilized.replicas, min_replicas,
                               max_replicas, config.scale_up_limit_factor,
                               config.scale_up_limit_minimum)
        return Normalized(stabilized, limited)
    up = behavior.scale_up or _NO_RULES
    down = behavior.scale_down or _NO_RULES
    # An absent scaleDown window means the controller flag (upstream
    # maybeInitScaleDownStabilizationWindow), truncated to whole seconds like int32(d.Seconds()).
    down_window = (down.stabilization_window_seconds
                   if down.stabilization_window_seconds is not None
                   else int(config.downscale_stabilization_window_seconds))
    stabilized = stabilize_with_behaviors(recommendations, current_replicas, desired_replicas,
                                          up.stabilization_window_seconds or 0, down_window, now)
    limited = limit_with_behaviors(current_replicas, stabilized.replicas, min_replicas,
                                   max_replicas, up, down,
                                   Events(scale_up_events, scale_down_events), now)
    return Normalized(stabilized, limited)
