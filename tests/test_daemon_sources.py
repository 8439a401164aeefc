"""The daemon's other spec sources (YAML directory, Sedna JointInferenceService), `autoscaler
get`, and the long-running process: /metrics, /healthz, /readyz and a clean SIGTERM."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from autoscaler.specs.sources import from_directory, from_joint_inference_service
from autoscaler.testing import FakeApiServer, write_kubeconfig

SEED_JIS = {
    "apiVersion": "sedna.io/v1alpha1", "kind": "JointInferenceService",
    "metadata": {"name": "helmet-detection-inference-example", "namespace": "default"},
    "spec": {
        "edgeWorker": {"hpa": {"maxReplicas": 2, "minReplicas": 1, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}}]}},
        "cloudWorker": {"hpa": {"maxReplicas": 5, "minReplicas": 1, "metrics": [
            {"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 20}}}]}}}}

HPA_YAML = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa, namespace: default}
spec:
  maxReplicas: 10
  metrics:
  - resource:
      name: cpu
      target: {averageUtilization: 50, type: Utilization}
    type: Resource
  minReplicas: 1
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: wasmedge-qwen-2-0-5b-allminilm-2}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: broken}
spec:
  maxReplicas: 0
  scaleTargetRef: {kind: Deployment, name: x}
"""


def test_sedna_hpa_blocks_become_worker_autoscalers() -> None:
    specs = {m.name: m for m in from_joint_inference_service(SEED_JIS)}
    edge = specs["hpa-helmet-detection-inference-example-deployment-edge"]
    cloud = specs["hpa-helmet-detection-inference-example-deployment-cloud"]
    assert edge.spec is not None and cloud.spec is not None
    assert (edge.spec.min_replicas, edge.spec.max_replicas) == (1, 2)
    assert (cloud.spec.min_replicas, cloud.spec.max_replicas) == (1, 5)
    assert cloud.spec.scale_target_ref.name == \
        "helmet-detection-inference-example-deployment-cloud"


def test_sedna_invalid_hpa_is_reported_with_its_path() -> None:
    bad = {**SEED_JIS, "spec": {"cloudWorker": {"hpa": {"maxReplicas": 0}}}}
    [managed] = from_joint_inference_service(bad)
    assert managed.spec is None
    assert any(e.startswith("spec.cloudWorker.hpa.maxReplicas") for e in managed.errors)


def test_yaml_directory_reads_every_document(tmp_path: Path) -> None:
    (tmp_path / "hpa.yaml").write_text(HPA_YAML)
    (tmp_path / "notes.txt").write_text("ignored")
    found = {m.name: m for m in from_directory(tmp_path)}
    assert set(found) == {"hpa", "broken"}
    assert found["hpa"].spec is not None and found["hpa"].spec.max_replicas == 10
    assert found["broken"].spec is None
    assert any("spec.maxReplicas" in e and "hpa.yaml#1" in e for e in found["broken"].errors)


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                             "elasticautoscalers", subresources=("status",))
        server.register_kind("sedna.io", "v1alpha1", "JointInferenceService",
                             "jointinferenceservices", subresources=("status",))
        yield server


def test_get_prints_the_table(api: FakeApiServer, tmp_path: Path) -> None:
    api.create(SEED_JIS)
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "hpa.yaml").write_text(HPA_YAML)
    kubeconfig = write_kubeconfig(tmp_path / "kc", api.url)
    proc = subprocess.run([sys.executable, "-m", "autoscaler", "get", "--kubeconfig",
                           str(kubeconfig), "--sedna", "--spec-dir", str(tmp_path / "specs")],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:5] == ["NAMESPACE", "NAME", "SOURCE", "REFERENCE", "TARGETS"]
    assert any("hpa-helmet-detection-inference-example-deployment-cloud" in line
               and "sedna" in line and "  1  " in f" {line} " for line in lines)
    assert any(line.split()[1] == "broken" and "invalid: " in line for line in lines[1:])
    assert api.writes() == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_long_running_daemon_serves_health_and_metrics_and_stops_on_sigterm(
        api: FakeApiServer, tmp_path: Path) -> None:
    port = _free_port()
    kubeconfig = write_kubeconfig(tmp_path / "kc", api.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "autoscaler", "run", "--kubeconfig", str(kubeconfig),
         "--metrics-addr", f"127.0.0.1:{port}", "--log-format", "json", "--sync-period", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30  # a bounded wait for a real process, not a sleep
        ready = (0, "")
        while time.monotonic() < deadline:
            try:
                ready = _get(f"http://127.0.0.1:{port}/readyz")
            except OSError:
                time.sleep(0.1)
                continue
            if ready[0] == 200:
                break
            time.sleep(0.1)
        assert ready[0] == 200
        assert _get(f"http://127.0.0.1:{port}/healthz")[0] == 200
        code, body = _get(f"http://127.0.0.1:{port}/metrics")
        assert code == 200 and "autoscaler_passes_total" in body
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        _out, err = proc.communicate()
        assert '"stopped"' in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
