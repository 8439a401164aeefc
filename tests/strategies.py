"""Hypothesis strategies for HPA specs.

`valid_specs()` draws specs that `validate_spec` accepts as they are; `defaultable_specs()`
also leaves out fields that defaulting fills (policies, select policies, windows), so only
`set_defaults(spec)` is valid; `raw_specs()` draws arbitrary JSON-like input for the parser,
both junk and near-misses of real specs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from algorithms.quantity import Quantity, parse_quantity
from algorithms.spec import (
    AVERAGE_VALUE,
    UTILIZATION,
    VALUE,
    ContainerResourceMetricSource,
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
    HPAScalingPolicy,
    HPAScalingRules,
    LabelSelector,
    LabelSelectorRequirement,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMetricSource,
    PodsMetricSource,
    ResourceMetricSource,
)
from algorithms.spec_codec import spec_to_dict

# DNS-1123 labels are also valid path segments, metric names and container names.
labels = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,20}[a-z0-9])?", fullmatch=True)
kinds = st.sampled_from(["Deployment", "StatefulSet", "ReplicaSet", "LLMServe"])
api_versions = st.sampled_from(["apps/v1", "serving.example.com/v1beta1"])
container_resources = st.sampled_from(["cpu", "memory", "ephemeral-storage", "hugepages-2Mi",
                                       "nvidia.com/gpu"])


@st.composite
def positive_quantities(draw: st.DrawFn) -> Quantity:
    """A quantity whose parsed value is > 0, written the many ways users write them."""
    whole = draw(st.integers(min_value=1, max_value=10**6))
    fraction = draw(st.one_of(st.just(""), st.from_regex(r"\.[0-9]{1,3}", fullmatch=True)))
    suffix = draw(st.sampled_from(["", "m", "k", "M", "Ki", "Mi", "Gi", "u", "n", "e3", "E-2"]))
    return parse_quantity(f"{whole}{fraction}{suffix}")


tolerances = st.sampled_from(["0", "0.01", "0.1", "50m", "1"]).map(parse_quantity)


@st.composite
def references(draw: st.DrawFn, api_version: st.SearchStrategy[str] = api_versions
               ) -> CrossVersionObjectReference:
    return CrossVersionObjectReference(kind=draw(kinds), name=draw(labels),
                                       api_version=draw(api_version))


@st.composite
def selectors(draw: st.DrawFn) -> LabelSelector:
    # The codec keeps matchLabels sorted by key, as a Go map has no order.
    labels_map = draw(st.dictionaries(labels, labels, max_size=3))
    expressions = draw(st.lists(st.builds(
        LabelSelectorRequirement, key=labels,
        operator=st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]),
        values=st.lists(labels, max_size=2).map(tuple)), max_size=2))
    return LabelSelector(tuple(sorted(labels_map.items())), tuple(expressions))


identifiers = st.builds(MetricIdentifier, name=labels,
                        selector=st.one_of(st.none(), selectors()))


@st.composite
def utilization_or_average_value(draw: st.DrawFn) -> MetricTarget:
    """Resource and ContainerResource targets: exactly one of the two."""
    if draw(st.booleans()):
        return MetricTarget(type=UTILIZATION,
                            average_utilization=draw(st.integers(min_value=1, max_value=500)))
    return MetricTarget(type=AVERAGE_VALUE, average_value=draw(positive_quantities()))


@st.composite
def value_or_average_value(draw: st.DrawFn) -> MetricTarget:
    """Object and External targets: a value for the whole metric, or per pod."""
    if draw(st.booleans()):
        return MetricTarget(type=VALUE, value=draw(positive_quantities()))
    return MetricTarget(type=AVERAGE_VALUE, average_value=draw(positive_quantities()))


average_values = positive_quantities().map(
    lambda q: MetricTarget(type=AVERAGE_VALUE, average_value=q))

metric_specs = st.one_of(
    st.builds(MetricSpec, type=st.just("Resource"), resource=st.builds(
        ResourceMetricSource, name=container_resources, target=utilization_or_average_value())),
    st.builds(MetricSpec, type=st.just("ContainerResource"), container_resource=st.builds(
        ContainerResourceMetricSource, name=container_resources, container=labels,
        target=utilization_or_average_value())),
    st.builds(MetricSpec, type=st.just("Pods"), pods=st.builds(
        PodsMetricSource, metric=identifiers, target=average_values)),
    st.builds(MetricSpec, type=st.just("Object"), object=st.builds(
        ObjectMetricSource, described_object=references(st.sampled_from(["v1", "apps/v1"])),
        metric=identifiers, target=value_or_average_value())),
    st.builds(MetricSpec, type=st.just("External"), external=st.builds(
        ExternalMetricSource, metric=identifiers, target=value_or_average_value())),
)

policies = st.builds(HPAScalingPolicy, type=st.sampled_from(["Pods", "Percent"]),
                     value=st.integers(min_value=1, max_value=1000),
                     period_seconds=st.integers(min_value=1, max_value=1800))


def scaling_rules(require_policies: bool = True) -> st.SearchStrategy[HPAScalingRules]:
    """Valid rules; without `require_policies` the policies may be left to defaulting."""
    policy_lists = st.lists(policies, min_size=1, max_size=3).map(tuple)
    return st.builds(
        HPAScalingRules,
        stabilization_window_seconds=st.one_of(st.none(), st.integers(0, 3600)),
        select_policy=st.one_of(st.none(), st.sampled_from(["Max", "Min", "Disabled"])),
        policies=policy_lists if require_policies else st.one_of(st.none(), policy_lists),
        tolerance=st.one_of(st.none(), tolerances),
    )


def behaviors(require_policies: bool = True
              ) -> st.SearchStrategy[HorizontalPodAutoscalerBehavior]:
    rules = st.one_of(st.none(), scaling_rules(require_policies))
    return st.builds(HorizontalPodAutoscalerBehavior, scale_up=rules, scale_down=rules)


@st.composite
def _specs(draw: st.DrawFn, require_policies: bool) -> HorizontalPodAutoscalerSpec:
    max_replicas = draw(st.integers(min_value=1, max_value=1000))
    min_replicas = draw(st.one_of(st.none(), st.integers(min_value=1, max_value=max_replicas)))
    return HorizontalPodAutoscalerSpec(
        scale_target_ref=draw(references()),
        max_replicas=max_replicas,
        min_replicas=min_replicas,
        metrics=tuple(draw(st.lists(metric_specs, max_size=4))),
        behavior=draw(st.one_of(st.none(), behaviors(require_policies))),
    )


def valid_specs() -> st.SearchStrategy[HorizontalPodAutoscalerSpec]:
    """Specs `validate_spec` accepts as drawn (before or without defaulting)."""
    return _specs(require_policies=True)


def defaultable_specs() -> st.SearchStrategy[HorizontalPodAutoscalerSpec]:
    """Specs that are valid once `set_defaults` has filled what they leave out."""
    return _specs(require_policies=False)


# --------------------------------------------------------------------------- raw input

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**40), 2**40),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=8))
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars,
    lambda children: st.one_of(st.lists(children, max_size=3),
                               st.dictionaries(st.text(max_size=8), children, max_size=3)),
    max_leaves=10,
)


@st.composite
def mutated_spec_dicts(draw: st.DrawFn) -> Any:
    """A real spec's dict with one nested value replaced by junk, or one key dropped."""
    raw: Any = spec_to_dict(draw(valid_specs()))
    node = raw
    while True:
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            return raw
        key = draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, (dict, list)) or draw(st.booleans()):
            if isinstance(node, dict) and draw(st.booleans()):
                del node[key]
            else:
                node[key] = draw(json_values)
            return raw
        node = child


def raw_specs() -> st.SearchStrategy[Any]:
    """Anything a YAML file could hold where a spec is expected."""
    return st.one_of(json_values, mutated_spec_dicts(),
                     st.dictionaries(st.sampled_from(["scaleTargetRef", "maxReplicas",
                                                      "minReplicas", "metrics", "behavior"]),
                                     json_values))
