"""The edge agent assembled (`build_edge`): official client against the fake API server
standing in for the node's MetaServer, CPU from a cgroup tree, time as data (FakeClock).
Timeline: a baseline pass, a pass where the agent wants to scale but is not yet the
writer, takeover after the Lease expired (nobody in the cloud renews it), an offline pass
(writes refused: journaled), and the reconnect pass that writes the latest decision once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from algorithms.observation import PodResourceUsage
from algorithms.pods import ContainerInfo, PodInfo
from autoscaler.clock import FakeClock
from autoscaler.edge.app import EdgeOptions, build_edge
from autoscaler.kube.client import connect
from autoscaler.kube.scale import ScaleClient
from autoscaler.ownership.gate import GatedScale, WriterGate, target_key
from autoscaler.ownership.lease import LeaseClient
from autoscaler.ownership.rules import Candidate
from autoscaler.runtime.wiring import step_leases
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing import FakeApiServer, write_kubeconfig
from autoscaler.testing.fakes import FakeMetrics, FakePods, FakeWorld

T0 = 1_800_000_000.0
NODE = "edge-node-1"
UID = "0a1b2c3d-0000-4000-8000-00000000000a"
APP = "qwen"


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                             "elasticautoscalers", subresources=("status",))
        server.create({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": APP, "namespace": "default"},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}}}})
        server.create({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": f"{APP}-0", "namespace": "default", "uid": UID,
                                    "labels": {"app": APP}},
                       "spec": {"nodeName": NODE, "containers": [{"name": "c", "resources": {
                           "requests": {"cpu": "1"}}}]},
                       "status": {"phase": "Running", "startTime": stamp(T0 - 3600),
                                  "conditions": [{"type": "Ready", "status": "True",
                                                  "lastTransitionTime": stamp(T0 - 3500)}]}})
        server.create({"apiVersion": "v1", "kind": "Pod",  # another node's pod: not ours
                       "metadata": {"name": "elsewhere", "namespace": "default",
                                    "labels": {"app": APP}},
                       "spec": {"nodeName": "cloud-1", "containers": [{"name": "c"}]}})
        server.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                       "metadata": {"name": APP, "namespace": "default"},
                       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                   "kind": "Deployment", "name": APP},
                                "minReplicas": 1, "maxReplicas": 4,
                                "metrics": [{"type": "Resource", "resource": {
                                    "name": "cpu", "target": {"type": "Utilization",
                                                              "averageUtilization": 50}}}]}})
        yield server


def cpu(root: Path, uid: str, usage_usec: int) -> None:
    pod = root / "kubepods" / "burstable" / f"pod{uid}"
    pod.mkdir(parents=True, exist_ok=True)
    (pod / "cpu.stat").write_text(f"usage_usec {usage_usec}\n")


def replicas(api: FakeApiServer) -> int:
    return int(api.get("apps/v1", "Deployment", "default", APP)["spec"]["replicas"])


def test_edge_agent_timeline(api: FakeApiServer, tmp_path: Path) -> None:
    clock = FakeClock(T0)
    cgroups = tmp_path / "cgroup"
    uid = api.get("v1", "Pod", "default", f"{APP}-0")["metadata"]["uid"]  # as the server set it
    cpu(cgroups, uid, 0)
    agent = build_edge(EdgeOptions(node_name=NODE, journal=tmp_path / "journal",
                                   metaserver=api.url, cgroup_root=cgroups,
                                   lease_namespace="default"), clock)
    agent.pods.caches[""].list_now()
    for cache in agent.specs.caches:
        cache.list_now()
    assert [p.name for p in agent.pods.pods("default")] == [f"{APP}-0"]  # node-local only
    usage = 0

    def step(seconds: float, cores: float) -> None:
        nonlocal usage
        clock.advance(seconds)
        usage += int(cores * seconds * 1_000_000)
        cpu(cgroups, uid, usage)
        agent.loop.run_pass()

    agent.loop.run_pass()  # T0: a CPU baseline only; unhealthy, so no Lease action
    assert replicas(api) == 1
    step(17, 1.0)  # T0+17: 100 % of the request -> wants 2; creates the Lease free, waits
    assert replicas(api) == 1
    step(17, 1.0)  # T0+34: not yet past renew (T0+17) + 15 s + 2 s skew: still waits
    assert replicas(api) == 1
    step(17, 1.0)  # T0+51: expired and nobody renewed it: the agent takes over and writes
    assert replicas(api) == 2
    api.read_only(True)  # cloud link down: MetaServer refuses writes
    step(17, 2.0)  # 2 pods' worth on one sampled pod: wants 4, journaled
    assert replicas(api) == 2
    pending = agent.journal.pending(f"default/Deployment/{APP}")
    assert pending is not None and pending.desired_replicas == 4
    registry = agent.loop.metrics.registry
    clock.advance(0.0)
    agent.loop.metrics_pass()  # /metrics shows the journaled decision while offline
    assert registry.get_sample_value("autoscaler_edge_journal_pending_decisions") == 1
    api.read_only(False)  # reconnected
    step(17, 2.0)
    assert replicas(api) == 4
    agent.loop.metrics_pass()
    assert registry.get_sample_value("autoscaler_edge_journal_pending_decisions") == 0
    assert agent.journal.pending(f"default/Deployment/{APP}") is None
    agent.journal.close()


def test_cloud_daemon_and_edge_agent_never_both_write(api: FakeApiServer,
                                                      tmp_path: Path) -> None:
    """The cloud daemon renews the target's Lease while its metrics are valid: the edge agent
    (with local metrics all along) never writes. The cloud loses its metrics (metrics-server
    cannot reach the edge kubelet): it stops renewing and hands over; the edge takes over
    after expiry + skew. At no pass do both hold a writer grant."""
    clock = FakeClock(T0)
    cgroups = tmp_path / "cgroup"
    uid = api.get("v1", "Pod", "default", f"{APP}-0")["metadata"]["uid"]
    cpu(cgroups, uid, 0)
    edge = build_edge(EdgeOptions(node_name=NODE, journal=tmp_path / "journal",
                                  metaserver=api.url, cgroup_root=cgroups,
                                  lease_namespace="default"), clock)
    edge.pods.caches[""].list_now()
    for cache in edge.specs.caches:
        cache.list_now()
    api_client = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False
                         ).api_client
    cloud_gate = WriterGate(lambda n: LeaseClient(api_client, "default", n),
                            Candidate("cloud-daemon-0", "cloud"))
    # The cloud daemon sees the pod and metrics-server's sample for it (1 core: 100 %).
    pod = PodInfo(name=f"{APP}-0", start_time=T0 - 3600, ready_transition_time=T0 - 3500,
                  labels={"app": APP}, containers=(ContainerInfo("c", {"cpu": 1000}),))
    cloud_metrics = FakeMetrics({pod.name: PodResourceUsage(T0, 30.0, {"c": {"cpu": 1000}})})
    cloud = FakeWorld().reconciler(GatedScale(ScaleClient(api_client), cloud_gate, clock.now),
                                   FakePods({"default": [pod]}))
    cr = from_custom_resource(api.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler",
                                      "default", APP))
    assert cr.spec is not None
    key = target_key("default", cr.spec.scale_target_ref)
    usage = 0
    writers = []
    for index in range(12):
        clock.advance(17)
        usage += 17 * 1_000_000
        cpu(cgroups, uid, usage)
        if index == 5:
            cloud_metrics.unavailable = "metrics.k8s.io: no route to the edge kubelet"
        step_leases(cloud_gate, cloud, [cr], clock.now())
        cloud.reconcile(cr, cloud_metrics, clock.now())
        edge.loop.run_pass()
        now = clock.now()
        writers.append((cloud_gate.may_write(key, now),
                        edge.gate.may_write(key, now)))
    assert all(not (c and e) for c, e in writers), writers
    assert any(c for c, _ in writers[:5]) and not any(e for _, e in writers[:5])
    assert any(e for _, e in writers[6:])
    edge.journal.close()


def test_targets_without_pods_on_this_node_are_not_managed(api: FakeApiServer,
                                                           tmp_path: Path) -> None:
    api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "cloud-app", "namespace": "default"},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "cloud-app"}}}})
    api.create({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": "cloud-app-0", "namespace": "default",
                             "labels": {"app": "cloud-app"}},
                "spec": {"nodeName": "cloud-1", "containers": [{"name": "c"}]}})
    api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                "metadata": {"name": "cloud-app", "namespace": "default"},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": "cloud-app"}, "maxReplicas": 3}})
    clock = FakeClock(T0)
    uid = api.get("v1", "Pod", "default", f"{APP}-0")["metadata"]["uid"]
    cpu(tmp_path / "cgroup", uid, 0)
    agent = build_edge(EdgeOptions(node_name=NODE, journal=tmp_path / "journal",
                                   metaserver=api.url, cgroup_root=tmp_path / "cgroup",
                                   lease_namespace="default"), clock)
    agent.pods.caches[""].list_now()
    for cache in agent.specs.caches:
        cache.list_now()
    for step in range(3):
        clock.advance(17)
        cpu(tmp_path / "cgroup", uid, (step + 1) * 17_000_000)
        agent.loop.run_pass()
    managed = {m.name for m in agent.loop.specs()}
    assert managed == {APP}
    assert "status" not in api.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler",
                                   "default", "cloud-app")
    assert len(api.list("coordination.k8s.io/v1", "Lease", "default")) == 1  # qwen's only
    agent.journal.close()
