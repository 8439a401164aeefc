"""A real cloud-edge partition: the cloud daemon and the edge agent in their own network
namespaces, the fake API server in the root one, a fake KubeEdge MetaServer in front of the
agent (`partition_harness` draws the topology). Time is data: each process reads its clock
file and acknowledges every pass, and a step is "cloud pass, then edge pass" at T0 + 17 k.

  k=0..1  healthy: metrics-server publishes the edge pod's usage; the cloud holds the
          target's writer Lease; the agent (1 core on a 1-core request: wants 2) waits.
  cut     one of three fault shapes; metrics-server loses the pod (its PodMetrics go).
  k=2..4  the agent reads the Lease from the MetaServer's cache; once that copy is older
          than duration + skew (k=3) it tries to acquire, the MetaServer refuses (503) and
          the decision is journaled (k=3: 2, k=4 at 1.5 cores: 3); nothing of the edge's
          reaches the API server.
  heal    the MetaServer is online again.
  k=5     the Lease's last renewal + 15 s + 2 s is past: the agent acquires it and writes
          the latest journaled decision (3) once; the entry is marked applied.
  k=6..9  metrics return to the cloud: it asks for the Lease back (k=7), the agent releases,
          the cloud acquires the free Lease and writes its own decision (k=8: 4).

Over the whole run every scale write that reached the API server comes from the Lease's
holder at that moment (writers are told apart by source address: the two veth IPs), within
a window granted by that writer's own acknowledged acquire or renew, and the windows of
different writers never overlap.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from daemon_harness import (
    APP,
    NS,
    SCALE_PATH,
    STEP,
    T0,
    autoscaler_cr,
    replicas,
    rfc3339,
    seed_cluster,
)
from partition_harness import (
    CLOUD,
    LEASES,
    METASERVER_PORT,
    NODE,
    RUNNER,
    MetaServerProcess,
    NetnsProcess,
    Topology,
    audit_writers,
    netns_refused,
)

from autoscaler.edge.journal import Journal
from autoscaler.ownership.lease import format_micro_time
from autoscaler.testing import FakeApiServer, RecordedRequest, write_kubeconfig

TARGET = f"{NS}/Deployment/{APP}"


@dataclass
class World:
    topology: Topology
    api: FakeApiServer
    metaserver: MetaServerProcess
    cloud: NetnsProcess
    edge: NetnsProcess
    cgroups: Path
    journal: Path
    uid: str
    usage: int = 0
    metrics_cores: float | None = 0.5  # what metrics-server reports; None: cannot scrape
    marks: list[tuple[int, int]] = field(default_factory=list)  # (first request, step)
    # The agent's Lease and scale requests as the MetaServer answered them:
    # (step, forwarded|cache|refused, method, leases|scale).
    local: list[tuple[int, str, str, str]] = field(default_factory=list)

    def step(self, k: int, cores: float) -> None:
        """Time T0 + 17 k: the node's cgroup counter moves by `cores`, metrics-server
        publishes, then one pass of the cloud and one of the agent."""
        now = T0 + STEP * k
        self.usage += int(cores * STEP * 1_000_000)
        pod = self.cgroups / "kubepods" / "burstable" / f"pod{self.uid}"
        pod.mkdir(parents=True, exist_ok=True)
        (pod / "cpu.stat").write_text(f"usage_usec {self.usage}\n")
        if self.metrics_cores is not None:
            self.api.set_pod_metrics(NS, f"{APP}-0",
                                     {"qwen": {"cpu": f"{int(self.metrics_cores * 1000)}m"}},
                                     timestamp=rfc3339(now - 5), window="30s")
        seen = len(self.metaserver.records())
        self.marks.append((len(self.api.requests), k))
        if k == 0:
            self.cloud.start(now)
            self.edge.start(now)
        else:
            self.cloud.step(now)
            self.edge.step(now)
        for record in self.metaserver.records()[seen:]:
            path = str(record["path"])
            what = "leases" if "/leases/" in path else "scale" if path == SCALE_PATH else ""
            if what:
                self.local.append((k, str(record["mode"]), str(record["method"]), what))

    def answered(self, mode: str, method: str) -> list[tuple[int, str]]:
        return [(k, what) for k, m, verb, what in self.local if (m, verb) == (mode, method)]

    def lose_metrics(self) -> None:
        self.metrics_cores = None
        self.api.delete("metrics.k8s.io/v1beta1", "PodMetrics", NS, f"{APP}-0")

    def who(self, request: RecordedRequest) -> str:
        identity = {self.topology.cloud_ip: CLOUD, self.topology.edge_ip: NODE}
        assert request.client in identity, f"a request from outside the test: {request}"
        return identity[request.client]

    def step_of(self, index: int) -> int:
        return max((k for first, k in self.marks if first <= index), default=-1)


@dataclass(frozen=True)
class Shape:
    cut: Callable[[World], None]
    heal: Callable[[World], None]
    # Writer-Lease writes the API server acknowledged: (step, writer, hold|release|request).
    lease: tuple[tuple[int, str, str], ...]


def restart(api: FakeApiServer) -> None:
    api.start()  # the same port: the clients' addresses stay right


HANDBACK = ((5, NODE, "hold"), (6, NODE, "hold"), (7, CLOUD, "request"),
            (7, NODE, "release"), (8, CLOUD, "hold"), (9, CLOUD, "hold"))
# The cloud still reaches the API server: at k=2 it renews on its previous pass' health
# (the lease step precedes the pass), at k=3 it releases (its k=2 pass had no metrics).
LINK_DOWN = ((0, CLOUD, "hold"), (1, CLOUD, "hold"), (2, CLOUD, "hold"),
             (3, CLOUD, "release"), *HANDBACK)
# The cloud is cut off too: nothing until the heal, then (k=5) it finds itself the holder
# without metrics and releases, just before the agent's pass.
SERVER_GONE = ((0, CLOUD, "hold"), (1, CLOUD, "hold"), (5, CLOUD, "release"), *HANDBACK)
SHAPES = {
    # The root end of the edge's veth down: the edge's packets vanish (connects time out).
    "link-down": Shape(lambda w: w.topology.cut(), lambda w: w.topology.heal(), LINK_DOWN),
    # The API server process stopped (connection refused) and restarted on the same port.
    "connection-refused": Shape(lambda w: w.api.stop(), lambda w: restart(w.api),
                                SERVER_GONE),
    # Every connection dropped by the fake server before it answers.
    "connection-dropped": Shape(lambda w: w.api.drop_connection(None, ".*", times=None),
                                lambda w: w.api.clear_faults(), SERVER_GONE),
}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    refused = netns_refused()
    if refused:
        pytest.skip(f"the kernel refuses network namespaces: {refused}")
    with ExitStack() as stack:  # unwinds in reverse, on failure too
        topology = Topology.create()
        stack.callback(topology.destroy)
        api = FakeApiServer(host="0.0.0.0").start()  # reachable from both veth pairs
        stack.callback(api.stop)
        seed_cluster(api)
        api.create({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "edge-autoscaler"}})
        api.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"{APP}-0", "namespace": NS, "labels": {"app": APP}},
                    "spec": {"nodeName": NODE, "containers": [{"name": "qwen", "resources": {
                        "requests": {"cpu": "1"}}}]},
                    "status": {"phase": "Running", "startTime": rfc3339(T0 - 3600),
                               "conditions": [{"type": "Ready", "status": "True",
                                               "lastTransitionTime": rfc3339(T0 - 3500)}]}})
        autoscaler_cr(api)
        metaserver = MetaServerProcess(topology, tmp_path / "metaserver", api.port)
        stack.callback(metaserver.stop)
        metaserver.wait_for("online")
        kubeconfig = write_kubeconfig(tmp_path / "cloud.kubeconfig",
                                      f"http://{topology.cloud_gateway}:{api.port}")
        cloud = NetnsProcess(api, tmp_path / "cloud", topology.netns_exec(
            topology.cloud_ns, sys.executable, "-m", "autoscaler", "run", "--kubeconfig",
            str(kubeconfig), "--log-format", "json", "--request-timeout", "3",
            "--writer-leases", "--identity", CLOUD))
        stack.callback(cloud.stop)
        journal = tmp_path / "edge" / "journal"
        edge = NetnsProcess(api, tmp_path / "edge", topology.netns_exec(
            topology.edge_ns, sys.executable, str(RUNNER), "--metaserver",
            f"http://127.0.0.1:{METASERVER_PORT}", "--node-name", NODE, "--journal",
            str(journal), "--cgroup-root", str(tmp_path / "cgroup")))
        stack.callback(edge.stop)
        uid = api.get("v1", "Pod", NS, f"{APP}-0")["metadata"]["uid"]
        yield World(topology, api, metaserver, cloud, edge, tmp_path / "cgroup", journal, uid)


def _lease(holder: str, renew_offset: float, client: str) -> RecordedRequest:
    spec = {"holderIdentity": holder,
            "renewTime": format_micro_time(T0 + renew_offset)}
    return RecordedRequest("PUT", f"{LEASES}/eas-writer-0", {}, "application/json",
                           {"metadata": {"name": "eas-writer-0"}, "spec": spec}, 200, client)


SCALE_WRITE = RecordedRequest("PUT", SCALE_PATH, {}, "application/json",
                              {"spec": {"replicas": 2}}, 200, "e")


@pytest.mark.parametrize("log, problem", [
    pytest.param([(0, _lease(CLOUD, 0, "c")), (0, SCALE_WRITE)],
                 "edge-node-1 wrote the scale; 'cloud-0' held it", id="write-by-non-holder"),
    pytest.param([(0, _lease(CLOUD, 0, "c")), (1, _lease(NODE, STEP, "e"))],
                 "edge-node-1 took the Lease 17 s after", id="edge-takeover-at-expiry"),
    pytest.param([(0, _lease(NODE, 0, "e")), (1, SCALE_WRITE)],
                 "outside its own granted window", id="write-after-renew-deadline"),
    pytest.param([(0, _lease(NODE, 0, "e")), (0, _lease(CLOUD, 5, "c"))],
                 "overlapping writer windows", id="cloud-takeover-inside-the-edge-window"),
])
def test_the_audit_catches_a_second_writer(log: list[tuple[int, RecordedRequest]],
                                            problem: str) -> None:
    """The replay on made-up logs of (step, request), each breaking one rule: a passing
    partition run means something only if the audit fails these."""
    names = {"c": CLOUD, "e": NODE}
    with pytest.raises(AssertionError, match=problem):
        audit_writers([r for _, r in log], lambda i: log[i][0], lambda r: names[r.client])


@pytest.mark.parametrize("shape", list(SHAPES))
def test_partition_hands_over_and_back_with_one_writer(world: World, shape: str) -> None:
    fault = SHAPES[shape]
    world.step(0, 0.0)  # the cloud creates the Lease holding it; the agent's CPU baseline
    world.step(1, 1.0)
    assert world.metaserver.mode() == "online"
    world.lose_metrics()
    fault.cut(world)
    world.metaserver.wait_for("offline")
    cut = len(world.api.requests)
    for k, cores in ((2, 1.0), (3, 1.0), (4, 1.5)):
        world.step(k, cores)
    healed = len(world.api.requests)
    fault.heal(world)
    world.metaserver.wait_for("online")
    world.step(5, 1.5)
    world.metrics_cores = 2.0  # the cloud sees 200 % of the request: wants 4
    for k in (6, 7, 8, 9):
        world.step(k, 1.5)

    leases, scales = audit_writers(world.api.requests, world.step_of, world.who)
    assert leases == list(fault.lease)
    assert scales == [(5, NODE, 3), (8, CLOUD, 4)]  # once at reconnect, once after handback
    assert replicas(world.api) == 4
    # Partitioned, the agent read the Lease and the scale from the MetaServer's cache and its
    # only writes were Lease acquires, refused (k=2: its cached copy, renewed at k=1, is
    # exactly at renewal + 15 s + 2 s: not past it). It never sent a scale write offline.
    cached = world.answered("cache", "GET")
    assert {k for k, what in cached if what == "leases"} == {2, 3, 4}
    assert {k for k, what in cached if what == "scale"} == {2, 3, 4}
    assert world.answered("refused", "PUT") == [(3, "leases"), (4, "leases")]
    assert [(k, m) for k, m, verb, what in world.local if what == "scale" and verb == "PUT"] \
        == [(5, "forwarded")]
    during = world.api.requests[cut:healed]
    assert [r for r in during if r.client == world.topology.edge_ip
            and (r.is_write or r.status != 0)] == []  # nothing of the edge was served
    with Journal(world.journal) as journal:
        entries = [(e.seq, e.at_seconds - T0, e.desired_replicas, e.applied)
                   for e in journal.entries() if e.key == TARGET]
        latest = journal.entries()[-1]
    assert entries == [(1, 3 * STEP, 2, False), (2, 4 * STEP, 3, True)]  # superseded, applied
    assert "503" in latest.reason and "wrote 3 (journaled wish was 3)" in latest.note
    # Standby means silent: every write from the edge's address happened while it held the
    # Lease (k=5..6) or released it (k=7).
    edge_steps = {world.step_of(i) for i, r in enumerate(world.api.requests)
                  if r.is_write and world.who(r) == NODE}
    assert edge_steps == {5, 6, 7}
