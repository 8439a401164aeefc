"""API defaulting of an autoscaling/v2 HPA spec, as the apiserver applies it on create.

Upstream is `pkg/apis/autoscaling/v2/defaults.go` (SetDefaults_HorizontalPodAutoscaler,
GenerateHPAScaleUpRules, GenerateHPAScaleDownRules). Defaulting runs *before* validation, so
callers do `validate_spec(set_defaults(spec))`; defaulting never rejects anything and is
idempotent: `set_defaults(set_defaults(s)) == set_defaults(s)`.

Two upstream details that are easy to get wrong:

* a null `behavior` stays null; only a present `behavior` (even `{}`) gets both directions
  filled in. The controller itself then falls back to the same rules for a null behavior;
* scale-down `stabilizationWindowSeconds` is *not* defaulted: it stays unset so the
  controller can use its `--horizontal-pod-autoscaler-downscale-stabilization` flag (300s).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from algorithms.spec import (
    RESOURCE,
    UTILIZATION,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricSpec,
    MetricTarget,
    ResourceMetricSource,
)

_T = TypeVar("_T")

# autoscaling.DefaultCPUUtilization
DEFAULT_CPU_UTILIZATION = 80
DEFAULT_MIN_REPLICAS = 1

MAX_POLICY_SELECT = "Max"
MIN_POLICY_SELECT = "Min"
DISABLED_POLICY_SELECT = "Disabled"
PODS_SCALING_POLICY = "Pods"
PERCENT_SCALING_POLICY = "Percent"

# "These constants repeat previous HPA behavior": scale up by at most max(4 pods, 100%)
# per 15s, with no stabilization.
DEFAULT_SCALE_UP_RULES = HPAScalingRules(
    stabilization_window_seconds=0,
    select_policy=MAX_POLICY_SELECT,
    policies=(
        HPAScalingPolicy(type=PODS_SCALING_POLICY, value=4, period_seconds=15),
        HPAScalingPolicy(type=PERCENT_SCALING_POLICY, value=100, period_seconds=15),
    ),
)

# Scale down may remove every pod per 15s; the window is left to the controller's flag.
DEFAULT_SCALE_DOWN_RULES = HPAScalingRules(
    stabilization_window_seconds=None,
    select_policy=MAX_POLICY_SELECT,
    policies=(HPAScalingPolicy(type=PERCENT_SCALING_POLICY, value=100, period_seconds=15),),
)

DEFAULT_METRIC = MetricSpec(
    type=RESOURCE,
    resource=ResourceMetricSource(
        name="cpu",
        target=MetricTarget(type=UTILIZATION, average_utilization=DEFAULT_CPU_UTILIZATION),
    ),
)


def set_defaults(spec: HorizontalPodAutoscalerSpec) -> HorizontalPodAutoscalerSpec:
    """SetDefaults_HorizontalPodAutoscaler on the spec: a new, fully defaulted spec."""
    min_replicas = DEFAULT_MIN_REPLICAS if spec.min_replicas is None else spec.min_replicas
    # `len(obj.Spec.Metrics) == 0` upstream: an explicit empty list is defaulted too.
    metrics = spec.metrics or (DEFAULT_METRIC,)
    behavior = None if spec.behavior is None else default_behavior(spec.behavior)
    return replace(spec, min_replicas=min_replicas, metrics=metrics, behavior=behavior)


def default_behavior(
    behavior: HorizontalPodAutoscalerBehavior | None,
) -> HorizontalPodAutoscalerBehavior:
    """SetDefaults_HorizontalPodAutoscalerBehavior for a present behavior: fill both directions.

    Passing None yields the fully defaulted behavior, which is what the controller assumes
    for an HPA without one.
    """
    if behavior is None:
        behavior = HorizontalPodAutoscalerBehavior()
    return HorizontalPodAutoscalerBehavior(
        scale_up=default_scale_up_rules(behavior.scale_up),
        scale_down=default_scale_down_rules(behavior.scale_down),
    )


def default_scale_up_rules(rules: HPAScalingRules | None) -> HPAScalingRules:
    """GenerateHPAScaleUpRules: every unset field of `rules` taken from the scale-up default."""
    return _fill(rules, DEFAULT_SCALE_UP_RULES)


def default_scale_down_rules(rules: HPAScalingRules | None) -> HPAScalingRules:
    """GenerateHPAScaleDownRules: like scale-up, but the window may stay None."""
    return _fill(rules, DEFAULT_SCALE_DOWN_RULES)


def _fill(given: HPAScalingRules | None, default: HPAScalingRules) -> HPAScalingRules:
    """copyHPAScalingRules: a field set in `given` wins, field by field.

    Presence is tested with `is not None`, as Go tests `!= nil`: an explicit empty policies
    list is kept (and later rejected by validation), not replaced by the defaults.
    """
    if given is None:
        return default
    return HPAScalingRules(
        stabilization_window_seconds=_pick(given.stabilization_window_seconds,
                                           default.stabilization_window_seconds),
        select_policy=_pick(given.select_policy, default.select_policy),
        policies=_pick(given.policies, default.policies),
        tolerance=_pick(given.tolerance, default.tolerance),
    )


def _pick(mine: _T | None, fallback: _T | None) -> _T | None:
    return fallback if mine is None else mine
