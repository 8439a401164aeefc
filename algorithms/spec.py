"""The autoscaling/v2 HorizontalPodAutoscaler spec as frozen dataclasses.

Names mirror `k8s.io/api/autoscaling/v2` (MetricSpec, MetricTarget, HPAScalingRules, ...)
so code here can be read side by side with upstream. `parse_spec` turns the API's JSON/YAML
shape into these objects (`algorithms.spec_codec`), checking *types* only and rejecting unknown
fields like kubectl's default strict field validation; `algorithms.defaults` applies API
defaulting and `algorithms.validation` the apiserver's rules.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.quantity import Quantity

RESOURCE = "Resource"
CONTAINER_RESOURCE = "ContainerResource"
PODS = "Pods"
OBJECT = "Object"
EXTERNAL = "External"
METRIC_SOURCE_TYPES = (OBJECT, PODS, RESOURCE, CONTAINER_RESOURCE, EXTERNAL)

UTILIZATION = "Utilization"
VALUE = "Value"
AVERAGE_VALUE = "AverageValue"


@dataclass(frozen=True, slots=True)
class CrossVersionObjectReference:
    kind: str
    name: str
    api_version: str = ""


@dataclass(frozen=True, slots=True)
class LabelSelectorRequirement:
    key: str
    operator: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class LabelSelector:
    match_labels: tuple[tuple[str, str], ...] = ()
    match_expressions: tuple[LabelSelectorRequirement, ...] = ()


@dataclass(frozen=True, slots=True)
class MetricIdentifier:
    name: str
    selector: LabelSelector | None = None


@dataclass(frozen=True, slots=True)
class MetricTarget:
    type: str
    value: Quantity | None = None
    average_value: Quantity | None = None
    average_utilization: int | None = None


@dataclass(frozen=True, slots=True)
class ResourceMetricSource:
    name: str
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class ContainerResourceMetricSource:
    name: str
    container: str
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class PodsMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class ObjectMetricSource:
    described_object: CrossVersionObjectReference
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class ExternalMetricSource:
    metric: MetricIdentifier
    target: MetricTarget


@dataclass(frozen=True, slots=True)
class MetricSpec:
    type: str
    resource: ResourceMetricSource | None = None
    container_resource: ContainerResourceMetricSource | None = None
    pods: PodsMetricSource | None = None
    object: ObjectMetricSource | None = None
    external: ExternalMetricSource | None = None


@dataclass(frozen=True, slots=True)
class HPAScalingPolicy:
    type: str  # "Pods" | "Percent"
    value: int
    period_seconds: int


@dataclass(frozen=True, slots=True)
class HPAScalingRules:
    stabilization_window_seconds: int | None = None
    select_policy: str | None = None  # "Max" | "Min" | "Disabled"
    policies: tuple[HPAScalingPolicy, ...] | None = None
    tolerance: Quantity | None = None


@dataclass(frozen=True, slots=True)
class HorizontalPodAutoscalerBehavior:
    scale_up: HPAScalingRules | None = None
    scale_down: HPAScalingRules | None = None


@dataclass(frozen=True, slots=True)
class HorizontalPodAutoscalerSpec:
    scale_target_ref: CrossVersionObjectReference
    max_replicas: int
    min_replicas: int | None = None
    metrics: tuple[MetricSpec, ...] = ()
    behavior: HorizontalPodAutoscalerBehavior | None = None
