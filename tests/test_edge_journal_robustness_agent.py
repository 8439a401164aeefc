"""The edge agent (`build_edge`, in process: fake API server as the MetaServer, FakeClock,
a cgroup tree) with a damaged journal or a failing disk: it keeps passing and scaling,
quarantines what is invalid, counts it on /metrics and reports it by a Warning Event, and
retries failed upkeep (compaction on a full disk) on a later pass."""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

import pytest
from prometheus_client import CollectorRegistry
from test_edge_journal_robustness import decision, fail_syscall, quarantine_records

from autoscaler.clock import FakeClock
from autoscaler.edge import app
from autoscaler.edge.app import EdgeAgent, EdgeOptions, build_edge
from autoscaler.edge.journal import Journal
from autoscaler.edge.journal_monitor import QUARANTINE_REASON, JournalMetrics, JournalMonitor
from autoscaler.testing import FakeApiServer

T0 = 1_800_000_000.0
NODE = "edge-node-1"
APP = "qwen"
TARGET = f"default/Deployment/{APP}"


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    """One Deployment with one pod on this node, and its ElasticAutoscaler (50 % CPU)."""
    with FakeApiServer() as server:
        server.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                             "elasticautoscalers", subresources=("status",))
        server.create({"apiVersion": "apps/v1", "kind": "Deployment",
                       "metadata": {"name": APP, "namespace": "default"},
                       "spec": {"replicas": 1, "selector": {"matchLabels": {"app": APP}}}})
        server.create({"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"name": f"{APP}-0", "namespace": "default",
                                    "labels": {"app": APP}},
                       "spec": {"nodeName": NODE, "containers": [{"name": "c", "resources": {
                           "requests": {"cpu": "1"}}}]},
                       "status": {"phase": "Running", "startTime": stamp(T0 - 3600),
                                  "conditions": [{"type": "Ready", "status": "True",
                                                  "lastTransitionTime": stamp(T0 - 3500)}]}})
        server.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                       "metadata": {"name": APP, "namespace": "default"},
                       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                   "kind": "Deployment", "name": APP},
                                "minReplicas": 1, "maxReplicas": 4,
                                "metrics": [{"type": "Resource", "resource": {
                                    "name": "cpu", "target": {"type": "Utilization",
                                                              "averageUtilization": 50}}}]}})
        yield server


@dataclass
class Node:
    """The agent and the world it runs in; `step` is one pass `seconds` later."""

    api: FakeApiServer
    agent: EdgeAgent
    clock: FakeClock
    cgroups: Path
    uid: str
    usage: int = 0

    def step(self, seconds: float, cores: float) -> None:
        self.clock.advance(seconds)
        self.usage += int(cores * seconds * 1_000_000)
        write_cpu(self.cgroups, self.uid, self.usage)
        self.agent.loop.run_pass()  # the agent's pass: must return, whatever the journal

    def replicas(self) -> int:
        return int(self.api.get("apps/v1", "Deployment", "default", APP)["spec"]["replicas"])

    def sample(self, name: str, **labels: str) -> float | None:
        return self.agent.loop.metrics.registry.get_sample_value(name, labels)

    def journal_events(self) -> list[dict[str, object]]:
        return [e for e in self.api.list("v1", "Event", "default")
                if e.get("reason") == QUARANTINE_REASON]


def write_cpu(root: Path, uid: str, usage_usec: int) -> None:
    pod = root / "kubepods" / "burstable" / f"pod{uid}"
    pod.mkdir(parents=True, exist_ok=True)
    (pod / "cpu.stat").write_text(f"usage_usec {usage_usec}\n")


def start_node(api: FakeApiServer, tmp_path: Path) -> Node:
    uid = api.get("v1", "Pod", "default", f"{APP}-0")["metadata"]["uid"]
    write_cpu(tmp_path / "cgroup", uid, 0)
    clock = FakeClock(T0)
    agent = build_edge(EdgeOptions(node_name=NODE, journal=tmp_path / "journal",
                                   metaserver=api.url, cgroup_root=tmp_path / "cgroup",
                                   lease_namespace="default"), clock)
    agent.pods.caches[""].list_now()
    for cache in agent.specs.caches:
        cache.list_now()
    return Node(api, agent, clock, tmp_path / "cgroup", uid)


def take_over_and_scale_offline_then_online(node: Node) -> None:
    """The timeline of tests/test_edge_app.py: baseline, the Lease expires, the agent writes
    2; offline it journals 4; at reconnect it writes 4."""
    node.agent.loop.run_pass()
    for _ in range(3):
        node.step(17, 1.0)
    assert node.replicas() == 2
    node.api.read_only(True)
    node.step(17, 2.0)
    pending = node.agent.journal.pending(TARGET)
    assert pending is not None and pending.desired_replicas == 4
    node.api.read_only(False)
    node.step(17, 2.0)
    assert node.replicas() == 4
    assert node.agent.journal.pending(TARGET) is None


def flip_first_line(data: bytes) -> bytes:
    return bytes([data[0], data[1], data[2], data[3] ^ 0x04]) + data[4:]


OLD = decision(1, "default/Deployment/gone") + decision(2, "default/Deployment/other")


@pytest.mark.parametrize("damaged, quarantined", [
    pytest.param(flip_first_line(OLD), 1, id="one-flipped-bit-in-line-1"),
    pytest.param(decision(1) + b"\x00" * 512 + b"\n" + decision(2), 1, id="zeroed-block"),
    pytest.param(OLD + b"#" * 100_000 + b"\n", 1, id="huge-line"),
    pytest.param(OLD + b'00000000 {"kind":"rollback"}\n' * 3, 3, id="foreign-lines"),
    pytest.param(OLD + decision(3)[:-9], 0, id="torn-tail"),
])
def test_edge_agent_keeps_scaling_with_a_damaged_journal(
        api: FakeApiServer, tmp_path: Path, damaged: bytes, quarantined: int) -> None:
    (tmp_path / "journal").write_bytes(damaged)
    node = start_node(api, tmp_path)
    take_over_and_scale_offline_then_online(node)
    journal = node.agent.journal
    assert journal.read().clean
    assert node.sample("autoscaler_edge_journal_quarantined_lines_total") == quarantined
    assert len(quarantine_records(journal)) == quarantined
    events = node.journal_events()
    assert len(events) == (1 if quarantined else 0)  # a torn tail is what crashes leave
    for event in events:
        assert event["type"] == "Warning"
        assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": NODE,
                                           "namespace": "default", "uid": NODE}
        assert "line" in str(event["message"]) and "byte" in str(event["message"])
    journal.close()


def test_damage_appearing_while_running_is_quarantined_on_the_next_pass(
        api: FakeApiServer, tmp_path: Path) -> None:
    node = start_node(api, tmp_path)
    node.agent.loop.run_pass()
    path = tmp_path / "journal"
    path.write_bytes(flip_first_line(decision(1)) + decision(2))  # bit rot under a running agent
    take_over_and_scale_offline_then_online(node)
    assert node.sample("autoscaler_edge_journal_quarantined_lines_total") == 1
    assert [r["line"] for r in quarantine_records(node.agent.journal)] == [1]
    node.agent.journal.close()


def fill_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    fail_syscall(monkeypatch, "write", ".compact", errno.ENOSPC)


def unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    fail_syscall(monkeypatch, "open", "/journal", errno.EIO)


@pytest.mark.parametrize("fault, operation", [
    pytest.param(fill_disk, "compact", id="compaction-enospc"),
    pytest.param(unreadable, "read", id="journal-unreadable-eio"),
])
def test_failed_upkeep_is_counted_and_retried_never_fatal(
        api: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        fault: Callable[[pytest.MonkeyPatch], None], operation: str) -> None:
    monkeypatch.setattr(app, "COMPACT_AFTER_ENTRIES", 5)
    path = tmp_path / "journal"
    path.write_bytes(b"".join(decision(n, "default/Deployment/gone") for n in range(1, 13)))
    old = path.read_bytes()
    node = start_node(api, tmp_path)
    fault(monkeypatch)
    node.agent.loop.run_pass()
    node.step(17, 1.0)
    # JournalError is a PermanentError of the project's tree (never the OSError's class).
    assert node.sample("autoscaler_edge_journal_errors_total", operation=operation,
                       error_class="PermanentError") == 2
    assert path.read_bytes() == old  # intact, and no temp file beside it
    assert not (tmp_path / "journal.compact").exists()
    monkeypatch.undo()  # space freed / disk back: the next pass does the upkeep
    monkeypatch.setattr(app, "COMPACT_AFTER_ENTRIES", 5)
    node.step(17, 1.0)
    assert [e.seq for e in node.agent.journal.entries()] == [12]
    assert node.sample("autoscaler_edge_journal_entries") == 1
    node.step(17, 1.0)
    assert node.replicas() == 2  # it kept going: took over and scaled
    node.agent.journal.close()


def test_journal_refusing_a_record_while_offline_does_not_stop_the_agent(
        api: FakeApiServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node = start_node(api, tmp_path)
    node.agent.loop.run_pass()
    for _ in range(3):
        node.step(17, 1.0)
    node.api.read_only(True)
    fail_syscall(monkeypatch, "write", "/journal", errno.ENOSPC)  # the disk is full, too
    node.step(17, 2.0)
    assert node.agent.journal.pending(TARGET) is None  # nothing could be journaled
    monkeypatch.undo()
    node.api.read_only(False)
    node.step(17, 2.0)  # the loop decides afresh every pass: the reconnect write needs no journal
    assert node.replicas() == 4
    node.agent.journal.close()


@pytest.mark.parametrize("keys, threshold, passes", [
    pytest.param(3, 50, 600, id="offline-for-600-passes"),
    pytest.param(40, 10, 400, id="more-targets-than-the-threshold"),
])
def test_journal_stays_bounded_over_a_long_outage(tmp_path: Path, keys: int, threshold: int,
                                                  passes: int) -> None:
    journal = Journal(tmp_path / "journal")
    compactions = 0
    compact = journal.compact

    def counted() -> int:
        nonlocal compactions
        compactions += 1
        return compact()

    journal.compact = counted  # type: ignore[method-assign]
    monitor = JournalMonitor(journal, JournalMetrics(CollectorRegistry()), NODE, lambda: T0,
                             compact_after_lines=threshold)
    most = 0
    with mock.patch("os.fsync"):  # sizes are the subject here, not durability: keep it quick
        for n in range(passes):  # every pass journals one more refused write
            monitor.begin_pass()
            journal.record(f"ns/app-{n % keys}", T0 + n, 1, 2, "offline; journaled")
            most = max(most, journal.read().lines)
    assert most <= max(threshold, 2 * keys) + 1
    assert compactions <= passes // max(threshold - keys, keys) + 1  # not on every pass
    assert len(journal.entries()) <= max(threshold, 2 * keys) + 1
    journal.close()


def test_upkeep_never_raises_even_on_a_bug(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal")
    metrics = JournalMetrics(CollectorRegistry())

    def broken() -> None:
        raise RecursionError("a bug")

    journal.repair = broken  # type: ignore[method-assign]
    JournalMonitor(journal, metrics, NODE, lambda: T0).begin_pass()
    assert metrics.registry.get_sample_value("autoscaler_edge_journal_errors_total",
                                             {"operation": "crash",
                                              "error_class": "PermanentError"}) == 1
