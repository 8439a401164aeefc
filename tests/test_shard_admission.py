"""A write is admitted under a shard grant only if, taking its whole request timeout, it
ends before anyone could take the shard over: `now + timeout <= renew_time + duration`,
stricter than the renew deadline alone when the timeout is long (shard_leases.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from autoscaler.kube.client import connect
from autoscaler.ownership.rules import Candidate
from autoscaler.ownership.shard_leases import ShardCoordinator
from autoscaler.testing import FakeApiServer, write_kubeconfig

T0 = 1_800_000_000.0
KEY = "ns/Deployment/app"


@pytest.mark.parametrize(("timeout", "after", "admitted"), [
    pytest.param(1.0, 0.0, True, id="fresh-grant"),
    pytest.param(1.0, 9.9, True, id="short-write-before-the-deadline"),
    pytest.param(1.0, 10.0, False, id="at-the-renew-deadline"),
    pytest.param(10.0, 5.0, True, id="long-write-ending-at-takeover"),
    pytest.param(10.0, 5.1, False, id="long-write-could-outlive-the-lease"),
])
def test_admission_leaves_room_for_the_whole_write(api: FakeApiServer, tmp_path: Path,
                                                  timeout: float, after: float,
                                                  admitted: bool) -> None:
    connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
    shards = ShardCoordinator(connection.api_client, "default",
                              Candidate("r0", "cloud", 15.0, 10.0, 2.0), timeout_seconds=timeout)
    shards.step(T0)  # alone: creates and holds every shard, renew_time = T0
    assert shards.may_write(KEY, T0 + after) is (after < 10.0)
    with shards.writing(KEY, T0 + after) as allowed:
        assert allowed is admitted
