"""A shard handover inside a scale-down stabilization window: the new holder continues the
old holder's window from the status, as after a restart, and never scales down earlier than
an uninterrupted controller would; after a clean stop (SIGTERM: the leaving replica saves
its autoscalers' state before releasing) no later either.

Two `autoscaler run --shards` replicas, one autoscaler with a 20-s scale-down window, real
time (shard_harness timings: lease 6 s, deadline 3 s, skew 1 s, 3-s passes). The load
doubles (1 -> 2 replicas), then drops to a quarter; 4 s later the replica holding the
autoscaler's shard is SIGKILLed (the other takes over about 7 s after that, mid-window) or
SIGTERMed (it saves and releases; the other takes over within a step).
The uninterrupted controller's last high recommendation comes from its last pass before the
drop (at most one period before it), so it scales down no earlier than drop + 20 s - one
period. A new holder starting from empty memory would scale down at once on takeover
(~drop + 11 s). At the latest, after SIGKILL: the status holds the window exactly only if
saved at the previous pass; an older save is restored conservatively (README "Persistence":
the window seeded with the current size at the restore), so the window may restart at the
takeover: kill + takeover + window + a pass. After SIGTERM the state was saved at release:
the window is restored exactly, so the uninterrupted time: drop + window + a pass.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shard_harness import (
    DURATION,
    PERIOD,
    RETRY,
    SKEW,
    Replica,
    app,
    balanced,
    fake_cluster,
    holders,
    publish,
    scaled_to,
    stop_all,
    wait_until,
    writer_violations,
)

from autoscaler.ownership.shards import shard_of
from autoscaler.testing import FakeApiServer

WINDOW = 20.0


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with fake_cluster(1) as server:
        ns, name = app(0)
        autoscaler = server.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", ns, name)
        autoscaler["spec"]["behavior"] = {
            "scaleDown": {"stabilizationWindowSeconds": int(WINDOW)}}
        server.update(autoscaler)
        yield server


@pytest.fixture
def replicas(api: FakeApiServer) -> Iterator[dict[str, Replica]]:
    started: dict[str, Replica] = {}
    yield started
    stop_all(started.values())


@pytest.mark.parametrize("stop", [pytest.param(signal.SIGKILL, id="sigkill"),
                                  pytest.param(signal.SIGTERM, id="sigterm")])
def test_takeover_mid_window_keeps_the_window(api: FakeApiServer, tmp_path: Path,
                                              replicas: dict[str, Replica],
                                              stop: signal.Signals) -> None:
    for identity in ("r0", "r1"):
        replicas[identity] = Replica(api, tmp_path, identity)
    wait_until("shards split 16/16", lambda: balanced(api, {"r0", "r1"}), 60, replicas)
    publish(api, "1000m", 1)  # 100 % of the request at a 50 % target: 1 -> 2
    wait_until("scaled to 2", scaled_to(api, 2), 30, replicas)
    time.sleep(2 * PERIOD)  # a few passes recommending 2

    ns, name = app(0)
    holder = holders(api)[shard_of(f"{ns}/Deployment/{name}")]
    dropped = time.time()
    publish(api, "250m", 1)  # 25 %: the recommendation falls to 1
    time.sleep(4.0)
    replicas[holder].proc.send_signal(stop)
    replicas[holder].proc.wait(30)
    wait_until("scaled back to 1", scaled_to(api, 1), WINDOW + 30, replicas)

    down = [r.at for r in api.requests if r.path.endswith(f"/deployments/{name}/scale")
            and r.method == "PUT" and r.status == 200 and r.at > dropped]
    assert len(down) == 1
    after = down[0] - dropped
    earliest = WINDOW - PERIOD - 0.5
    latest = (4.0 + DURATION + SKEW + RETRY + WINDOW + PERIOD + 3.0
              if stop == signal.SIGKILL else WINDOW + PERIOD + 2.0)
    print(f"{holder} got {stop.name} 4 s after the drop; scaled down {after:.1f} s after it "
          f"(window {WINDOW:.0f} s: not before {earliest:.1f} s, bound {latest:.1f} s)")
    assert earliest <= after <= latest
    wrong = writer_violations(api.requests)
    assert not wrong, "\n".join(wrong)
