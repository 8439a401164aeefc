"""Which source answers which metric, per autoscaler (`spec.metricsSource`).

Resource metrics: `metrics-api` = metrics.k8s.io only; `prometheus` = Prometheus only;
`auto` (default) = metrics.k8s.io, and when it fails (on KubeEdge, metrics-server often
cannot reach edge kubelets) Prometheus's cAdvisor series if a Prometheus is configured.
Pods / Object / External metrics: the spec's PromQL (`spec.metricQueries`) on Prometheus.
Every choice is recorded ("cpu: prometheus (fallback: metrics.k8s.io: HTTP 503)") for the
decision's explanation, so a fallback is visible in the status and the logs.
The External metric `llm_slo_replicas` is the SLO recommender's answer (`spec.sloRecommender`):
its inputs come from the metering proxy's counters in Prometheus
(`autoscaler.prometheus.slo_inputs`), the answer from `algorithms.slo.metric.slo_metric`,
the same function replay calls; its inputs and intermediate numbers go to the explanation.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from algorithms.observation import MetricData, MetricUnavailable
from algorithms.slo.metric import slo_metric
from algorithms.slo.model import SLO_METRIC_NAME, SloObservation, SloSpec
from algorithms.spec import CONTAINER_RESOURCE, EXTERNAL, RESOURCE, MetricSpec
from autoscaler.specs.model import ManagedSpec


class ResourceMetrics(Protocol):
    def for_pods(self, namespace: str, pod_names: set[str]) -> MetricData: ...


class PrometheusLike(Protocol):
    def resource(self, namespace: str, pods: Sequence[str], resource: str, now: float
                 ) -> MetricData: ...

    def templated(self, metric_type: str, template: str, namespace: str,
                  pods: Sequence[str], selector: str, name: str, now: float) -> MetricData: ...

    def slo_observation(self, spec: SloSpec, namespace: str, pods: Sequence[str],
                        now: float) -> SloObservation | MetricUnavailable: ...


@dataclass(frozen=True)
class Fetched:
    data: MetricData
    source: str
    detail: Mapping[str, float | int | str | bool] = field(default_factory=dict)


@dataclass(frozen=True)
class Scale:
    """What the SLO recommender needs of the target besides its pods."""

    current_replicas: int
    max_replicas: int


def _resource_name(metric: MetricSpec) -> str:
    source = metric.resource or metric.container_resource
    return source.name if source is not None else ""


def fetch(metric: MetricSpec, managed: ManagedSpec, pods: Sequence[str], selector: str,
          api: ResourceMetrics, prometheus: PrometheusLike | None, now: float,
          scale: Scale | None = None) -> Fetched:
    namespace = managed.namespace
    if metric.type == EXTERNAL and metric.external is not None \
            and metric.external.metric.name == SLO_METRIC_NAME and managed.slo is not None:
        return _recommend(managed.slo, managed, pods, prometheus, now, scale)
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


def _recommend(slo: SloSpec, managed: ManagedSpec, pods: Sequence[str],
               prometheus: PrometheusLike | None, now: float, scale: Scale | None) -> Fetched:
    source = "slo-recommender (prometheus)"
    if prometheus is None:
        return Fetched(MetricUnavailable(f"{SLO_METRIC_NAME}: the SLO recommender reads the "
                                         "metering proxy's counters from Prometheus; the "
                                         "daemon has no --prometheus-url"), source)
    if scale is None:
        return Fetched(MetricUnavailable(f"{SLO_METRIC_NAME}: the target's scale is "
                                         "unknown"), source)
    observed = prometheus.slo_observation(slo, managed.namespace, pods, now)
    if isinstance(observed, MetricUnavailable):
        return Fetched(observed, source)
    answer = slo_metric(slo, observed, scale.current_replicas, scale.max_replicas)
    detail = answer.recommendation.details() if answer.recommendation is not None else {}
    return Fetched(answer.data, source, detail)
