"""The apiserver's validation of an autoscaling HPA spec, every error at once.

Upstream is `pkg/apis/autoscaling/validation/validation.go` (release-1.35), which validates
the internal type (the v2 shape), plus the apimachinery name checks it calls. Validate a
spec *after* `algorithms.defaults.set_defaults`, as the apiserver does: a null `behavior`
is valid, but a present scaling rule without policies is not, so defaulting comes first.

Paths and messages are upstream's (`spec.behavior.scaleUp.policies[0].periodSeconds:
Invalid value: 1801: must be less than or equal to 1800`), and so are its quirks, kept on
purpose: an unknown metric type is reported twice, and only the first populated metric
source (in the order object, external, pods, resource, containerResource) is checked.
Upstream does not check metric selectors, a Resource metric's name beyond being set, or
that a target carries the field its type names; neither does this module.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from algorithms.errors import FieldError, SpecError
from algorithms.names import (
    container_resource_name_errors,
    dns1123_label_errors,
    path_segment_errors,
)
from algorithms.quantity import Quantity
from algorithms.spec import (
    AVERAGE_VALUE,
    EXTERNAL,
    OBJECT,
    UTILIZATION,
    VALUE,
    ContainerResourceMetricSource,
    CrossVersionObjectReference,
    ExternalMetricSource,
    HorizontalPodAutoscalerBehavior,
    HorizontalPodAutoscalerSpec,
    HPAScalingPolicy,
    HPAScalingRules,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    ObjectMetricSource,
    PodsMetricSource,
    ResourceMetricSource,
)

INVALID = "Invalid value"
REQUIRED = "Required value"
FORBIDDEN = "Forbidden"
NOT_SUPPORTED = "Unsupported value"

MAX_PERIOD_SECONDS = 1800
MAX_STABILIZATION_WINDOW_SECONDS = 3600

# Sorted, as Go's sets.String.List() returns them for "supported values: ..." messages.
_METRIC_SOURCE_TYPES = ("ContainerResource", "External", "Object", "Pods", "Resource")
_SELECT_POLICIES = ("Disabled", "Max", "Min")
_POLICY_TYPES = ("Percent", "Pods")

# The field name each metric type must populate, in upstream's typesPresent order.
_SOURCE_FIELDS = {"Object": "object", "External": "external", "Pods": "pods",
                  "Resource": "resource", "ContainerResource": "containerResource"}


@dataclass(frozen=True, slots=True)
class ReferenceOptions:
    """CrossVersionObjectReferenceValidationOptions."""

    allow_empty_api_group: bool = False
    allow_invalid_api_version: bool = False


@dataclass(frozen=True, slots=True)
class ValidationOptions:
    """HorizontalPodAutoscalerSpecValidationOptions, as the REST strategy fills them."""

    min_replicas_lower_bound: int = 1
    scale_target_ref: ReferenceOptions = field(default_factory=ReferenceOptions)
    object_metrics: ReferenceOptions = field(
        default_factory=lambda: ReferenceOptions(allow_empty_api_group=True))


def options_for_create(spec: HorizontalPodAutoscalerSpec, *, scale_to_zero: bool = True
                       ) -> ValidationOptions:
    """validationOptionsForHorizontalPodAutoscaler(new, nil): the options of a create.

    `scale_to_zero` is the HPAScaleToZero gate (on, as in the Kubernetes version this
    project tracks and in `algorithms.config.FeatureGates`): it lowers the
    minReplicas bound to 0, which validateMetrics then allows only with an Object or
    External metric. ReplicationController, the one scalable core/v1 kind, may omit the
    API group of its apiVersion.
    """
    return ValidationOptions(
        min_replicas_lower_bound=0 if scale_to_zero else 1,
        scale_target_ref=ReferenceOptions(
            allow_empty_api_group=spec.scale_target_ref.kind == "ReplicationController"),
    )


def check_spec(spec: HorizontalPodAutoscalerSpec, path: str = "spec",
               options: ValidationOptions | None = None) -> None:
    """Raise SpecError carrying every validation error of `spec`, if there is any."""
    errors = validate_spec(spec, path, options)
    if errors:
        raise SpecError(errors)


def validate_spec(spec: HorizontalPodAutoscalerSpec, path: str = "spec",
                  options: ValidationOptions | None = None) -> list[FieldError]:
    """validateHorizontalPodAutoscalerSpec: all errors, in upstream order; [] means valid."""
    opts = options_for_create(spec) if options is None else options
    errs: list[FieldError] = []
    bound = opts.min_replicas_lower_bound
    if spec.min_replicas is not None and spec.min_replicas < bound:
        errs.append(_invalid(f"{path}.minReplicas", spec.min_replicas,
                             f"must be greater than or equal to {bound}"))
    if spec.max_replicas < 1:
        errs.append(_invalid(f"{path}.maxReplicas", spec.max_replicas, "must be greater than 0"))
    if spec.min_replicas is not None and spec.max_replicas < spec.min_replicas:
        errs.append(_invalid(f"{path}.maxReplicas", spec.max_replicas,
                             "must be greater than or equal to `minReplicas`"))
    errs += validate_reference(spec.scale_target_ref, f"{path}.scaleTargetRef",
                               opts.scale_target_ref)
    errs += _metrics(spec.metrics, f"{path}.metrics", spec.min_replicas, opts.object_metrics)
    errs += _behavior(spec.behavior, f"{path}.behavior")
    return errs


def validate_reference(ref: CrossVersionObjectReference, path: str,
                       options: ReferenceOptions) -> list[FieldError]:
    """ValidateCrossVersionObjectReference: kind and name set and usable in a URL path."""
    errs: list[FieldError] = []
    for key, value in (("kind", ref.kind), ("name", ref.name)):
        if not value:
            errs.append(_required(f"{path}.{key}", ""))
        errs += [_invalid(f"{path}.{key}", value, m) for m in path_segment_errors(value)]
    message = _api_version_error(ref.api_version, options)
    if message is not None:
        errs.append(_invalid(f"{path}.apiVersion", ref.api_version, message))
    return errs


def _api_version_error(api_version: str, options: ReferenceOptions) -> str | None:
    """ValidateAPIVersion, with schema.ParseGroupVersion's notion of the group."""
    if options.allow_invalid_api_version:
        return None
    slashes = api_version.count("/")
    if slashes > 1:
        return f"unexpected GroupVersion string: {api_version}"
    # "", "v1" and "/v1" all parse to the empty (core) group.
    group = api_version.split("/", maxsplit=1)[0] if slashes == 1 else ""
    if not group and not options.allow_empty_api_group:
        return "apiVersion must specify API group"
    return None


# --------------------------------------------------------------------------- metrics


def _metrics(metrics: Iterable[MetricSpec], path: str, min_replicas: int | None,
             options: ReferenceOptions) -> list[FieldError]:
    errs: list[FieldError] = []
    types: set[str] = set()
    for i, metric in enumerate(metrics):
        errs += _metric(metric, f"{path}[{i}]", options)
        types.add(metric.type)
    # Scaling to zero needs a metric that does not come from the (absent) pods.
    if min_replicas == 0 and not types & {OBJECT, EXTERNAL}:
        errs.append(_forbidden(path, "must specify at least one Object or External metric "
                                     "to support scaling to zero replicas"))
    return errs


def _metric(metric: MetricSpec, path: str, options: ReferenceOptions) -> list[FieldError]:
    errs: list[FieldError] = []
    if not metric.type:
        errs.append(_required(f"{path}.type", "must specify a metric source type"))
    if metric.type not in _METRIC_SOURCE_TYPES:
        errs.append(_not_supported(f"{path}.type", metric.type, _METRIC_SOURCE_TYPES))
    present = [(key, src) for key, src in (
        ("object", metric.object), ("external", metric.external), ("pods", metric.pods),
        ("resource", metric.resource), ("containerResource", metric.container_resource),
    ) if src is not None]
    # Upstream validates only the first populated source, whatever the type says.
    for key, src in present[:1]:
        errs += _source(src, f"{path}.{key}", options)
    expected = _SOURCE_FIELDS.get(metric.type)
    if expected is None:
        # The switch's default case: the same NotSupported error a second time.
        errs.append(_not_supported(f"{path}.type", metric.type, _METRIC_SOURCE_TYPES))
    elif all(key != expected for key, _ in present):
        errs.append(_required(f"{path}.{expected}",
                              "must populate information for the given metric source"))
    if len(present) != 1:
        errs += [_forbidden(f"{path}.{key}", "must populate the given metric source only")
                 for key, _ in present if key != expected]
    return errs


def _source(src: object, path: str, options: ReferenceOptions) -> list[FieldError]:
    if isinstance(src, ObjectMetricSource):
        return _object_source(src, path, options)
    if isinstance(src, ExternalMetricSource):
        return _external_source(src, path)
    if isinstance(src, PodsMetricSource):
        return _pods_source(src, path)
    if isinstance(src, ResourceMetricSource):
        return _resource_source(src, path)
    assert isinstance(src, ContainerResourceMetricSource)
    return _container_source(src, path)


def _object_source(src: ObjectMetricSource, path: str, options: ReferenceOptions
                   ) -> list[FieldError]:
    errs = validate_reference(src.described_object, f"{path}.describedObject", options)
    errs += _identifier(src.metric, f"{path}.metric")
    errs += _target(src.target, f"{path}.target")
    if src.target.value is None and src.target.average_value is None:
        errs.append(_required(f"{path}.target.averageValue",
                              "must set either a target value or averageValue"))
    return errs


def _external_source(src: ExternalMetricSource, path: str) -> list[FieldError]:
    errs = _identifier(src.metric, f"{path}.metric") + _target(src.target, f"{path}.target")
    if src.target.value is None and src.target.average_value is None:
        errs.append(_required(f"{path}.target.averageValue",
                              "must set either a target value for metric or a per-pod target"))
    if src.target.value is not None and src.target.average_value is not None:
        errs.append(_forbidden(f"{path}.target.value",
                               "may not set both a target value for metric and a per-pod target"))
    return errs


def _pods_source(src: PodsMetricSource, path: str) -> list[FieldError]:
    errs = _identifier(src.metric, f"{path}.metric") + _target(src.target, f"{path}.target")
    if src.target.average_value is None:
        errs.append(_required(f"{path}.target.averageValue",
                              "must specify a positive target averageValue"))
    return errs


def _resource_source(src: ResourceMetricSource, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not src.name:
        errs.append(_required(f"{path}.name", "must specify a resource name"))
    return errs + _target(src.target, f"{path}.target") + _utilization_xor_value(src.target, path)


def _container_source(src: ContainerResourceMetricSource, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if not src.name:
        errs.append(_required(f"{path}.name", "must specify a resource name"))
    else:
        errs += [_invalid(f"{path}.name", src.name, m)
                 for m in container_resource_name_errors(src.name)]
    if not src.container:
        errs.append(_required(f"{path}.container", "must specify a container"))
    else:
        errs += [_invalid(f"{path}.container", src.container, m)
                 for m in dns1123_label_errors(src.container)]
    return errs + _target(src.target, f"{path}.target") + _utilization_xor_value(src.target, path)


def _utilization_xor_value(target: MetricTarget, path: str) -> list[FieldError]:
    if target.average_utilization is None and target.average_value is None:
        return [_required(f"{path}.target.averageUtilization",
                          "must set either a target raw value or a target utilization")]
    if target.average_utilization is not None and target.average_value is not None:
        return [_forbidden(f"{path}.target.averageValue",
                           "may not set both a target raw value and a target utilization")]
    return []


def _target(target: MetricTarget, path: str) -> list[FieldError]:
    """validateMetricTarget: a known type and positive numbers; not which field is set."""
    errs: list[FieldError] = []
    if not target.type:
        errs.append(_required(f"{path}.type", "must specify a metric target type"))
    if target.type not in (UTILIZATION, VALUE, AVERAGE_VALUE):
        errs.append(_invalid(f"{path}.type", target.type,
                             "must be either Utilization, Value, or AverageValue"))
    for key, quantity in (("value", target.value), ("averageValue", target.average_value)):
        if quantity is not None and quantity.value <= 0:
            errs.append(_invalid(f"{path}.{key}", quantity.text, "must be positive"))
    if target.average_utilization is not None and target.average_utilization < 1:
        errs.append(_invalid(f"{path}.averageUtilization", target.average_utilization,
                             "must be greater than 0"))
    return errs


def _identifier(metric: MetricIdentifier, path: str) -> list[FieldError]:
    if not metric.name:
        return [_required(f"{path}.name", "must specify a metric name")]
    return [_invalid(f"{path}.name", metric.name, m) for m in path_segment_errors(metric.name)]


# --------------------------------------------------------------------------- behavior


def _behavior(behavior: HorizontalPodAutoscalerBehavior | None, path: str) -> list[FieldError]:
    if behavior is None:
        return []
    return (_rules(behavior.scale_up, f"{path}.scaleUp")
            + _rules(behavior.scale_down, f"{path}.scaleDown"))


def _rules(rules: HPAScalingRules | None, path: str) -> list[FieldError]:
    """validateScalingRules. Even selectPolicy Disabled needs a policy: upstream says so."""
    if rules is None:
        return []
    errs: list[FieldError] = []
    window = rules.stabilization_window_seconds
    if window is not None and window < 0:
        errs.append(_invalid(f"{path}.stabilizationWindowSeconds", window,
                             "must be greater than or equal to zero"))
    if window is not None and window > MAX_STABILIZATION_WINDOW_SECONDS:
        errs.append(_invalid(f"{path}.stabilizationWindowSeconds", window,
                             f"must be less than or equal to {MAX_STABILIZATION_WINDOW_SECONDS}"))
    if rules.select_policy is not None and rules.select_policy not in _SELECT_POLICIES:
        errs.append(_not_supported(f"{path}.selectPolicy", rules.select_policy,
                                   _SELECT_POLICIES))
    if not rules.policies:
        errs.append(_required(f"{path}.policies", "must specify at least one Policy"))
    for i, policy in enumerate(rules.policies or ()):
        errs += _policy(policy, f"{path}.policies[{i}]")
    errs += _tolerance(rules.tolerance, f"{path}.tolerance")
    return errs


def _tolerance(tolerance: Quantity | None, path: str) -> list[FieldError]:
    """ValidateNonnegativeQuantity (HPAConfigurableTolerance)."""
    if tolerance is not None and tolerance.value < 0:
        return [_invalid(path, tolerance.text, "must be greater than or equal to 0")]
    return []


def _policy(policy: HPAScalingPolicy, path: str) -> list[FieldError]:
    errs: list[FieldError] = []
    if policy.type not in _POLICY_TYPES:
        errs.append(_not_supported(f"{path}.type", policy.type, _POLICY_TYPES))
    if policy.value <= 0:
        errs.append(_invalid(f"{path}.value", policy.value, "must be greater than zero"))
    if policy.period_seconds <= 0:
        errs.append(_invalid(f"{path}.periodSeconds", policy.period_seconds,
                             "must be greater than zero"))
    if policy.period_seconds > MAX_PERIOD_SECONDS:
        errs.append(_invalid(f"{path}.periodSeconds", policy.period_seconds,
                             f"must be less than or equal to {MAX_PERIOD_SECONDS}"))
    return errs


# --------------------------------------------------------------------------- field.Error


def _invalid(path: str, value: object, message: str) -> FieldError:
    return FieldError(path, value, message, INVALID)


def _required(path: str, message: str) -> FieldError:
    return FieldError(path, None, message, REQUIRED)


def _forbidden(path: str, message: str) -> FieldError:
    return FieldError(path, None, message, FORBIDDEN)


def _not_supported(path: str, value: str, supported: tuple[str, ...]) -> FieldError:
    quoted = ", ".join(f'"{v}"' for v in supported)
    return FieldError(path, value, f"supported values: {quoted}", NOT_SUPPORTED)
