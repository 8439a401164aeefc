"""The ownership Lease on the wire: the official client against the fake API server.
Create, renew, compare-and-swap (a stale write gets 409, the loser re-reads), two keepers
racing in threads, KubeEdge's MetaServer refusing writes, 5xx, and the MicroTime format.
Times are explicit `now` values (a FakeClock): nothing sleeps on the wall clock."""

from __future__ import annotations

import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any

import pytest

from autoscaler.clock import FakeClock
from autoscaler.errors import ConflictError, PermanentError, TransientError
from autoscaler.kube.client import Connection
from autoscaler.ownership.lease import (
    HOLDER_ROLE,
    PREFERRED_HOLDER,
    LeaseClient,
    LeaseKeeper,
    ObservedLease,
    body_for,
    format_micro_time,
    parse_micro_time,
    state_from_body,
)
from autoscaler.ownership.rules import Action, Candidate, LeaseState
from autoscaler.testing import FakeApiServer

D, RD, S = 15.0, 10.0, 2.0
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
NAME = "target-default-qwen"
MICRO_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
CLOUD = Candidate("cloud-a", "cloud", D, RD, S)
CLOUD_B = Candidate("cloud-b", "cloud", D, RD, S)
EDGE = Candidate("edge-1", "edge", D, RD, S)


def keeper(connection: Connection, me: Candidate) -> LeaseKeeper:
    return LeaseKeeper(LeaseClient(connection.api_client, "default", NAME, 5.0), me)


def stored(api: FakeApiServer) -> dict[str, Any]:
    return api.get("coordination.k8s.io/v1", "Lease", "default", NAME)


# Wire format


MICRO_TIMES = [
    pytest.param(T0, "2027-01-15T08:00:00.000000Z", id="whole-second"),
    pytest.param(T0 + 0.25, "2027-01-15T08:00:00.250000Z", id="fraction"),
    pytest.param(T0 + 0.0000019, "2027-01-15T08:00:00.000001Z", id="truncated-not-rounded"),
    pytest.param(1_795_881_960.0, "2026-11-28T16:06:00.000000Z", id="brief-example"),
]


@pytest.mark.parametrize(("seconds", "text"), MICRO_TIMES)
def test_micro_time_format(seconds: float, text: str) -> None:
    assert format_micro_time(seconds) == text
    assert MICRO_TIME.match(text)
    assert parse_micro_time(text) == pytest.approx(seconds, abs=1e-6)
    assert (parse_micro_time(text) or 0.0) <= seconds  # a stamp is never later than `now`


PARSED = [
    pytest.param("2027-01-15T08:00:00Z", T0, id="time-without-fraction"),
    pytest.param("2027-01-15T10:00:00.500000+02:00", T0 + 0.5, id="offset"),
    pytest.param(None, None, id="absent"),
    pytest.param("", None, id="empty"),
]


@pytest.mark.parametrize(("text", "seconds"), PARSED)
def test_parse_micro_time(text: str | None, seconds: float | None) -> None:
    assert parse_micro_time(text) == seconds


BODIES = [
    pytest.param({"metadata": {"resourceVersion": "4"}, "spec": {}},
                 LeaseState("", 0.0, 0.0, 0.0, 0, "4"), id="empty-spec-is-expired-and-free"),
    pytest.param({"metadata": {}, "spec": {"holderIdentity": "x", "leaseDurationSeconds": 15,
                                           "acquireTime": "2027-01-15T08:00:00.000000Z"}},
                 LeaseState("x", T0, T0, 15.0, 0, ""), id="renew-time-falls-back-to-acquire"),
    pytest.param({"metadata": {"annotations": {PREFERRED_HOLDER: "cloud-a", HOLDER_ROLE: "edge"}},
                  "spec": {"holderIdentity": "edge-1", "leaseTransitions": 3,
                           "renewTime": "2027-01-15T08:00:01.000000Z"}},
                 LeaseState("edge-1", 0.0, T0 + 1, 0.0, 3, "", "cloud-a", "edge"),
                 id="our-annotations"),
]


@pytest.mark.parametrize(("body", "state"), BODIES)
def test_state_from_body(body: dict[str, Any], state: LeaseState) -> None:
    assert state_from_body(body) == state


def test_body_round_trip_keeps_foreign_fields_and_rounds_duration_up() -> None:
    base = {"metadata": {"name": NAME, "namespace": "default", "resourceVersion": "9",
                         "labels": {"team": "llm"},
                         "annotations": {"other.io/x": "y", PREFERRED_HOLDER: "old"}},
            "spec": {"holderIdentity": "old"}}
    state = LeaseState("", T0, T0 + 1, 14.2, 2, "9", "", "")
    body = body_for(state, "default", NAME, base)
    assert body["metadata"]["labels"] == {"team": "llm"}
    assert body["metadata"]["annotations"] == {"other.io/x": "y"}  # our cleared fields go
    assert "holderIdentity" not in body["spec"]  # free: no holder on the wire
    assert body["spec"]["leaseDurationSeconds"] == 15
    assert state_from_body(body) == LeaseState("", T0, T0 + 1, 15.0, 2, "9")
    assert base["spec"] == {"holderIdentity": "old"}  # the base is not modified


def test_create_renew_and_the_wire(api: FakeApiServer, connection: Connection) -> None:
    clock = FakeClock(T0)
    cloud = keeper(connection, CLOUD)
    assert cloud.step(clock.now(), healthy=True).kind == "acquire"
    created = stored(api)
    assert created["spec"] == {"holderIdentity": "cloud-a", "acquireTime":
                               "2027-01-15T08:00:00.000000Z", "renewTime":
                               "2027-01-15T08:00:00.000000Z", "leaseDurationSeconds": 15,
                               "leaseTransitions": 0}
    assert created["metadata"]["annotations"] == {HOLDER_ROLE: "cloud"}
    post = api.writes()[-1]
    assert post.method == "POST" and MICRO_TIME.match(post.body["spec"]["renewTime"])

    api.update({**created, "metadata": {**created["metadata"], "labels": {"team": "llm"}}})
    read_version = stored(api)["metadata"]["resourceVersion"]
    clock.advance(2.5)
    assert cloud.step(clock.now(), healthy=True).kind == "renew"
    put = api.writes()[-1]
    assert put.method == "PUT" and put.body["metadata"]["resourceVersion"] == read_version
    assert put.body["spec"]["renewTime"] == "2027-01-15T08:00:02.500000Z"
    renewed = stored(api)
    assert renewed["spec"]["renewTime"] == "2027-01-15T08:00:02.500000Z"
    assert renewed["spec"]["acquireTime"] == created["spec"]["acquireTime"]
    assert renewed["metadata"]["labels"] == {"team": "llm"}  # someone else's field survives
    assert cloud.lease == state_from_body(renewed)
    assert cloud.may_write(clock.now()) and not cloud.may_write(T0 + 2.5 + RD)


def test_missing_lease_reads_none_and_the_edge_creates_it_free(
        api: FakeApiServer, connection: Connection) -> None:
    assert LeaseClient(connection.api_client, "default", NAME).read() is None
    edge = keeper(connection, EDGE)
    assert edge.step(T0, healthy=True).kind == "init"
    assert "holderIdentity" not in stored(api)["spec"]
    assert not edge.may_write(T0)
    assert edge.step(T0 + D + S, healthy=True).kind == "wait"
    assert edge.step(T0 + D + S + 0.5, healthy=True).kind == "acquire"
    assert edge.may_write(T0 + D + S + 0.5)
    assert stored(api)["spec"]["leaseTransitions"] == 1


# Compare-and-swap


def test_a_stale_write_gets_409_and_changes_nothing(api: FakeApiServer,
                                                    connection: Connection) -> None:
    leases = LeaseClient(connection.api_client, "default", NAME)
    keeper(connection, CLOUD).step(T0, healthy=True)
    first = leases.read()
    assert first is not None
    leases.write(LeaseState("cloud-a", T0, T0 + 1, D, 0, first.state.resource_version,
                            holder_role="cloud"), first)
    stale = LeaseState("cloud-b", T0 + 1, T0 + 1, D, 1, first.state.resource_version)
    before = stored(api)
    with pytest.raises(ConflictError) as caught:
        leases.write(stale, first)
    assert caught.value.status == 409
    assert stored(api) == before


def test_the_loser_of_a_conflict_rereads_and_never_overwrites(
        api: FakeApiServer, connection: Connection) -> None:
    cloud = keeper(connection, CLOUD)
    cloud.step(T0, healthy=True)
    granted = cloud.granted
    api.conflict_next_write("leases")
    api.clear_requests()
    action = cloud.step(T0 + 2, healthy=True)
    assert action.kind == "wait" and "lost the race to renew" in action.reason
    assert [r.method for r in api.requests] == ["GET", "PUT", "GET"]  # re-read, no retry
    assert cloud.granted == granted and cloud.may_write(T0 + 2)  # the old window still runs
    assert not cloud.may_write(T0 + RD)


def test_a_write_to_a_deleted_lease_is_a_conflict(api: FakeApiServer,
                                                  connection: Connection) -> None:
    leases = LeaseClient(connection.api_client, "default", NAME)
    keeper(connection, CLOUD).step(T0, healthy=True)
    read = leases.read()
    assert read is not None
    api.delete("coordination.k8s.io/v1", "Lease", "default", NAME)
    with pytest.raises(ConflictError) as caught:
        leases.write(replace(read.state, renew_time=T0 + 1), read)
    assert caught.value.status == 404
    assert leases.read() is None  # never recreated behind the keeper's back


def test_create_race_loser_gets_already_exists_as_a_conflict(
        api: FakeApiServer, connection: Connection) -> None:
    a, b = keeper(connection, CLOUD), keeper(connection, CLOUD_B)
    a.step(T0, healthy=True)
    stale_create = LeaseState("cloud-b", T0, T0, D, 0, "", holder_role="cloud")
    with pytest.raises(ConflictError):
        b.leases.write(stale_create, None)
    assert stored(api)["spec"]["holderIdentity"] == "cloud-a"


class RacingLeases(LeaseClient):
    """Every read waits for the other racer's read: both then write on the same version."""

    def __init__(self, base: LeaseClient, barrier: threading.Barrier) -> None:
        super().__init__(base.coordination.api_client, base.namespace, base.name, base.timeout)
        self.barrier = barrier
        self.racing = True

    def read(self) -> ObservedLease | None:
        observed = super().read()
        if self.racing:
            self.racing = False  # only the step's first read races; a re-read does not wait
            self.barrier.wait(timeout=10)
        return observed


def test_two_keepers_race_for_one_lease_one_wins_each_round(
        api: FakeApiServer, connection: Connection) -> None:
    barrier = threading.Barrier(2)
    leases = [RacingLeases(LeaseClient(connection.api_client, "default", NAME), barrier)
              for _ in range(2)]
    racers = [LeaseKeeper(lease, me) for lease, me in zip(leases, (CLOUD, EDGE), strict=True)]
    with ThreadPoolExecutor(2) as pool:
        for round_ in range(6):
            # Each round starts past the takeover time: the holder renews, the other takes
            # over, both on the version they read; round 0 is a race of creates.
            now = T0 + round_ * (D + S + 1)
            for lease in leases:
                lease.racing = True
            actions = list(pool.map(lambda k, t=now: k.step(t, healthy=True), racers))
            won = [a.kind in ("acquire", "renew", "init") for a in actions]
            assert sum(won) == 1, actions
            loser = actions[won.index(False)]
            assert loser.kind == "wait" and "lost the race" in loser.reason
            holder = stored(api)["spec"].get("holderIdentity")
            writers = [k.me.identity for k in racers if k.may_write(now)]
            assert writers == ([holder] if holder else []), (round_, actions)
            assert all(k.lease == state_from_body(stored(api)) for k in racers)
    assert api.count("PUT") + api.count("POST") == 12
    assert sum(1 for r in api.writes() if r.status == 409) == 6


# Faults


def test_read_only_metaserver_refuses_writes_and_writer_status_lapses(
        api: FakeApiServer, connection: Connection) -> None:
    edge = keeper(connection, EDGE)
    edge.step(T0, healthy=True)  # init
    assert edge.step(T0 + D + S + 1, healthy=True).kind == "acquire"
    acquired = T0 + D + S + 1
    api.read_only(True)
    for now in (acquired + 3, acquired + RD - 0.001):
        with pytest.raises(TransientError) as caught:
            edge.step(now, healthy=True)
        assert caught.value.status == 503
        assert edge.may_write(now)  # still inside the renew deadline of the last renewal
        assert edge.lease is not None and edge.lease.holder == "edge-1"  # reads still work
    assert not edge.may_write(acquired + RD)
    api.read_only(False)
    assert edge.step(acquired + RD + 1, healthy=True).kind == "renew"  # nobody took it
    assert edge.may_write(acquired + RD + 1)


def test_partitioned_edge_cannot_take_over(api: FakeApiServer,
                                           connection: Connection) -> None:
    keeper(connection, CLOUD).step(T0, healthy=True)
    edge = keeper(connection, EDGE)
    api.read_only(True)
    with pytest.raises(TransientError):
        edge.step(T0 + D + S + 1, healthy=True)
    assert not edge.may_write(T0 + D + S + 1)
    assert stored(api)["spec"]["holderIdentity"] == "cloud-a"


FAULTS = [
    pytest.param("PUT", 500, TransientError, id="put-500"),
    pytest.param("PUT", 503, TransientError, id="put-503"),
    pytest.param("PUT", 429, TransientError, id="put-429"),
    pytest.param("GET", 502, TransientError, id="get-502"),
    pytest.param("PUT", 403, PermanentError, id="put-403"),
    pytest.param("PUT", 422, PermanentError, id="put-422"),
]


@pytest.mark.parametrize(("method", "status", "error"), FAULTS)
def test_errors_are_classified_and_keep_the_grant(
        api: FakeApiServer, connection: Connection, method: str, status: int,
        error: type[Exception]) -> None:
    cloud = keeper(connection, CLOUD)
    cloud.step(T0, healthy=True)
    granted = cloud.granted
    api.fail(method, "/leases/", status)
    with pytest.raises(error) as caught:
        cloud.step(T0 + 2, healthy=True)
    assert getattr(caught.value, "status", None) == status
    assert cloud.granted == granted and not cloud.may_write(T0 + RD)
    assert cloud.step(T0 + 3, healthy=True).kind == "renew"  # the fault was one-shot


def test_dropped_connections_are_transient(api: FakeApiServer, connection: Connection) -> None:
    cloud = keeper(connection, CLOUD)
    cloud.step(T0, healthy=True)
    api.drop_connection("PUT", "/leases/", times=None)  # the transport's retries fail too
    with pytest.raises(TransientError):
        cloud.step(T0 + 2, healthy=True)
    assert cloud.may_write(T0 + 2) and not cloud.may_write(T0 + RD)
    api.clear_faults()
    api.drop_connection("PUT", "/leases/", times=1)  # one drop: the transport retries the PUT
    assert cloud.step(T0 + 3, healthy=True).kind == "renew"
    assert cloud.may_write(T0 + 3 + RD - 0.001)


# Protocol end to end


def test_takeover_and_handback_over_the_wire(api: FakeApiServer,
                                             connection: Connection) -> None:
    clock = FakeClock(T0)
    cloud, edge = keeper(connection, CLOUD), keeper(connection, EDGE)

    def step(who: LeaseKeeper, healthy: bool, kind: str) -> Action:
        action = who.step(clock.now(), healthy)
        assert action.kind == kind, action.reason
        assert not (cloud.may_write(clock.now()) and edge.may_write(clock.now()))
        return action

    step(cloud, True, "acquire")
    clock.advance(1)
    step(cloud, False, "release")  # lost its metrics
    step(edge, True, "wait")
    clock.t = T0 + D + S
    step(edge, True, "wait")
    clock.advance(0.001)
    step(edge, True, "acquire")
    clock.advance(1)
    step(cloud, True, "request")  # metrics are back
    assert stored(api)["metadata"]["annotations"][PREFERRED_HOLDER] == "cloud-a"
    assert stored(api)["spec"]["holderIdentity"] == "edge-1"
    step(edge, True, "release")
    step(cloud, True, "acquire")
    step(edge, True, "wait")
    spec = stored(api)["spec"]
    assert (spec["holderIdentity"], spec["leaseTransitions"]) == ("cloud-a", 2)
    assert PREFERRED_HOLDER not in stored(api)["metadata"]["annotations"]
    assert cloud.may_write(clock.now()) and not edge.may_write(clock.now())
