"""Per-metric replica proposals: upstream `replica_calculator.go`, line for line.

All values are int64 milli-values (Go's `Quantity.MilliValue()`), integer division truncates
toward zero, utilization is truncated to int32, and ratios are float64. Each function returns
a `Proposal` or raises `MetricComputationError` with upstream's message.

Worked example (the seed's LlamaEdge Deployment, target 50% of a 3000m request): three ready
pods using 2400m, 1800m and 600m -> utilization int32(4800*100/9000) = 53, ratio 53/50 = 1.06,
inside the 10% tolerance band -> stay at 3. At 2700m each: 90% -> ratio 1.8 -> ceil(1.8*3) = 6.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import NamedTuple

from algorithms.errors import CoreError
from algorithms.goints import MAX_INT32, MAX_INT64, div_trunc, wrap_int32, wrap_int64
from algorithms.pods import (
    RUNNING,
    PodGroups,
    PodInfo,
    PodMetric,
    ReadinessRules,
    RequestError,
    group_pods,
    pod_requests,
)


class MetricComputationError(CoreError):
    """The metric cannot produce a proposal this pass (upstream returns an error)."""


@dataclass(frozen=True, slots=True)
class Tolerances:
    """KEP-4951 per-direction tolerance: no change while (1-down) <= ratio <= (1+up)."""

    scale_down: float = 0.1
    scale_up: float = 0.1

    def is_within(self, ratio: float) -> bool:
        # Evaluated exactly like upstream; `abs(1 - r) <= tol` differs at the edges in float64.
        return (1.0 - self.scale_down) <= ratio <= (1.0 + self.scale_up)


@dataclass(frozen=True, slots=True)
class Proposal:
    """One metric's answer: replicas, the utilization (Utilization targets only) and the
    raw milli-value upstream reports in `status.currentMetrics`."""

    replicas: int
    raw_milli: int
    utilization: int | None = None


def ceil_int32(value: float) -> int:
    """`int32(math.Ceil(x))`, saturated at MaxInt32.

    Upstream saturates only where it has a guard; elsewhere Go's out-of-range conversion is
    platform-defined (MinInt32 on amd64). We saturate everywhere: reachable only with absurd
    metric values, and a negative proposal would scale *down* under overload.
    """
    if math.isnan(value):
        raise MetricComputationError("usage ratio is NaN (is a target zero?)")
    if value > MAX_INT32:
        return MAX_INT32
    if value < -MAX_INT32 - 1:
        return -MAX_INT32 - 1
    return math.ceil(value)


def _ceil_int64(value: float) -> int:
    if math.isnan(value):
        raise MetricComputationError("usage is NaN (are the replicas zero?)")
    if value >= float(MAX_INT64):
        return MAX_INT64
    if value <= -float(MAX_INT64):
        return -MAX_INT64 - 1
    return math.ceil(value)


class Utilization(NamedTuple):
    ratio: float
    utilization: int
    raw_milli: int


def _utilization_ratio(metrics: Mapping[str, PodMetric], requests: Mapping[str, int],
                       target_utilization: int) -> Utilization:
    """`metricsclient.GetResourceUtilizationRatio`: pods without a request are extraneous."""
    metrics_total = 0
    requests_total = 0
    entries = 0
    for name, metric in metrics.items():
        request = requests.get(name)
        if request is None:
            continue
        metrics_total += metric.value_milli
        requests_total += request
        entries += 1
    return utilization_of_totals(metrics_total, requests_total, entries, target_utilization)


def utilization_of_totals(metrics_total: int, requests_total: int, entries: int,
                          target_utilization: int) -> Utilization:
    """The end of `GetResourceUtilizationRatio`, from the unwrapped sums over `entries` pods."""
    # Go wraps on every int64 addition; wrapping once at the end gives the same value
    # (addition modulo 2**64 is associative), at a fraction of the cost.
    metrics_total = wrap_int64(metrics_total)
    requests_total = wrap_int64(requests_total)
    if requests_total == 0:
        raise MetricComputationError("no metrics returned matched known pods")
    utilization = wrap_int32(div_trunc(wrap_int64(metrics_total * 100), requests_total))
    return Utilization(ratio=float(utilization) / float(target_utilization),
                       utilization=utilization,
                       raw_milli=div_trunc(metrics_total, entries))


def _usage_ratio(metrics: Mapping[str, PodMetric], target_usage: int) -> tuple[float, int]:
    """`metricsclient.GetMetricUsageRatio`: plain average over every entry."""
    total = wrap_int64(sum(metric.value_milli for metric in metrics.values()))
    usage = div_trunc(total, len(metrics))
    return float(usage) / float(target_usage), usage


def _flipped(old: float, new: float) -> bool:
    """Filling in pods must never turn a scale-up into a scale-down or vice versa."""
    return (old < 1.0 and new > 1.0) or (old > 1.0 and new < 1.0)


def _counted_metrics(pods: tuple[PodInfo, ...], metrics: Mapping[str, PodMetric],
                     resource: str, rules: ReadinessRules, now: float
                     ) -> tuple[PodGroups, Mapping[str, PodMetric]]:
    """Group the pods; keep the samples of ready pods (and of pods we have no record of,
    as upstream does); error when nothing is left to average."""
    if not pods:
        raise MetricComputationError("no pods returned by selector while calculating "
                                     "replica count")
    groups = group_pods(pods, metrics, resource, rules, now)
    counted: Mapping[str, PodMetric] = metrics  # read-only below: no copy when all count
    if groups.ignored or groups.unready:
        counted = {name: m for name, m in metrics.items()
                   if name not in groups.ignored and name not in groups.unready}
    if not counted:
        raise MetricComputationError("did not receive metrics for targeted pods "
                                     "(pods might be unready)")
    return groups, counted


def get_resource_replicas(current_replicas: int, target_utilization: int, resource: str,
                          container: str, pods: tuple[PodInfo, ...],
                          metrics: Mapping[str, PodMetric], tolerances: Tolerances,
                          rules: ReadinessRules, now: float) -> Proposal:
    """`GetResourceReplicas`: a Utilization target (percent of request)."""
    if not metrics:
        raise MetricComputationError(f"unable to get metrics for resource {resource}: "
                                     "no metrics returned from resource metrics API")
    groups, counted = _counted_metrics(pods, metrics, resource, rules, now)
    try:
        requests = pod_requests(pods, container, resource)
    except RequestError as exc:
        raise MetricComputationError(str(exc)) from exc
    first = _utilization_ratio(counted, requests, target_utilization)
    ratio = first.ratio

    def proposal(replicas: int) -> Proposal:
        return Proposal(replicas=replicas, raw_milli=first.raw_milli,
                        utilization=first.utilization)

    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(ratio):
            return proposal(current_replicas)
        return proposal(ceil_int32(ratio * float(groups.ready_count)))

    filled = dict(counted)
    if groups.missing:
        if ratio < 1.0:
            # Scale-down: assume missing pods use max(100%, target) of their request, so
            # we never scale down because a pod's metrics are late.
            fill_percent = max(100, target_utilization)
            for name in groups.missing:
                filled[name] = PodMetric(div_trunc(requests[name] * fill_percent, 100))
        elif ratio > 1.0:
            for name in groups.missing:
                filled[name] = PodMetric(0)
    if scale_up_with_unready:
        # Scale-up: unready pods are assumed idle, damping the jump while they start.
        for name in groups.unready:
            filled[name] = PodMetric(0)

    new_ratio = _utilization_ratio(filled, requests, target_utilization).ratio
    if tolerances.is_within(new_ratio) or _flipped(ratio, new_ratio):
        return proposal(current_replicas)
    new_replicas = ceil_int32(new_ratio * float(len(filled)))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (
            new_ratio > 1.0 and new_replicas < current_replicas):
        return proposal(current_replicas)
    return proposal(new_replicas)


def calc_plain_metric_replicas(metrics: Mapping[str, PodMetric], current_replicas: int,
                               target_usage: int, resource: str, pods: tuple[PodInfo, ...],
                               tolerances: Tolerances, rules: ReadinessRules, now: float
                               ) -> Proposal:
    """`calcPlainMetricReplicas`: AverageValue of a resource, or a Pods metric."""
    groups, counted = _counted_metrics(pods, metrics, resource, rules, now)
    ratio, usage = _usage_ratio(counted, target_usage)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if tolerances.is_within(ratio):
            return Proposal(current_replicas, usage)
        return Proposal(ceil_int32(ratio * float(groups.ready_count)), usage)

    filled = dict(counted)
    if groups.missing:
        if ratio < 1.0:
            for name in groups.missing:
                filled[name] = PodMetric(target_usage)
        elif ratio > 1.0:
            for name in groups.missing:
                filled[name] = PodMetric(0)
    if scale_up_with_unready:
        for name in groups.unready:
            filled[name] = PodMetric(0)

    new_ratio, _ = _usage_ratio(filled, target_usage)
    if tolerances.is_within(new_ratio) or _flipped(ratio, new_ratio):
        return Proposal(current_replicas, usage)
    new_replicas = ceil_int32(new_ratio * float(len(filled)))
    if (new_ratio < 1.0 and new_replicas > current_replicas) or (
            new_ratio > 1.0 and new_replicas < current_replicas):
        return Proposal(current_replicas, usage)
    return Proposal(new_replicas, usage)


def usage_ratio_replica_count(current_replicas: int, ratio: float, tolerances: Tolerances,
                              pods: tuple[PodInfo, ...]) -> int:
    """`getUsageRatioReplicaCount` (Object/External Value targets).

    From zero replicas (KEP-2021 scale-to-zero) there are no pods to count: ceil(ratio)
    directly, with no tolerance, so 0.3 of the target wakes one pod and 0 keeps zero.
    """
    if current_replicas == 0:
        return ceil_int32(ratio)
    if tolerances.is_within(ratio):
        return current_replicas
    if not pods:
        raise MetricComputationError("unable to calculate ready pods: no pods returned by "
                                     "selector while calculating replica count")
    ready = sum(1 for p in pods if p.phase == RUNNING and p.ready == "True")
    return ceil_int32(ratio * float(ready))


def get_object_metric_replicas(current_replicas: int, target_milli: int, usage_milli: int,
                               tolerances: Tolerances, pods: tuple[PodInfo, ...]) -> Proposal:
    ratio = float(usage_milli) / float(target_milli)
    return Proposal(usage_ratio_replica_count(current_replicas, ratio, tolerances, pods),
                    usage_milli)


def get_external_metric_replicas(current_replicas: int, target_milli: int,
                                 values_milli: tuple[int, ...], tolerances: Tolerances,
                                 pods: tuple[PodInfo, ...]) -> Proposal:
    if not values_milli:
        raise MetricComputationError("no metrics returned from external metrics API")
    usage = 0
    for value in values_milli:
        if value > 0 and usage > MAX_INT64 - value:
            usage = MAX_INT64  # saturate instead of wrapping to a negative sum
            break
        usage += value
    return get_object_metric_replicas(current_replicas, target_milli, usage, tolerances, pods)


def _per_pod(status_replicas: int, target_average_milli: int, usage_milli: int,
             tolerances: Tolerances) -> int:
    replicas = status_replicas
    ratio = _safe_div(float(usage_milli), float(target_average_milli) * float(status_replicas))
    if not tolerances.is_within(ratio):
        replicas = ceil_int32(float(usage_milli) / float(target_average_milli))
    return replicas


def _safe_div(a: float, b: float) -> float:
    """IEEE-754 division as Go does it: x/0 is +-Inf and 0/0 is NaN, never an exception."""
    if b == 0.0:
        return math.nan if a == 0.0 else math.copysign(math.inf, a)
    return a / b


def _per_pod_average(usage_milli: int, status_replicas: int) -> int:
    """`int64(math.Ceil(float64(usage) / float64(statusReplicas)))`, the per-pod value shown
    in the status. At zero replicas Go divides by zero (0/0 = NaN, x/0 = +-Inf) and converts
    without error; the conversion is platform-defined, so we report 0 for 0/0 (nothing per
    pod) and saturate otherwise. The proposal itself is computed upstream's way regardless:
    a queue metric at zero replicas must keep proposing (KEP-2021 scale from zero)."""
    if status_replicas == 0 and usage_milli == 0:
        return 0
    return _ceil_int64(_safe_div(float(usage_milli), float(status_replicas)))


def get_object_per_pod_metric_replicas(status_replicas: int, target_average_milli: int,
                                       usage_milli: int, tolerances: Tolerances) -> Proposal:
    """`GetObjectPerPodMetricReplicas` (Object AverageValue; receives status.replicas)."""
    replicas = _per_pod(status_replicas, target_average_milli, usage_milli, tolerances)
    return Proposal(replicas, _per_pod_average(usage_milli, status_replicas))


def get_external_per_pod_metric_replicas(status_replicas: int, target_average_milli: int,
                                         values_milli: tuple[int, ...],
                                         tolerances: Tolerances) -> Proposal:
    """`GetExternalPerPodMetricReplicas` (External AverageValue; receives status.replicas)."""
    if not values_milli:
        raise MetricComputationError("no metrics returned from external metrics API")
    usage = 0
    for value in values_milli:
        usage = wrap_int64(usage + value)
        if usage < 0:
            usage = MAX_INT64  # upstream's overflow guard
            break
    replicas = _per_pod(status_replicas, target_average_milli, usage, tolerances)
    if float(usage) >= float(MAX_INT64):
        return Proposal(replicas, MAX_INT64)
    return Proposal(replicas, _per_pod_average(usage, status_replicas))
