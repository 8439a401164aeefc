"""The independent upstream model (tests/upstream_model) against the vendored conformance cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from upstream_model import UpstreamController
from upstream_model.calculator import ReplicaCalculator, Tolerances
from upstream_model.conformance import run_case
from upstream_model.goint import MAX_INT64
from upstream_model.metricsapi import ANY, CaseMetrics

DATA = Path(__file__).parent / "data" / "conformance"
KEY = "test-namespace/test-hpa"


def _cases() -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    for name in ("replicas.json", "normalize.json", "reconcile.json"):
        cases.extend(json.loads((DATA / name).read_text())["cases"])
    return cases


CASES = _cases()


def test_case_count() -> None:
    assert len(CASES) == 240
    assert len({c["id"] for c in CASES}) == 240


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_conformance_case(case: dict[str, Any]) -> None:
    assert run_case(case) == []


# -- zero status replicas: per-pod Object/External propose without error ---------------------

TOL = Tolerances(0.1, 0.1)


def _calc(object_milli: int | None = None, external: list[str] | None = None) -> ReplicaCalculator:
    metrics = CaseMetrics(
        objects=[] if object_milli is None else [{"kind": ANY, "value": f"{object_milli}m"}],
        external={ANY: external or []},
    )
    return ReplicaCalculator(metrics, [], 120.0, 10.0, 1_000_000.0)


@pytest.mark.parametrize(
    ("usage", "target", "want"),
    [
        (0, 10_000, (0, 0)),  # 0/0 average -> int64(NaN) -> 0
        (20_000, 10_000, (2, MAX_INT64)),  # x/0 average -> int64(+Inf) saturates
        (1, 10_000, (1, MAX_INT64)),
    ],
)
def test_object_per_pod_at_zero_status_replicas(
    usage: int, target: int, want: tuple[int, int]
) -> None:
    got = _calc(object_milli=usage).get_object_per_pod_metric_replicas(
        0, target, "qps", TOL, {"kind": "Deployment", "name": "d"}
    )
    assert got == want


@pytest.mark.parametrize(
    ("values", "target", "want"),
    [
        (["0"], 3_000, (0, 0)),
        (["0", "0"], 3_000, (0, 0)),
        (["8600m"], 3_000, (3, MAX_INT64)),
    ],
)
def test_external_per_pod_at_zero_status_replicas(
    values: list[str], target: int, want: tuple[int, int]
) -> None:
    got = _calc(external=values).get_external_per_pod_metric_replicas(0, target, "qps", TOL, {})
    assert got == want


# -- reconcile helpers ----------------------------------------------------------------------

GATES = {"HPAScaleToZero": True, "HPAConfigurableTolerance": True, "HPAGeneration": True}


def _object_metric(name: str, target: str, kind: str = "Value") -> dict[str, Any]:
    key = "value" if kind == "Value" else "averageValue"
    return {
        "type": "Object",
        "object": {
            "describedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
            "metric": {"name": name},
            "target": {"type": kind, key: target},
        },
    }


def _reconcile_case(
    metrics: list[dict[str, Any]], objects: dict[str, str], *, replicas: int, min_replicas: int,
    conditions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    pods = [
        {"name": f"test-pod-{i}", "phase": "Running", "ready": "True",
         "ready_transition_time": None, "start_time": -62135596800.0, "deleting": False,
         "labels": {"name": "test-pod"}, "containers": [{"name": "c", "requests": {"cpu": "1"}}]}
        for i in range(replicas)
    ]
    return {
        "kind": "reconcile",
        "now": 1_000_000.0,
        "hpa": {
            "metadata": {"name": "test-hpa", "namespace": "test-namespace", "generation": 3},
            "spec": {
                "scaleTargetRef": {"kind": "Deployment", "name": "app", "apiVersion": "apps/v1"},
                "minReplicas": min_replicas, "maxReplicas": 10, "metrics": metrics,
            },
            "status": {"currentReplicas": replicas, "desiredReplicas": replicas,
                       "conditions": conditions or []},
        },
        "scale": {"spec_replicas": replicas, "status_replicas": replicas,
                  "selector": "name=test-pod"},
        "pods": pods,
        "pod_metrics": {},
        "custom_metrics": {"objects": [
            {"apiVersion": "apps/v1", "kind": "Deployment", "name": n, "metric": n, "value": v}
            for n, v in objects.items()
        ]},
        "controller": {"tolerance": 0.1, "cpu_initialization_period": 120.0,
                       "delay_of_initial_readiness_status": 10.0,
                       "downscale_stabilization_window": 0.0, "feature_gates": GATES},
    }


def _condition(out: dict[str, Any], ctype: str) -> dict[str, Any]:
    return next(c for c in out["status"]["conditions"] if c["type"] == ctype)


def test_reconcile_from_zero_with_per_pod_object_metric() -> None:
    """status.replicas == 0: the per-pod proposal ceil(usage/target) is used, no error."""
    case = _reconcile_case(
        [_object_metric("qps", "10", kind="AverageValue")], {"qps": "25"}, replicas=0,
        min_replicas=0,
        conditions=[{"type": "ScaledToZero", "status": "True", "reason": "ScaledToZero"}],
    )
    out = UpstreamController().reconcile(case)
    assert out["error"] == ""
    assert out["scale_updated"] and out["new_replicas"] == 3
    assert out["status"]["currentMetrics"][0]["object"]["current"] == {
        "averageValue": "9223372036854775807m"
    }
    assert _condition(out, "ScalingActive")["reason"] == "ValidMetricFound"
    assert out["status"]["observedGeneration"] == 3


@pytest.mark.parametrize(
    ("values", "named"),
    [
        ({"first": "0", "second": "0"}, "second"),  # all proposals 0: the LAST metric is named
        ({"first": "0", "second": "0", "third": "0"}, "third"),
        ({"first": "40", "second": "0"}, "first"),
        ({"first": "0", "second": "40"}, "second"),
        ({"first": "40", "second": "40"}, "first"),  # equal non-zero: the first keeps it
    ],
)
def test_metric_named_in_valid_metric_found(values: dict[str, str], named: str) -> None:
    metrics = [_object_metric(name, "10") for name in values]
    case = _reconcile_case(metrics, values, replicas=4, min_replicas=0)
    out = UpstreamController().reconcile(case)
    message = _condition(out, "ScalingActive")["message"]
    assert message.endswith(f"from Deployment metric {named}"), message


def test_history_round_trip_and_case_history_ignored() -> None:
    controller = UpstreamController()
    history = {
        "recommendations": [{"replicas": 7, "timestamp": 999_990.0}],
        "scale_up_events": [{"replica_change": 2, "timestamp": 999_990.0, "outdated": False}],
        "scale_down_events": [],
    }
    controller.set_history(KEY, history)
    assert controller.history(KEY) == history
    assert UpstreamController().history(KEY)["recommendations"] is None
    case = _reconcile_case([_object_metric("qps", "10")], {"qps": "10"}, replicas=4,
                           min_replicas=1)
    case["history"] = {"recommendations": None, "scale_up_events": [], "scale_down_events": []}
    controller.reconcile(case)
    recs = controller.history(KEY)["recommendations"]
    assert [r["replicas"] for r in recs] == [4]  # the 0 s window replaces the old 7 in place
