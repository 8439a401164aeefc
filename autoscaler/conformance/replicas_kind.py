"""Kind `replicas`: one replica-calculator call for one metric (FORMAT-replicas.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.errors import SpecError
from algorithms.metrics import MetricContext, compute_replicas_for_metric
from algorithms.observation import (
    ExternalMetricData,
    MetricData,
    MetricUnavailable,
    ObjectMetricData,
    PodsMetricData,
)
from algorithms.spec_codec import parse_metric
from autoscaler.conformance import translate as t
from autoscaler.conformance.result import CaseResult


def metric_data(case: Mapping[str, Any], metric_type: str) -> MetricData:
    if metric_type in ("Resource", "ContainerResource"):
        return t.resource_metrics(t.need(case, "pod_metrics", dict, ""))
    if metric_type == "Pods":
        raw = t.need(case, "pod_custom_metrics", dict, "")
        return PodsMetricData({k: t.milli(v, f"pod_custom_metrics.{k}") for k, v in raw.items()})
    if metric_type == "Object":
        if case.get("object_metric") is None:
            t.need(case, "object_metric", (str, type(None)), "")
            return MetricUnavailable("the custom metrics API returned an error")
        return ObjectMetricData(t.milli(case["object_metric"], "object_metric"))
    if metric_type == "External":
        raw_list = t.need(case, "external_metrics", list, "")
        return ExternalMetricData(tuple(t.milli(v, f"external_metrics[{i}]")
                                        for i, v in enumerate(raw_list)))
    raise t.CaseFormatError("metric.type", f"unsupported metric type {metric_type!r}")


def run(case: Mapping[str, Any]) -> CaseResult:
    try:
        metric = parse_metric(t.need(case, "metric", dict, ""), "metric")
    except SpecError as exc:
        raise t.CaseFormatError("metric", str(exc)) from exc
    controller = t.need(case, "controller", dict, "")
    current = t.need(case, "current_replicas", int, "")
    ctx = MetricContext(spec_replicas=current, status_replicas=current,
                        pods=t.pods(t.need(case, "pods", list, "")),
                        tolerances=t.tolerances(controller), rules=t.readiness(controller),
                        now=float(t.need(case, "now", (int, float), "")))
    result = compute_replicas_for_metric(metric, metric_data(case, metric.type), ctx)
    expect = t.need(case, "expect", dict, "")
    if expect.get("error"):
        got = (f"error ({result.failure_message})" if result.failed
               else f"replicas={result.replicas}")
        return CaseResult(result.failed, "error", got)
    if result.failed:
        return CaseResult(False, _expected(expect), f"error: {result.failure_message}")
    current_status = result.status.current
    raw = (current_status.average_value_milli if current_status.average_value_milli is not None
           else current_status.value_milli)
    got_fields = {"replicas": result.replicas, "utilization": current_status.average_utilization,
                  "raw_value_milli": raw}
    want_raw = expect.get("raw_value")
    want = {"replicas": t.need(expect, "replicas", int, "expect"),
            "utilization": expect.get("utilization"),
            "raw_value_milli": None if want_raw is None else t.milli(want_raw,
                                                                     "expect.raw_value")}
    ok = got_fields["replicas"] == want["replicas"] and (
        want["utilization"] is None or got_fields["utilization"] == want["utilization"]) and (
        want["raw_value_milli"] is None or got_fields["raw_value_milli"] == want["raw_value_milli"])
    return CaseResult(ok, _fmt(want), _fmt(got_fields))


def _expected(expect: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in expect.items())


def _fmt(values: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items() if v is not None)
