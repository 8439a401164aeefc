"""``run_case``: run one conformance case (replicas / normalize / reconcile) through the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .behavior import (
    default_behavior,
    normalize_legacy,
    normalize_with_behaviors,
    replicas_change_per_period,
    store_scale_event,
)
from .calculator import ReplicaCalculator
from .controller import UpstreamController
from .history import history_from_dict
from .metricsapi import ANY, CaseMetrics
from .pods import GoError, parse_pod
from .quantity import QuantityError, milli
from .selector import SelectorError
from .settings import parse_settings

Case = Mapping[str, Any]


def _diff(label: str, got: Any, want: Any) -> list[str]:
    return [] if got == want else [f"{label}: got {got!r}, want {want!r}"]


def calculate(case: Case) -> tuple[int, int | None, int]:
    """One replica-calculator call of a ``replicas`` case -> (replicas, utilization, raw value).

    Raises ``GoError`` when the call returns an error.
    """
    settings = parse_settings(case.get("controller"))
    object_metric = case.get("object_metric")
    metrics = CaseMetrics(
        resource_items=case.get("pod_metrics") or {},
        custom_pods={ANY: case.get("pod_custom_metrics") or {}},
        objects=[] if object_metric is None else [{"kind": ANY, "value": object_metric}],
        external={ANY: case.get("external_metrics") or []},
    )
    calc = ReplicaCalculator(
        metrics, [parse_pod(p) for p in case.get("pods") or []],
        settings.cpu_initialization_period, settings.delay_of_initial_readiness_status,
        float(case["now"]),
    )
    current = int(case["current_replicas"])
    tol = settings.tolerances
    spec = case["metric"]
    mtype = spec.get("type")
    source = spec.get({"ContainerResource": "containerResource"}.get(mtype, str(mtype).lower()))
    source = source or {}
    target = source.get("target") or {}
    ttype = target.get("type")
    if mtype in ("Resource", "ContainerResource"):
        resource = str(source.get("name", ""))
        container = str(source.get("container", "")) if mtype == "ContainerResource" else ""
        if ttype == "Utilization":
            return calc.get_resource_replicas(
                current, int(target["averageUtilization"]), resource, tol, container
            )
        replicas, usage = calc.get_raw_resource_replicas(
            current, milli(target["averageValue"]), resource, tol, container
        )
        return replicas, None, usage
    name = str((source.get("metric") or {}).get("name", ""))
    if mtype == "Pods":
        average = milli(target["averageValue"])
        replicas, usage = calc.get_metric_replicas(current, average, name, tol)
    elif mtype == "Object" and ttype == "Value":
        replicas, usage = calc.get_object_metric_replicas(
            current, milli(target["value"]), name, tol, source.get("describedObject") or {}
        )
    elif mtype == "Object":
        replicas, usage = calc.get_object_per_pod_metric_replicas(
            current, milli(target["averageValue"]), name, tol, source.get("describedObject") or {}
        )
    elif mtype == "External" and ttype == "Value":
        selector = (source.get("metric") or {}).get("selector")
        replicas, usage = calc.get_external_metric_replicas(
            current, milli(target["value"]), name, tol, selector
        )
    elif mtype == "External":
        replicas, usage = calc.get_external_per_pod_metric_replicas(
            current, milli(target["averageValue"]), name, tol,
            (source.get("metric") or {}).get("selector"),
        )
    else:
        raise GoError(f"unsupported metric type {mtype!r}")
    return replicas, None, usage


def _run_replicas(case: Case) -> list[str]:
    expect = case["expect"]
    try:
        replicas, utilization, raw = calculate(case)
    except (GoError, SelectorError, QuantityError) as err:
        return [] if expect.get("error") else [f"unexpected error: {err}"]
    if expect.get("error"):
        return [f"expected an error, got replicas={replicas} utilization={utilization} raw={raw}"]
    problems = _diff("replicas", replicas, expect["replicas"])
    problems += _diff("utilization", utilization, expect.get("utilization"))
    if expect.get("raw_value") is not None:
        problems += _diff("raw_value (milli)", raw, milli(expect["raw_value"]))
    return problems


def _run_normalize(case: Case) -> list[str]:
    expect = case["expect"]
    op = case.get("op")
    now = float(case["now"])
    behavior = default_behavior(case.get("behavior"))
    if op == "default_behavior":
        problems: list[str] = []
        for direction, fields in expect["defaulted_behavior"].items():
            rules = (behavior or {}).get(direction) or {}
            for name, want in fields.items():
                if want is None and name in rules:
                    problems.append(f"{direction}.{name}: got {rules[name]!r}, want absent")
                elif want is not None:
                    problems += _diff(f"{direction}.{name}", rules.get(name), want)
        return problems
    history = history_from_dict(case.get("history"))
    settings = parse_settings(case.get("controller"))
    if op == "record_scale_event":
        problems = []
        change = expect.get("period_change")
        if change is not None:
            events = history.scale_up_events if change["direction"] == "up" else (
                history.scale_down_events
            )
            changed = replicas_change_per_period(int(change["period_seconds"]), events, now)
            problems += _diff("period_change", changed, change["replicas"])
        store_scale_event(behavior, history, now, int(case["prev_replicas"]),
                          int(case["new_replicas"]))
        for key, events in (("scale_up_events", history.scale_up_events),
                            ("scale_down_events", history.scale_down_events)):
            if key in expect:
                got_events = [{"replica_change": e.replica_change, "outdated": e.outdated}
                              for e in events]
                problems += _diff(key, got_events, expect[key])
        return problems
    if history.recommendations is None:
        history.recommendations = []
    args = (int(case["current_replicas"]), int(case["desired_replicas"]),
            int(case["min_replicas"]), int(case["max_replicas"]))
    if behavior is None:
        result = normalize_legacy(history, now, settings, *args)
    else:
        result = normalize_with_behaviors(history, now, settings, behavior, *args)
    recs = [r.replicas for r in history.recommendations or []]
    got: dict[str, object] = {
        "replicas": result.replicas,
        "scaling_limited_reason": result.limited_reason,
        "scaling_limited_status": result.limited_status,
        "able_to_scale_reason": result.able_reason,
        "recommendations": recs,
        "recommendations_count": len(recs),
    }
    problems = []
    for key, want in expect.items():
        problems += _diff(key, got.get(key), want) if key in got else [f"unknown expect {key}"]
    return problems


def _cpu_utilization(status: Mapping[str, Any]) -> int | None:
    for entry in status.get("currentMetrics") or []:
        resource = entry.get("resource") or {}
        if entry.get("type") == "Resource" and resource.get("name") == "cpu":
            current = resource.get("current") or {}
            if current.get("averageUtilization") is not None:
                return int(current["averageUtilization"])
    return None


def _run_reconcile(case: Case) -> list[str]:
    expect = case["expect"]
    meta = case["hpa"].get("metadata") or {}
    key = f"{meta.get('namespace', 'test-namespace')}/{meta.get('name', 'test-hpa')}"
    controller = UpstreamController()
    controller.set_history(key, case.get("history"))
    out = controller.reconcile(case)
    status = out["status"]
    problems = _diff("desired_replicas", status.get("desiredReplicas"), expect["desired_replicas"])
    problems += _diff("scale_updated", out["scale_updated"], expect["scale_updated"])
    if expect["scale_updated"] and out["scale_updated"]:
        problems += _diff("new scale replicas", out["new_replicas"], expect["desired_replicas"])
    if "conditions" in expect:
        got = [{"type": c["type"], "status": c["status"], "reason": c["reason"]}
               for c in status.get("conditions") or []]
        problems += _diff("conditions", got, expect["conditions"])
    if "cpu_utilization" in expect:
        problems += _diff("cpu_utilization", _cpu_utilization(status), expect["cpu_utilization"])
    if "status_write" in expect:
        problems += _diff("status_write", out["status_written"], expect["status_write"])
    return problems


def run_case(case: Case) -> list[str]:
    """Mismatch descriptions between the model and ``case["expect"]`` (empty = match)."""
    kind = case.get("kind")
    if kind == "replicas":
        return _run_replicas(case)
    if kind == "normalize":
        return _run_normalize(case)
    if kind == "reconcile":
        return _run_reconcile(case)
    return [f"unknown case kind {kind!r}"]
