"""Parse the API's JSON/YAML shape of an autoscaling/v2 HPA spec, and serialize it back.

Type errors are collected with their field paths (`spec.metrics[1].resource.target.type:
Required value: must be set`) so a user sees every problem of a file at once.
`parse_spec(spec_to_dict(s)) == s` for every spec.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.errors import FieldError, SpecError
from algorithms.quantity import Quantity, QuantityError, parse_quantity
from algorithms.spec import (
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

# --------------------------------------------------------------------------- parsing


class _Reader:
    """Collects type errors with their field paths instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def obj(self, raw: object, path: str, known: tuple[str, ...]) -> Mapping[str, Any] | None:
        if not isinstance(raw, Mapping):
            self.errors.append(FieldError(path, raw, "must be an object", "Invalid value"))
            return None
        for key in raw:
            if key not in known:
                self.errors.append(FieldError(f"{path}.{key}", raw[key], "unknown field",
                                              "Unsupported value"))
        return raw

    def string(self, raw: Mapping[str, Any], key: str, path: str, required: bool = True
               ) -> str | None:
        value = raw.get(key)
        if value is None:
            if required:
                self.errors.append(FieldError(f"{path}.{key}", None, "must be set",
                                              "Required value"))
            return None
        if not isinstance(value, str):
            self.errors.append(FieldError(f"{path}.{key}", value, "must be a string"))
            return None
        return value

    def integer(self, raw: Mapping[str, Any], key: str, path: str, required: bool = False
                ) -> int | None:
        value = raw.get(key)
        if value is None:
            if required:
                self.errors.append(FieldError(f"{path}.{key}", None, "must be set",
                                              "Required value"))
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.errors.append(FieldError(f"{path}.{key}", value, "must be an integer"))
            return None
        if not -(2**31) <= value < 2**31:
            self.errors.append(FieldError(f"{path}.{key}", value, "must fit in int32"))
            return None
        return value

    def quantity(self, raw: Mapping[str, Any], key: str, path: str) -> Quantity | None:
        value = raw.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            self.errors.append(FieldError(f"{path}.{key}", value, "must be a quantity string"))
            return None
        try:
            return parse_quantity(value if isinstance(value, str) else repr(value))
        except QuantityError as exc:
            self.errors.append(FieldError(f"{path}.{key}", value, str(exc)))
            return None

    def array(self, raw: Mapping[str, Any], key: str, path: str) -> list[Any] | None:
        value = raw.get(key)
        if value is None:
            return None
        if not isinstance(value, list):
            self.errors.append(FieldError(f"{path}.{key}", value, "must be a list"))
            return None
        return value


def parse_spec(raw: object, path: str = "spec") -> HorizontalPodAutoscalerSpec:
    """Parse an autoscaling/v2 HPA spec (the `spec` object); raise SpecError with every problem."""
    reader = _Reader()
    spec = _spec(reader, raw, path)
    if reader.errors or spec is None:
        raise SpecError(reader.errors or [FieldError(path, raw, "must be an object")])
    return spec


def parse_behavior(raw: object, path: str = "spec.behavior") -> HorizontalPodAutoscalerBehavior:
    reader = _Reader()
    behavior = _behavior(reader, raw, path)
    if reader.errors or behavior is None:
        raise SpecError(reader.errors or [FieldError(path, raw, "must be an object")])
    return behavior


def parse_metric(raw: object, path: str = "spec.metrics[0]") -> MetricSpec:
    reader = _Reader()
    metric = _metric(reader, raw, path)
    if reader.errors or metric is None:
        raise SpecError(reader.errors or [FieldError(path, raw, "must be an object")])
    return metric


def _spec(r: _Reader, raw: object, path: str) -> HorizontalPodAutoscalerSpec | None:
    obj = r.obj(raw, path, ("scaleTargetRef", "minReplicas", "maxReplicas", "metrics",
                            "behavior"))
    if obj is None:
        return None
    ref = _reference(r, obj.get("scaleTargetRef"), f"{path}.scaleTargetRef")
    max_replicas = r.integer(obj, "maxReplicas", path, required=True)
    min_replicas = r.integer(obj, "minReplicas", path)
    metrics = [_metric(r, m, f"{path}.metrics[{i}]")
               for i, m in enumerate(r.array(obj, "metrics", path) or [])]
    behavior = None
    if obj.get("behavior") is not None:
        behavior = _behavior(r, obj["behavior"], f"{path}.behavior")
    if ref is None or max_replicas is None or any(m is None for m in metrics):
        return None
    return HorizontalPodAutoscalerSpec(
        scale_target_ref=ref, max_replicas=max_replicas, min_replicas=min_replicas,
        metrics=tuple(m for m in metrics if m is not None), behavior=behavior)


def _reference(r: _Reader, raw: object, path: str) -> CrossVersionObjectReference | None:
    if raw is None:
        r.errors.append(FieldError(path, None, "must be set", "Required value"))
        return None
    obj = r.obj(raw, path, ("kind", "name", "apiVersion"))
    if obj is None:
        return None
    kind = r.string(obj, "kind", path)
    name = r.string(obj, "name", path)
    api_version = r.string(obj, "apiVersion", path, required=False) or ""
    if kind is None or name is None:
        return None
    return CrossVersionObjectReference(kind=kind, name=name, api_version=api_version)


def _selector(r: _Reader, raw: object, path: str) -> LabelSelector | None:
    obj = r.obj(raw, path, ("matchLabels", "matchExpressions"))
    if obj is None:
        return None
    labels: list[tuple[str, str]] = []
    match_labels = obj.get("matchLabels")
    if match_labels is None:  # absent; a falsy non-object ("" or []) is still a type error
        match_labels = {}
    if not isinstance(match_labels, Mapping):
        r.errors.append(FieldError(f"{path}.matchLabels", match_labels, "must be an object"))
    else:
        for key, value in match_labels.items():
            if not isinstance(value, str):
                r.errors.append(FieldError(f"{path}.matchLabels.{key}", value,
                                           "must be a string"))
            else:
                labels.append((str(key), value))
    expressions: list[LabelSelectorRequirement] = []
    for i, item in enumerate(r.array(obj, "matchExpressions", path) or []):
        epath = f"{path}.matchExpressions[{i}]"
        e = r.obj(item, epath, ("key", "operator", "values"))
        if e is None:
            continue
        key, op = r.string(e, "key", epath), r.string(e, "operator", epath)
        values = r.array(e, "values", epath) or []
        if any(not isinstance(v, str) for v in values):
            r.errors.append(FieldError(f"{epath}.values", values, "must be a list of strings"))
        elif key is not None and op is not None:
            expressions.append(LabelSelectorRequirement(key, op, tuple(values)))
    return LabelSelector(tuple(sorted(labels)), tuple(expressions))


def _identifier(r: _Reader, raw: object, path: str) -> MetricIdentifier | None:
    if raw is None:
        r.errors.append(FieldError(path, None, "must be set", "Required value"))
        return None
    obj = r.obj(raw, path, ("name", "selector"))
    if obj is None:
        return None
    name = r.string(obj, "name", path)
    selector = None
    if obj.get("selector") is not None:
        selector = _selector(r, obj["selector"], f"{path}.selector")
    return None if name is None else MetricIdentifier(name=name, selector=selector)


def _target(r: _Reader, raw: object, path: str) -> MetricTarget | None:
    if raw is None:
        r.errors.append(FieldError(path, None, "must be set", "Required value"))
        return None
    obj = r.obj(raw, path, ("type", "value", "averageValue", "averageUtilization"))
    if obj is None:
        return None
    # Like Go's decoder, a missing type is "" here; validation reports it as required.
    target_type = r.string(obj, "type", path, required=False) or ""
    value = r.quantity(obj, "value", path)
    average_value = r.quantity(obj, "averageValue", path)
    utilization = r.integer(obj, "averageUtilization", path)
    return MetricTarget(type=target_type, value=value, average_value=average_value,
                        average_utilization=utilization)


def _metric(r: _Reader, raw: object, path: str) -> MetricSpec | None:
    obj = r.obj(raw, path, ("type", "resource", "containerResource", "pods", "object",
                            "external"))
    if obj is None:
        return None
    metric_type = r.string(obj, "type", path)
    if metric_type is None:
        return None
    sources: dict[str, object] = {}
    parsers = {
        "resource": _resource_source, "containerResource": _container_source,
        "pods": _pods_source, "object": _object_source, "external": _external_source,
    }
    for key, parse in parsers.items():
        if obj.get(key) is not None:
            sources[key] = parse(r, obj[key], f"{path}.{key}")
    return MetricSpec(
        type=metric_type,
        resource=sources.get("resource"),  # type: ignore[arg-type]
        container_resource=sources.get("containerResource"),  # type: ignore[arg-type]
        pods=sources.get("pods"),  # type: ignore[arg-type]
        object=sources.get("object"),  # type: ignore[arg-type]
        external=sources.get("external"),  # type: ignore[arg-type]
    )


def _resource_source(r: _Reader, raw: object, path: str) -> ResourceMetricSource | None:
    obj = r.obj(raw, path, ("name", "target"))
    if obj is None:
        return None
    name = r.string(obj, "name", path)
    target = _target(r, obj.get("target"), f"{path}.target")
    return None if name is None or target is None else ResourceMetricSource(name, target)


def _container_source(r: _Reader, raw: object, path: str
                      ) -> ContainerResourceMetricSource | None:
    obj = r.obj(raw, path, ("name", "container", "target"))
    if obj is None:
        return None
    name = r.string(obj, "name", path)
    container = r.string(obj, "container", path)
    target = _target(r, obj.get("target"), f"{path}.target")
    if name is None or container is None or target is None:
        return None
    return ContainerResourceMetricSource(name, container, target)


def _pods_source(r: _Reader, raw: object, path: str) -> PodsMetricSource | None:
    obj = r.obj(raw, path, ("metric", "target"))
    if obj is None:
        return None
    metric = _identifier(r, obj.get("metric"), f"{path}.metric")
    target = _target(r, obj.get("target"), f"{path}.target")
    return None if metric is None or target is None else PodsMetricSource(metric, target)


def _object_source(r: _Reader, raw: object, path: str) -> ObjectMetricSource | None:
    obj = r.obj(raw, path, ("describedObject", "metric", "target"))
    if obj is None:
        return None
    described = _reference(r, obj.get("describedObject"), f"{path}.describedObject")
    metric = _identifier(r, obj.get("metric"), f"{path}.metric")
    target = _target(r, obj.get("target"), f"{path}.target")
    if described is None or metric is None or target is None:
        return None
    return ObjectMetricSource(described, metric, target)


def _external_source(r: _Reader, raw: object, path: str) -> ExternalMetricSource | None:
    obj = r.obj(raw, path, ("metric", "target"))
    if obj is None:
        return None
    metric = _identifier(r, obj.get("metric"), f"{path}.metric")
    target = _target(r, obj.get("target"), f"{path}.target")
    return None if metric is None or target is None else ExternalMetricSource(metric, target)


def _behavior(r: _Reader, raw: object, path: str) -> HorizontalPodAutoscalerBehavior | None:
    obj = r.obj(raw, path, ("scaleUp", "scaleDown"))
    if obj is None:
        return None
    up = _rules(r, obj["scaleUp"], f"{path}.scaleUp") if obj.get("scaleUp") is not None else None
    down = (_rules(r, obj["scaleDown"], f"{path}.scaleDown")
            if obj.get("scaleDown") is not None else None)
    return HorizontalPodAutoscalerBehavior(scale_up=up, scale_down=down)


def _rules(r: _Reader, raw: object, path: str) -> HPAScalingRules | None:
    obj = r.obj(raw, path, ("stabilizationWindowSeconds", "selectPolicy", "policies",
                            "tolerance"))
    if obj is None:
        return None
    policies: tuple[HPAScalingPolicy, ...] | None = None
    raw_policies = r.array(obj, "policies", path)
    if raw_policies is not None:
        parsed = [_policy(r, p, f"{path}.policies[{i}]") for i, p in enumerate(raw_policies)]
        policies = tuple(p for p in parsed if p is not None)
    return HPAScalingRules(
        stabilization_window_seconds=r.integer(obj, "stabilizationWindowSeconds", path),
        select_policy=r.string(obj, "selectPolicy", path, required=False),
        policies=policies,
        tolerance=r.quantity(obj, "tolerance", path),
    )


def _policy(r: _Reader, raw: object, path: str) -> HPAScalingPolicy | None:
    obj = r.obj(raw, path, ("type", "value", "periodSeconds"))
    if obj is None:
        return None
    policy_type = r.string(obj, "type", path)
    value = r.integer(obj, "value", path, required=True)
    period = r.integer(obj, "periodSeconds", path, required=True)
    if policy_type is None or value is None or period is None:
        return None
    return HPAScalingPolicy(type=policy_type, value=value, period_seconds=period)


# --------------------------------------------------------------------------- serializing


def spec_to_dict(spec: HorizontalPodAutoscalerSpec) -> dict[str, Any]:
    """The API's JSON shape of `spec`; `parse_spec(spec_to_dict(s)) == s`."""
    out: dict[str, Any] = {"scaleTargetRef": _reference_dict(spec.scale_target_ref),
                           "maxReplicas": spec.max_replicas}
    if spec.min_replicas is not None:
        out["minReplicas"] = spec.min_replicas
    if spec.metrics:
        out["metrics"] = [metric_to_dict(m) for m in spec.metrics]
    if spec.behavior is not None:
        out["behavior"] = behavior_to_dict(spec.behavior)
    return out


def _reference_dict(ref: CrossVersionObjectReference) -> dict[str, Any]:
    out = {"kind": ref.kind, "name": ref.name}
    if ref.api_version:
        out["apiVersion"] = ref.api_version
    return out


def _selector_dict(selector: LabelSelector) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if selector.match_labels:
        out["matchLabels"] = dict(selector.match_labels)
    if selector.match_expressions:
        out["matchExpressions"] = [
            {"key": e.key, "operator": e.operator, **({"values": list(e.values)}
                                                      if e.values else {})}
            for e in selector.match_expressions]
    return out


def identifier_to_dict(metric: MetricIdentifier) -> dict[str, Any]:
    out: dict[str, Any] = {"name": metric.name}
    if metric.selector is not None:
        out["selector"] = _selector_dict(metric.selector)
    return out


def _target_dict(target: MetricTarget) -> dict[str, Any]:
    out: dict[str, Any] = {"type": target.type}
    if target.value is not None:
        out["value"] = target.value.text
    if target.average_value is not None:
        out["averageValue"] = target.average_value.text
    if target.average_utilization is not None:
        out["averageUtilization"] = target.average_utilization
    return out


def metric_to_dict(metric: MetricSpec) -> dict[str, Any]:
    out: dict[str, Any] = {"type": metric.type}
    if metric.resource is not None:
        out["resource"] = {"name": metric.resource.name,
                           "target": _target_dict(metric.resource.target)}
    if metric.container_resource is not None:
        c = metric.container_resource
        out["containerResource"] = {"name": c.name, "container": c.container,
                                    "target": _target_dict(c.target)}
    if metric.pods is not None:
        out["pods"] = {"metric": identifier_to_dict(metric.pods.metric),
                       "target": _target_dict(metric.pods.target)}
    if metric.object is not None:
        o = metric.object
        out["object"] = {"describedObject": _reference_dict(o.described_object),
                         "metric": identifier_to_dict(o.metric), "target": _target_dict(o.target)}
    if metric.external is not None:
        out["external"] = {"metric": identifier_to_dict(metric.external.metric),
                           "target": _target_dict(metric.external.target)}
    return out


def behavior_to_dict(behavior: HorizontalPodAutoscalerBehavior) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if behavior.scale_up is not None:
        out["scaleUp"] = _rules_dict(behavior.scale_up)
    if behavior.scale_down is not None:
        out["scaleDown"] = _rules_dict(behavior.scale_down)
    return out


def _rules_dict(rules: HPAScalingRules) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if rules.stabilization_window_seconds is not None:
        out["stabilizationWindowSeconds"] = rules.stabilization_window_seconds
    if rules.select_policy is not None:
        out["selectPolicy"] = rules.select_policy
    if rules.policies is not None:
        out["policies"] = [{"type": p.type, "value": p.value, "periodSeconds": p.period_seconds}
                           for p in rules.policies]
    if rules.tolerance is not None:
        out["tolerance"] = rules.tolerance.text
    return out
