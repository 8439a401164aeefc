"""Sharding end to end: three `autoscaler run --shards` processes share 300 autoscalers in
the fake API server; one is SIGKILLed, one joins, one stops cleanly.

Real time here (the shard Leases expire on the wall clock), with short Lease timings so the
test takes about a minute: duration 6 s, renew deadline 3 s, skew bound 1 s, a step every
second, a 3-s sync period. Checked over the whole request log, in the server's commit order:
every scale and status write came from the replica that held the target's shard Lease at
that point (so never two writers for one autoscaler), and each handover finished within the
bound the protocol gives (stated per check).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shard_harness import (
    AUTOSCALERS,
    DURATION,
    LEASES,
    PERIOD,
    RETRY,
    SKEW,
    Replica,
    balanced,
    fake_cluster,
    holders,
    publish,
    scale_times,
    scaled_to,
    stop_all,
    wait_until,
    writer_violations,
)

from autoscaler.ownership.shards import shard_lease_name, shard_of
from autoscaler.testing import FakeApiServer
from autoscaler.testing.faults import RecordedRequest


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with fake_cluster() as server:
        yield server


@pytest.fixture
def replicas(api: FakeApiServer, tmp_path: Path) -> Iterator[dict[str, Replica]]:
    started: dict[str, Replica] = {}
    yield started
    stop_all(started.values())


def test_three_replicas_share_kill_join_and_stop(api: FakeApiServer, tmp_path: Path,
                                                 replicas: dict[str, Replica]) -> None:
    for identity in ("r0", "r1", "r2"):
        replicas[identity] = Replica(api, tmp_path, identity)
    took = wait_until("32 shards split 11/11/10 over r0, r1, r2",
                      lambda: balanced(api, {"r0", "r1", "r2"}), 60, replicas)
    print(f"balanced {took:.1f} s after the three started")
    for replica in replicas.values():
        replica.alive()
    # Every autoscaler reconciled (its status written) by its shard's holder.
    wait_until("every autoscaler has a status", lambda: all(
        (a.get("status") or {}).get("conditions")
        for a in api.list("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", None)),
        30, replicas)

    # SIGKILL r1 and raise the load: every autoscaler must go 1 -> 2; r1's only after
    # its shard Leases expire (last renewal + DURATION + SKEW), then within a step and a
    # pass of the new holder.
    victim = replicas["r1"]
    lost = {s for s, who in holders(api).items() if who == "r1"}
    killed = time.time()
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait(10)
    publish(api, "1000m")
    wait_until("all 300 scaled to 2", scaled_to(api, 2), 60, replicas)
    times = scale_times(api.requests, killed)
    orphan = {path: at - killed for path, at in times.items()
              if shard_of(f"{path.split('/')[5]}/Deployment/{path.split('/')[-2]}") in lost}
    assert len(times) == AUTOSCALERS and orphan
    bound = DURATION + SKEW + RETRY + PERIOD * 1.1 + 2.0  # + 2 s for this busy machine
    print(f"r1 held {len(lost)} shards ({len(orphan)} autoscalers); they scaled "
          f"{min(orphan.values()):.1f}..{max(orphan.values()):.1f} s after the SIGKILL "
          f"(bound {bound:.1f} s)")
    assert max(orphan.values()) <= bound
    assert set(holders(api).values()) == {"r0", "r2"}

    # A replica joins: the others hand over its share within one lease duration.
    joined = time.monotonic()
    replicas["r3"] = Replica(api, tmp_path, "r3")
    wait_until("shards rebalanced over r0, r2, r3",
               lambda: balanced(api, {"r0", "r2", "r3"}), 60, replicas)
    print(f"rebalanced {time.monotonic() - joined:.1f} s after r3 started")

    # A clean stop (SIGTERM) releases at once: the others take over before expiry.
    leaving = {s for s, who in holders(api).items() if who == "r0"}
    replicas["r0"].proc.send_signal(signal.SIGTERM)
    assert replicas["r0"].proc.wait(30) == 0
    handed = wait_until("r0's shards taken over", lambda: all(
        holders(api).get(s) in ("r2", "r3") for s in leaving), 30, replicas)
    print(f"r0's {len(leaving)} shards taken over {handed:.1f} s after it exited")
    assert handed < DURATION

    wrong = writer_violations(api.requests)
    writes = sum(1 for r in api.requests if r.path.endswith(("/scale", "/status"))
                 and r.method in ("PUT", "PATCH") and r.status == 200)
    print(f"{writes} scale/status writes checked against the shard Lease holders")
    assert not wrong, "\n".join(wrong[:20])
    assert writes >= 2 * AUTOSCALERS  # a scale write and status writes each
    for identity in ("r2", "r3"):
        assert '"level": "error"' not in replicas[identity].text()


def request(method: str, path: str, who: str, body: object = None) -> RecordedRequest:
    return RecordedRequest(method, path, {}, "application/json", body, 200,
                           user_agent=f"edge-autoscaler ({who})")


def test_the_log_check_finds_a_write_by_a_replica_without_the_shard() -> None:
    """The check above can fail: a scale write by r1 after r2 took the shard over."""
    lease = shard_lease_name(shard_of("ns-0/Deployment/app-0"))
    scale = "/apis/apps/v1/namespaces/ns-0/deployments/app-0/scale"
    status = "/apis/edgeautoscaler.io/v1alpha1/namespaces/ns-0/elasticautoscalers/app-0/status"

    def lease_write(who: str) -> RecordedRequest:
        return request("PUT", f"{LEASES}/{lease}", who,
                       {"metadata": {"name": lease}, "spec": {"holderIdentity": who}})
    fine = [lease_write("r1"), request("PUT", scale, "r1"), request("PATCH", status, "r1"),
            lease_write("r2"), request("PUT", scale, "r2")]
    assert writer_violations(fine) == []
    late = [*fine, request("PATCH", status, "r1")]
    assert writer_violations(late) == [f"PATCH {status} by r1 while {lease} was held by r2"]
    released = [lease_write("r1"), lease_write(""), request("PUT", scale, "r1")]
    assert writer_violations(released) == [
        f"PUT {scale} by r1 while {lease} was held by nobody"]
