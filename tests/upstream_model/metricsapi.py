"""The metrics-API glue: ``metrics/client.go`` over case data, and ``metrics/utilization.go``."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .goint import ZERO_TIME, add64, div64, fdiv, mul64, wrap32
from .pods import GoError, PodMetric, PodMetricsInfo
from .quantity import milli

ANY = "*"
"""Wildcard metric / object name: the replicas kind gives values without naming them."""

INJECTED_ERROR = "the server is currently unable to handle the request (injected)"


@dataclass
class CaseMetrics:
    """What the three metrics APIs answer, taken from a case.

    ``resource_items``: metrics.k8s.io items in API order, ``{pod: {timestamp, window,
    containers: {name: {resource: quantity}}}}``.  ``custom_pods``: ``{metric: {pod: quantity}}``.
    ``objects``: ``[{apiVersion, kind, name, metric, value}]``.  ``external``: ``{metric:
    [quantity]}``.  ``failing``: subset of {"resource", "custom", "external"}.
    """

    resource_items: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    custom_pods: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    objects: Sequence[Mapping[str, Any]] = field(default_factory=list)
    external: Mapping[str, Sequence[Any]] = field(default_factory=dict)
    failing: Collection[str] = field(default_factory=frozenset)

    def get_resource_metric(self, resource: str, container: str) -> PodMetricsInfo:
        """``GetResourceMetric``: a pod lacking the named container is skipped (FORMAT)."""
        if "resource" in self.failing:
            raise GoError(f"unable to fetch metrics from resource metrics API: {INJECTED_ERROR}")
        if not self.resource_items:
            raise GoError("no metrics returned from resource metrics API")
        result: PodMetricsInfo = {}
        for name, item in self.resource_items.items():
            timestamp = item.get("timestamp")
            ts = ZERO_TIME if timestamp is None else float(timestamp)
            window = float(item.get("window") or 0.0)
            containers: Mapping[str, Mapping[str, Any]] = item.get("containers") or {}
            if container:
                usage = containers.get(container)
                if usage is not None and resource in usage:
                    result[name] = PodMetric(milli(usage[resource]), ts, window)
                continue
            if not containers or any(resource not in u for u in containers.values()):
                continue
            total = 0
            for usage in containers.values():
                total = add64(total, milli(usage[resource]))
            result[name] = PodMetric(total, ts, window)
        return result

    def get_raw_metric(self, metric_name: str) -> PodMetricsInfo:
        """``GetRawMetric`` (custom.metrics.k8s.io, pods)."""
        if "custom" in self.failing:
            raise GoError(f"unable to fetch metrics from custom metrics API: {INJECTED_ERROR}")
        values = self.custom_pods.get(metric_name, self.custom_pods.get(ANY)) or {}
        if not values:
            raise GoError("no metrics returned from custom metrics API")
        return {pod: PodMetric(milli(q), ZERO_TIME, 60.0) for pod, q in values.items()}

    def get_object_metric(self, metric_name: str, described: Mapping[str, Any]) -> int:
        """``GetObjectMetric`` (custom.metrics.k8s.io, one object)."""
        if "custom" in self.failing:
            raise GoError(f"unable to fetch metrics from custom metrics API: {INJECTED_ERROR}")
        for obj in self.objects:
            if obj.get("kind") == ANY or (
                obj.get("kind") == described.get("kind")
                and obj.get("name") == described.get("name")
                and obj.get("metric") == metric_name
            ):
                return milli(obj["value"])
        raise GoError(
            "unable to fetch metrics from custom metrics API: the server could not find the "
            f"metric {metric_name} for {described.get('kind')} {described.get('name')}"
        )

    def get_external_metric(self, metric_name: str) -> list[int]:
        """``GetExternalMetric``."""
        if "external" in self.failing:
            raise GoError(f"unable to fetch metrics from external metrics API: {INJECTED_ERROR}")
        values = self.external.get(metric_name, self.external.get(ANY)) or []
        if not values:
            raise GoError("no metrics returned from external metrics API")
        return [milli(v) for v in values]


def resource_utilization_ratio(
    metrics: Mapping[str, PodMetric], requests: Mapping[str, int], target_utilization: int
) -> tuple[float, int, int]:
    """``GetResourceUtilizationRatio`` -> (ratio, utilization %, raw average milli-value)."""
    metrics_total = 0
    requests_total = 0
    entries = 0
    for pod_name, metric in metrics.items():
        request = requests.get(pod_name)
        if request is None:
            continue
        metrics_total = add64(metrics_total, metric.value)
        requests_total = add64(requests_total, request)
        entries += 1
    if requests_total == 0:
        raise GoError("no metrics returned matched known pods")
    utilization = wrap32(div64(mul64(metrics_total, 100), requests_total))
    ratio = fdiv(float(utilization), float(target_utilization))
    return ratio, utilization, div64(metrics_total, entries)


def metric_usage_ratio(metrics: Mapping[str, PodMetric], target_usage: int) -> tuple[float, int]:
    """``GetMetricUsageRatio`` -> (ratio, average usage)."""
    total = 0
    for metric in metrics.values():
        total = add64(total, metric.value)
    usage = div64(total, len(metrics))
    return fdiv(float(usage), float(target_usage)), usage
