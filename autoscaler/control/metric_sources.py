"""Which source answers which metric, per autoscaler (`spec.metricsSource`).

Resource metrics: `metrics-api` = metrics.k8s.io only; `prometheus` = Prometheus only;
`auto` (default) = metrics.k8s.io, and when it fails (on KubeEdge, metrics-server often
cannot reach edge kubelets) Prometheus's cAdvisor series if a Prometheus is configured.
Pods / Object / External metrics: the spec's PromQL (`spec.metricQueries`) on Prometheus.
Every choice is recorded ("cpu: prometheus (fallback: metrics.k8s.io: HTTP 503)") for the
decision's explanation, so a fallback is visible in the status and the logs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from algorithms.observation import MetricData, MetricUnavailable
from algorithms.spec import CONTAINER_RESOURCE, RESOURCE, MetricSpec
from autoscaler.specs.model import ManagedSpec


class ResourceMetrics(Protocol):
    def for_pods(self, namespace: str, pod_names: set[str]) -> MetricData: ...


class PrometheusLike(Protocol):
    def resource(self, namespace: str, pods: Sequence[str], resource: str, now: float
                 ) -> MetricData: ...

    def templated(self, metric_type: str, template: str, namespace: str,
                  pods: Sequence[str], selector: str, name: str, now: float) -> MetricData: ...


@dataclass(frozen=True)
class Fetched:
    data: MetricData
    source: str


def _resource_name(metric: MetricSpec) -> str:
    source = metric.resource or metric.container_resource
    return source.name if source is not None else ""


def fetch(metric: MetricSpec, managed: ManagedSpec, pods: Sequence[str], selector: str,
          api: ResourceMetrics, prometheus: PrometheusLike | None, now: float) -> Fetched:
    namespace = managed.namespace
    if metric.type in (RESOURCE, CONTAINER_RESOURCE):
        resource = _resource_name(metric)
        if managed.metrics_source == "prometheus":
            if prometheus is None:
                return Fetched(MetricUnavailable("metricsSource is prometheus but the daemon "
                                                 "has no --prometheus-url"), "none")
            return Fetched(prometheus.resource(namespace, pods, resource, now), "prometheus")
        answer = api.for_pods(namespace, set(pods))
        name = str(getattr(api, "source_name", "metrics.k8s.io"))
        if not isinstance(answer, MetricUnavailable) or managed.metrics_source == \
                "metrics-api" or prometheus is None:
            return Fetched(answer, name)
        fallback = prometheus.resource(namespace, pods, resource, now)
        return Fetched(fallback, f"prometheus (fallback: {answer.message})")
    source = metric.pods or metric.object or metric.external
    name = source.metric.name if source is not None else metric.type
    template = managed.metric_queries.get(name)
    if template is None or prometheus is None:
        missing = "no spec.metricQueries entry" if template is None else "no --prometheus-url"
        return Fetched(MetricUnavailable(f"{metric.type} metric {name!r}: {missing}; "
                                         "custom and external metrics come from Prometheus"),
                       "none")
    return Fetched(prometheus.templated(metric.type, template, namespace, pods, selector,
                                        name, now), "prometheus")
