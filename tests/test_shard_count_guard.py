"""Replicas that hash with different shard counts must never run side by side (two shard
Leases could then cover one autoscaler). Member Leases carry the count; a replica that sees
a live member with another one releases every shard and acquires none until it is gone."""

from __future__ import annotations

from typing import Any

import pytest

from autoscaler.kube.client import Connection
from autoscaler.ownership.rules import Candidate
from autoscaler.ownership.shard_leases import ShardCoordinator
from autoscaler.ownership.shards import (
    COUNT_ANNOTATION,
    KIND_LABEL,
    MEMBER_KIND,
    SHARD_COUNT,
    count_conflicts,
    member_lease_name,
    shard_lease_name,
)
from autoscaler.testing import FakeApiServer

T0 = 1_800_000_000.0
T0_TEXT = "2027-01-15T08:00:00.000000Z"
NS = "default"
ALL = frozenset(range(SHARD_COUNT))


def ghost(api: FakeApiServer, count: str | None) -> None:
    """A live member lease of another replica, announcing `count` (None: no annotation,
    as written before the annotation existed)."""
    notes = {} if count is None else {COUNT_ANNOTATION: count}
    api.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": "eas-member-ghost", "namespace": NS,
                             "labels": {KIND_LABEL: MEMBER_KIND}, "annotations": notes},
                "spec": {"holderIdentity": "ghost", "renewTime": T0_TEXT,
                         "leaseDurationSeconds": 15}})


def holder(api: FakeApiServer, name: str) -> Any:
    return api.get("coordination.k8s.io/v1", "Lease", NS, name)["spec"].get("holderIdentity")


@pytest.mark.parametrize(("members", "conflicts"), [
    pytest.param({"a": "32", "b": "32"}, (), id="same-count"),
    pytest.param({"a": "32", "b": ""}, (), id="before-the-annotation"),
    pytest.param({"a": "32", "b": "64"}, ("b (64 shards)",), id="other-count"),
    pytest.param({"b": "64", "c": "16"}, ("b (64 shards)", "c (16 shards)"), id="two-others"),
])
def test_count_conflicts(members: dict[str, str], conflicts: tuple[str, ...]) -> None:
    assert count_conflicts("a", members, 32) == conflicts


def test_the_member_lease_announces_the_count(api: FakeApiServer,
                                              connection: Connection) -> None:
    a = ShardCoordinator(connection.api_client, NS, Candidate("a", "cloud"))
    assert a.step(T0).owned == ALL
    lease = api.get("coordination.k8s.io/v1", "Lease", NS, member_lease_name("a"))
    assert lease["metadata"]["annotations"][COUNT_ANNOTATION] == str(SHARD_COUNT)


@pytest.mark.parametrize(("count", "holds"), [
    pytest.param("64", False, id="another-count-holds-nothing"),
    pytest.param("32", True, id="same-count-shares"),
    pytest.param(None, True, id="no-annotation-shares"),
])
def test_a_member_with_another_count_stops_every_shard(
        api: FakeApiServer, connection: Connection, count: str | None, holds: bool) -> None:
    a = ShardCoordinator(connection.api_client, NS, Candidate("a", "cloud"))
    assert a.step(T0).owned == ALL
    ghost(api, count)
    view = a.step(T0 + 2)
    if holds:  # ghost is a member: a hands over its share and keeps 16
        assert len(view.owned) == SHARD_COUNT // 2 and a.conflicts == ()
        return
    assert view.owned == frozenset() and a.conflicts == ("ghost (64 shards)",)
    assert all(holder(api, shard_lease_name(s)) in (None, "") for s in ALL)
    # The ghost's lease runs out (renewed at T0, 15 s, 2 s skew): the shards come back.
    assert a.step(T0 + 18).owned == ALL
    assert not a.conflicts
