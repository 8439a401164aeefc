"""Sharded replicas over a minute of churn: 3 to 4 `autoscaler run --shards` processes over
150 autoscalers while a seeded random schedule SIGKILLs them, stops them cleanly, restarts
them under the same or a new identity, and adds a fourth, and the load doubles twice.

Checked over the whole request log (commit order): every scale and status write came from
the holder of its target's shard Lease at that point, never from anyone else; no process
logged a traceback or a crashed reconcile; at the end the shards are balanced over the
running replicas and every autoscaler reached the size the last load asks for.

The seed is printed; `SHARD_SOAK_SEED=<n>` replays a schedule (default: the run's
DIFF_SEED). About 90 s.
"""

from __future__ import annotations

import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from shard_harness import (
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

COUNT = 150
CHURN_SECONDS = 60.0
LOADS = ((15.0, "1000m"), (55.0, "2000m"))  # (seconds into the churn, per-pod usage)


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with fake_cluster(COUNT) as server:
        yield server


@pytest.fixture
def fleet(api: FakeApiServer) -> Iterator[list[Replica]]:
    started: list[Replica] = []
    yield started
    stop_all(started)


def running(fleet: list[Replica]) -> dict[str, Replica]:
    return {r.identity: r for r in fleet if r.proc.poll() is None}


def test_churn_never_makes_two_writers(api: FakeApiServer, tmp_path: Path,
                                       fleet: list[Replica]) -> None:
    seed = int(os.environ.get("SHARD_SOAK_SEED", os.environ.get("DIFF_SEED", "0")))
    print(f"SHARD_SOAK_SEED={seed}")
    rng = random.Random(seed)
    names = iter(f"r{i}" for i in range(100))

    def start(identity: str | None = None) -> None:
        fleet.append(Replica(api, tmp_path, identity or next(names)))

    for _ in range(3):
        start()
    wait_until("shards balanced over 3", lambda: balanced(api, set(running(fleet))), 60,
               running(fleet))
    began = time.monotonic()
    loads = list(LOADS)
    events: list[str] = []
    while (elapsed := time.monotonic() - began) < CHURN_SECONDS:
        if loads and elapsed >= loads[0][0]:
            publish(api, loads.pop(0)[1], COUNT)
        live = running(fleet)
        action = rng.choice(["kill", "kill", "term", "join"] if len(live) > 1 else ["join"])
        if action == "join" and len(live) >= 4:
            action = "kill"
        if action == "join":
            start()
        else:
            victim = rng.choice(sorted(live.values(), key=lambda r: r.identity))
            victim.proc.send_signal(signal.SIGKILL if action == "kill" else signal.SIGTERM)
            assert victim.proc.wait(30) in (0, -signal.SIGKILL), victim.text()
            time.sleep(rng.uniform(0.0, 3.0))
            start(victim.identity if rng.random() < 0.5 else None)
        events.append(f"+{elapsed:.1f}s {action} -> {sorted(running(fleet))}")
        time.sleep(rng.uniform(2.0, 5.0))
    for _, load in loads:
        publish(api, load, COUNT)
    print("\n".join(events))

    live = running(fleet)
    took = wait_until("balanced over the running replicas",
                      lambda: balanced(api, set(running(fleet))), 30, live)
    took += wait_until("every autoscaler at 4", scaled_to(api, 4), 60, live)
    print(f"{len(events)} events; balanced and converged {took:.1f} s after the churn")
    wrong = writer_violations(api.requests)
    writes = sum(1 for r in api.requests if r.path.endswith(("/scale", "/status"))
                 and r.method in ("PUT", "PATCH") and r.status == 200)
    print(f"{writes} scale/status writes checked against the shard Lease holders")
    assert not wrong, "\n".join(wrong[:20])
    for replica in fleet:
        text = replica.log.read_text(encoding="utf-8", errors="replace")
        assert "Traceback" not in text and "crashed" not in text, replica.text()
