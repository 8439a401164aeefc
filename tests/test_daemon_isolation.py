"""Isolation end to end: one bad spec file, one broken Prometheus answer, affect only their
own autoscaler. The long-running daemon (fake API server, `--clock-file`) keeps scaling the
healthy one, reports the others with their location, and never exits."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from daemon_harness import (
    APP,
    NS,
    SCALE_PATH,
    STEP,
    T0,
    DaemonProcess,
    autoscaler_cr,
    play_deployment_controller,
    seed_cluster,
)

from autoscaler.testing import FakeApiServer

GOOD = f"""\
metadata: {{name: from-file, namespace: {NS}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {APP}}}
  minReplicas: 1
  maxReplicas: 10
  metrics:
  - type: Resource
    resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 50}}}}
"""
LAUGHS = "\n".join([
    "a: &a [x, x, x, x, x, x, x, x, x]",
    *(f"{n}: &{n} [{', '.join(['*' + p] * 9)}]" for p, n in zip("abcdef", "bcdefg",
                                                               strict=True)),
    "h: [*g, *g, *g, *g, *g, *g, *g, *g, *g]"])
BAD_FILES = {
    "meta.yaml": b"metadata: oops\nspec: [1, 2]\n",
    "latin1.yaml": b"metadata: {name: caf\xe9}\n",
    "deep.yaml": b"[" * 20_000 + b"]" * 20_000,
    "laughs.yaml": LAUGHS.encode(),
    "dup.yaml": b"metadata: {name: a}\nmetadata: {name: b}\n",
}


@pytest.fixture
def prometheus() -> Iterator[str]:
    """A Prometheus that answers a scalar where a vector is expected."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "success", "data": {
                "resultType": "scalar", "result": [T0, "3"]}}).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_bad_files_and_a_broken_prometheus_touch_only_their_own(
        tmp_path: Path, prometheus: str) -> None:
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "good.yaml").write_text(GOOD)
    for name, content in BAD_FILES.items():
        (specs / name).write_bytes(content)
    with FakeApiServer() as api:
        seed_cluster(api)
        # A CR scaling on a Pods metric from the broken Prometheus (another Deployment).
        api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "other", "namespace": NS},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "other"}}}})
        api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                    "metadata": {"name": "queue", "namespace": NS},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                "kind": "Deployment", "name": "other"},
                             "maxReplicas": 5, "metricsSource": "prometheus",
                             "metrics": [{"type": "Pods", "pods": {
                                 "metric": {"name": "in_flight"},
                                 "target": {"type": "AverageValue", "averageValue": "1"}}}],
                             "metricQueries": [{"metric": "in_flight",
                                                "query": "sum by (pod) (in_flight)"}]}})
        daemon = DaemonProcess(api, tmp_path, "--spec-dir", str(specs),
                               "--prometheus-url", prometheus)
        try:
            play_deployment_controller(api, 3.0, T0)  # 100 % of a 50 % target: wants 2
            requests = daemon.start(T0)
            assert [(r.body["spec"]["replicas"], r.status) for r in requests
                    if r.method == "PUT" and r.path == SCALE_PATH] == [(2, 200)]
            logs = daemon.logs()
            invalid = [e for e in logs if e.get("event") == "invalid spec"]
            reported = " ".join(str(e) for e in invalid)
            for name in BAD_FILES:
                assert name in reported, f"{name} not reported"
            assert "nested deeper than" in reported and "expands to more than" in reported
            assert "duplicate key" in reported and "not UTF-8" in reported
            queue = api.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", NS, "queue")
            active = next(c for c in queue["status"]["conditions"]
                          if c["type"] == "ScalingActive")
            assert (active["status"], active["reason"]) == ("False", "FailedGetPodsMetric")
            # A new bad file while running: reported, the daemon goes on.
            (specs / "later.yaml").write_bytes(b"spec: {maxReplicas: " + b"9" * 5000 + b"}\n")
            play_deployment_controller(api, 3.0, T0 + STEP)
            daemon.step(T0 + STEP)
            assert daemon.proc is not None and daemon.proc.poll() is None
            assert any("later.yaml" in str(e) for e in daemon.logs())
        finally:
            daemon.stop()


def test_a_broken_prometheus_answer_fails_only_its_metric(tmp_path: Path,
                                                           prometheus: str) -> None:
    with FakeApiServer() as api:
        seed_cluster(api)
        autoscaler_cr(api, {"metricsSource": "prometheus"})  # CPU from the broken one
        api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": "healthy", "namespace": NS},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}}}})
        daemon = DaemonProcess(api, tmp_path, "--prometheus-url", prometheus)
        try:
            play_deployment_controller(api, 3.0, T0)
            daemon.start(T0)
            status = api.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", NS,
                             APP)["status"]
            active = next(c for c in status["conditions"] if c["type"] == "ScalingActive")
            assert (active["status"], active["reason"]) == ("False", "FailedGetResourceMetric")
            assert "expected an instant vector" in active["message"]
            assert daemon.proc is not None and daemon.proc.poll() is None
        finally:
            daemon.stop()
