"""Prometheus as a metric source.

Resource metrics come from cAdvisor series with metrics.k8s.io's semantics, so the upstream
replica math applies unchanged: per pod and container, `rate()` of the CPU counter over
`rate_window_seconds` (memory: the working set), stamped with the evaluation time and the
window, which the readiness rules of the calculator read. Pods / Object / External metrics
come from the user's PromQL templates (`spec.metricQueries`).

Every answer is validated (`autoscaler.prometheus.query`); anything doubtful is
`MetricUnavailable` with the reason, never a zero: an empty vector, several series where one
is expected, a series without the `pod` label or the same pod (and container) twice, NaN,
+-Inf or absurd magnitudes, negative resource usage, a timeout, an HTTP or TLS error.

**Staleness rule.** Prometheus answers an instant query with a series' last sample for up to
5 minutes after it stopped, and an aggregation (`sum by (pod)`) stamps its result with the
evaluation time, so the age must be read from the raw series: for every instant-vector
selector of the query (`promql.instant_selectors`), `max by (pod) (timestamp(<selector>))`
is evaluated. A pod whose newest raw sample is older than `staleness_seconds` (120 s) is
dropped from a Pods metric or a memory reading (it becomes a *missing* pod, which upstream's
rules fill conservatively); for an Object or External metric any stale raw series fails the
metric, naming it. CPU needs no check: `rate()` over the window only sees samples inside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from algorithms.observation import (
    ExternalMetricData,
    MetricData,
    MetricUnavailable,
    ObjectMetricData,
    PodResourceUsage,
    PodsMetricData,
    ResourceMetricsData,
)
from algorithms.slo.model import SloObservation, SloSpec
from autoscaler.prometheus import promql, slo_inputs
from autoscaler.prometheus.auth import tls_verify
from autoscaler.prometheus.query import (
    PrometheusUnavailableError,
    Sample,
    Series,
    TokenFile,
    instant,
    range_query,
)

__all__ = ["PrometheusSettings", "PrometheusSource", "PrometheusUnavailableError", "Sample"]


@dataclass(frozen=True)
class PrometheusSettings:
    url: str
    bearer_token_file: Path | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_seconds: float = 5.0
    rate_window_seconds: float = 60.0
    staleness_seconds: float = 120.0


class PrometheusSource:
    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        self.session = requests.Session()
        self.session.verify = tls_verify(settings.ca_file, settings.verify_tls)
        self.token = TokenFile(settings.bearer_token_file)
        self.url = settings.url.rstrip("/")
        self.queries = 0

    def instant(self, query: str, now: float) -> list[Sample]:
        self.queries += 1
        return instant(self.session, self.url, query, now, self.settings.timeout_seconds,
                       self.token)

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        self.queries += 1
        return range_query(self.session, self.url, query, start, end, step,
                           self.settings.timeout_seconds, self.token)

    def slo_observation(self, spec: SloSpec, namespace: str, pods: Sequence[str],
                        now: float) -> SloObservation | MetricUnavailable:
        """The recommender's inputs from the metering proxy (`slo_inputs`)."""
        try:
            return slo_inputs.observe(self, spec, namespace, pods, now,
                                      self.settings.staleness_seconds)
        except (PrometheusUnavailableError, promql.QueryError) as exc:
            return MetricUnavailable(f"prometheus: {exc}")

    def _stale_pods(self, query: str, now: float) -> tuple[set[str], list[str]]:
        """(pods whose raw series are all older than the bound, stale series without a pod
        label) over the query's instant selectors."""
        limit = now - self.settings.staleness_seconds
        stale_pods: set[str] = set()
        unlabelled: list[str] = []
        for selector in promql.instant_selectors(query):
            for sample in self.instant(f"max by (pod) (timestamp({selector}))", now):
                if sample.value >= limit:
                    continue
                pod = sample.labels.get("pod")
                if pod:
                    stale_pods.add(pod)
                else:
                    unlabelled.append(f"{selector[:80]} (last sample "
                                      f"{now - sample.value:.0f} s old)")
        return stale_pods, unlabelled

    # ----------------------------------------------------------------- resource metrics

    def resource(self, namespace: str, pods: Sequence[str], resource: str, now: float
                 ) -> MetricData:
        if resource == "cpu":
            query = promql.cpu_query(namespace, pods, self.settings.rate_window_seconds)
            to_milli = 1000.0  # cores
        elif resource == "memory":
            query = promql.memory_query(namespace, pods)
            to_milli = 1000.0  # bytes -> milli-bytes, as Quantity.MilliValue() does
        else:
            return MetricUnavailable(f"resource {resource!r} has no Prometheus query")
        try:
            samples = self.instant(query, now)
            stale: set[str] = set()
            if resource == "memory":  # a gauge: its last sample may be minutes old
                stale, _ = self._stale_pods(query, now)
        except PrometheusUnavailableError as exc:
            return MetricUnavailable(f"prometheus: {exc}")
        window = self.settings.rate_window_seconds if resource == "cpu" else 0.0
        containers: dict[str, dict[str, dict[str, int]]] = {}
        for sample in samples:
            pod, container = sample.labels.get("pod"), sample.labels.get("container")
            if not pod or not container:
                return MetricUnavailable(f"prometheus: series {dict(sample.labels)} lacks "
                                         "the pod or container label")
            if sample.value < 0:
                return MetricUnavailable(f"prometheus: series {dict(sample.labels)} has "
                                         f"negative {resource} usage {sample.value}")
            if container in containers.get(pod, {}):
                return MetricUnavailable(f"prometheus: pod {pod} container {container} "
                                         "appears twice; the query must aggregate "
                                         "`by (pod, container)`")
            if pod in stale:
                continue  # missing, not zero: upstream's rules decide what it counts as
            containers.setdefault(pod, {})[container] = {
                resource: math.ceil(sample.value * to_milli)}
        if not containers:
            return MetricUnavailable("prometheus: no samples for the target's pods (is "
                                     "cAdvisor scraped?)")
        return ResourceMetricsData({pod: PodResourceUsage(now, window, usage)
                                    for pod, usage in containers.items()})

    # ----------------------------------------------------------------- custom templates

    def _render(self, template: str, namespace: str, pods: Sequence[str], selector: str,
                name: str) -> str:
        return promql.render(template, {
            "namespace": promql.escape_string(namespace),
            "pods": promql.regex_alternation(pods),
            "selector": promql.escape_string(selector),
            "name": promql.escape_string(name),
            "window": f"{int(self.settings.rate_window_seconds)}s"}, where=name)

    def templated(self, metric_type: str, template: str, namespace: str,
                  pods: Sequence[str], selector: str, name: str, now: float) -> MetricData:
        try:
            query = self._render(template, namespace, pods, selector, name)
            samples = self.instant(query, now)
            stale, unlabelled = self._stale_pods(query, now)
        except (PrometheusUnavailableError, promql.QueryError) as exc:
            return MetricUnavailable(f"prometheus ({name}): {exc}")
        if not samples:
            return MetricUnavailable(f"prometheus ({name}): empty result for {query}")
        if metric_type == "Pods":
            return _per_pod(samples, name, stale)
        if unlabelled or stale:
            what = unlabelled[0] if unlabelled else f"series of pod {sorted(stale)[0]}"
            return MetricUnavailable(f"prometheus ({name}): stale input: {what}; no sample "
                                     f"within {self.settings.staleness_seconds:.0f} s")
        if metric_type == "Object" and len(samples) != 1:
            return MetricUnavailable(f"prometheus ({name}): {len(samples)} series where one "
                                     f"object value is expected; aggregate the query")
        milli = tuple(math.ceil(s.value * 1000.0) for s in samples)
        if metric_type == "Object":
            return ObjectMetricData(milli[0])
        return ExternalMetricData(milli)


def _per_pod(samples: list[Sample], name: str, stale: set[str]) -> MetricData:
    values: dict[str, int] = {}
    for sample in samples:
        pod = sample.labels.get("pod")
        if not pod:
            return MetricUnavailable(f"prometheus ({name}): series {dict(sample.labels)} has "
                                     "no pod label; aggregate `by (pod)`")
        if pod in values:
            return MetricUnavailable(f"prometheus ({name}): pod {pod} appears twice; "
                                     "aggregate `by (pod)`")
        values[pod] = math.ceil(sample.value * 1000.0)
    fresh = {pod: value for pod, value in values.items() if pod not in stale}
    if not fresh:
        return MetricUnavailable(f"prometheus ({name}): every pod's series is stale")
    return PodsMetricData(fresh)
