"""The reconciler with a real Prometheus: CPU from cAdvisor when the metrics API fails (the
KubeEdge case), Pods metrics from PromQL, and a Prometheus outage mid-run (no scale action,
the condition says why) followed by recovery."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from algorithms.pods import ContainerInfo, PodInfo
from autoscaler.control.reconcile import Reconciler
from autoscaler.prometheus.source import PrometheusSettings, PrometheusSource
from autoscaler.specs.model import ManagedSpec
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing.fakes import FakeMetrics, FakePods, FakeScale, FakeWorld
from autoscaler.testing.prometheus import PrometheusProcess, Series

NOW = 1_800_000_000.0
STEP = 15.0
NS = "edge"
LABELS = {"app": "qwen"}


def cpu(pod: str, cores: float) -> Series:
    samples = tuple((NOW - (20 - i) * STEP, cores * i * STEP) for i in range(21))
    return Series("container_cpu_usage_seconds_total",
                  {"namespace": NS, "pod": pod, "container": "qwen"}, samples, kind="counter")


def in_flight(pod: str, value: float) -> Series:
    return Series("llm_proxy_requests_in_flight", {"namespace": NS, "pod": pod},
                  tuple((NOW - (20 - i) * STEP, value) for i in range(21)))


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusProcess]:
    with PrometheusProcess() as server:
        server.backfill([cpu("qwen-0", 3.0), cpu("qwen-1", 3.0),
                         in_flight("qwen-0", 3.0), in_flight("qwen-1", 2.0)])
        server.start()
        yield server


def managed(extra: dict[str, Any]) -> ManagedSpec:
    spec = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen"},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}}], **extra}
    return from_custom_resource({"metadata": {"name": "qwen", "namespace": NS}, "spec": spec})


def reconciler(url: str, scale: FakeScale) -> Reconciler:
    pods = FakePods({NS: [PodInfo(name=f"qwen-{i}", start_time=NOW - 3600,
                                  ready_transition_time=NOW - 3500, labels=LABELS,
                                  containers=(ContainerInfo("qwen", {"cpu": 3000}),))
                          for i in range(2)]})
    reconciler = FakeWorld().reconciler(scale, pods)
    reconciler.prometheus = PrometheusSource(PrometheusSettings(url, timeout_seconds=2))
    return reconciler


def test_cpu_falls_back_to_prometheus_when_the_metrics_api_fails(
        prometheus: PrometheusProcess) -> None:
    scale = FakeScale(2, "app=qwen")
    down = FakeMetrics(unavailable="list metrics.k8s.io pods in edge: HTTP 503")
    result = reconciler(prometheus.url, scale).reconcile(managed({}), down, NOW)
    assert scale.updates == [4]  # 100 % of a 50 % target from cAdvisor: 2 -> 4
    assert result.state is not None
    status = result.state.status
    assert status.current_metrics[0].current.average_utilization == 100


def test_metrics_api_only_never_falls_back(prometheus: PrometheusProcess) -> None:
    scale = FakeScale(2, "app=qwen")
    down = FakeMetrics(unavailable="HTTP 503")
    reconciler(prometheus.url, scale).reconcile(managed({"metricsSource": "metrics-api"}),
                                                down, NOW)
    assert scale.updates == []


def test_pods_metric_from_promql_scales_on_requests_in_flight(
        prometheus: PrometheusProcess) -> None:
    scale = FakeScale(2, "app=qwen")
    spec = managed({"metrics": [{"type": "Pods", "pods": {
        "metric": {"name": "llm_proxy_requests_in_flight"},
        "target": {"type": "AverageValue", "averageValue": "1"}}}],
        "metricQueries": [{"metric": "llm_proxy_requests_in_flight", "query":
                           'sum by (pod) (llm_proxy_requests_in_flight{namespace='
                           '"{{namespace}}", pod=~"{{pods}}"})'}]})
    assert spec.errors == ()
    result = reconciler(prometheus.url, scale).reconcile(spec, FakeMetrics(), NOW)
    # 3 + 2 in flight over 2 pods = 2.5 per pod against a target of 1 -> ceil(2 * 2.5) = 5,
    # then upstream's legacy scale-up limit max(2 x 2, 4) = 4 caps the step.
    assert result.plan is not None and result.plan.normalized is not None
    assert result.plan.metric_results[0].replicas == 5
    assert result.plan.normalized.limited.reason == "ScaleUpLimit"
    assert scale.updates == [4]


def test_outage_mid_run_means_no_scale_action_then_recovery(
        prometheus: PrometheusProcess) -> None:
    scale = FakeScale(2, "app=qwen")
    spec = managed({"metricsSource": "prometheus"})
    prometheus.kill()
    try:
        first = reconciler(prometheus.url, scale).reconcile(spec, FakeMetrics(), NOW)
        assert scale.updates == []
        assert first.state is not None
        reasons = {c.type: (c.status, c.reason) for c in first.state.status.conditions}
        assert reasons["ScalingActive"] == ("False", "FailedGetResourceMetric")
    finally:
        url = prometheus.start()
    reconciler(url, scale).reconcile(spec, FakeMetrics(), NOW)
    assert scale.updates == [4]


def test_query_for_an_unknown_metric_name_is_a_spec_error() -> None:
    spec = managed({"metricQueries": [{"metric": "nope", "query": "up"}]})
    assert spec.spec is None
    assert any("spec.metricQueries[0].metric" in e for e in spec.errors)
