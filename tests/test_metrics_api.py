"""metrics.k8s.io through the official client against the fake API server: one LIST per
namespace per pass however many autoscalers and workers ask, and failures as data."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from algorithms.observation import MetricUnavailable, ResourceMetricsData
from autoscaler.kube.client import connect
from autoscaler.kube.metrics_api import MetricsApiPass
from autoscaler.testing import FakeApiServer, write_kubeconfig


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        for ns in ("a", "b"):
            for i in range(3):
                server.create({"apiVersion": "v1", "kind": "Pod",
                               "metadata": {"name": f"p{i}", "namespace": ns}})
                server.set_pod_metrics(ns, f"p{i}", {"c": {"cpu": f"{100 * (i + 1)}m"}},
                                       timestamp="2026-11-28T16:00:00Z", window="15s")
        yield server


def test_one_list_per_namespace_whatever_the_concurrency(api: FakeApiServer,
                                                         tmp_path: Path) -> None:
    connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
    metrics = MetricsApiPass(connection.api_client)
    api.clear_requests()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: metrics.for_pods("ab"[i % 2], {"p0", "p2"}),
                                range(64)))
    assert api.count(method="GET", path_contains="metrics.k8s.io") == 2
    first = answers[0]
    assert isinstance(first, ResourceMetricsData)
    assert sorted(first.pods) == ["p0", "p2"]
    assert first.pods["p2"].containers == {"c": {"cpu": 300}}
    assert first.pods["p2"].window_seconds == 15.0


def test_a_failed_list_is_unavailable_for_the_whole_pass(api: FakeApiServer,
                                                         tmp_path: Path) -> None:
    connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
    api.fail("GET", "metrics.k8s.io", status=503, times=None)
    metrics = MetricsApiPass(connection.api_client, timeout_seconds=5)
    answer = metrics.for_pods("a", {"p0"})
    assert isinstance(answer, MetricUnavailable) and "503" in answer.message
    assert isinstance(metrics.for_pods("a", {"p1"}), MetricUnavailable)
