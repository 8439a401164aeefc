"""The Prometheus source against a real Prometheus server (Debian's binary, started by the
test on 127.0.0.1 with backfilled history). No test is skipped if the binary is missing:
PrometheusMissingError fails it, and .ci/run installs the package."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from algorithms.observation import (
    ExternalMetricData,
    MetricUnavailable,
    ObjectMetricData,
    PodsMetricData,
    ResourceMetricsData,
)
from autoscaler.prometheus import promql
from autoscaler.prometheus.source import PrometheusSettings, PrometheusSource
from autoscaler.testing.prometheus import PrometheusProcess, Series

NOW = 1_800_000_000.0  # a fixed instant: queries are evaluated "at" it
STEP = 15.0


def counter(pod: str, cores: float, namespace: str = "ns", container: str = "c",
            minutes: int = 5) -> Series:
    """A cAdvisor CPU counter growing at `cores` CPU-seconds per second."""
    points = int(minutes * 60 / STEP)
    samples = tuple((NOW - (points - i) * STEP, cores * i * STEP) for i in range(points + 1))
    return Series("container_cpu_usage_seconds_total",
                  {"namespace": namespace, "pod": pod, "container": container}, samples,
                  kind="counter")


def gauge(name: str, labels: dict[str, str], value: float, last: float = NOW,
          minutes: int = 5) -> Series:
    points = int(minutes * 60 / STEP)
    return Series(name, labels, tuple((last - (points - i) * STEP, value)
                                      for i in range(points + 1)))


HISTORY = [
    counter("p0", 0.5), counter("p1", 1.25),
    counter("p0", 9.0, container="POD"),  # the pause container: excluded
    counter("p0", 9.0, container=""),  # the pod cgroup total: excluded
    counter("p0", 7.0, namespace="other"),  # same pod name elsewhere
    counter(".*", 3.0),  # a pod literally named ".*" (label values are free text)
    gauge("container_memory_working_set_bytes",
          {"namespace": "ns", "pod": "p0", "container": "c"}, 64 * 2**20),
    gauge("llm_proxy_requests_in_flight", {"namespace": "ns", "pod": "p0"}, 2.0),
    gauge("llm_proxy_requests_in_flight", {"namespace": "ns", "pod": "p1"}, 0.5),
    gauge("queue_depth", {"queue": "inference"}, 17.0),
    gauge("queue_depth", {"queue": "other"}, 3.0),
    gauge("broken_ratio", {"namespace": "ns"}, float("nan")),
    gauge("old_gauge", {"namespace": "ns", "pod": "p0"}, 1.0, last=NOW - 180),
]


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusProcess]:
    with PrometheusProcess() as server:
        server.backfill(HISTORY)
        server.start()
        yield server


@pytest.fixture
def source(prometheus: PrometheusProcess) -> PrometheusSource:
    return PrometheusSource(PrometheusSettings(prometheus.url, rate_window_seconds=60))


def test_cpu_rate_per_pod_and_container_like_metrics_k8s_io(source: PrometheusSource) -> None:
    data = source.resource("ns", ["p0", "p1"], "cpu", NOW)
    assert isinstance(data, ResourceMetricsData)
    assert {pod: usage.containers for pod, usage in data.pods.items()} == {
        "p0": {"c": {"cpu": 500}}, "p1": {"c": {"cpu": 1250}}}
    assert data.pods["p0"].timestamp == NOW and data.pods["p0"].window_seconds == 60


def test_memory_working_set(source: PrometheusSource) -> None:
    data = source.resource("ns", ["p0"], "memory", NOW)
    assert isinstance(data, ResourceMetricsData)
    assert data.pods["p0"].containers == {"c": {"memory": 64 * 2**20 * 1000}}


@pytest.mark.parametrize(("namespace", "pods"), [
    pytest.param('ns", namespace=~".+', ["p0"], id="namespace-breaks-out-of-quotes"),
    pytest.param("ns", [".+"], id="pod-name-as-regex"),
    pytest.param('ns"} or container_cpu_usage_seconds_total{namespace="other', ["p0"],
                 id="namespace-appends-a-selector"),
])
def test_crafted_names_cannot_widen_the_query(source: PrometheusSource, namespace: str,
                                              pods: list[str]) -> None:
    data = source.resource(namespace, pods, "cpu", NOW)
    assert isinstance(data, MetricUnavailable), data


def test_a_pod_literally_named_dot_star_matches_only_itself(source: PrometheusSource) -> None:
    data = source.resource("ns", [".*"], "cpu", NOW)
    assert isinstance(data, ResourceMetricsData)
    assert list(data.pods) == [".*"] and data.pods[".*"].containers == {"c": {"cpu": 3000}}


IN_FLIGHT = 'sum by (pod) (llm_proxy_requests_in_flight{namespace="{{namespace}}", ' \
            'pod=~"{{pods}}"})'


@pytest.mark.parametrize(("metric_type", "template", "expected"), [
    pytest.param("Pods", IN_FLIGHT, PodsMetricData({"p0": 2000, "p1": 500}), id="pods"),
    pytest.param("Object", 'queue_depth{queue="inference"}', ObjectMetricData(17000),
                 id="object"),
    pytest.param("External", "queue_depth", ExternalMetricData((17000, 3000)),
                 id="external-several-series"),
])
def test_templates(source: PrometheusSource, metric_type: str, template: str,
                   expected: object) -> None:
    data = source.templated(metric_type, template, "ns", ["p0", "p1"], "", "m", NOW)
    if isinstance(data, ExternalMetricData) and isinstance(expected, ExternalMetricData):
        assert sorted(data.values_milli) == sorted(expected.values_milli)
    else:
        assert data == expected


@pytest.mark.parametrize(("metric_type", "template", "fragment"), [
    pytest.param("Object", "queue_depth", "2 series where one", id="several-series-object"),
    pytest.param("Pods", "sum(llm_proxy_requests_in_flight)", "no pod label",
                 id="pods-without-pod-label"),
    pytest.param("Object", "broken_ratio", "NaN", id="nan"),
    pytest.param("Object", 'absent_metric{x="y"}', "empty result", id="empty"),
    pytest.param("Pods", 'old_gauge{pod=~"{{pods}}"}', "stale", id="stale"),
    # An aggregation is stamped with the evaluation time: the raw series' age still counts.
    pytest.param("Pods", 'sum by (pod) (old_gauge{pod=~"{{pods}}"})', "stale",
                 id="stale-through-sum-by-pod"),
    pytest.param("Object", 'max(old_gauge)', "stale input", id="stale-object-aggregate"),
    pytest.param("Pods", "x{{nope}}", "unknown placeholder {{nope}}", id="bad-placeholder"),
    pytest.param("Object", "sum(", "HTTP 400", id="syntax-error"),
])
def test_doubtful_answers_are_unavailable_never_zero(
        source: PrometheusSource, metric_type: str, template: str, fragment: str) -> None:
    data = source.templated(metric_type, template, "ns", ["p0"], "", "m", NOW)
    assert isinstance(data, MetricUnavailable)
    assert fragment in data.message


def test_outage_then_recovery(prometheus: PrometheusProcess, tmp_path: Path) -> None:
    source = PrometheusSource(PrometheusSettings(prometheus.url, timeout_seconds=2))
    assert isinstance(source.resource("ns", ["p0"], "cpu", NOW), ResourceMetricsData)
    prometheus.kill()
    down = source.resource("ns", ["p0"], "cpu", NOW)
    assert isinstance(down, MetricUnavailable) and "query failed" in down.message
    url = prometheus.start()
    recovered = PrometheusSource(PrometheusSettings(url))
    assert isinstance(recovered.resource("ns", ["p0"], "cpu", NOW), ResourceMetricsData)


def test_bearer_token_is_sent_and_never_echoed(prometheus: PrometheusProcess,
                                               tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cr3t-token\n")
    source = PrometheusSource(PrometheusSettings("http://127.0.0.1:9", bearer_token_file=token,
                                                 timeout_seconds=1))
    assert source.token.headers() == {"Authorization": "Bearer s3cr3t-token"}
    data = source.resource("ns", ["p0"], "cpu", NOW)
    assert isinstance(data, MetricUnavailable) and "s3cr3t" not in data.message
    token.write_text("rotated-token-2\n")  # a rotated service-account token is picked up
    assert source.token.headers() == {"Authorization": "Bearer rotated-token-2"}


@pytest.mark.parametrize(("raw", "escaped"), [
    pytest.param('a"b', 'a\\"b', id="quote"),
    pytest.param("a\\b", "a\\\\b", id="backslash"),
    pytest.param("a\nb", "a\\nb", id="newline"),
    pytest.param("a\x01b", "a\\x01b", id="control"),
])
def test_string_escaping(raw: str, escaped: str) -> None:
    assert promql.escape_string(raw) == escaped


def test_regex_quoting() -> None:
    assert promql.regex_alternation(["a.b", "c|d"]) == "a\\\\.b|c\\\\|d"
