"""``replica_calculator.go`` (the Tolerances version)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .goint import MAX_INT32, MAX_INT64, add64, ceil32, ceil64, div64, fdiv, int32_of, mul64
from .goint import ceil as go_ceil
from .metricsapi import CaseMetrics, metric_usage_ratio, resource_utilization_ratio
from .pods import (
    GoError,
    Pod,
    PodMetric,
    PodMetricsInfo,
    calculate_requests,
    group_pods,
    ready_pods_count,
)
from .selector import SelectorError, describe_label_selector, from_label_selector


@dataclass(frozen=True)
class Tolerances:
    scale_down: float
    scale_up: float

    def is_within(self, ratio: float) -> bool:
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass
class ReplicaCalculator:
    """The calculator with its two collaborators: a metrics source and the selected pods."""

    metrics: CaseMetrics
    pods: Sequence[Pod]
    cpu_initialization_period: float
    delay_of_initial_readiness_status: float
    now: float

    def get_resource_replicas(
        self, current: int, target: int, resource: str, tol: Tolerances, container: str
    ) -> tuple[int, int, int]:
        """``GetResourceReplicas`` -> (replicas, utilization, raw utilization)."""
        try:
            metrics = self.metrics.get_resource_metric(resource, container)
        except GoError as err:
            raise GoError(f"unable to get metrics for resource {resource}: {err}") from err
        if not self.pods:
            raise GoError("no pods returned by selector while calculating replica count")
        groups = group_pods(
            self.pods, metrics, resource, self.cpu_initialization_period,
            self.delay_of_initial_readiness_status, self.now,
        )
        for name in groups.ignored | groups.unready:
            metrics.pop(name, None)
        if not metrics:
            raise GoError("did not receive metrics for targeted pods (pods might be unready)")
        requests = calculate_requests(self.pods, container, resource)
        ratio, utilization, raw = resource_utilization_ratio(metrics, requests, target)

        scale_up_with_unready = bool(groups.unready) and ratio > 1.0
        if not scale_up_with_unready and not groups.missing:
            if tol.is_within(ratio):
                return current, utilization, raw
            return ceil32(ratio * float(groups.ready_count)), utilization, raw

        if groups.missing:
            if ratio < 1.0:
                fallback = max(100, target)
                for name in groups.missing:
                    metrics[name] = PodMetric(div64(mul64(requests[name], fallback), 100))
            elif ratio > 1.0:
                for name in groups.missing:
                    metrics[name] = PodMetric(0)
        if scale_up_with_unready:
            for name in groups.unready:
                metrics[name] = PodMetric(0)

        new_ratio, _, _ = resource_utilization_ratio(metrics, requests, target)
        return self._adjusted(current, ratio, new_ratio, len(metrics), tol), utilization, raw

    @staticmethod
    def _adjusted(current: int, ratio: float, new_ratio: float, count: int, tol: Tolerances) -> int:
        """The shared tail of GetResourceReplicas and calcPlainMetricReplicas."""
        if (
            tol.is_within(new_ratio)
            or (ratio < 1.0 and new_ratio > 1.0)
            or (ratio > 1.0 and new_ratio < 1.0)
        ):
            return current
        new_replicas = ceil32(new_ratio * float(count))
        if (new_ratio < 1.0 and new_replicas > current) or (
            new_ratio > 1.0 and new_replicas < current
        ):
            return current
        return new_replicas

    def get_raw_resource_replicas(
        self, current: int, target: int, resource: str, tol: Tolerances, container: str
    ) -> tuple[int, int]:
        """``GetRawResourceReplicas`` -> (replicas, usage)."""
        try:
            metrics = self.metrics.get_resource_metric(resource, container)
        except GoError as err:
            raise GoError(f"unable to get metrics for resource {resource}: {err}") from err
        return self.calc_plain_metric_replicas(metrics, current, target, tol, resource)

    def get_metric_replicas(
        self, current: int, target: int, metric_name: str, tol: Tolerances
    ) -> tuple[int, int]:
        """``GetMetricReplicas`` -> (replicas, usage)."""
        try:
            metrics = self.metrics.get_raw_metric(metric_name)
        except GoError as err:
            raise GoError(f"unable to get metric {metric_name}: {err}") from err
        return self.calc_plain_metric_replicas(metrics, current, target, tol, "")

    def calc_plain_metric_replicas(
        self, metrics: PodMetricsInfo, current: int, target: int, tol: Tolerances, resource: str
    ) -> tuple[int, int]:
        """``calcPlainMetricReplicas``."""
        if not self.pods:
            raise GoError("no pods returned by selector while calculating replica count")
        groups = group_pods(
            self.pods, metrics, resource, self.cpu_initialization_period,
            self.delay_of_initial_readiness_status, self.now,
        )
        for name in groups.ignored | groups.unready:
            metrics.pop(name, None)
        if not metrics:
            raise GoError("did not receive metrics for targeted pods (pods might be unready)")
        ratio, usage = metric_usage_ratio(metrics, target)

        scale_up_with_unready = bool(groups.unready) and ratio > 1.0
        if not scale_up_with_unready and not groups.missing:
            if tol.is_within(ratio):
                return current, usage
            return ceil32(ratio * float(groups.ready_count)), usage

        if groups.missing:
            if ratio < 1.0:
                for name in groups.missing:
                    metrics[name] = PodMetric(target)
            elif ratio > 1.0:
                for name in groups.missing:
                    metrics[name] = PodMetric(0)
        if scale_up_with_unready:
            for name in groups.unready:
                metrics[name] = PodMetric(0)

        new_ratio, _ = metric_usage_ratio(metrics, target)
        return self._adjusted(current, ratio, new_ratio, len(metrics), tol), usage

    def _usage_ratio_replica_count(self, current: int, ratio: float, tol: Tolerances) -> int:
        """``getUsageRatioReplicaCount``."""
        if current == 0:
            return ceil32(ratio)
        if tol.is_within(ratio):
            return current
        try:
            ready = ready_pods_count(self.pods)
        except GoError as err:
            raise GoError(f"unable to calculate ready pods: {err}") from err
        replicas_float = ratio * float(ready)
        if replicas_float > MAX_INT32:
            return MAX_INT32
        return ceil32(replicas_float)

    def _object_metric(self, metric_name: str, described: Mapping[str, Any], ns: str) -> int:
        try:
            return self.metrics.get_object_metric(metric_name, described)
        except GoError as err:
            raise GoError(
                f"unable to get metric {metric_name}: {described.get('kind', '')} on {ns} "
                f"{described.get('name', '')}/{err}"
            ) from err

    def get_object_metric_replicas(
        self, current: int, target: int, metric_name: str, tol: Tolerances,
        described: Mapping[str, Any], namespace: str = "test-namespace",
    ) -> tuple[int, int]:
        """``GetObjectMetricReplicas`` -> (replicas, usage)."""
        usage = self._object_metric(metric_name, described, namespace)
        ratio = fdiv(float(usage), float(target))
        return self._usage_ratio_replica_count(current, ratio, tol), usage

    def get_object_per_pod_metric_replicas(
        self, status_replicas: int, target_average: int, metric_name: str, tol: Tolerances,
        described: Mapping[str, Any], namespace: str = "test-namespace",
    ) -> tuple[int, int]:
        """``GetObjectPerPodMetricReplicas``; at status 0 it proposes ceil(usage/target)."""
        usage = self._object_metric(metric_name, described, namespace)
        replicas = status_replicas
        ratio = fdiv(float(usage), float(target_average) * float(status_replicas))
        if not tol.is_within(ratio):
            replicas = ceil32(fdiv(float(usage), float(target_average)))
        return replicas, ceil64(fdiv(float(usage), float(status_replicas)))

    def _external_values(
        self, metric_name: str, selector: Mapping[str, Any] | None, namespace: str
    ) -> list[int]:
        try:
            from_label_selector(selector)
        except SelectorError as err:
            raise GoError(str(err)) from err
        try:
            return self.metrics.get_external_metric(metric_name)
        except GoError as err:
            raise GoError(
                f"unable to get external metric {namespace}/{metric_name}/"
                f"{describe_label_selector(selector)}: {err}"
            ) from err

    def get_external_metric_replicas(
        self, current: int, target: int, metric_name: str, tol: Tolerances,
        selector: Mapping[str, Any] | None, namespace: str = "test-namespace",
    ) -> tuple[int, int]:
        """``GetExternalMetricReplicas`` -> (replicas, usage); the sum caps at MaxInt64."""
        usage = 0
        for value in self._external_values(metric_name, selector, namespace):
            if value > 0 and usage > MAX_INT64 - value:
                usage = MAX_INT64
                break
            usage = add64(usage, value)
        ratio = fdiv(float(usage), float(target))
        return self._usage_ratio_replica_count(current, ratio, tol), usage

    def get_external_per_pod_metric_replicas(
        self, status_replicas: int, target_per_pod: int, metric_name: str, tol: Tolerances,
        selector: Mapping[str, Any] | None, namespace: str = "test-namespace",
    ) -> tuple[int, int]:
        """``GetExternalPerPodMetricReplicas``; at status 0 it proposes ceil(usage/target)."""
        usage = 0
        for value in self._external_values(metric_name, selector, namespace):
            usage = add64(usage, value)
            if usage < 0:
                usage = MAX_INT64
                break
        replicas = status_replicas
        ratio = fdiv(float(usage), float(target_per_pod) * float(status_replicas))
        if not tol.is_within(ratio):
            result = go_ceil(fdiv(float(usage), float(target_per_pod)))
            replicas = MAX_INT32 if result > float(MAX_INT32) else int32_of(result)
        if float(usage) >= float(MAX_INT64):
            return replicas, MAX_INT64
        return replicas, ceil64(fdiv(float(usage), float(status_replicas)))
