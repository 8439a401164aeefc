"""API defaulting: the cases of upstream's defaults_test.go, SetDefaults, and idempotency."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from strategies import defaultable_specs, scaling_rules, valid_specs

from algorithms.defaults import (
    DEFAULT_METRIC,
    DEFAULT_SCALE_DOWN_RULES,
    DEFAULT_SCALE_UP_RULES,
    default_behavior,
    default_scale_down_rules,
    default_scale_up_rules,
    set_defaults,
)
from algorithms.quantity import parse_quantity
from algorithms.spec import (
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
)
from algorithms.validation import validate_spec


def pods(value: int, period: int) -> HPAScalingPolicy:
    return HPAScalingPolicy(type="Pods", value=value, period_seconds=period)


def percent(value: int, period: int) -> HPAScalingPolicy:
    return HPAScalingPolicy(type="Percent", value=value, period_seconds=period)


def rules(window: int | None = None, select: str | None = None,
          policies: tuple[HPAScalingPolicy, ...] | None = None) -> HPAScalingRules:
    return HPAScalingRules(stabilization_window_seconds=window, select_policy=select,
                           policies=policies)


# TestGenerateScaleUpRules: (given, expected policies, window, select policy).
SCALE_UP = [
    pytest.param(rules(), (pods(4, 15), percent(100, 15)), 0, "Max", id="default-values"),
    pytest.param(rules(25, "Max", (pods(1, 2), percent(3, 4))), (pods(1, 2), percent(3, 4)),
                 25, "Max", id="all-parameters-are-specified"),
    pytest.param(rules(None, "Min", (pods(1, 2),)), (pods(1, 2),), 0, "Min",
                 id="pod-policy-is-specified"),
    pytest.param(rules(None, None, (percent(7, 10),)), (percent(7, 10),), 0, "Max",
                 id="percent-policy-is-specified"),
    pytest.param(rules(25, None, (pods(4, 2),)), (pods(4, 2),), 25, "Max",
                 id="pod-policy-and-stabilization-window-are-specified"),
    pytest.param(rules(25, None, (percent(7, 60),)), (percent(7, 60),), 25, "Max",
                 id="percent-policy-and-stabilization-window-are-specified"),
    pytest.param(None, (pods(4, 15), percent(100, 15)), 0, "Max", id="nil-rules"),
    pytest.param(rules(policies=()), (), 0, "Max", id="empty-policies-count-as-set"),
    pytest.param(rules(select="Disabled"), (pods(4, 15), percent(100, 15)), 0, "Disabled",
                 id="disabled-keeps-default-policies"),
]

# TestGenerateScaleDownRules.
SCALE_DOWN = [
    pytest.param(rules(), (percent(100, 15),), None, "Max", id="default-values"),
    pytest.param(rules(25, "Max", (pods(1, 2), percent(3, 4))), (pods(1, 2), percent(3, 4)),
                 25, "Max", id="all-parameters-are-specified"),
    pytest.param(rules(None, "Min", (percent(1, 2),)), (percent(1, 2),), None, "Min",
                 id="percent-policy-is-specified"),
    pytest.param(rules(None, None, (pods(3, 4),)), (pods(3, 4),), None, "Max",
                 id="pods-policy-is-specified"),
    pytest.param(None, (percent(100, 15),), None, "Max", id="nil-rules"),
    pytest.param(rules(window=0), (percent(100, 15),), 0, "Max", id="explicit-zero-window-kept"),
    pytest.param(rules(policies=()), (), None, "Max", id="empty-policies-count-as-set"),
]


@pytest.mark.parametrize(("given_rules", "policies", "window", "select"), SCALE_UP)
def test_generate_scale_up_rules(given_rules: HPAScalingRules | None,
                                 policies: tuple[HPAScalingPolicy, ...], window: int | None,
                                 select: str) -> None:
    out = default_scale_up_rules(given_rules)
    assert out == HPAScalingRules(stabilization_window_seconds=window, select_policy=select,
                                  policies=policies)


@pytest.mark.parametrize(("given_rules", "policies", "window", "select"), SCALE_DOWN)
def test_generate_scale_down_rules(given_rules: HPAScalingRules | None,
                                   policies: tuple[HPAScalingPolicy, ...], window: int | None,
                                   select: str) -> None:
    out = default_scale_down_rules(given_rules)
    assert out == HPAScalingRules(stabilization_window_seconds=window, select_policy=select,
                                  policies=policies)


def test_tolerance_is_kept_and_never_invented() -> None:
    tolerance = parse_quantity("0.05")
    assert default_scale_up_rules(HPAScalingRules(tolerance=tolerance)).tolerance == tolerance
    assert default_scale_down_rules(HPAScalingRules(tolerance=tolerance)).tolerance == tolerance
    assert default_scale_up_rules(None).tolerance is None
    assert default_scale_down_rules(None).tolerance is None


# --------------------------------------------------------------------------- SetDefaults

TARGET = CrossVersionObjectReference(kind="Deployment", name="llm", api_version="apps/v1")
QUEUE = MetricSpec(type="External", external=ExternalMetricSource(
    metric=MetricIdentifier(name="queue_depth"),
    target=MetricTarget(type="AverageValue", average_value=parse_quantity("30"))))


def hpa(min_replicas: int | None = None, metrics: tuple[MetricSpec, ...] = (),
        behavior: HorizontalPodAutoscalerBehavior | None = None) -> HorizontalPodAutoscalerSpec:
    return HorizontalPodAutoscalerSpec(scale_target_ref=TARGET, max_replicas=5,
                                       min_replicas=min_replicas, metrics=metrics,
                                       behavior=behavior)


SET_DEFAULTS = [
    pytest.param(hpa(), hpa(1, (DEFAULT_METRIC,)), id="empty-spec-gets-min-1-and-cpu-80"),
    pytest.param(hpa(3, (QUEUE,)), hpa(3, (QUEUE,)), id="set-fields-are-kept"),
    pytest.param(hpa(0, (QUEUE,)), hpa(0, (QUEUE,)), id="min-zero-is-not-replaced"),
    pytest.param(hpa(2), hpa(2, (DEFAULT_METRIC,)), id="no-metrics-gets-cpu-80"),
    pytest.param(hpa(1, (QUEUE,), None), hpa(1, (QUEUE,), None),
                 id="null-behavior-stays-null"),
    pytest.param(hpa(1, (QUEUE,), HorizontalPodAutoscalerBehavior()),
                 hpa(1, (QUEUE,), HorizontalPodAutoscalerBehavior(
                     DEFAULT_SCALE_UP_RULES, DEFAULT_SCALE_DOWN_RULES)),
                 id="empty-behavior-gets-both-directions"),
    pytest.param(hpa(1, (QUEUE,), HorizontalPodAutoscalerBehavior(scale_up=rules(window=60))),
                 hpa(1, (QUEUE,), HorizontalPodAutoscalerBehavior(
                     replace(DEFAULT_SCALE_UP_RULES, stabilization_window_seconds=60),
                     DEFAULT_SCALE_DOWN_RULES)),
                 id="scale-up-window-only"),
    pytest.param(hpa(1, (QUEUE,), HorizontalPodAutoscalerBehavior(
                     scale_down=rules(select="Disabled"))),
                 hpa(1, (QUEUE,), HorizontalPodAutoscalerBehavior(
                     DEFAULT_SCALE_UP_RULES,
                     replace(DEFAULT_SCALE_DOWN_RULES, select_policy="Disabled"))),
                 id="scale-down-disabled-only"),
]


@pytest.mark.parametrize(("spec", "expected"), SET_DEFAULTS)
def test_set_defaults(spec: HorizontalPodAutoscalerSpec,
                      expected: HorizontalPodAutoscalerSpec) -> None:
    assert set_defaults(spec) == expected


def test_default_metric_is_cpu_utilization_80() -> None:
    assert DEFAULT_METRIC.type == "Resource"
    assert DEFAULT_METRIC.resource is not None
    assert DEFAULT_METRIC.resource.name == "cpu"
    assert DEFAULT_METRIC.resource.target == MetricTarget(type="Utilization",
                                                          average_utilization=80)


def test_default_behavior_of_nothing_is_the_controllers_fallback() -> None:
    assert default_behavior(None) == HorizontalPodAutoscalerBehavior(
        DEFAULT_SCALE_UP_RULES, DEFAULT_SCALE_DOWN_RULES)


# --------------------------------------------------------------------------- properties


@given(defaultable_specs())
def test_set_defaults_is_idempotent(spec: HorizontalPodAutoscalerSpec) -> None:
    once = set_defaults(spec)
    assert set_defaults(once) == once


@given(defaultable_specs())
def test_defaulted_specs_are_complete_and_valid(spec: HorizontalPodAutoscalerSpec) -> None:
    out = set_defaults(spec)
    assert out.min_replicas is not None
    assert out.metrics
    assert validate_spec(out) == []
    if out.behavior is None:
        assert spec.behavior is None
        return
    for direction in (out.behavior.scale_up, out.behavior.scale_down):
        assert direction is not None
        assert direction.select_policy is not None
        assert direction.policies
    assert out.behavior.scale_up is not None
    assert out.behavior.scale_up.stabilization_window_seconds is not None


@given(valid_specs())
def test_defaulting_keeps_every_field_the_user_set(spec: HorizontalPodAutoscalerSpec) -> None:
    out = set_defaults(spec)
    assert out.scale_target_ref == spec.scale_target_ref
    assert out.max_replicas == spec.max_replicas
    if spec.min_replicas is not None:
        assert out.min_replicas == spec.min_replicas
    if spec.metrics:
        assert out.metrics == spec.metrics


@given(scaling_rules(require_policies=False))
def test_generated_rules_fill_only_unset_fields(given_rules: HPAScalingRules) -> None:
    for generate in (default_scale_up_rules, default_scale_down_rules):
        out = generate(given_rules)
        for name in ("stabilization_window_seconds", "select_policy", "policies", "tolerance"):
            if getattr(given_rules, name) is not None:
                assert getattr(out, name) == getattr(given_rules, name)
        assert generate(out) == out
