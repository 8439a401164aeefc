"""The decision log's TARGETS cell for value targets, as `kubectl get hpa` prints it."""

from __future__ import annotations

from typing import Any

import pytest

from algorithms.defaults import set_defaults
from algorithms.spec_codec import parse_spec
from algorithms.status import HPAStatus, MetricStatus, MetricValueStatus
from autoscaler.replay.records import targets_cell

REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
OBJ = {"apiVersion": "v1", "kind": "Service", "name": "web"}


def spec_of(metric: dict[str, Any]) -> Any:
    return set_defaults(parse_spec({"scaleTargetRef": REF, "maxReplicas": 10,
                                    "metrics": [metric]}))


def status_of(kind: str, value: int | None = None, average: int | None = None,
              binary: bool = False) -> HPAStatus:
    current = MetricValueStatus(value_milli=value, average_value_milli=average, binary=binary)
    return HPAStatus(current_metrics=(MetricStatus(type=kind, current=current),))


EXTERNAL_AVG = {"type": "External", "external": {"metric": {"name": "llm_slo_replicas"},
                                                 "target": {"type": "AverageValue",
                                                            "averageValue": "1"}}}


@pytest.mark.parametrize("metric, status, cell", [
    pytest.param(EXTERNAL_AVG, status_of("External", average=2000), "2/1 (avg)",
                 id="external-average"),
    pytest.param(EXTERNAL_AVG, status_of("External", average=2500), "2500m/1 (avg)",
                 id="external-average-milli"),
    pytest.param(EXTERNAL_AVG, HPAStatus(current_metrics=(MetricStatus(),)), "<unknown>/1 (avg)",
                 id="failed-metric"),
    pytest.param(EXTERNAL_AVG, HPAStatus(), "<unknown>/1 (avg)", id="no-status-yet"),
    pytest.param({"type": "External", "external": {"metric": {"name": "q"}, "target": {
        "type": "Value", "value": "30"}}}, status_of("External", value=45000), "45/30",
        id="external-value"),
    pytest.param({"type": "Pods", "pods": {"metric": {"name": "llm_proxy_requests_in_flight"},
                                           "target": {"type": "AverageValue",
                                                      "averageValue": "1"}}},
                 status_of("Pods", average=1500), "1500m/1", id="pods-no-avg-suffix"),
    pytest.param({"type": "Object", "object": {"describedObject": OBJ, "metric": {"name": "rps"},
                                               "target": {"type": "AverageValue",
                                                          "averageValue": "10"}}},
                 status_of("Object", average=12000), "12/10 (avg)", id="object-average"),
    pytest.param({"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue", "averageValue": "128Mi"}}},
        status_of("Resource", average=64 * 2**20 * 1000, binary=True), "64Mi/128Mi",
        id="memory-stays-binary"),
    pytest.param({"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 50}}}, status_of("Resource"), None,
        id="utilization-uses-the-percent-columns"),
])
def test_targets_cell(metric: dict[str, Any], status: HPAStatus, cell: str | None) -> None:
    assert targets_cell(spec_of(metric), status) == cell
