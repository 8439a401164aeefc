"""`autoscaler replay --prometheus URL`: a range pulled from a real Prometheus (backfilled
history) replayed through the simulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.replay.from_prometheus import cpu_demand_query
from autoscaler.testing.prometheus import PrometheusProcess, Series

START = 1_800_000_000.0
STEP = 15.0
MINUTES = 30


def counter(pod: str, cores_by_minute: list[float]) -> Series:
    """A CPU counter whose growth rate changes every minute."""
    samples = []
    total = 0.0
    for i in range(int(MINUTES * 60 / STEP) + 1):
        t = START + i * STEP
        samples.append((t, total))
        total += cores_by_minute[min(int(i * STEP // 60), len(cores_by_minute) - 1)] * STEP
    return Series("container_cpu_usage_seconds_total",
                  {"namespace": "shop", "pod": pod, "container": "web"}, tuple(samples),
                  kind="counter")


@pytest.fixture(scope="module")
def prometheus() -> Iterator[PrometheusProcess]:
    load = [1.0] * 10 + [6.0] * 10 + [1.0] * 10  # cores: quiet, a 10-minute burst, quiet
    with PrometheusProcess() as server:
        server.backfill([counter("web-0", load), counter("web-1", load),
                         counter("db-0", [5.0] * MINUTES)])
        server.start()
        yield server


def test_replay_a_cpu_range_from_prometheus(prometheus: PrometheusProcess, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    spec = tmp_path / "hpa.yaml"
    spec.write_text("""\
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 60}}
""")
    out = tmp_path / "out"
    code = main(["replay", "--prometheus", prometheus.url, "--namespace-of-pods", "shop",
                 "--pod-regex", "web-.*", "--start", str(START + 120),
                 "--end", str(START + (MINUTES - 1) * 60), "--step", "15",
                 "--policy", str(spec), "--policy", "oracle", "--out-dir", str(out),
                 "--no-plot", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    fetched = json.loads((out / "prometheus-range.json").read_text())
    values = [float(v) for _, v in fetched["data"]["result"][0]["values"]]
    # two web pods: 2 cores quiet, 12 cores in the burst; db-0 excluded by the regex
    assert min(values) == pytest.approx(2.0, rel=0.01)
    assert max(values) == pytest.approx(12.0, rel=0.01)
    summaries = {s["policy"]: s for s in json.loads((out / "summary.json").read_text())}
    assert summaries["oracle"]["max_replicas"] == 4  # 12 cores / 3-core pods
    assert summaries["hpa:hpa"]["scale_events"] >= 2


def test_cpu_demand_query_escapes_the_namespace() -> None:
    query = cpu_demand_query('shop", pod=~".*', "web-.*")
    assert 'namespace="shop\\", pod=~\\".*"' in query


def test_range_errors_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An unreachable Prometheus is a runtime failure (exit 1), not the user's mistake."""
    code = main(["replay", "--prometheus", "http://127.0.0.1:9", "--start", "100",
                 "--end", "200", "--out-dir", str(tmp_path), "--no-plot"])
    assert code == 1
    err = capsys.readouterr().err
    assert "range query failed" in err
    assert err.count("\n") == 1
