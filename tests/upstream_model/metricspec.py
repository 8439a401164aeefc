"""``computeReplicasForMetric`` and the ``computeStatusFor*Metric`` functions of horizontal.go.

Each function returns ``(replica proposal, metric name, MetricStatus JSON)`` or raises
``MetricFailure`` carrying the ScalingActive condition of ``getUnableComputeReplicaCountCondition``
and the error ``computeReplicasForMetric`` returns.  That helper's Warning event is appended to
``events`` as ``{"type", "reason", "message"}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .calculator import ReplicaCalculator, Tolerances
from .pods import GoError
from .quantity import QuantityError, format_milli, milli
from .selector import SelectorError, describe_label_selector, from_label_selector

Event = dict[str, str]
MetricStatus = dict[str, Any]


class MetricFailure(Exception):  # noqa: N818 -- mirrors Go's (condition, err) pair
    def __init__(self, reason: str, message: str, error: str) -> None:
        super().__init__(error)
        self.reason = reason
        self.message = message
        self.error = error


@dataclass
class MetricContext:
    calc: ReplicaCalculator
    spec_replicas: int
    status_replicas: int
    tolerances: Tolerances
    namespace: str
    events: list[Event]

    def fail(self, reason: str, err: str, returned: str) -> MetricFailure:
        """``getUnableComputeReplicaCountCondition`` (emits the event) + the returned error."""
        self.events.append({"type": "Warning", "reason": reason, "message": err})
        message = f"the HPA was unable to compute the replica count: {err}"
        return MetricFailure(reason, message, returned)


def _milli(value: Any) -> int:
    try:
        return milli(value)
    except QuantityError as err:
        raise GoError(str(err)) from err


def _identifier(metric: Mapping[str, Any]) -> dict[str, Any]:
    ident: dict[str, Any] = {"name": metric.get("name", "")}
    if metric.get("selector") is not None:
        ident["selector"] = metric["selector"]
    return ident


def _object(ctx: MetricContext, spec: Mapping[str, Any]) -> tuple[int, str, MetricStatus]:
    source = spec.get("object") or {}
    metric = source.get("metric") or {}
    described = source.get("describedObject") or {}
    name = str(metric.get("name", ""))
    target = source.get("target") or {}
    prefix = "failed to get object metric value: "
    try:
        from_label_selector(metric.get("selector"))
    except SelectorError as err:
        raise ctx.fail("FailedGetObjectMetric", str(err), prefix + str(err)) from err
    status: MetricStatus = {
        "type": "Object",
        "object": {"describedObject": described, "metric": _identifier(metric)},
    }
    if target.get("type") == "Value" and target.get("value") is not None:
        try:
            replicas, usage = ctx.calc.get_object_metric_replicas(
                ctx.spec_replicas, _milli(target["value"]), name, ctx.tolerances, described,
                ctx.namespace,
            )
        except GoError as err:
            raise ctx.fail("FailedGetObjectMetric", str(err), prefix + str(err)) from err
        status["object"]["current"] = {"value": format_milli(usage)}
        return replicas, f"{described.get('kind', '')} metric {name}", status
    if target.get("type") == "AverageValue" and target.get("averageValue") is not None:
        try:
            replicas, usage = ctx.calc.get_object_per_pod_metric_replicas(
                ctx.status_replicas, _milli(target["averageValue"]), name, ctx.tolerances,
                described, ctx.namespace,
            )
        except GoError as err:
            returned = f"{prefix}failed to get {name} object metric: {err}"
            raise ctx.fail("FailedGetObjectMetric", str(err), returned) from err
        status["object"]["current"] = {"averageValue": format_milli(usage)}
        selector_text = describe_label_selector(metric.get("selector"))
        return replicas, f"external metric {name}({selector_text})", status
    err_text = (
        "invalid object metric source: neither a value target nor an average value target was set"
    )
    raise ctx.fail("FailedGetObjectMetric", err_text, prefix + err_text)


def _pods(ctx: MetricContext, spec: Mapping[str, Any]) -> tuple[int, str, MetricStatus]:
    source = spec.get("pods") or {}
    metric = source.get("metric") or {}
    name = str(metric.get("name", ""))
    target = source.get("target") or {}
    prefix = "failed to get pods metric value: "
    try:
        from_label_selector(metric.get("selector"))
        if target.get("averageValue") is None:
            raise GoError("invalid pods metric source: no average value target was set")
        replicas, usage = ctx.calc.get_metric_replicas(
            ctx.spec_replicas, _milli(target["averageValue"]), name, ctx.tolerances
        )
    except (SelectorError, GoError) as err:
        raise ctx.fail("FailedGetPodsMetric", str(err), prefix + str(err)) from err
    status: MetricStatus = {
        "type": "Pods",
        "pods": {"metric": _identifier(metric), "current": {"averageValue": format_milli(usage)}},
    }
    return replicas, f"pods metric {name}", status


def _resource_generic(
    ctx: MetricContext, target: Mapping[str, Any], resource: str, container: str
) -> tuple[int, dict[str, Any], str]:
    """``computeStatusForResourceMetricGeneric``."""
    binary = resource == "memory"
    if target.get("averageValue") is not None:
        try:
            replicas, raw = ctx.calc.get_raw_resource_replicas(
                ctx.spec_replicas, _milli(target["averageValue"]), resource, ctx.tolerances,
                container,
            )
        except GoError as err:
            raise GoError(f"failed to get {resource} usage: {err}") from err
        return replicas, {"averageValue": format_milli(raw, binary)}, f"{resource} resource"
    if target.get("averageUtilization") is None:
        raise GoError(
            "invalid resource metric source: neither an average utilization target nor an "
            "average value (usage) target was set"
        )
    try:
        replicas, utilization, raw = ctx.calc.get_resource_replicas(
            ctx.spec_replicas, int(target["averageUtilization"]), resource, ctx.tolerances,
            container,
        )
    except GoError as err:
        raise GoError(f"failed to get {resource} utilization: {err}") from err
    kind = "container resource" if container else "resource"
    name = f"{resource} {kind} utilization (percentage of request)"
    current = {"averageValue": format_milli(raw, binary), "averageUtilization": utilization}
    return replicas, current, name


def _resource(ctx: MetricContext, spec: Mapping[str, Any]) -> tuple[int, str, MetricStatus]:
    source = spec.get("resource") or {}
    resource = str(source.get("name", ""))
    try:
        replicas, current, name = _resource_generic(ctx, source.get("target") or {}, resource, "")
    except GoError as err:
        returned = f"failed to get {resource} resource metric value: {err}"
        raise ctx.fail("FailedGetResourceMetric", str(err), returned) from err
    return replicas, name, {"type": "Resource", "resource": {"name": resource, "current": current}}


def _container_resource(
    ctx: MetricContext, spec: Mapping[str, Any]
) -> tuple[int, str, MetricStatus]:
    source = spec.get("containerResource") or {}
    resource = str(source.get("name", ""))
    container = str(source.get("container", ""))
    try:
        replicas, current, name = _resource_generic(
            ctx, source.get("target") or {}, resource, container
        )
    except GoError as err:
        returned = f"failed to get {container} container metric value: {err}"
        raise ctx.fail("FailedGetContainerResourceMetric", str(err), returned) from err
    status: MetricStatus = {
        "type": "ContainerResource",
        "containerResource": {"name": resource, "container": container, "current": current},
    }
    return replicas, name, status


def _external(ctx: MetricContext, spec: Mapping[str, Any]) -> tuple[int, str, MetricStatus]:
    source = spec.get("external") or {}
    metric = source.get("metric") or {}
    name = str(metric.get("name", ""))
    selector = metric.get("selector")
    target = source.get("target") or {}
    prefix = f"failed to get {name} external metric value: "
    metric_name = f"external metric {name}({describe_label_selector(selector)})"
    status: MetricStatus = {"type": "External", "external": {"metric": _identifier(metric)}}
    if target.get("averageValue") is not None:
        try:
            replicas, usage = ctx.calc.get_external_per_pod_metric_replicas(
                ctx.status_replicas, _milli(target["averageValue"]), name, ctx.tolerances,
                selector, ctx.namespace,
            )
        except GoError as err:
            returned = f"{prefix}failed to get {name} external metric: {err}"
            raise ctx.fail("FailedGetExternalMetric", str(err), returned) from err
        status["external"]["current"] = {"averageValue": format_milli(usage)}
        return replicas, metric_name, status
    if target.get("value") is not None:
        try:
            replicas, usage = ctx.calc.get_external_metric_replicas(
                ctx.spec_replicas, _milli(target["value"]), name, ctx.tolerances, selector,
                ctx.namespace,
            )
        except GoError as err:
            returned = f"{prefix}failed to get external metric {name}: {err}"
            raise ctx.fail("FailedGetExternalMetric", str(err), returned) from err
        status["external"]["current"] = {"value": format_milli(usage)}
        return replicas, metric_name, status
    err_text = (
        "invalid external metric source: neither a value target nor an average value target was set"
    )
    raise ctx.fail("FailedGetExternalMetric", err_text, prefix + err_text)


_BY_TYPE = {
    "Object": _object,
    "Pods": _pods,
    "Resource": _resource,
    "ContainerResource": _container_resource,
    "External": _external,
}


def compute_replicas_for_metric(
    ctx: MetricContext, spec: Mapping[str, Any]
) -> tuple[int, str, MetricStatus]:
    """``computeReplicasForMetric``."""
    handler = _BY_TYPE.get(str(spec.get("type", "")))
    if handler is None:
        err_text = f'unknown metric source type "{spec.get("type", "")}"'
        raise ctx.fail("InvalidMetricSourceType", err_text, err_text)
    return handler(ctx, spec)
