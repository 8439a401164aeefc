"""One metric spec + its observed data -> one proposal (upstream `computeReplicasForMetric`).

Dispatch follows upstream exactly, including its quirks: a Resource target with an
`averageValue` takes the raw path whatever its `type` says; External checks `averageValue`
before `value`; Object AverageValue and External AverageValue receive `status.replicas`.
Messages reproduce upstream's wording so conditions read the same as `kubectl describe hpa`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from algorithms import replicas as rc
from algorithms.errors import CoreError
from algorithms.observation import (
    ExternalMetricData,
    MetricData,
    MetricUnavailable,
    ObjectMetricData,
    PodResourceUsage,
    PodsMetricData,
    ResourceMetricsData,
)
from algorithms.pods import PodInfo, PodMetric, ReadinessRules
from algorithms.spec import (
    AVERAGE_VALUE,
    CONTAINER_RESOURCE,
    EXTERNAL,
    OBJECT,
    PODS,
    RESOURCE,
    VALUE,
    LabelSelector,
    MetricSpec,
    MetricTarget,
)
from algorithms.status import MetricStatus, MetricValueStatus


@dataclass(frozen=True, slots=True)
class MetricContext:
    spec_replicas: int
    status_replicas: int
    pods: tuple[PodInfo, ...]
    tolerances: rc.Tolerances
    rules: ReadinessRules
    now: float


@dataclass(frozen=True, slots=True)
class MetricResult:
    """A proposal with its status entry, or the ScalingActive=False reason and message."""

    replicas: int = 0
    metric_name: str = ""
    status: MetricStatus = MetricStatus()
    failure_reason: str = ""
    failure_message: str = ""  # the ScalingActive condition's message
    error: str = ""  # the bare error, as upstream's Warning event carries it

    @property
    def failed(self) -> bool:
        return bool(self.failure_reason)


class _MetricError(CoreError):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def go_selector(selector: LabelSelector | None) -> str:
    """Go's `%+v` of a *metav1.LabelSelector, as upstream prints it in metric names: fmt
    calls the generated `String()`, which answers "nil" for a nil pointer."""
    if selector is None:
        return "nil"
    labels = "".join(f"{k}: {v}," for k, v in selector.match_labels)
    exprs = "".join(f"{{{e.key} {e.operator} [{' '.join(e.values)}]}}," for e in
                    selector.match_expressions)
    return (f"&LabelSelector{{MatchLabels:map[string]string{{{labels}}},"
            f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}")


def compute_replicas_for_metric(metric: MetricSpec, data: MetricData, ctx: MetricContext
                                ) -> MetricResult:
    try:
        return _dispatch(metric, data, ctx)
    except _MetricError as failed:
        return MetricResult(failure_reason=failed.reason,
                            failure_message=f"the HPA was unable to compute the replica count: "
                                            f"{failed}", error=str(failed))


def _dispatch(metric: MetricSpec, data: MetricData, ctx: MetricContext) -> MetricResult:
    if metric.type == RESOURCE and metric.resource is not None:
        return _resource(metric.resource.name, "", metric.resource.target, data, ctx,
                         RESOURCE, "FailedGetResourceMetric")
    if metric.type == CONTAINER_RESOURCE and metric.container_resource is not None:
        c = metric.container_resource
        return _resource(c.name, c.container, c.target, data, ctx, CONTAINER_RESOURCE,
                         "FailedGetContainerResourceMetric")
    if metric.type == PODS and metric.pods is not None:
        return _pods(metric, data, ctx)
    if metric.type == OBJECT and metric.object is not None:
        return _object(metric, data, ctx)
    if metric.type == EXTERNAL and metric.external is not None:
        return _external(metric, data, ctx)
    raise _MetricError("InvalidMetricSourceType", f"unknown metric source type {metric.type!r}")


def _resource_pod_metrics(data: Mapping[str, PodResourceUsage], resource: str, container: str
                          ) -> dict[str, PodMetric]:
    """metrics.k8s.io items -> {pod: PodMetric}, like upstream's metrics client.

    Pod level: a pod whose containers lack the resource gets no entry (it becomes *missing*).
    Container level: only the named container counts; a pod without it is skipped silently.
    """
    out: dict[str, PodMetric] = {}
    for name, usage in data.items():
        containers = usage.containers
        if container:
            named = containers.get(container)
            value = None if named is None else named.get(resource)
            if value is not None:
                out[name] = PodMetric(value, usage.timestamp, usage.window_seconds)
            continue
        total = 0
        complete = bool(containers)
        for usage_of_container in containers.values():
            value = usage_of_container.get(resource)
            if value is None:
                complete = False
                break
            total += value
        if complete:
            out[name] = PodMetric(total, usage.timestamp, usage.window_seconds)
    return out


def _resource(resource: str, container: str, target: MetricTarget, data: MetricData,
              ctx: MetricContext, source_type: str, reason: str) -> MetricResult:
    if isinstance(data, MetricUnavailable):
        raise _MetricError(reason, f"failed to get {resource} utilization: unable to get metrics "
                              f"for resource {resource}: {data.message}")
    if not isinstance(data, ResourceMetricsData):
        raise _MetricError(reason, f"resource metric {resource}: wrong data {type(data).__name__}")
    metrics = _resource_pod_metrics(data.pods, resource, container)
    binary = resource == "memory"
    try:
        if not data.pods:
            raise rc.MetricComputationError(
                f"unable to get metrics for resource {resource}: no metrics returned "
                "from resource metrics API")
        if target.average_value is not None:
            p = rc.calc_plain_metric_replicas(metrics, ctx.spec_replicas,
                                              target.average_value.milli, resource, ctx.pods,
                                              ctx.tolerances, ctx.rules, ctx.now)
            current = MetricValueStatus(average_value_milli=p.raw_milli, binary=binary)
            name = f"{resource} resource"
        elif target.average_utilization is None:
            raise rc.MetricComputationError(
                "invalid resource metric source: neither an average utilization target nor "
                "an average value (usage) target was set")
        else:
            p = rc.get_resource_replicas(ctx.spec_replicas, target.average_utilization,
                                         resource, container, ctx.pods, metrics,
                                         ctx.tolerances, ctx.rules, ctx.now)
            current = MetricValueStatus(average_value_milli=p.raw_milli,
                                        average_utilization=p.utilization, binary=binary)
            kind = "container resource" if source_type == CONTAINER_RESOURCE else "resource"
            name = f"{resource} {kind} utilization (percentage of request)"
    except rc.MetricComputationError as exc:
        what = "usage" if target.average_value is not None else "utilization"
        raise _MetricError(reason, f"failed to get {resource} {what}: {exc}") from exc
    status = MetricStatus(type=source_type, name=resource, container=container,
                          current=current)
    return MetricResult(p.replicas, name, status)


def _pods(metric: MetricSpec, data: MetricData, ctx: MetricContext) -> MetricResult:
    assert metric.pods is not None
    source = metric.pods
    reason = "FailedGetPodsMetric"
    prefix = f"unable to get metric {source.metric.name}"
    if isinstance(data, MetricUnavailable):
        raise _MetricError(reason, f"{prefix}: {data.message}")
    if not isinstance(data, PodsMetricData) or not data.values_milli:
        raise _MetricError(reason, f"{prefix}: no metrics returned from custom metrics API")
    if source.target.average_value is None:
        raise _MetricError(reason, "invalid pods metric source: no average value target was set")
    metrics = {name: PodMetric(value) for name, value in data.values_milli.items()}
    try:
        p = rc.calc_plain_metric_replicas(metrics, ctx.spec_replicas,
                                          source.target.average_value.milli, "", ctx.pods,
                                          ctx.tolerances, ctx.rules, ctx.now)
    except rc.MetricComputationError as exc:
        raise _MetricError(reason, str(exc)) from exc
    status = MetricStatus(type=PODS, metric=source.metric,
                          current=MetricValueStatus(average_value_milli=p.raw_milli))
    return MetricResult(p.replicas, f"pods metric {source.metric.name}", status)


def _object(metric: MetricSpec, data: MetricData, ctx: MetricContext) -> MetricResult:
    assert metric.object is not None
    source = metric.object
    reason = "FailedGetObjectMetric"
    ref = source.described_object
    if isinstance(data, MetricUnavailable) or not isinstance(data, ObjectMetricData):
        message = data.message if isinstance(data, MetricUnavailable) else "no value"
        raise _MetricError(reason, f"unable to get metric {source.metric.name}: {ref.kind} "
                              f"{ref.name}: {message}")
    target = source.target
    try:
        if target.type == VALUE and target.value is not None:
            p = rc.get_object_metric_replicas(ctx.spec_replicas, target.value.milli,
                                              data.value_milli, ctx.tolerances, ctx.pods)
            current = MetricValueStatus(value_milli=p.raw_milli)
            name = f"{ref.kind} metric {source.metric.name}"
        elif target.type == AVERAGE_VALUE and target.average_value is not None:
            p = rc.get_object_per_pod_metric_replicas(ctx.status_replicas,
                                                      target.average_value.milli,
                                                      data.value_milli, ctx.tolerances)
            current = MetricValueStatus(average_value_milli=p.raw_milli)
            # Upstream calls this "external metric" too; kept for identical messages.
            name = f"external metric {source.metric.name}({go_selector(source.metric.selector)})"
        else:
            raise rc.MetricComputationError("invalid object metric source: neither a value "
                                            "target nor an average value target was set")
    except rc.MetricComputationError as exc:
        raise _MetricError(reason, str(exc)) from exc
    status = MetricStatus(type=OBJECT, metric=source.metric, described_object=ref,
                          current=current)
    return MetricResult(p.replicas, name, status)


def _external(metric: MetricSpec, data: MetricData, ctx: MetricContext) -> MetricResult:
    assert metric.external is not None
    source = metric.external
    reason = "FailedGetExternalMetric"
    if isinstance(data, MetricUnavailable):
        raise _MetricError(reason, f"unable to get external metric {source.metric.name}: "
                              f"{data.message}")
    values = data.values_milli if isinstance(data, ExternalMetricData) else ()
    target = source.target
    name = f"external metric {source.metric.name}({go_selector(source.metric.selector)})"
    try:
        if target.average_value is not None:
            p = rc.get_external_per_pod_metric_replicas(ctx.status_replicas,
                                                        target.average_value.milli, values,
                                                        ctx.tolerances)
            current = MetricValueStatus(average_value_milli=p.raw_milli)
        elif target.value is not None:
            p = rc.get_external_metric_replicas(ctx.spec_replicas, target.value.milli, values,
                                                ctx.tolerances, ctx.pods)
            current = MetricValueStatus(value_milli=p.raw_milli)
        else:
            raise rc.MetricComputationError("invalid external metric source: neither a value "
                                            "target nor an average value target was set")
    except rc.MetricComputationError as exc:
        raise _MetricError(reason, str(exc)) from exc
    status = MetricStatus(type=EXTERNAL, metric=source.metric, current=current)
    return MetricResult(p.replicas, name, status)
