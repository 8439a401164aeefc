"""What one pass observed: the scale subresource, the pods and each metric's raw data.

Adapters (metrics.k8s.io, Prometheus, cgroups, the simulator, the conformance runner) fill
these; nothing here knows where the numbers came from. Missing data is explicit
(`MetricUnavailable` with the reason), never a zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from algorithms.pods import PodInfo


@dataclass(frozen=True, slots=True)
class PodResourceUsage:
    """One PodMetrics item of metrics.k8s.io: usage per container per resource (milli)."""

    timestamp: float
    window_seconds: float
    containers: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True, slots=True)
class ResourceMetricsData:
    """The resource metrics API's answer for the target's selector (every resource)."""

    pods: Mapping[str, PodResourceUsage]


@dataclass(frozen=True, slots=True)
class PodsMetricData:
    """custom.metrics.k8s.io per-pod values (milli) for one Pods metric."""

    values_milli: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class ObjectMetricData:
    value_milli: int


@dataclass(frozen=True, slots=True)
class ExternalMetricData:
    """Every matching external series; upstream sums them."""

    values_milli: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class MetricUnavailable:
    """The source could not answer; `message` says why (becomes the condition message)."""

    message: str


MetricData = (ResourceMetricsData | PodsMetricData | ObjectMetricData | ExternalMetricData
              | MetricUnavailable)


@dataclass(frozen=True, slots=True)
class ScaleObservation:
    spec_replicas: int
    status_replicas: int
    selector: str  # Scale.status.selector, a label-selector string; "" = missing


@dataclass(frozen=True, slots=True)
class Observation:
    """Inputs of one `decide` call besides the spec, the controller state and the clock.

    `metrics[i]` answers `spec.metrics[i]`. `pods` may be a superset of the target's pods
    (e.g. every pod of the namespace): `decide` filters them with the scale's selector.
    `name` is this autoscaler's "namespace/name" (for upstream's AmbiguousSelector message);
    `other_selectors` are the selectors of other autoscalers in the namespace, used to
    refuse ambiguous ownership like upstream's AmbiguousSelector.
    """

    scale: ScaleObservation | None
    pods: tuple[PodInfo, ...] = ()
    metrics: tuple[MetricData, ...] = ()
    generation: int | None = None
    scale_error: str = ""
    other_selectors: tuple[tuple[str, str], ...] = ()  # ("namespace/name", selector string)
    name: str = ""
