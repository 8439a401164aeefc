"""The edge agent's pieces with the official client against the fake API server: decisions
journaled while the MetaServer refuses writes, the latest decision written once at
reconnect; writes only while holding the target's Lease; local cgroup CPU as metrics."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from algorithms.observation import MetricUnavailable, PodResourceUsage, ResourceMetricsData
from algorithms.plan import Failed
from algorithms.pods import ContainerInfo, PodInfo
from autoscaler.edge.agent import JournalHooks, LocalCpuMetrics, SummarySampler
from autoscaler.edge.cgroups import CpuSampler
from autoscaler.edge.journal import Journal
from autoscaler.errors import StandbyError, TransientError
from autoscaler.kube.client import Connection, connect
from autoscaler.kube.scale import ScaleClient
from autoscaler.ownership.gate import GatedScale, WriterGate, target_key
from autoscaler.ownership.lease import LeaseClient
from autoscaler.ownership.rules import Candidate
from autoscaler.specs.model import ManagedSpec
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing import FakeApiServer, write_kubeconfig
from autoscaler.testing.fakes import FakeMetrics, FakePods, FakeWorld

NOW = 1_800_000_000.0
NS = "default"
APP = "qwen"


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.create({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": APP, "namespace": NS},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}}}})
        yield server


@pytest.fixture
def connection(api: FakeApiServer, tmp_path: Path) -> Connection:
    return connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)


def managed() -> ManagedSpec:
    return from_custom_resource({"metadata": {"name": APP, "namespace": NS}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": APP},
        "minReplicas": 1, "maxReplicas": 10,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 50}}}]}})


def busy_world(replicas: int) -> tuple[FakePods, FakeMetrics]:
    pods = [PodInfo(name=f"{APP}-{i}", start_time=NOW - 3600, ready_transition_time=NOW - 3500,
                    labels={"app": APP}, containers=(ContainerInfo("c", {"cpu": 3000}),))
            for i in range(replicas)]
    usage = {p.name: PodResourceUsage(NOW - 5, 30.0, {"c": {"cpu": 3000}}) for p in pods}
    return FakePods({NS: pods}), FakeMetrics(usage)


def replicas(api: FakeApiServer) -> int:
    return int(api.get("apps/v1", "Deployment", NS, APP)["spec"]["replicas"])


def test_offline_decisions_are_journaled_and_the_latest_is_written_once_at_reconnect(
        api: FakeApiServer, connection: Connection, tmp_path: Path) -> None:
    clock = [NOW]
    with Journal(tmp_path / "journal") as journal:
        hooks = JournalHooks(journal)
        scale = GatedScale(ScaleClient(connection.api_client, timeout_seconds=5), None,
                           lambda: clock[0], hooks.offline, hooks.written)
        pods, metrics = busy_world(1)
        reconciler = FakeWorld().reconciler(scale, pods)
        api.read_only(True)  # the cloud link is down: MetaServer refuses writes
        offline = reconciler.reconcile(managed(), metrics, NOW)
        assert replicas(api) == 1
        assert isinstance(offline.outcome, Failed) and offline.state is not None
        assert {c.type: c.reason for c in offline.state.status.conditions}[
            "AbleToScale"] == "FailedUpdateScale"
        pending = journal.pending(target_key(NS, managed().spec.scale_target_ref))  # type: ignore[union-attr]
        assert pending is not None and pending.desired_replicas == 2
        api.read_only(False)  # reconnected
        clock[0] = NOW + 15
        reconciler.reconcile(managed(), metrics, NOW + 15)
        assert replicas(api) == 2
        entries = journal.entries()
        assert len(entries) == 1 and entries[0].applied
        assert "reconnected" in entries[0].note
        writes = [r for r in api.writes() if r.path.endswith("/scale")]
        assert [r.status for r in writes] == [503, 200]  # exactly one write landed


def test_only_the_lease_holder_writes(api: FakeApiServer, connection: Connection,
                                      tmp_path: Path) -> None:
    edge = Candidate("edge-node-1", "edge", lease_duration_seconds=15,
                     renew_deadline_seconds=10, max_clock_skew_seconds=2)
    gate = WriterGate(lambda name: LeaseClient(connection.api_client, NS, name), edge)
    ref = managed().spec.scale_target_ref  # type: ignore[union-attr]
    key = target_key(NS, ref)
    with Journal(tmp_path / "journal") as journal:
        hooks = JournalHooks(journal)
        scale = GatedScale(ScaleClient(connection.api_client), gate, lambda: NOW,
                           hooks.offline, hooks.written)
        gate.step(key, NOW, healthy=True)  # creates the Lease free: the edge waits
        read = scale.get(NS, ref)
        with pytest.raises(StandbyError):
            scale.update(NS, ref, read, 3)
        assert replicas(api) == 1
        later = NOW + 15 + 2 + 1  # past expiry + skew: the edge may take over
        assert gate.step(key, later, healthy=True) == "acquire"
        assert gate.may_write(key, later)
        scale.now = lambda: later
        scale.update(NS, ref, scale.get(NS, ref), 3)
        assert replicas(api) == 3


def test_journaled_write_errors_propagate_as_transient(api: FakeApiServer,
                                                       connection: Connection,
                                                       tmp_path: Path) -> None:
    ref = managed().spec.scale_target_ref  # type: ignore[union-attr]
    with Journal(tmp_path / "journal") as journal:
        hooks = JournalHooks(journal)
        scale = GatedScale(ScaleClient(connection.api_client, timeout_seconds=5), None,
                           lambda: NOW, hooks.offline, hooks.written)
        api.read_only(True)
        with pytest.raises(TransientError):
            scale.update(NS, ref, scale.get(NS, ref), 4)
    with Journal(tmp_path / "journal") as reopened:  # durable across a restart
        pending = reopened.pending(target_key(NS, ref))
        assert pending is not None and pending.desired_replicas == 4


UID = "0a1b2c3d-0000-4000-8000-00000000000a"


def _cgroup_pod(root: Path, uid: str, usage_usec: int) -> None:
    pod = root / "kubepods" / "burstable" / f"pod{uid}"
    pod.mkdir(parents=True, exist_ok=True)
    (pod / "cpu.stat").write_text(f"usage_usec {usage_usec}\nuser_usec 0\nsystem_usec 0\n")


def test_local_cgroup_cpu_as_metrics(tmp_path: Path) -> None:
    _cgroup_pod(tmp_path, UID, 1_000_000)
    metrics = LocalCpuMetrics(CpuSampler(tmp_path), lambda ns: {UID: "qwen-0"})
    metrics.begin_pass(NOW)
    first = metrics.for_pods(NS, {"qwen-0"})
    assert isinstance(first, MetricUnavailable)  # a baseline, not a zero
    _cgroup_pod(tmp_path, UID, 1_000_000 + 15 * 2_500_000)  # 2.5 cores for 15 s
    metrics.begin_pass(NOW + 15)
    second = metrics.for_pods(NS, {"qwen-0"})
    assert isinstance(second, ResourceMetricsData)
    usage = second.pods["qwen-0"]
    assert sum(c["cpu"] for c in usage.containers.values()) == 2500
    assert (usage.timestamp, usage.window_seconds) == (NOW + 15, 15.0)


def summary(usage_core_ns: int, at: str) -> dict[str, object]:
    return {"node": {"nodeName": "edge-node-1"}, "pods": [{
        "podRef": {"name": "qwen-0", "namespace": NS, "uid": UID},
        "cpu": {"time": at, "usageNanoCores": 0, "usageCoreNanoSeconds": usage_core_ns},
        "containers": [{"name": "c", "cpu": {"time": at, "usageNanoCores": 0,
                                             "usageCoreNanoSeconds": usage_core_ns}}]}]}


def test_summary_api_as_the_cpu_source() -> None:
    documents = iter([summary(10**9, "2027-01-15T08:00:00Z"),
                      summary(10**9 + 15 * 2 * 10**9, "2027-01-15T08:00:15Z")])
    metrics = LocalCpuMetrics(SummarySampler(lambda: next(documents)),
                              lambda ns: {UID: "qwen-0"})
    metrics.begin_pass(NOW)
    assert isinstance(metrics.for_pods(NS, {"qwen-0"}), MetricUnavailable)  # baseline
    metrics.begin_pass(NOW + 15)
    second = metrics.for_pods(NS, {"qwen-0"})
    assert isinstance(second, ResourceMetricsData)
    assert sum(c["cpu"] for c in second.pods["qwen-0"].containers.values()) == 2000
