"""autoscaling/v2 HPA status JSON <-> `algorithms.status.HPAStatus`.

Times are converted by a caller-supplied function (the API carries RFC 3339 strings, the
conformance cases carry seconds), so this module does no clock or time-zone work itself.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from algorithms.quantity import format_milli, milli_value
from algorithms.spec import CrossVersionObjectReference, MetricIdentifier
from algorithms.spec_codec import identifier_to_dict, parse_metric
from algorithms.status import Condition, HPAStatus, MetricStatus, MetricValueStatus

TimeIn = Callable[[Any], float | None]
TimeOut = Callable[[float], Any]

_SOURCE_KEYS = {"Resource": "resource", "ContainerResource": "containerResource",
                "Pods": "pods", "Object": "object", "External": "external"}


def status_from_dict(raw: Mapping[str, Any] | None, time_in: TimeIn) -> HPAStatus:
    if not raw:
        return HPAStatus()
    conditions = tuple(
        Condition(type=c["type"], status=c["status"], reason=c.get("reason", ""),
                  message=c.get("message", ""),
                  last_transition_time=time_in(c.get("lastTransitionTime")))
        for c in raw.get("conditions") or [])
    return HPAStatus(
        current_replicas=int(raw.get("currentReplicas", 0)),
        desired_replicas=int(raw.get("desiredReplicas", 0)),
        observed_generation=raw.get("observedGeneration"),
        last_scale_time=time_in(raw.get("lastScaleTime")),
        current_metrics=tuple(_metric_status(m) for m in raw.get("currentMetrics") or []),
        conditions=conditions)


def _identifier(raw: Mapping[str, Any] | None) -> MetricIdentifier | None:
    if raw is None:
        return None
    # Reuse the spec parser for the selector: one grammar, one set of error messages.
    metric = parse_metric({"type": "Pods", "pods": {
        "metric": raw, "target": {"type": "AverageValue", "averageValue": "1"}}}, "metric")
    assert metric.pods is not None
    return metric.pods.metric


def _current(raw: Mapping[str, Any] | None, binary: bool) -> MetricValueStatus:
    raw = raw or {}
    return MetricValueStatus(
        value_milli=milli_value(raw["value"]) if raw.get("value") is not None else None,
        average_value_milli=(milli_value(raw["averageValue"])
                             if raw.get("averageValue") is not None else None),
        average_utilization=raw.get("averageUtilization"), binary=binary)


def _metric_status(raw: Mapping[str, Any]) -> MetricStatus:
    metric_type = raw.get("type", "")
    body = raw.get(_SOURCE_KEYS.get(metric_type, ""), None) or {}
    name = body.get("name", "")
    described = body.get("describedObject")
    return MetricStatus(
        type=metric_type, name=name, container=body.get("container", ""),
        metric=_identifier(body.get("metric")),
        described_object=None if described is None else CrossVersionObjectReference(
            kind=described["kind"], name=described["name"],
            api_version=described.get("apiVersion", "")),
        current=_current(body.get("current"), binary=name == "memory"))


def _current_dict(current: MetricValueStatus) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if current.value_milli is not None:
        out["value"] = format_milli(current.value_milli, current.binary)
    if current.average_value_milli is not None:
        out["averageValue"] = format_milli(current.average_value_milli, current.binary)
    if current.average_utilization is not None:
        out["averageUtilization"] = current.average_utilization
    return out


def metric_status_to_dict(status: MetricStatus) -> dict[str, Any]:
    if not status.type:
        return {"type": ""}
    body: dict[str, Any] = {"current": _current_dict(status.current)}
    if status.type in ("Resource", "ContainerResource"):
        body["name"] = status.name
        if status.type == "ContainerResource":
            body["container"] = status.container
    if status.metric is not None:
        body["metric"] = identifier_to_dict(status.metric)
    if status.described_object is not None:
        ref = status.described_object
        body["describedObject"] = {"kind": ref.kind, "name": ref.name,
                                   **({"apiVersion": ref.api_version} if ref.api_version else {})}
    return {"type": status.type, _SOURCE_KEYS[status.type]: body}


def status_to_dict(status: HPAStatus, time_out: TimeOut) -> dict[str, Any]:
    out: dict[str, Any] = {"currentReplicas": status.current_replicas,
                           "desiredReplicas": status.desired_replicas}
    if status.observed_generation is not None:
        out["observedGeneration"] = status.observed_generation
    if status.last_scale_time is not None:
        out["lastScaleTime"] = time_out(status.last_scale_time)
    if status.current_metrics:
        out["currentMetrics"] = [metric_status_to_dict(m) for m in status.current_metrics]
    if status.conditions:
        out["conditions"] = [
            {"type": c.type, "status": c.status, "reason": c.reason, "message": c.message,
             **({"lastTransitionTime": time_out(c.last_transition_time)}
                if c.last_transition_time is not None else {})}
            for c in status.conditions]
    return out
