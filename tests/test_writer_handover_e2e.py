"""The fallback the project exists for, under connection faults: the cloud daemon (a real
process, `--writer-leases`) loses metrics.k8s.io because connections to it are dropped (not
answered with a 503); it must stop renewing the target's writer Lease so the edge agent
(local cgroup CPU, the fake API server standing in for its MetaServer) takes over and
scales. Before the takeover the standby agent writes nothing: no scale, no status, no
Events. Both run on one time line (the daemon's --clock-file, the agent's FakeClock)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_harness import (
    APP,
    METRICS_PATH,
    NS,
    STEP,
    T0,
    DaemonProcess,
    autoscaler_cr,
    replicas,
    rfc3339,
    seed_cluster,
)

from autoscaler.clock import FakeClock
from autoscaler.edge.app import EdgeAgent, EdgeOptions, build_edge
from autoscaler.testing import FakeApiServer

NODE = "edge-node-1"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        seed_cluster(server)
        server.create({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": "edge-autoscaler"}})
        server.create({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": f"{APP}-0", "namespace": NS,
                                    "labels": {"app": APP}},
                       "spec": {"nodeName": NODE, "containers": [{"name": "qwen", "resources": {
                           "requests": {"cpu": "1"}}}]},
                       "status": {"phase": "Running", "startTime": rfc3339(T0 - 3600),
                                  "conditions": [{"type": "Ready", "status": "True",
                                                  "lastTransitionTime": rfc3339(T0 - 3500)}]}})
        yield server


def cpu(root: Path, uid: str, usage_usec: int) -> None:
    pod = root / "kubepods" / "burstable" / f"pod{uid}"
    pod.mkdir(parents=True, exist_ok=True)
    (pod / "cpu.stat").write_text(f"usage_usec {usage_usec}\n")


def lease_holders(api: FakeApiServer) -> set[str]:
    return {str((lease.get("spec") or {}).get("holderIdentity") or "")
            for lease in api.list("coordination.k8s.io/v1", "Lease", "edge-autoscaler")
            if lease["metadata"]["name"].startswith("eas-writer-")}


def edge_agent(api: FakeApiServer, tmp_path: Path, clock: FakeClock) -> EdgeAgent:
    agent = build_edge(EdgeOptions(node_name=NODE, journal=tmp_path / "journal",
                                   metaserver=api.url, cgroup_root=tmp_path / "cgroup",
                                   lease_namespace="edge-autoscaler"), clock)
    agent.pods.caches[""].list_now()
    for cache in agent.specs.caches:
        cache.list_now()
    return agent


def test_cloud_hands_over_when_metrics_connections_drop(api: FakeApiServer,
                                                        tmp_path: Path) -> None:
    autoscaler_cr(api)
    uid = api.get("v1", "Pod", NS, f"{APP}-0")["metadata"]["uid"]
    cgroups = tmp_path / "cgroup"
    cpu(cgroups, uid, 0)
    clock = FakeClock(T0)
    edge = edge_agent(api, tmp_path, clock)
    cloud = DaemonProcess(api, tmp_path, "--writer-leases", "--identity", "cloud-0")
    usage = 0
    try:
        api.set_pod_metrics(NS, f"{APP}-0", {"qwen": {"cpu": "500m"}},
                            timestamp=rfc3339(T0 - 5), window="30s")
        cloud.start(T0)  # 50 %: healthy, holds the Lease
        edge.loop.run_pass()  # a CPU baseline; the cloud is the writer
        assert lease_holders(api) == {"cloud-0"}
        api.drop_connection("GET", METRICS_PATH, times=None)
        took_over_at = None
        for k in range(1, 8):
            now = T0 + STEP * k
            clock.t = now
            usage += int(STEP * 1.0 * 1_000_000)  # one core: 100 % of the request
            cpu(cgroups, uid, usage)
            before = len(api.requests)
            cloud.step(now)
            edge.loop.run_pass()
            if took_over_at is None:
                edge_writes = [r for r in api.requests[before:]
                               if r.is_write and "/scale" in r.path]
                if lease_holders(api) == {NODE}:
                    took_over_at = now
                else:  # standby: the agent wanted 2 but wrote nothing, posted nothing
                    assert edge_writes == [] and replicas(api) == 1
        assert took_over_at is not None, "the edge agent never became the writer"
        assert took_over_at <= T0 + STEP * 4  # expiry (15 s) + skew (2 s) after the failure
        assert replicas(api) == 2  # scaled from local CPU while the cloud had no metrics
        standby_events = [e for e in api.list("v1", "Event", NS)
                          if e["reason"] in ("FailedRescale", "DryRunRescale")]
        assert standby_events == []
        dropped = [e for e in cloud.logs() if "connection failed" in str(e)]
        assert dropped, "the cloud's log does not say why it has no metrics"
    finally:
        cloud.stop()
        edge.journal.close()
