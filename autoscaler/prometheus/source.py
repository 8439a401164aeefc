"""Prometheus as a metric source (prometheus-api-client, without its pandas extras).

Resource metrics come from cAdvisor series with metrics.k8s.io's semantics, so the upstream
replica math applies unchanged: per pod and container, `rate()` of the CPU counter over
`rate_window_seconds` (memory: the working set), stamped with the evaluation time and the
window, which the readiness rules of the calculator read. Pods / Object / External metrics
come from the user's PromQL templates (`spec.metricQueries`).

Every answer is validated; anything doubtful is `MetricUnavailable` with the reason, never
a zero: an empty vector, several series where one is expected, a series without the `pod`
label (or twice the same pod), NaN or +-Inf, samples older than `staleness_seconds`, a
timeout, an HTTP or TLS error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect

from algorithms.observation import (
    ExternalMetricData,
    MetricData,
    MetricUnavailable,
    ObjectMetricData,
    PodResourceUsage,
    PodsMetricData,
    ResourceMetricsData,
)
from autoscaler.errors import TransientError
from autoscaler.prometheus import promql
from autoscaler.prometheus.auth import auth_headers, tls_verify


@dataclass(frozen=True)
class PrometheusSettings:
    url: str
    bearer_token_file: Path | None = None
    ca_file: Path | None = None
    verify_tls: bool = True
    timeout_seconds: float = 5.0
    rate_window_seconds: float = 60.0
    staleness_seconds: float = 120.0


@dataclass(frozen=True)
class Sample:
    labels: Mapping[str, str]
    value: float
    timestamp: float


class PrometheusUnavailableError(TransientError):
    """The query failed or its answer cannot be trusted; the message says which."""


class PrometheusSource:
    def __init__(self, settings: PrometheusSettings) -> None:
        self.settings = settings
        session = requests.Session()
        session.verify = tls_verify(settings.ca_file, settings.verify_tls)
        self.client = PrometheusConnect(url=settings.url,
                                        headers=auth_headers(settings.bearer_token_file),
                                        session=session,
                                        disable_ssl=not settings.verify_tls)
        self.queries = 0

    def instant(self, query: str, now: float) -> list[Sample]:
        self.queries += 1
        try:
            result: Any = self.client.custom_query(
                query, params={"time": f"{now:.3f}"},
                timeout=math.ceil(self.settings.timeout_seconds))
        except Exception as exc:
            raise PrometheusUnavailableError(f"query failed: {type(exc).__name__}: "
                                        f"{_redact(str(exc))}") from exc
        return [self._sample(item, query) for item in _vector(result, query)]

    @staticmethod
    def _sample(item: Mapping[str, Any], query: str) -> Sample:
        labels = dict(item.get("metric") or {})
        try:
            timestamp, raw = item["value"]
            value = float(raw)
        except (KeyError, ValueError, TypeError) as exc:
            raise PrometheusUnavailableError(f"malformed sample {item!r} for {query}") from exc
        if math.isnan(value) or math.isinf(value):
            raise PrometheusUnavailableError(f"series {labels} has value {raw} (not a number "
                                        "we can scale on)")
        return Sample(labels, value, float(timestamp))

    def _fresh(self, query: str, now: float) -> None:
        """Reject answers built on samples older than the staleness bound: Prometheus keeps
        returning a series for 5 minutes after its target vanished."""
        limit = now - self.settings.staleness_seconds
        for sample in self.instant(f"timestamp({query})", now):
            if sample.value < limit:
                raise PrometheusUnavailableError(
                    f"series {dict(sample.labels)} is stale: last sample "
                    f"{now - sample.value:.0f} s old (limit {self.settings.staleness_seconds:.0f}"
                    " s)")

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
            if resource == "memory":
                self._fresh(query, now)
        except PrometheusUnavailableError as exc:
            return MetricUnavailable(f"prometheus: {exc}")
        window = self.settings.rate_window_seconds if resource == "cpu" else 0.0
        containers: dict[str, dict[str, dict[str, int]]] = {}
        for sample in samples:
            pod, container = sample.labels.get("pod"), sample.labels.get("container")
            if not pod or not container:
                return MetricUnavailable(f"prometheus: series {dict(sample.labels)} lacks "
                                         "the pod or container label")
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
            self._fresh(query, now)
        except (PrometheusUnavailableError, promql.QueryError) as exc:
            return MetricUnavailable(f"prometheus ({name}): {exc}")
        if not samples:
            return MetricUnavailable(f"prometheus ({name}): empty result for {query}")
        if metric_type == "Pods":
            return _per_pod(samples, name)
        if metric_type == "Object" and len(samples) != 1:
            return MetricUnavailable(f"prometheus ({name}): {len(samples)} series where one "
                                     f"object value is expected; aggregate the query")
        milli = tuple(math.ceil(s.value * 1000.0) for s in samples)
        if metric_type == "Object":
            return ObjectMetricData(milli[0])
        return ExternalMetricData(milli)


def _per_pod(samples: list[Sample], name: str) -> MetricData:
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
    return PodsMetricData(values)


def _vector(result: Any, query: str) -> list[Mapping[str, Any]]:
    if not isinstance(result, list):
        raise PrometheusUnavailableError(f"expected an instant vector for {query}, got "
                                    f"{type(result).__name__}")
    return result


def _redact(text: str) -> str:
    """Error texts from requests can echo headers; never let a bearer token through."""
    return " ".join("Bearer <redacted>" if part.startswith("Bearer") else part
                    for part in text.split(" "))
