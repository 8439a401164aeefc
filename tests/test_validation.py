"""Spec validation: upstream's paths, error types and messages, every error at once."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from strategies import raw_specs, valid_specs

from algorithms.errors import SpecError
from algorithms.spec import HorizontalPodAutoscalerSpec, HPAScalingPolicy
from algorithms.spec_codec import parse_spec
from algorithms.validation import (
    ValidationOptions,
    check_spec,
    options_for_create,
    validate_spec,
)

SEED: dict[str, Any] = {
    "maxReplicas": 10,
    "minReplicas": 1,
    "metrics": [{"type": "Resource",
                 "resource": {"name": "cpu",
                              "target": {"type": "Utilization", "averageUtilization": 50}}}],
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                       "name": "wasmedge-qwen-2-0-5b-allminilm-2"},
}

# One metric of each source type, after the seed's cpu metric at index 0.
EXTRA_METRICS: list[dict[str, Any]] = [
    {"type": "External",
     "external": {"metric": {"name": "queue_depth"},
                  "target": {"type": "AverageValue", "averageValue": "30"}}},
    {"type": "Pods",
     "pods": {"metric": {"name": "tokens_per_second"},
              "target": {"type": "AverageValue", "averageValue": "100m"}}},
    {"type": "Object",
     "object": {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": "gateway"},
                "metric": {"name": "requests_per_second"},
                "target": {"type": "Value", "value": "2k"}}},
    {"type": "ContainerResource",
     "containerResource": {"name": "memory", "container": "llama-server",
                           "target": {"type": "AverageValue", "averageValue": "8Gi"}}},
]

BEHAVIOR: dict[str, Any] = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]},
    "scaleDown": {"stabilizationWindowSeconds": 300,
                  "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                  "tolerance": "0.05"},
}

DELETE = object()


def full_spec(*changes: tuple[tuple[str | int, ...], Any]) -> dict[str, Any]:
    """The seed with every metric source and a behavior, with `(path, value)` edits."""
    raw = copy.deepcopy(SEED)
    raw["metrics"] += copy.deepcopy(EXTRA_METRICS)
    raw["behavior"] = copy.deepcopy(BEHAVIOR)
    for path, value in changes:
        node: Any = raw
        for key in path[:-1]:
            node = node[key]
        if value is DELETE:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return raw


def errors_of(raw: dict[str, Any], options: ValidationOptions | None = None
              ) -> list[tuple[str, str, str]]:
    return [(e.path, e.kind, e.message) for e in validate_spec(parse_spec(raw), options=options)]


# --------------------------------------------------------------------------- valid specs

VALID = [
    pytest.param(SEED, id="seed"),
    pytest.param(full_spec(), id="every-metric-source-and-a-behavior"),
    pytest.param({**SEED, "metrics": []}, id="no-metrics"),
    pytest.param({k: v for k, v in SEED.items() if k != "minReplicas"}, id="no-minReplicas"),
    pytest.param({**SEED, "minReplicas": 10}, id="min-equals-max"),
    pytest.param({**SEED, "scaleTargetRef": {"apiVersion": "v1", "kind": "ReplicationController",
                                             "name": "rc"}},
                 id="replication-controller-may-use-core-group"),
    pytest.param(full_spec((("behavior", "scaleUp", "selectPolicy"), "Disabled")),
                 id="disabled-select-policy"),
    pytest.param(full_spec((("behavior", "scaleDown", "stabilizationWindowSeconds"), 3600),
                           (("behavior", "scaleUp", "policies", 0, "periodSeconds"), 1800),
                           (("behavior", "scaleDown", "tolerance"), "0")),
                 id="upper-bounds-and-zero-tolerance"),
    pytest.param(full_spec((("metrics", 3, "object", "target"),
                            {"type": "AverageValue", "averageValue": "10"})),
                 id="object-average-value"),
    pytest.param(full_spec((("metrics", 4, "containerResource", "name"), "nvidia.com/gpu")),
                 id="extended-container-resource"),
    pytest.param(full_spec((("metrics", 0, "resource", "target"),
                            {"type": "Utilization", "averageValue": "500m"})),
                 id="upstream-does-not-match-target-type-to-field"),
]


@pytest.mark.parametrize("raw", VALID)
def test_valid_specs_have_no_errors(raw: dict[str, Any]) -> None:
    assert errors_of(raw) == []
    check_spec(parse_spec(raw))


# --------------------------------------------------------------------------- invalid specs

R, RQ, F, NS = "Invalid value", "Required value", "Forbidden", "Unsupported value"
TARGET_REF = "spec.scaleTargetRef"
CPU, EXT, PODS, OBJ, CRES = (f"spec.metrics[{i}]" for i in range(5))
UP, DOWN = "spec.behavior.scaleUp", "spec.behavior.scaleDown"
LABEL_MSG = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters"

INVALID = [
    pytest.param((("minReplicas",), -3), "spec.minReplicas", R,
                 "must be greater than or equal to 0", id="minReplicas-negative"),
    pytest.param((("maxReplicas",), 0), "spec.maxReplicas", R, "must be greater than 0",
                 id="maxReplicas-0"),
    pytest.param((("minReplicas",), 11), "spec.maxReplicas", R,
                 "must be greater than or equal to `minReplicas`", id="max-below-min"),
    pytest.param(((("scaleTargetRef", "kind"), "")), f"{TARGET_REF}.kind", RQ, "",
                 id="kind-empty"),
    pytest.param((("scaleTargetRef", "name"), ""), f"{TARGET_REF}.name", RQ, "",
                 id="name-empty"),
    pytest.param((("scaleTargetRef", "name"), "llm/v2"), f"{TARGET_REF}.name", R,
                 "may not contain '/'", id="name-with-slash"),
    pytest.param((("scaleTargetRef", "name"), "50%"), f"{TARGET_REF}.name", R,
                 "may not contain '%'", id="name-with-percent"),
    pytest.param((("scaleTargetRef", "kind"), ".."), f"{TARGET_REF}.kind", R,
                 "may not be '..'", id="kind-dot-dot"),
    pytest.param((("scaleTargetRef", "apiVersion"), DELETE), f"{TARGET_REF}.apiVersion", R,
                 "apiVersion must specify API group", id="apiVersion-missing"),
    pytest.param((("scaleTargetRef", "apiVersion"), "v1"), f"{TARGET_REF}.apiVersion", R,
                 "apiVersion must specify API group", id="apiVersion-core-group"),
    pytest.param((("scaleTargetRef", "apiVersion"), "apps/v1/beta"), f"{TARGET_REF}.apiVersion",
                 R, "unexpected GroupVersion string: apps/v1/beta", id="apiVersion-two-slashes"),
    pytest.param((("metrics", 0, "type"), "Memory"), f"{CPU}.type", NS,
                 'supported values: "ContainerResource", "External", "Object", "Pods", '
                 '"Resource"', id="metric-type-unknown"),
    pytest.param((("metrics", 0, "type"), ""), f"{CPU}.type", RQ,
                 "must specify a metric source type", id="metric-type-empty"),
    pytest.param((("metrics", 0, "type"), "Pods"), f"{CPU}.pods", RQ,
                 "must populate information for the given metric source",
                 id="metric-type-without-its-source"),
    pytest.param((("metrics", 0, "pods"), EXTRA_METRICS[1]["pods"]), f"{CPU}.pods", F,
                 "must populate the given metric source only", id="two-metric-sources"),
    pytest.param((("metrics", 0, "resource", "name"), ""), f"{CPU}.resource.name", RQ,
                 "must specify a resource name", id="resource-name-empty"),
    pytest.param((("metrics", 0, "resource", "target", "type"), "Percent"),
                 f"{CPU}.resource.target.type", R,
                 "must be either Utilization, Value, or AverageValue", id="target-type-unknown"),
    pytest.param((("metrics", 0, "resource", "target", "type"), ""),
                 f"{CPU}.resource.target.type", RQ, "must specify a metric target type",
                 id="target-type-empty"),
    pytest.param((("metrics", 0, "resource", "target", "averageUtilization"), 0),
                 f"{CPU}.resource.target.averageUtilization", R, "must be greater than 0",
                 id="utilization-0"),
    pytest.param((("metrics", 0, "resource", "target", "averageUtilization"), DELETE),
                 f"{CPU}.resource.target.averageUtilization", RQ,
                 "must set either a target raw value or a target utilization",
                 id="resource-target-without-a-number"),
    pytest.param((("metrics", 0, "resource", "target", "averageValue"), "500m"),
                 f"{CPU}.resource.target.averageValue", F,
                 "may not set both a target raw value and a target utilization",
                 id="resource-utilization-and-value"),
    pytest.param((("metrics", 1, "external", "target", "averageValue"), "0"),
                 f"{EXT}.external.target.averageValue", R, "must be positive",
                 id="average-value-zero"),
    pytest.param((("metrics", 1, "external", "target", "averageValue"), "-5"),
                 f"{EXT}.external.target.averageValue", R, "must be positive",
                 id="average-value-negative"),
    pytest.param((("metrics", 1, "external", "target", "value"), "10"),
                 f"{EXT}.external.target.value", F,
                 "may not set both a target value for metric and a per-pod target",
                 id="external-value-and-average-value"),
    pytest.param((("metrics", 1, "external", "target", "averageValue"), DELETE),
                 f"{EXT}.external.target.averageValue", RQ,
                 "must set either a target value for metric or a per-pod target",
                 id="external-target-without-a-number"),
    pytest.param((("metrics", 1, "external", "metric", "name"), ""),
                 f"{EXT}.external.metric.name", RQ, "must specify a metric name",
                 id="metric-name-empty"),
    pytest.param((("metrics", 1, "external", "metric", "name"), "queue/depth"),
                 f"{EXT}.external.metric.name", R, "may not contain '/'",
                 id="metric-name-with-slash"),
    pytest.param((("metrics", 2, "pods", "target"), {"type": "Value", "value": "5"}),
                 f"{PODS}.pods.target.averageValue", RQ,
                 "must specify a positive target averageValue", id="pods-target-value"),
    pytest.param((("metrics", 3, "object", "describedObject", "name"), ""),
                 f"{OBJ}.object.describedObject.name", RQ, "", id="described-object-name"),
    pytest.param((("metrics", 3, "object", "describedObject", "apiVersion"), "a/b/c"),
                 f"{OBJ}.object.describedObject.apiVersion", R,
                 "unexpected GroupVersion string: a/b/c", id="described-object-apiVersion"),
    pytest.param((("metrics", 3, "object", "target"), {"type": "Value"}),
                 f"{OBJ}.object.target.averageValue", RQ,
                 "must set either a target value or averageValue",
                 id="object-target-without-a-number"),
    pytest.param((("metrics", 3, "object", "target", "value"), "0"),
                 f"{OBJ}.object.target.value", R, "must be positive", id="object-value-zero"),
    pytest.param((("metrics", 4, "containerResource", "container"), ""),
                 f"{CRES}.containerResource.container", RQ, "must specify a container",
                 id="container-empty"),
    pytest.param((("metrics", 4, "containerResource", "container"), "Llama_Server"),
                 f"{CRES}.containerResource.container", R, LABEL_MSG, id="container-not-a-label"),
    pytest.param((("metrics", 4, "containerResource", "container"), "llama.server"),
                 f"{CRES}.containerResource.container", R, "must not contain dots",
                 id="container-with-dots"),
    pytest.param((("metrics", 4, "containerResource", "container"), "a" * 64),
                 f"{CRES}.containerResource.container", R, "must be no more than 63 characters",
                 id="container-too-long"),
    pytest.param((("metrics", 4, "containerResource", "name"), "pods"),
                 f"{CRES}.containerResource.name", R, "must be a standard resource for containers",
                 id="container-resource-not-for-containers"),
    pytest.param((("metrics", 4, "containerResource", "name"), "vendor/gpu_"),
                 f"{CRES}.containerResource.name", R,
                 "doesn't follow extended resource name standard",
                 id="container-resource-bad-extended-name"),
    pytest.param((("metrics", 4, "containerResource", "name"), ""),
                 f"{CRES}.containerResource.name", RQ, "must specify a resource name",
                 id="container-resource-name-empty"),
    pytest.param((("behavior", "scaleUp", "stabilizationWindowSeconds"), 3601),
                 f"{UP}.stabilizationWindowSeconds", R, "must be less than or equal to 3600",
                 id="window-too-long"),
    pytest.param((("behavior", "scaleDown", "stabilizationWindowSeconds"), -1),
                 f"{DOWN}.stabilizationWindowSeconds", R,
                 "must be greater than or equal to zero", id="window-negative"),
    pytest.param((("behavior", "scaleUp", "selectPolicy"), "Maximum"), f"{UP}.selectPolicy",
                 NS, 'supported values: "Disabled", "Max", "Min"', id="select-policy-unknown"),
    pytest.param((("behavior", "scaleUp", "policies"), []), f"{UP}.policies", RQ,
                 "must specify at least one Policy", id="policies-empty"),
    pytest.param((("behavior", "scaleDown", "policies"), DELETE), f"{DOWN}.policies", RQ,
                 "must specify at least one Policy", id="policies-absent-before-defaulting"),
    pytest.param((("behavior", "scaleUp", "policies", 0, "type"), "Replicas"),
                 f"{UP}.policies[0].type", NS, 'supported values: "Percent", "Pods"',
                 id="policy-type-unknown"),
    pytest.param((("behavior", "scaleUp", "policies", 0, "value"), 0), f"{UP}.policies[0].value",
                 R, "must be greater than zero", id="policy-value-0"),
    pytest.param((("behavior", "scaleUp", "policies", 0, "periodSeconds"), 0),
                 f"{UP}.policies[0].periodSeconds", R, "must be greater than zero",
                 id="period-0"),
    pytest.param((("behavior", "scaleUp", "policies", 0, "periodSeconds"), 1801),
                 f"{UP}.policies[0].periodSeconds", R, "must be less than or equal to 1800",
                 id="period-too-long"),
    pytest.param((("behavior", "scaleDown", "tolerance"), "-0.1"), f"{DOWN}.tolerance", R,
                 "must be greater than or equal to 0", id="tolerance-negative"),
]


@pytest.mark.parametrize(("change", "path", "kind", "message"), INVALID)
def test_each_invalid_field_is_reported_at_its_path(
        change: tuple[tuple[str | int, ...], Any], path: str, kind: str, message: str) -> None:
    errors = errors_of(full_spec(change))
    assert any(p == path and k == kind and message in m for p, k, m in errors), errors
    # Nothing else is blamed: every error is about the changed field or one it implies.
    assert all(p == path or p.startswith(path.rsplit(".", 1)[0]) for p, _, _ in errors), errors


def test_the_upstream_message_format() -> None:
    [error] = validate_spec(parse_spec(full_spec(
        (("behavior", "scaleUp", "policies", 0, "periodSeconds"), 1801))))
    assert str(error) == ("spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: "
                          "1801: must be less than or equal to 1800")


def test_every_error_is_collected() -> None:
    raw = full_spec((("maxReplicas",), 0),
                    (("metrics", 0, "resource", "target", "averageUtilization"), -5),
                    (("behavior", "scaleUp", "policies", 0, "periodSeconds"), 1801))
    assert errors_of(raw) == [
        ("spec.maxReplicas", R, "must be greater than 0"),
        ("spec.maxReplicas", R, "must be greater than or equal to `minReplicas`"),
        (f"{CPU}.resource.target.averageUtilization", R, "must be greater than 0"),
        (f"{UP}.policies[0].periodSeconds", R, "must be less than or equal to 1800"),
    ]


def test_three_problems_are_three_errors() -> None:
    raw = full_spec((("scaleTargetRef", "name"), ""),
                    (("metrics", 2, "pods", "metric", "name"), "a/b"),
                    (("behavior", "scaleDown", "selectPolicy"), "Sometimes"))
    assert [p for p, _, _ in errors_of(raw)] == [
        f"{TARGET_REF}.name", f"{PODS}.pods.metric.name", f"{DOWN}.selectPolicy"]


def test_check_spec_raises_with_every_error() -> None:
    spec = parse_spec(full_spec((("maxReplicas",), 0), (("minReplicas",), -1)))
    with pytest.raises(SpecError) as info:
        check_spec(spec)
    assert [e.path for e in info.value.errors] == ["spec.minReplicas", "spec.maxReplicas"]


def test_a_custom_root_path_prefixes_every_error() -> None:
    errors = validate_spec(parse_spec(full_spec((("behavior", "scaleUp", "policies"), []))),
                           path="hpa.spec")
    assert [e.path for e in errors] == ["hpa.spec.behavior.scaleUp.policies"]


# --------------------------------------------------------------------------- upstream quirks


def test_an_unknown_metric_type_is_reported_twice_like_upstream() -> None:
    errors = errors_of(full_spec((("metrics", 0, "type"), "")))
    assert [(p, k) for p, k, _ in errors] == [
        (f"{CPU}.type", RQ), (f"{CPU}.type", NS), (f"{CPU}.type", NS)]


def test_only_the_first_populated_source_is_validated() -> None:
    # Upstream checks sources in the order object, external, pods, resource,
    # containerResource and validates only the first one present.
    bad_object = {"describedObject": {"apiVersion": "v1", "kind": "Service", "name": ""},
                  "metric": {"name": "rps"}, "target": {"type": "Value", "value": "1"}}
    errors = errors_of(full_spec((("metrics", 0, "object"), bad_object),
                                 (("metrics", 0, "resource", "target", "averageUtilization"), 0)))
    assert errors == [(f"{CPU}.object.describedObject.name", RQ, ""),
                      (f"{CPU}.object", F, "must populate the given metric source only")]


# --------------------------------------------------------------------------- scale to zero

ONLY_CPU = {**SEED, "minReplicas": 0}


def test_scale_to_zero_needs_the_feature_gate() -> None:
    spec = parse_spec(full_spec((("minReplicas",), 0)))
    errors = validate_spec(spec, options=options_for_create(spec, scale_to_zero=False))
    assert [(e.path, e.kind, e.message) for e in errors] == [
        ("spec.minReplicas", R, "must be greater than or equal to 1")]


def test_scale_to_zero_gate_is_on_by_default() -> None:
    assert errors_of(full_spec((("minReplicas",), 0))) == []


def test_scale_to_zero_with_an_external_metric_is_valid_when_gated_on() -> None:
    spec = parse_spec(full_spec((("minReplicas",), 0)))
    assert validate_spec(spec, options=options_for_create(spec, scale_to_zero=True)) == []


def test_scale_to_zero_needs_an_object_or_external_metric() -> None:
    spec = parse_spec(ONLY_CPU)
    errors = validate_spec(spec, options=options_for_create(spec, scale_to_zero=True))
    assert [(e.path, e.kind, e.message) for e in errors] == [
        ("spec.metrics", F, "must specify at least one Object or External metric to support "
                            "scaling to zero replicas")]


def test_without_the_gate_zero_reports_both_problems() -> None:
    options = options_for_create(parse_spec(ONLY_CPU), scale_to_zero=False)
    assert [p for p, _, _ in errors_of(ONLY_CPU, options)] == ["spec.minReplicas",
                                                               "spec.metrics"]


# --------------------------------------------------------------------------- properties


@given(valid_specs())
def test_every_generated_valid_spec_validates_clean(spec: HorizontalPodAutoscalerSpec) -> None:
    assert validate_spec(spec) == []


@given(raw_specs())
def test_validation_never_crashes_on_anything_that_parses(raw: Any) -> None:
    try:
        spec = parse_spec(raw)
    except SpecError:
        return
    assert all(e.path.startswith("spec") for e in validate_spec(spec))


@given(valid_specs(), st.data())
def test_a_policy_period_past_1800_is_caught_wherever_it_is(
        spec: HorizontalPodAutoscalerSpec, data: st.DataObject) -> None:
    behavior = spec.behavior
    directions = [] if behavior is None else [
        (name, rules) for name, rules in (("scaleUp", behavior.scale_up),
                                          ("scaleDown", behavior.scale_down))
        if rules is not None and rules.policies]
    if not directions or behavior is None:
        return
    name, rules = data.draw(st.sampled_from(directions))
    assert rules.policies is not None
    index = data.draw(st.integers(0, len(rules.policies) - 1))
    period = data.draw(st.integers(1801, 2**31 - 1))
    policies = list(rules.policies)
    policies[index] = HPAScalingPolicy(policies[index].type, policies[index].value, period)
    broken_rules = replace(rules, policies=tuple(policies))
    field = "scale_up" if name == "scaleUp" else "scale_down"
    broken = replace(spec, behavior=replace(behavior, **{field: broken_rules}))
    errors = validate_spec(broken)
    assert [(e.path, e.value) for e in errors] == [
        (f"spec.behavior.{name}.policies[{index}].periodSeconds", period)]
