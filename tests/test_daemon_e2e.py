"""End to end: `autoscaler run` as a subprocess, the official client over HTTP, the in-repo
fake API server. Each `--once --now T` run is one controller pass of a freshly started
daemon, so every pass is also a restart: what survives is only what the daemon persisted.
The test plays the Deployment controller (it creates and deletes pods on scale changes)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from autoscaler.testing import FakeApiServer, write_kubeconfig

T0 = 1_800_000_000.0  # 2027-01-15: a fixed instant, never the wall clock
NS = "default"
APP = "wasmedge-qwen-2-0-5b-allminilm-2"
SCALE_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}/scale"


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                             "elasticautoscalers", subresources=("status",))
        server.create({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": APP, "namespace": NS},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}},
                                "template": {"metadata": {"labels": {"app": APP}}}}})
        yield server


def autoscaler_cr(api: FakeApiServer, extra: dict[str, Any] | None = None) -> None:
    spec = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}}], **(extra or {})}
    api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                "metadata": {"name": APP, "namespace": NS}, "spec": spec})


def replicas(api: FakeApiServer) -> int:
    return int(api.get("apps/v1", "Deployment", NS, APP)["spec"]["replicas"])


def play_deployment_controller(api: FakeApiServer, cores_each: float, now: float) -> None:
    """Make the pods match spec.replicas (Ready, started an hour ago) and publish metrics."""
    wanted = replicas(api)
    existing = sorted(p["metadata"]["name"] for p in api.list("v1", "Pod", NS))
    for name in existing[wanted:]:
        api.delete("v1", "Pod", NS, name)
    for index in range(len(existing), wanted):
        api.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"{APP}-{index}", "namespace": NS,
                                 "labels": {"app": APP}},
                    "spec": {"containers": [{"name": "qwen", "resources": {
                        "requests": {"cpu": "3000m"}, "limits": {"cpu": "3000m"}}}]},
                    "status": {"phase": "Running", "startTime": rfc3339(T0 - 3600),
                               "conditions": [{"type": "Ready", "status": "True",
                                               "lastTransitionTime": rfc3339(T0 - 3500)}]}})
    for pod in api.list("v1", "Pod", NS):
        api.set_pod_metrics(NS, pod["metadata"]["name"],
                            {"qwen": {"cpu": f"{int(cores_each * 1000)}m"}},
                            timestamp=rfc3339(now - 5), window="30s")


def run_once(api: FakeApiServer, tmp_path: Path, now: float, *extra: str
             ) -> subprocess.CompletedProcess[str]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    return subprocess.run(
        [sys.executable, "-m", "autoscaler", "run", "--kubeconfig", str(kubeconfig), "--once",
         "--now", str(now), "--log-format", "json", *extra],
        capture_output=True, text=True, timeout=60, check=False)


def step(api: FakeApiServer, tmp_path: Path, cores_each: float, now: float, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    play_deployment_controller(api, cores_each, now)
    proc = run_once(api, tmp_path, now, *extra)
    assert proc.returncode == 0, proc.stderr
    return proc


def status(api: FakeApiServer) -> dict[str, Any]:
    found: dict[str, Any] = api.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", NS,
                                    APP).get("status") or {}
    return found


def test_scales_the_seed_deployment_up_and_down_with_upstream_math(
        api: FakeApiServer, tmp_path: Path) -> None:
    autoscaler_cr(api, {"syncPeriodSeconds": 120})
    # With a 120 s sync period no pass is missed between these runs (each within 1.9
    # periods of the last), so each restarted process continues exactly where the last
    # one stopped.
    # Saturated LlamaEdge pods read 100 % of a 50 % target: each pass can only double.
    history = []
    for offset in (0, 15, 30):
        step(api, tmp_path, 3.0, T0 + offset)
        history.append(replicas(api))
    assert history == [2, 4, 8]
    # 8 pods at 1.5 cores = 50 %: inside the tolerance band, nothing moves.
    step(api, tmp_path, 1.5, T0 + 45)
    assert replicas(api) == 8
    # Idle: every pass is a fresh process, yet the persisted 300 s window holds 8 ...
    step(api, tmp_path, 0.05, T0 + 120)
    assert replicas(api) == 8
    assert status(api)["conditions"][0]["reason"] == "ScaleDownStabilized"
    # ... until the last high recommendation (T0 + 45) is older than 300 s.
    step(api, tmp_path, 0.05, T0 + 346)
    assert replicas(api) == 1
    events = sorted((e for e in api.list("v1", "Event", NS)
                     if e["reason"] == "SuccessfulRescale"), key=lambda e: e["firstTimestamp"])
    assert [e["message"].split(";")[0] for e in events] == [
        "New size: 2", "New size: 4", "New size: 8", "New size: 1"]


def test_restart_inside_a_policy_period_does_not_scale_down_early(
        api: FakeApiServer, tmp_path: Path) -> None:
    autoscaler_cr(api, {"behavior": {"scaleDown": {
        "stabilizationWindowSeconds": 0,
        "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}})
    api.update({**api.get("apps/v1", "Deployment", NS, APP),
                "spec": {**api.get("apps/v1", "Deployment", NS, APP)["spec"], "replicas": 8}})
    step(api, tmp_path, 0.05, T0)
    assert replicas(api) == 4  # halved once
    step(api, tmp_path, 0.05, T0 + 10)
    assert replicas(api) == 4  # a restarted daemon remembers the minute's budget is spent
    step(api, tmp_path, 0.05, T0 + 61)
    assert replicas(api) == 2


def test_dry_run_issues_zero_writes(api: FakeApiServer, tmp_path: Path) -> None:
    autoscaler_cr(api)
    play_deployment_controller(api, 3.0, T0)
    api.clear_requests()
    proc = run_once(api, tmp_path, T0, "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert api.writes() == []
    assert replicas(api) == 1
    header, row = ([cell.strip() for cell in line.split("   ") if cell.strip()]
                   for line in proc.stdout.splitlines())  # an aligned table, a header first
    assert header[:2] == ["NAMESPACE", "NAME"]
    assert row[:7] == [NS, APP, f"Deployment/{APP}", "100%/50%", "1", "10", "1->2"]
    assert row[7].startswith("would scale: ")


def test_conflict_and_server_errors_cause_no_wrong_action(
        api: FakeApiServer, tmp_path: Path) -> None:
    autoscaler_cr(api)
    api.conflict_next_write(SCALE_PATH, times=2)
    step(api, tmp_path, 3.0, T0)
    assert replicas(api) == 2  # re-read after each 409, then written once
    puts = [r for r in api.requests if r.method == "PUT" and r.path == SCALE_PATH]
    assert [r.status for r in puts] == [409, 409, 200]
    api.fail("GET", SCALE_PATH, status=500, times=None)
    step(api, tmp_path, 3.0, T0 + 15)
    assert replicas(api) == 2
    reasons = {c["type"]: c["reason"] for c in status(api)["conditions"]}
    assert reasons["AbleToScale"] == "FailedGetScale"
    api.clear_faults()
    api.fail("PUT", SCALE_PATH, status=503, times=None)
    step(api, tmp_path, 3.0, T0 + 30)
    assert replicas(api) == 2
    reasons = {c["type"]: c["reason"] for c in status(api)["conditions"]}
    assert reasons["AbleToScale"] == "FailedUpdateScale"
    assert not status(api)["history"]["scaleUpEvents"]  # no event for a failed write


def test_invalid_spec_is_reported_with_field_paths(api: FakeApiServer, tmp_path: Path) -> None:
    autoscaler_cr(api, {"maxReplicas": 0, "behavior": {"scaleUp": {"policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 1801}]}}})
    step(api, tmp_path, 3.0, T0)
    assert replicas(api) == 1
    condition = status(api)["conditions"][-1]
    assert condition["reason"] == "InvalidSpec"
    assert "spec.maxReplicas" in condition["message"]
    assert "spec.behavior.scaleUp.policies[0].periodSeconds" in condition["message"]
    warnings = [e for e in api.list("v1", "Event", NS) if e["reason"] == "InvalidSpec"]
    assert len(warnings) == 1


def test_log_lines_are_json_with_the_explanation(api: FakeApiServer, tmp_path: Path) -> None:
    autoscaler_cr(api)
    proc = step(api, tmp_path, 3.0, T0)
    decisions = [json.loads(line) for line in proc.stderr.splitlines()
                 if '"decision"' in line]
    assert decisions and decisions[0]["limitedBy"] == "none"
    assert decisions[0]["metrics"][0]["proposal"] == 2
    assert "token" not in proc.stderr.lower() or "no token" in proc.stderr.lower()
