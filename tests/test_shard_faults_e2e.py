"""Sharded replicas under API faults: two `autoscaler run --shards` processes, 100
autoscalers, and the fake API server (a) failing every Lease request for longer than the
renew deadline and the lease duration, (b) answering Lease writes 0.7 s late (a quarter
of the renew deadline) while dropping scale writes. Checked over the whole request log:
every scale and status write came from the holder of its target's shard Lease (in commit
order); none was committed in the part of the outage after every grant had run out; and
after each fault the autoscalers converge.

Real time, short Lease timings (shard_harness: duration 6 s, renew deadline 3 s, skew 1 s,
retry 1 s, 3-s passes, 2-s request timeout); about 40 s.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shard_harness import (
    DEADLINE,
    DURATION,
    PERIOD,
    RETRY,
    SKEW,
    Replica,
    balanced,
    fake_cluster,
    publish,
    scaled_to,
    stop_all,
    wait_until,
    writer_violations,
)

from autoscaler.testing import FakeApiServer

COUNT = 100
TIMEOUT = 2.0  # the harness's --request-timeout


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with fake_cluster(COUNT) as server:
        yield server


@pytest.fixture
def replicas(api: FakeApiServer) -> Iterator[dict[str, Replica]]:
    started: dict[str, Replica] = {}
    yield started
    stop_all(started.values())


def scale_writes_between(api: FakeApiServer, start: float, end: float) -> list[str]:
    return [f"{r.method} {r.path} at +{r.at - start:.2f} s" for r in api.requests
            if r.path.endswith("/scale") and r.method == "PUT" and r.status == 200
            and start <= r.at <= end]


def test_lease_outage_and_slow_lease_writes(api: FakeApiServer, tmp_path: Path,
                                            replicas: dict[str, Replica]) -> None:
    for identity in ("r0", "r1"):
        replicas[identity] = Replica(api, tmp_path, identity)
    wait_until("32 shards split 16/16", lambda: balanced(api, {"r0", "r1"}), 60, replicas)
    wait_until("every autoscaler has a status", lambda: all(
        (a.get("status") or {}).get("conditions")
        for a in api.list("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", None)),
        30, replicas)

    # (a) Every Lease request fails for 8 s (> renew deadline, > duration + skew) while the
    # load doubles: writes stop once the grants run out, and resume after the outage.
    outage = 8.0
    start = time.time()
    api.fail(None, "/leases", status=500, times=None)
    publish(api, "1000m", COUNT)
    time.sleep(outage)  # the outage itself is wall-clock time: the daemons live in it
    api.clear_faults()
    end = time.time()
    # A grant stamped before the outage ends DEADLINE after its stamp; a write admitted
    # under it is answered within TIMEOUT. The stamp is at most RETRY before `start`.
    silent_from = start + DEADLINE + TIMEOUT + 0.5
    late = scale_writes_between(api, silent_from, end)
    assert not late, f"scale writes with every grant run out: {late}"
    took = wait_until("all scaled to 2 after the outage", scaled_to(api, 2), 60, replicas)
    bound = RETRY + DURATION + SKEW + PERIOD * 1.1 + 3.0
    print(f"outage {outage:.0f} s: scale writes stopped by +{silent_from - start:.1f} s; "
          f"all {COUNT} scaled {took:.1f} s after it ended (bound {bound:.1f} s)")
    assert took <= bound

    # (b) Lease writes answered 0.7 s late (a step's 17 writes go out 8 at a time: ~1.4 s)
    # and 30 scale writes dropped mid-request, while the load doubles again (2 -> 4).
    api.delay("PUT", "/leases/", 0.7, times=None)
    api.drop_connection("PUT", "/scale$", times=30)
    publish(api, "2000m", COUNT)
    took = wait_until("all scaled to 4 with slow leases and dropped writes",
                      scaled_to(api, 4), 90, replicas)
    api.clear_faults()
    print(f"slow Lease writes, 30 dropped scale writes: all {COUNT} at 4 after {took:.1f} s")

    wrong = writer_violations(api.requests)
    assert not wrong, "\n".join(wrong[:20])
    for replica in replicas.values():
        replica.alive()
        text = replica.log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text and "crashed" not in text, replica.text()
