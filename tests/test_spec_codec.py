"""parse_spec / spec_to_dict: round trips, and type errors that name their field paths."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given
from strategies import defaultable_specs, raw_specs, valid_specs

from algorithms.errors import SpecError
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.spec_codec import parse_spec, spec_to_dict

SEED: dict[str, Any] = {
    "maxReplicas": 10,
    "minReplicas": 1,
    "metrics": [{"type": "Resource",
                 "resource": {"name": "cpu",
                              "target": {"type": "Utilization", "averageUtilization": 50}}}],
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                       "name": "wasmedge-qwen-2-0-5b-allminilm-2"},
}

PODS_METRIC: dict[str, Any] = {
    "type": "Pods",
    "pods": {"metric": {"name": "tokens_per_second",
                        "selector": {"matchLabels": {"app": "llm"}}},
             "target": {"type": "AverageValue", "averageValue": "100m"}},
}

BEHAVIOR: dict[str, Any] = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}]},
    "scaleDown": {"policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
                  "tolerance": "0.05"},
}


def with_changes(*changes: tuple[tuple[str | int, ...], Any]) -> dict[str, Any]:
    """The seed plus a pods metric and a behavior, with `(path, value)` edits applied.

    A value of `DELETE` removes the key instead.
    """
    raw = copy.deepcopy(SEED)
    raw["metrics"].append(copy.deepcopy(PODS_METRIC))
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


DELETE = object()


def parse_errors(raw: object) -> list[tuple[str, str, str]]:
    with pytest.raises(SpecError) as info:
        parse_spec(raw)
    return [(e.path, e.kind, e.message) for e in info.value.errors]


# --------------------------------------------------------------------------- round trips


def test_the_seed_spec_parses_to_what_it_says() -> None:
    spec = parse_spec(SEED)
    assert spec.max_replicas == 10
    assert spec.min_replicas == 1
    assert spec.scale_target_ref.api_version == "apps/v1"
    assert spec.scale_target_ref.name == "wasmedge-qwen-2-0-5b-allminilm-2"
    resource = spec.metrics[0].resource
    assert resource is not None
    assert resource.name == "cpu"
    assert resource.target.average_utilization == 50
    assert spec.behavior is None


def test_a_full_spec_serializes_back_to_its_input() -> None:
    raw = with_changes()
    assert spec_to_dict(parse_spec(raw)) == raw


@given(valid_specs())
def test_serialize_then_parse_is_identity_for_valid_specs(
        spec: HorizontalPodAutoscalerSpec) -> None:
    assert parse_spec(spec_to_dict(spec)) == spec


@given(defaultable_specs())
def test_serialize_then_parse_keeps_absent_fields_absent(
        spec: HorizontalPodAutoscalerSpec) -> None:
    assert parse_spec(spec_to_dict(spec)) == spec


@given(raw_specs())
def test_any_input_parses_or_fails_with_field_errors_only(raw: Any) -> None:
    try:
        spec = parse_spec(raw)
    except SpecError as error:
        assert error.errors
        assert all(e.path.startswith("spec") for e in error.errors)
        return
    # Whatever parses, parses to the same spec again after a round trip.
    assert parse_spec(spec_to_dict(spec)) == spec


# --------------------------------------------------------------------------- type errors

MALFORMED = [
    pytest.param("not a mapping", "spec", "must be an object", id="spec-not-an-object"),
    pytest.param(with_changes((("maxReplicas",), DELETE)), "spec.maxReplicas", "must be set",
                 id="missing-maxReplicas"),
    pytest.param(with_changes((("maxReplicas",), "10")), "spec.maxReplicas",
                 "must be an integer", id="maxReplicas-string"),
    pytest.param(with_changes((("minReplicas",), True)), "spec.minReplicas",
                 "must be an integer", id="minReplicas-bool"),
    pytest.param(with_changes((("minReplicas",), 1.5)), "spec.minReplicas",
                 "must be an integer", id="minReplicas-float"),
    pytest.param(with_changes((("maxReplicas",), 2**31)), "spec.maxReplicas",
                 "must fit in int32", id="maxReplicas-overflows-int32"),
    pytest.param(with_changes((("scaleTargetRef",), DELETE)), "spec.scaleTargetRef",
                 "must be set", id="missing-scaleTargetRef"),
    pytest.param(with_changes((("scaleTargetRef", "name"), DELETE)), "spec.scaleTargetRef.name",
                 "must be set", id="missing-scaleTargetRef-name"),
    pytest.param(with_changes((("scaleTargetRef", "kind"), 7)), "spec.scaleTargetRef.kind",
                 "must be a string", id="kind-not-a-string"),
    pytest.param(with_changes((("replicas",), 3)), "spec.replicas", "unknown field",
                 id="unknown-top-level-field"),
    pytest.param(with_changes((("metrics", 0, "resource", "targt"), {})),
                 "spec.metrics[0].resource.targt", "unknown field", id="unknown-nested-field"),
    pytest.param(with_changes((("metrics",), {"type": "Resource"})), "spec.metrics",
                 "must be a list", id="metrics-not-a-list"),
    pytest.param(with_changes((("metrics", 1), "Pods")), "spec.metrics[1]",
                 "must be an object", id="metric-not-an-object"),
    pytest.param(with_changes((("metrics", 0, "type"), DELETE)), "spec.metrics[0].type",
                 "must be set", id="missing-metric-type"),
    pytest.param(with_changes((("metrics", 0, "resource", "target"), DELETE)),
                 "spec.metrics[0].resource.target", "must be set", id="missing-target"),
    pytest.param(with_changes((("metrics", 1, "pods", "target", "averageValue"), "ten")),
                 "spec.metrics[1].pods.target.averageValue", "quantities must match",
                 id="bad-quantity"),
    pytest.param(with_changes((("metrics", 1, "pods", "target", "averageValue"), "1Qi")),
                 "spec.metrics[1].pods.target.averageValue", "quantities must match",
                 id="bad-quantity-suffix"),
    pytest.param(with_changes((("metrics", 1, "pods", "target", "averageValue"), [1])),
                 "spec.metrics[1].pods.target.averageValue", "must be a quantity string",
                 id="quantity-not-a-scalar"),
    pytest.param(with_changes((("metrics", 1, "pods", "metric", "selector", "matchLabels",
                                "app"), 3)),
                 "spec.metrics[1].pods.metric.selector.matchLabels.app", "must be a string",
                 id="label-value-not-a-string"),
    pytest.param(with_changes((("metrics", 1, "pods", "metric", "selector", "matchLabels"),
                               "app=llm")),
                 "spec.metrics[1].pods.metric.selector.matchLabels", "must be an object",
                 id="matchLabels-not-an-object"),
    pytest.param(with_changes((("metrics", 1, "pods", "metric", "selector", "matchLabels"),
                               "")),
                 "spec.metrics[1].pods.metric.selector.matchLabels", "must be an object",
                 id="matchLabels-empty-string"),
    pytest.param(with_changes((("metrics", 1, "pods", "metric", "selector", "matchLabels"),
                               [])),
                 "spec.metrics[1].pods.metric.selector.matchLabels", "must be an object",
                 id="matchLabels-empty-list"),
    pytest.param(with_changes((("behavior", "scaleUp", "policies", 0, "periodSeconds"), "15s")),
                 "spec.behavior.scaleUp.policies[0].periodSeconds", "must be an integer",
                 id="periodSeconds-string"),
    pytest.param(with_changes((("behavior", "scaleUp", "policies", 0, "value"), DELETE)),
                 "spec.behavior.scaleUp.policies[0].value", "must be set",
                 id="missing-policy-value"),
    pytest.param(with_changes((("behavior", "scaleDown", "tolerance"), "5%")),
                 "spec.behavior.scaleDown.tolerance", "quantities must match",
                 id="bad-tolerance"),
    pytest.param(with_changes((("behavior", "scaleDown", "selectPolicy"), ["Max"])),
                 "spec.behavior.scaleDown.selectPolicy", "must be a string",
                 id="selectPolicy-not-a-string"),
    pytest.param(with_changes((("behavior",), "fast")), "spec.behavior", "must be an object",
                 id="behavior-not-an-object"),
]


@pytest.mark.parametrize(("raw", "path", "message"), MALFORMED)
def test_a_malformed_spec_is_rejected_naming_the_field(raw: object, path: str,
                                                       message: str) -> None:
    errors = parse_errors(raw)
    assert any(p == path and message in m for p, _, m in errors), errors


def test_every_type_error_is_reported_not_just_the_first() -> None:
    raw = with_changes((("maxReplicas",), "ten"),
                       (("metrics", 1, "pods", "target", "averageValue"), "lots"),
                       (("behavior", "scaleUp", "policies", 0, "periodSeconds"), None),
                       (("scaleTargetRef", "colour"), "blue"))
    paths = [p for p, _, _ in parse_errors(raw)]
    assert paths == ["spec.scaleTargetRef.colour", "spec.maxReplicas",
                     "spec.metrics[1].pods.target.averageValue",
                     "spec.behavior.scaleUp.policies[0].periodSeconds"]


def test_errors_carry_the_apimachinery_error_type() -> None:
    kinds = {p: k for p, k, _ in parse_errors(with_changes(
        (("maxReplicas",), DELETE), (("maxReplicaz",), 3), (("minReplicas",), "1")))}
    assert kinds == {"spec.maxReplicas": "Required value",
                     "spec.maxReplicaz": "Unsupported value",
                     "spec.minReplicas": "Invalid value"}
