"""Kind `reconcile`: one `reconcileAutoscaler` call for one HPA (FORMAT-controller.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from algorithms.decide import decide
from algorithms.errors import SpecError
from algorithms.observation import (
    ExternalMetricData,
    MetricData,
    MetricUnavailable,
    ObjectMetricData,
    Observation,
    PodsMetricData,
    ScaleObservation,
)
from algorithms.plan import Failed, NotAttempted, Outcome, Written, settle
from algorithms.spec import HorizontalPodAutoscalerSpec, MetricSpec
from algorithms.spec_codec import parse_spec
from algorithms.state import ControllerState
from algorithms.status import HPAStatus
from autoscaler.conformance import translate as t
from autoscaler.conformance.result import CaseResult
from autoscaler.status_codec import status_from_dict

_API_DOWN = "the server is currently unable to handle the request"


def _spec(hpa: Mapping[str, Any]) -> HorizontalPodAutoscalerSpec:
    try:
        spec = parse_spec(t.need(hpa, "spec", dict, "hpa"), "hpa.spec")
    except SpecError as exc:
        raise t.CaseFormatError("hpa.spec", str(exc)) from exc
    # Only behavior defaulting applies in these cases (FORMAT-controller.md).
    raw_behavior = hpa["spec"].get("behavior")
    return HorizontalPodAutoscalerSpec(
        scale_target_ref=spec.scale_target_ref, max_replicas=spec.max_replicas,
        min_replicas=spec.min_replicas, metrics=spec.metrics,
        behavior=t.behavior(raw_behavior, "hpa.spec.behavior"))


def _metric_data(case: Mapping[str, Any], metric: MetricSpec) -> MetricData:
    errors = set(t.check(case.get("metrics_api_errors", []), list, "metrics_api_errors"))
    custom = t.check(case.get("custom_metrics") or {}, dict, "custom_metrics")
    if metric.type in ("Resource", "ContainerResource"):
        if "resource" in errors:
            return MetricUnavailable(_API_DOWN)
        return t.resource_metrics(t.need(case, "pod_metrics", dict, ""))
    if metric.type == "Pods" and metric.pods is not None:
        if "custom" in errors:
            return MetricUnavailable(_API_DOWN)
        values = custom.get("pods", {}).get(metric.pods.metric.name, {})
        return PodsMetricData({k: t.milli(v, f"custom_metrics.pods.{k}")
                               for k, v in values.items()})
    if metric.type == "Object" and metric.object is not None:
        if "custom" in errors:
            return MetricUnavailable(_API_DOWN)
        ref = metric.object.described_object
        for i, obj in enumerate(custom.get("objects", [])):
            if (obj.get("kind"), obj.get("name"), obj.get("metric")) == (
                    ref.kind, ref.name, metric.object.metric.name):
                return ObjectMetricData(t.milli(obj.get("value"),
                                                f"custom_metrics.objects[{i}].value"))
        return MetricUnavailable("the custom metrics API returned no value")
    if metric.type == "External" and metric.external is not None:
        if "external" in errors:
            return MetricUnavailable(_API_DOWN)
        raw = t.check(case.get("external_metrics") or {}, dict, "external_metrics")
        values = raw.get(metric.external.metric.name, [])
        return ExternalMetricData(tuple(t.milli(v, "external_metrics") for v in values))
    return MetricUnavailable(f"unknown metric source type {metric.type!r}")


def stored_status(case: Mapping[str, Any]) -> HPAStatus:
    hpa = t.need(case, "hpa", dict, "")
    return status_from_dict(hpa.get("status"), lambda v: t.optional_time(v, "hpa.status"))


def observe(case: Mapping[str, Any]) -> tuple[HorizontalPodAutoscalerSpec, Observation]:
    hpa = t.need(case, "hpa", dict, "")
    spec = _spec(hpa)
    scale_raw = t.need(case, "scale", dict, "")
    scale = None if scale_raw.get("get_error") else ScaleObservation(
        spec_replicas=t.need(scale_raw, "spec_replicas", int, "scale"),
        status_replicas=t.need(scale_raw, "status_replicas", int, "scale"),
        selector=t.need(scale_raw, "selector", str, "scale"))
    metadata = t.check(hpa.get("metadata", {}), dict, "hpa.metadata")
    namespace = str(metadata.get("namespace", "test-namespace"))
    others = tuple((f'{namespace}/{t.need(o, "name", str, "other_hpa_selectors")}',
                    t.need(o, "selector", str, "other_hpa_selectors"))
                   for o in t.check(case.get("other_hpa_selectors", []), list,
                                    "other_hpa_selectors"))
    observation = Observation(
        scale=scale, pods=t.pods(t.need(case, "pods", list, "")),
        metrics=tuple(_metric_data(case, m) for m in spec.metrics),
        generation=metadata.get("generation"),
        scale_error="scale subresource unavailable", other_selectors=others,
        name=f"{namespace}/{metadata.get('name', 'test-hpa')}")
    return spec, observation


def run(case: Mapping[str, Any]) -> CaseResult:
    spec, observation = observe(case)
    now = float(t.need(case, "now", (int, float), ""))
    previous = stored_status(case)
    state = replace(t.history(t.need(case, "history", dict, "")), status=previous)
    plan = decide(spec, observation, state, now, t.controller_config(case.get("controller")))
    outcome: Outcome = NotAttempted()
    if plan.rescale:
        update = case["scale"].get("update", "ok")
        outcome = Failed("the server rejected the update") if update == "error" else Written()
    after = settle(plan, outcome, now)
    expect = t.need(case, "expect", dict, "")
    got = _got(after, isinstance(outcome, Written), previous)
    mismatched = {k for k in expect if got.get(k) != expect[k]}
    return CaseResult(not mismatched, str({k: expect[k] for k in sorted(mismatched)}),
                       str({k: got.get(k) for k in sorted(mismatched)}))


def _got(state: ControllerState, written: bool, previous: HPAStatus) -> dict[str, Any]:
    status = state.status
    got: dict[str, Any] = {
        "desired_replicas": status.desired_replicas,
        "scale_updated": written,
        "conditions": [{"type": c.type, "status": c.status, "reason": c.reason}
                       for c in status.conditions],
        # Upstream writes the status only when it differs (semantic equality).
        "status_write": status != previous,
    }
    for metric in status.current_metrics:
        if metric.type == "Resource" and metric.name == "cpu":
            got["cpu_utilization"] = metric.current.average_utilization
            break
    return got
