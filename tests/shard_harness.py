"""Shared by the sharding end-to-end tests: a fake cluster of N autoscalers (one Deployment,
one pod and one ElasticAutoscaler each), `autoscaler run --shards` replicas as processes, and
checks over the fake API server's request log (who held which shard Lease when each write
committed)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from autoscaler.ownership.shards import SHARD_COUNT, shard_lease_name, shard_of
from autoscaler.testing import FakeApiServer, write_kubeconfig
from autoscaler.testing.errors import ApiError
from autoscaler.testing.faults import RecordedRequest

AUTOSCALERS = 300
NAMESPACES = 3
STATE_NS = "edge-autoscaler"
DURATION, DEADLINE, SKEW, RETRY, PERIOD = 6.0, 3.0, 1.0, 1.0, 3.0
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{STATE_NS}/leases"


def stamp(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def app(i: int) -> tuple[str, str]:
    return f"ns-{i % NAMESPACES}", f"app-{i}"


def publish(api: FakeApiServer, cpu: str, count: int = AUTOSCALERS) -> None:
    now = time.time()
    for i in range(count):
        ns, name = app(i)
        api.set_pod_metrics(ns, f"{name}-0", {"c": {"cpu": cpu}}, timestamp=stamp(now - 1))


@contextmanager
def fake_cluster(count: int = AUTOSCALERS) -> Iterator[FakeApiServer]:
    """The fake API server with the state namespace and `count` autoscalers (populate)."""
    with FakeApiServer() as server:
        server.create({"apiVersion": "v1", "kind": "Namespace",
                       "metadata": {"name": STATE_NS}})
        populate(server, count)
        yield server


def stop_all(replicas: Iterable[Replica]) -> None:
    """Kill whatever still runs and reap every process (a test's teardown)."""
    for replica in replicas:
        if replica.proc.poll() is None:
            replica.proc.kill()
        replica.proc.wait(10)


def populate(api: FakeApiServer, count: int = AUTOSCALERS) -> None:
    api.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                      "elasticautoscalers", subresources=("status",))
    now = time.time()
    for i in range(count):
        ns, name = app(i)
        api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}}},
                    "status": {"replicas": 1}})
        api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                    "metadata": {"name": name, "namespace": ns},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                "kind": "Deployment", "name": name},
                             "minReplicas": 1, "maxReplicas": 4,
                             "metrics": [{"type": "Resource", "resource": {
                                 "name": "cpu", "target": {"type": "Utilization",
                                                           "averageUtilization": 50}}}]}})
        api.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": f"{name}-0", "namespace": ns,
                                 "labels": {"app": name}},
                    "spec": {"containers": [{"name": "c", "resources": {
                        "requests": {"cpu": "1"}}}]},
                    "status": {"phase": "Running", "startTime": stamp(now - 3600),
                               "conditions": [{"type": "Ready", "status": "True",
                                               "lastTransitionTime": stamp(now - 3500)}]}})
    publish(api, "500m", count)  # 50 %: every autoscaler holds at 1


class Replica:
    def __init__(self, api: FakeApiServer, tmp: Path, identity: str,
                 extra: tuple[str, ...] = ()) -> None:
        self.identity = identity
        self.log = tmp / f"{identity}.log"
        kubeconfig = write_kubeconfig(tmp / "kubeconfig", api.url)
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "autoscaler", "run", "--kubeconfig", str(kubeconfig),
                 "--shards", "--identity", identity, "--state-namespace", STATE_NS,
                 "--lease-duration", str(DURATION), "--renew-deadline", str(DEADLINE),
                 "--max-clock-skew", str(SKEW), "--lease-retry", str(RETRY),
                 "--sync-period", str(PERIOD), "--request-timeout", "2",
                 "--log-format", "json", *extra], stdout=subprocess.DEVNULL, stderr=out)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")[-4000:]

    def alive(self) -> None:
        assert self.proc.poll() is None, f"{self.identity} exited:\n{self.text()}"


def holders(api: FakeApiServer) -> dict[int, str]:
    """Shard -> holder of a live (renewed within DURATION + SKEW) shard Lease."""
    now = time.time()
    found: dict[int, str] = {}
    for shard in range(SHARD_COUNT):
        try:
            spec = api.get("coordination.k8s.io/v1", "Lease", STATE_NS,
                           shard_lease_name(shard))["spec"]
        except ApiError:  # not created yet
            continue
        renewed = datetime.fromisoformat(spec["renewTime"].replace("Z", "+00:00"))
        if spec.get("holderIdentity") and now <= renewed.timestamp() + DURATION + SKEW:
            found[shard] = spec["holderIdentity"]
    return found


def wait_until(what: str, check: Callable[[], bool], timeout: float,
               running: dict[str, Replica]) -> float:
    """Seconds until `check()` held (polled every 0.1 s); fails after `timeout`."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.1)
    logs = "\n".join(f"--- {r.identity}\n{r.text()}" for r in running.values())
    raise AssertionError(f"not within {timeout} s: {what}\n{logs}")


def balanced(api: FakeApiServer, members: set[str]) -> bool:
    owners = holders(api)
    counts = [sum(1 for who in owners.values() if who == m) for m in members]
    return (len(owners) == SHARD_COUNT and set(owners.values()) == members
            and max(counts) - min(counts) <= 1)


def scaled_to(api: FakeApiServer, count: int) -> Callable[[], bool]:
    def check() -> bool:
        return all(int(d["spec"]["replicas"]) == count
                   for d in api.list("apps/v1", "Deployment", None))
    return check


def identity_of(request: RecordedRequest) -> str:
    agent = request.user_agent
    return agent[agent.index("(") + 1:agent.rindex(")")] if "(" in agent else agent


def writer_violations(requests: list[RecordedRequest]) -> list[str]:
    """Scale and status writes not made by the holder of the target's shard Lease, with
    the Lease holders replayed from the same log in commit order."""
    holder: dict[str, str] = {}
    wrong: list[str] = []
    for request in requests:
        if request.status not in (200, 201) or request.method not in ("PUT", "POST", "PATCH"):
            continue
        if request.path.startswith(LEASES) and isinstance(request.body, dict):
            name = request.body.get("metadata", {}).get("name", "")
            holder[name] = (request.body.get("spec") or {}).get("holderIdentity") or ""
            continue
        parts = request.path.split("/")
        scale = request.path.endswith("/scale") and "/deployments/" in request.path
        status = request.path.endswith("/status") and "/elasticautoscalers/" in request.path
        if not (scale or status):
            continue
        ns, name = parts[parts.index("namespaces") + 1], parts[-2]
        lease = shard_lease_name(shard_of(f"{ns}/Deployment/{name}"))
        if holder.get(lease) != identity_of(request):
            wrong.append(f"{request.method} {request.path} by {identity_of(request)} while "
                         f"{lease} was held by {holder.get(lease) or 'nobody'}")
    return wrong


def scale_times(requests: list[RecordedRequest], after: float) -> dict[str, float]:
    """Target -> when its first successful scale write after `after` was logged."""
    found: dict[str, float] = {}
    for request in requests:
        if (request.method == "PUT" and request.path.endswith("/scale")
                and request.status == 200 and request.at >= after):
            found.setdefault(request.path, request.at)
    return found


