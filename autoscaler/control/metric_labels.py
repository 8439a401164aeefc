"""Label values and series values of the daemon's metrics (`autoscaler.control.server`),
as pure functions: bounded condition reasons (upstream's set, else "Other"), the error
class of the project's error tree, the operations, and what `kubectl get hpa` TARGETS shows
as per-metric current and target values."""

from __future__ import annotations

import re

from kubernetes.client.exceptions import ApiException

from algorithms.spec import (
    AVERAGE_VALUE,
    UTILIZATION,
    HorizontalPodAutoscalerSpec,
    MetricSpec,
    MetricTarget,
)
from algorithms.status import HPAStatus, MetricValueStatus
from autoscaler.errors import (
    AutoscalerError,
    ConflictError,
    InputError,
    PermanentError,
    StandbyError,
    TransientError,
    classify,
)

OTHER = "Other"

# Upstream's condition reasons (and this project's: DryRun, InvalidSpec, the advisory
# conditions'): the only values a `reason` label takes besides "Other".
CONDITION_REASONS = frozenset({
    # AbleToScale
    "ReadyForNewScale", "ScaleUpStabilized", "ScaleDownStabilized", "SucceededGetScale",
    "FailedGetScale", "SucceededRescale", "FailedUpdateScale", "BackoffBoth",
    "BackoffDownscale", "BackoffUpscale", "DryRun",
    # ScalingActive
    "ValidMetricFound", "InvalidSelector", "AmbiguousSelector", "SelectorRequired",
    "InvalidMetricSourceType", "InvalidSpec", "ScalingDisabled", "FailedGetResourceMetric",
    "FailedGetContainerResourceMetric", "FailedGetPodsMetric", "FailedGetObjectMetric",
    "FailedGetExternalMetric", "FailedComputeMetricsReplicas",
    # ScalingLimited
    "DesiredWithinRange", "TooFewReplicas", "TooManyReplicas", "ScaleUpLimit",
    "ScaleDownLimit",
    # ScaledToZero
    "ScaledToZero", "NotScaledToZero",
    # advisory conditions (autoscaler/control/safety.py)
    "HostNetworkPods", "ForeignPods", "DuplicateTarget", "Resolved",
})

# Most specific first: the label is the nearest of these classes.
ERROR_CLASSES: tuple[type[AutoscalerError], ...] = (
    ConflictError, TransientError, StandbyError, InputError, PermanentError, AutoscalerError)

# `operation` label values.
OPERATIONS = ("get_scale", "update_scale", "list_pods", "metrics", "prometheus", "load_state",
              "save_state", "event", "lease", "reconcile")

CONDITION_STATUSES = ("true", "false", "unknown")
FALLBACK = "prometheus (fallback: "
# Messages of a metric that cannot be read until its spec or the daemon's flags change.
_CONFIGURATION = ("no spec.metricQueries entry", "no --prometheus-url")
# `autoscaler.prometheus.promql.QueryError` (an InputError): a template that cannot render.
_QUERY_ERRORS = ("unknown placeholder", "is not a valid Prometheus label name")
_HTTP_STATUS = re.compile(r"\bHTTP (\d{3})\b")

Key = tuple[str, str]  # (namespace, name)
Labels = tuple[str, ...]


def bounded_reason(reason: str) -> str:
    """A condition reason as a label value: one of CONDITION_REASONS, else "Other"."""
    return reason if reason in CONDITION_REASONS else OTHER


def error_class(error: BaseException) -> str:
    """The project's error class (autoscaler/errors.py) for a label: anything else is first
    classified like the adapters do (`errors.classify`), never named by its own class."""
    classified = classify(error, "")
    return next(c.__name__ for c in ERROR_CLASSES if isinstance(classified, c))


def unavailable_class(operation: str, message: str) -> str:
    """The class of the error an adapter turned into a `MetricUnavailable` message:
    metrics.k8s.io's messages are `errors.classify`'s (the HTTP status decides as there),
    Prometheus failures are `PrometheusUnavailableError`s (transient) except a template
    that cannot render (`QueryError`, an InputError); a metric the spec or the flags leave
    without a source is permanent (it needs a change). A message without any of these marks
    (the node's cgroups, a client failure without an HTTP answer) counts as transient: the
    one case that differs from the adapter's class is `classify`'s last resort, a
    PermanentError for an unexpected exception, whose message carries no mark."""
    if any(text in message for text in _CONFIGURATION):
        return PermanentError.__name__
    if operation == "prometheus":
        if any(text in message for text in _QUERY_ERRORS):
            return InputError.__name__
        return TransientError.__name__
    if ": malformed answer: " in message:
        return InputError.__name__
    status = _HTTP_STATUS.search(message)
    if status is not None:
        return error_class(ApiException(status=int(status.group(1))))
    return TransientError.__name__


def metric_failures(source: str, unavailable: str | None) -> list[tuple[str, str]]:
    """(operation, message) of each failed read behind one metric: the metrics.k8s.io
    failure a Prometheus fallback covered, and the failure of the source that answered."""
    out = []
    if source.startswith(FALLBACK) and source.endswith(")"):
        out.append(("metrics", source[len(FALLBACK):-1]))
    if unavailable is not None:
        prometheus = source.startswith(("prometheus", "slo-recommender"))
        out.append(("prometheus" if prometheus else "metrics", unavailable))
    return out


def _source(metric: MetricSpec) -> tuple[str, MetricTarget | None]:
    if metric.resource is not None:
        return metric.resource.name, metric.resource.target
    if metric.container_resource is not None:
        return metric.container_resource.name, metric.container_resource.target
    source = metric.pods or metric.object or metric.external
    return (source.metric.name, source.target) if source is not None else ("", None)


def _current(current: MetricValueStatus, target_type: str) -> float | None:
    if target_type == UTILIZATION:
        utilization = current.average_utilization
        return None if utilization is None else utilization / 100
    first, second = current.value_milli, current.average_value_milli
    if target_type == AVERAGE_VALUE:
        first, second = second, first
    milli = first if first is not None else second
    return None if milli is None else milli / 1000


def metric_values(spec: HorizontalPodAutoscalerSpec, status: HPAStatus
                  ) -> tuple[dict[Labels, float], dict[Labels, float],
                             dict[Labels, float], dict[Labels, float]]:
    """(current value, target value, current utilization, target utilization) by
    (metric_type, metric_name, target_type): what `kubectl get hpa` TARGETS shows, in base
    units. A metric that failed this pass has no current value (kubectl: <unknown>); two
    metrics with the same labels share one series (the first in the spec wins)."""
    current: dict[Labels, float] = {}
    target: dict[Labels, float] = {}
    current_ratio: dict[Labels, float] = {}
    target_ratio: dict[Labels, float] = {}
    statuses = status.current_metrics
    for index, metric in enumerate(spec.metrics):
        name, goal = _source(metric)
        if goal is None:
            continue
        labels = (metric.type, name, goal.type)
        utilization = goal.type == UTILIZATION
        if labels in (target_ratio if utilization else target):
            continue
        if utilization:
            if goal.average_utilization is not None:
                target_ratio[labels] = goal.average_utilization / 100
        else:
            quantity = goal.average_value if goal.type == AVERAGE_VALUE else goal.value
            if quantity is not None:
                target[labels] = float(quantity.value)
        if index < len(statuses) and statuses[index].type:
            value = _current(statuses[index].current, goal.type)
            if value is not None:
                (current_ratio if utilization else current)[labels] = value
    return current, target, current_ratio, target_ratio


