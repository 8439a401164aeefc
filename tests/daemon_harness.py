"""A long-running `autoscaler run` subprocess driven through time as data.

The daemon reads its clock from a file (`--clock-file`): `step(t)` writes `t`, waits until
the daemon has finished its pass for `t` (it writes `t` to `<file>.done`) and returns the
requests of that pass from the fake API server's log. `kill()` is a real SIGKILL. The test
plays the Deployment controller: pods follow spec.replicas, metrics-server publishes usage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from autoscaler.testing import FakeApiServer, write_kubeconfig
from autoscaler.testing.faults import RecordedRequest

T0 = 1_800_000_000.0  # 2027-01-15: a fixed instant, never the wall clock
NS = "default"
APP = "wasmedge-qwen-2-0-5b-allminilm-2"
SCALE_PATH = f"/apis/apps/v1/namespaces/{NS}/deployments/{APP}/scale"
STATUS_PATH = f"/apis/edgeautoscaler.io/v1alpha1/namespaces/{NS}/elasticautoscalers/{APP}/status"
METRICS_PATH = f"/apis/metrics.k8s.io/v1beta1/namespaces/{NS}/pods"
STEP_TIMEOUT = 60.0
# Steps of a long-running daemon: its 15 s period plus up to 10 % jitter fit in one step.
STEP = 17.0


def rfc3339(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def seed_cluster(server: FakeApiServer, replicas: int = 1) -> None:
    server.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                         "elasticautoscalers", subresources=("status",))
    server.create({"apiVersion": "apps/v1", "kind": "Deployment",
                   "metadata": {"name": APP, "namespace": NS},
                   "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": APP}},
                            "template": {"metadata": {"labels": {"app": APP}}}}})


def autoscaler_cr(api: FakeApiServer, extra: dict[str, Any] | None = None) -> None:
    spec = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
            "minReplicas": 1, "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": 50}}}], **(extra or {})}
    api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                "metadata": {"name": APP, "namespace": NS}, "spec": spec})


def replicas(api: FakeApiServer) -> int:
    return int(api.get("apps/v1", "Deployment", NS, APP)["spec"]["replicas"])


def set_replicas(api: FakeApiServer, count: int) -> None:
    deployment = api.get("apps/v1", "Deployment", NS, APP)
    api.update({**deployment, "spec": {**deployment["spec"], "replicas": count}})


def status(api: FakeApiServer) -> dict[str, Any]:
    found: dict[str, Any] = api.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", NS,
                                    APP).get("status") or {}
    return found


def conditions(api: FakeApiServer) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status(api).get("conditions") or []}


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


class DaemonProcess:
    def __init__(self, api: FakeApiServer, tmp_path: Path, *args: str) -> None:
        self.api = api
        self.clock = tmp_path / "clock"
        self.done = tmp_path / "clock.done"
        self.log_path = tmp_path / f"daemon-{time.monotonic_ns()}.log"
        self.kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
        self.args = args
        self.proc: subprocess.Popen[bytes] | None = None

    def _set(self, now: float) -> None:
        partial = self.clock.with_name("clock.tmp")
        partial.write_text(repr(now), encoding="utf-8")
        partial.replace(self.clock)  # atomic: the daemon never reads half a number

    def launch(self, now: float) -> None:
        """Start at `now` without waiting for the first pass to finish."""
        self._set(now)
        self.done.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autoscaler", "run", "--kubeconfig",
                 str(self.kubeconfig), "--clock-file", str(self.clock), "--log-format",
                 "json", "--request-timeout", "3", *self.args],
                stdout=subprocess.DEVNULL, stderr=log)

    def start(self, now: float) -> list[RecordedRequest]:
        """Start at `now` and wait for the first pass."""
        mark = len(self.api.requests)
        self.launch(now)
        self._wait_done(now)
        return self.api.requests[mark:]

    def step(self, now: float) -> list[RecordedRequest]:
        mark = len(self.api.requests)
        self._set(now)
        self._wait_done(now)
        return self.api.requests[mark:]

    def _wait_done(self, now: float) -> None:
        deadline = time.monotonic() + STEP_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"daemon exited {self.proc.returncode}:\n{self.text()}")
            try:
                if float(self.done.read_text(encoding="utf-8")) >= now:
                    return
            except (OSError, ValueError):
                pass
            time.sleep(0.01)
        raise AssertionError(f"no pass for t={now - T0:+.0f} within {STEP_TIMEOUT} s:\n"
                             f"{self.text()[-3000:]}")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(30)

    def text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.text().splitlines():
            if line.startswith("{"):
                out.append(json.loads(line))
        return out
