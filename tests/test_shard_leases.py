"""`ShardCoordinator` against the fake API server through the official client: a lone
replica takes every shard, two converge 16/16 without a shard ever granted to both, a
newcomer gets its share by release, `writing()` holds a release back, 409s, failed LISTs,
malformed Leases, and `release_all`. Time is data: every `step(now)` gets an explicit `now`
(the Lease stamps are written with it); nothing sleeps on the wall clock, the threads of the
`writing()` tests synchronize on events."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from autoscaler.errors import TransientError
from autoscaler.kube.client import Connection
from autoscaler.ownership.rules import Candidate
from autoscaler.ownership.shard_leases import ShardCoordinator, ShardView
from autoscaler.ownership.shards import (
    KIND_LABEL,
    MEMBER_KIND,
    SHARD_COUNT,
    SHARD_KIND,
    assign,
    member_lease_name,
    shard_lease_name,
    shard_of,
)
from autoscaler.testing import FakeApiServer

D, RD, S, RETRY = 15.0, 10.0, 2.0, 2.0
T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
T0_TEXT = "2027-01-15T08:00:00.000000Z"
NS = "default"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases"
ALL = frozenset(range(SHARD_COUNT))
KEYS = [f"ns-{i % 5}/Deployment/app-{i}" for i in range(400)]


def coordinator(connection: Connection, identity: str, timeout: float = 5.0
                ) -> ShardCoordinator:
    return ShardCoordinator(connection.api_client, NS, Candidate(identity, "cloud", D, RD, S),
                            timeout_seconds=timeout, retry_seconds=RETRY)


def stored(api: FakeApiServer, name: str) -> dict[str, Any]:
    return api.get("coordination.k8s.io/v1", "Lease", NS, name)


def holder(api: FakeApiServer, shard: int) -> str:
    return str(stored(api, shard_lease_name(shard))["spec"].get("holderIdentity") or "")


def holders(api: FakeApiServer) -> dict[int, str]:
    return {shard: holder(api, shard) for shard in range(SHARD_COUNT)}


def key_in(shards: frozenset[int]) -> str:
    return next(key for key in KEYS if shard_of(key) in shards)


def never_both(*coordinators: ShardCoordinator, now: float) -> None:
    for shard in range(SHARD_COUNT):
        owners = [c.me.identity for c in coordinators if c.owns_shard(shard, now)]
        assert len(owners) <= 1, (shard, owners, now)


def lease_writes(api: FakeApiServer, shard: int | None = None) -> list[tuple[str, str]]:
    """(method, lease name or "" for a create) of the Lease writes, in commit order."""
    found = []
    for r in api.writes():
        if not r.path.startswith(LEASES):
            continue
        name = r.path[len(LEASES) + 1:] or str((r.body or {}).get("metadata", {}).get("name"))
        if shard is None or name == shard_lease_name(shard):
            found.append((r.method, name))
    return found


# A lone replica


def test_a_lone_replica_takes_every_shard(api: FakeApiServer, connection: Connection) -> None:
    a = coordinator(connection, "a")
    view = a.step(T0)
    assert view == ShardView(ALL, ("a",), ALL)
    assert a.last_error is None
    assert holders(api) == dict.fromkeys(range(SHARD_COUNT), "a")
    for shard in range(SHARD_COUNT):
        lease = stored(api, shard_lease_name(shard))
        assert lease["metadata"]["labels"] == {KIND_LABEL: SHARD_KIND}
        assert lease["spec"]["renewTime"] == T0_TEXT
        assert lease["spec"]["leaseDurationSeconds"] == D
    member = stored(api, member_lease_name("a"))
    assert member["metadata"]["labels"] == {KIND_LABEL: MEMBER_KIND}
    assert member["spec"]["holderIdentity"] == "a"
    assert [r.method for r in api.requests] == ["GET"] + ["POST"] * (SHARD_COUNT + 1)
    assert all(a.may_write(key, T0) for key in KEYS)
    assert all(a.may_write(key, T0 + RD - 0.001) for key in KEYS)
    assert not any(a.may_write(key, T0 + RD) for key in KEYS)  # no step: the deadline passed


def test_renewals_are_due_every_retry_period(api: FakeApiServer,
                                             connection: Connection) -> None:
    a = coordinator(connection, "a")
    a.step(T0)
    api.clear_requests()
    assert a.step(T0 + RETRY / 2).owned == ALL
    assert [r.method for r in api.requests] == ["GET"]  # nothing due yet
    assert a.step(T0 + RETRY).owned == ALL
    assert [r.method for r in api.requests][2:] == ["PUT"] * (SHARD_COUNT + 1)
    assert a.may_write(KEYS[0], T0 + RETRY + RD - 0.001)
    assert not a.may_write(KEYS[0], T0 + RETRY + RD)


# Two replicas


@pytest.mark.parametrize("first", ["a", "b"])
def test_two_replicas_converge_to_the_assignment(api: FakeApiServer, connection: Connection,
                                                 first: str) -> None:
    a, b = coordinator(connection, "a"), coordinator(connection, "b")
    order = [a, b] if first == "a" else [b, a]
    now = T0
    for _ in range(4):
        for c in order:
            c.step(now)
            never_both(a, b, now=now)
            never_both(a, b, now=now + RD - 0.001)
            now += 0.5
    wanted = assign(["a", "b"])
    assert a.view.owned == {s for s, who in wanted.items() if who == "a"} == a.view.assigned
    assert b.view.owned == {s for s, who in wanted.items() if who == "b"} == b.view.assigned
    assert (len(a.view.owned), len(b.view.owned)) == (16, 16)
    assert a.view.members == b.view.members == ("a", "b")
    assert holders(api) == wanted


def test_a_newcomer_gets_its_share_by_release(api: FakeApiServer,
                                              connection: Connection) -> None:
    a, b = coordinator(connection, "a"), coordinator(connection, "b")
    a.step(T0)
    view = b.step(T0 + 0.5)  # a's shard leases are live: b waits
    share = frozenset(s for s, who in assign(["a", "b"]).items() if who == "b")
    assert view == ShardView(frozenset(), ("a", "b"), share)
    assert set(holders(api).values()) == {"a"}
    api.clear_requests()
    assert a.step(T0 + 1).owned == ALL - share  # a sees b: hands its share over
    released = {shard for shard, who in holders(api).items() if who == ""}
    assert released == share
    assert sorted(name for _, name in lease_writes(api)) == sorted(
        shard_lease_name(s) for s in share)
    never_both(a, b, now=T0 + 1)
    assert b.step(T0 + 1.5).owned == share  # free leases: acquired at once, not at expiry
    never_both(a, b, now=T0 + 1.5)
    assert holders(api) == assign(["a", "b"])
    lease = stored(api, shard_lease_name(min(share)))
    assert lease["spec"]["leaseTransitions"] == 1


# writing(): a release waits for the writes admitted before it


def _hold_write(a: ShardCoordinator, key: str, now: float, entered: threading.Event,
                proceed: threading.Event, exited: list[float], admitted: list[bool]) -> None:
    with a.writing(key, now) as ok:
        admitted.append(ok)
        entered.set()
        proceed.wait(30)
        exited.append(time.time())  # before the context exits (and lets the release go)


def _poll(check: Any, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def test_a_release_waits_for_an_admitted_write(api: FakeApiServer,
                                               connection: Connection) -> None:
    a, b = coordinator(connection, "a"), coordinator(connection, "b")
    a.step(T0)
    b.step(T0 + 0.5)
    share = frozenset(s for s, who in assign(["a", "b"]).items() if who == "b")
    key = key_in(share)
    shard = shard_of(key)
    entered, proceed = threading.Event(), threading.Event()
    exited: list[float] = []
    admitted: list[bool] = []
    writer = threading.Thread(target=_hold_write,
                              args=(a, key, T0 + 0.6, entered, proceed, exited, admitted))
    writer.start()
    assert entered.wait(10) and admitted == [True]
    api.clear_requests()
    stepper = threading.Thread(target=a.step, args=(T0 + 1,))
    stepper.start()
    try:
        _poll(lambda: not a.may_write(key, T0 + 1))  # withdrawn: the step waits in it
        with a.writing(key, T0 + 1) as late:
            assert not late  # no new write is admitted while the release waits
        assert lease_writes(api, shard) == []  # not sent while the write is open
        assert holder(api, shard) == "a"
    finally:
        proceed.set()
        writer.join(10)
        stepper.join(30)
    assert not stepper.is_alive()
    puts = [r for r in api.writes() if r.path == f"{LEASES}/{shard_lease_name(shard)}"]
    assert len(puts) == 1 and "holderIdentity" not in puts[0].body["spec"]
    assert puts[0].at >= exited[0]  # sent only after the admitted write was answered
    assert holder(api, shard) == ""
    assert a.view.owned == ALL - share
    assert b.step(T0 + 1.5).owned == share


def test_a_write_open_past_the_timeout_keeps_the_release_back(
        api: FakeApiServer, connection: Connection) -> None:
    a, b = coordinator(connection, "a", timeout=1.0), coordinator(connection, "b")
    a.step(T0)
    b.step(T0 + 0.5)
    share = frozenset(s for s, who in assign(["a", "b"]).items() if who == "b")
    key = key_in(share)
    shard = shard_of(key)
    entered, proceed = threading.Event(), threading.Event()
    exited: list[float] = []
    admitted: list[bool] = []
    writer = threading.Thread(target=_hold_write,
                              args=(a, key, T0 + 0.6, entered, proceed, exited, admitted))
    writer.start()
    try:
        assert entered.wait(10) and admitted == [True]
        api.clear_requests()
        view = a.step(T0 + 1)  # waits 1 s (its timeout) for the write, then leaves the shard alone
        assert lease_writes(api, shard) == []
        assert holder(api, shard) == "a"  # not released: it expires by itself if this lasts
        assert shard not in view.owned and not a.may_write(key, T0 + 1)
        released = {s for s, who in holders(api).items() if who == ""}
        assert released == share - {shard}  # the other hand-overs went ahead
    finally:
        proceed.set()
        writer.join(10)
    assert not b.step(T0 + 1.5).owned & {shard}  # still a's lease, and live: b waits
    never_both(a, b, now=T0 + 1.5)
    a.step(T0 + 2)  # nothing in flight now: released
    assert holder(api, shard) == ""
    assert shard in b.step(T0 + 2.5).owned
    assert holders(api) == assign(["a", "b"])


# Failures


def test_a_409_on_a_renewal_keeps_the_grant_and_the_next_step_recovers(
        api: FakeApiServer, connection: Connection) -> None:
    a = coordinator(connection, "a")
    a.step(T0)
    api.conflict_next_write(rf"/{shard_lease_name(5)}$")
    view = a.step(T0 + RETRY)
    assert a.last_error is None  # a lost race is not an error
    assert view.owned == ALL
    assert [r.status for r in api.writes() if r.path.endswith(shard_lease_name(5))] == [409]
    assert stored(api, shard_lease_name(5))["spec"]["renewTime"] == T0_TEXT
    assert a.owns_shard(5, T0 + RD - 0.001) and not a.owns_shard(5, T0 + RD)  # as granted
    assert a.owns_shard(4, T0 + RD) and a.owns_shard(6, T0 + RD)  # the others renewed
    a.step(T0 + 2 * RETRY)
    assert a.owns_shard(5, T0 + 2 * RETRY + RD - 0.001)


def test_a_409_on_one_create_does_not_stop_the_others(
        api: FakeApiServer, connection: Connection) -> None:
    """The member lease and the 32 shard leases are created concurrently: a 409 on
    whichever POST comes first costs that one lease a step, nothing else."""
    a = coordinator(connection, "a")
    api.conflict_next_write(r"/leases$")
    assert len(a.step(T0).owned) >= SHARD_COUNT - 1
    assert a.last_error is None
    assert a.step(T0 + 1).owned == ALL
    assert a.view.members == ("a",)
    assert stored(api, member_lease_name("a"))["spec"]["holderIdentity"] == "a"


@pytest.mark.parametrize("fault", ["500", "dropped"])
def test_a_failed_list_leaves_the_grants_to_run_out(api: FakeApiServer,
                                                    connection: Connection,
                                                    fault: str) -> None:
    a = coordinator(connection, "a")
    a.step(T0)
    api.clear_requests()
    if fault == "500":
        api.fail("GET", r"/leases$", 500)
    else:
        api.drop_connection("GET", r"/leases$", times=None)  # the client retries once
    view = a.step(T0 + RETRY)
    api.clear_faults()
    assert isinstance(a.last_error, TransientError)
    assert api.writes() == []
    assert view.owned == ALL  # still granted by the acquisitions at T0 ...
    assert all(a.owns_shard(s, T0 + RD - 0.001) for s in ALL)
    assert not any(a.owns_shard(s, T0 + RD) for s in ALL)  # ... until their deadline
    assert a.step(T0 + RD + 1).owned == ALL  # renewed (CAS): nobody took them over
    assert a.last_error is None


# Malformed Leases in the LIST


GOOD = {"holderIdentity": "ghost", "renewTime": T0_TEXT, "leaseDurationSeconds": 15}
MALFORMED: list[Any] = [
    pytest.param({"spec": {**GOOD, "renewTime": "not-a-time"}}, id="renew-time-unparsable"),
    pytest.param({"spec": {**GOOD, "leaseDurationSeconds": "fifteen"}},
                 id="duration-a-string"),
    pytest.param({"spec": {**GOOD, "leaseDurationSeconds": [15]}}, id="duration-a-list"),
    pytest.param({}, id="spec-missing"),
    pytest.param({"spec": None}, id="spec-null"),
    pytest.param({"spec": []}, id="spec-empty-list"),
    pytest.param({"spec": {**GOOD, "renewTime": 1800000000}}, id="renew-time-a-number"),
    pytest.param({"spec": {**GOOD, "renewTime": {"seconds": 1}}}, id="renew-time-an-object"),
    pytest.param({"spec": "garbage"}, id="spec-a-string"),
    pytest.param({"spec": GOOD, "metadata": {"annotations": ["x"]}},
                 id="annotations-a-list"),
]


def plant(api: FakeApiServer, name: str, kind: str, fields: dict[str, Any]) -> None:
    obj: dict[str, Any] = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                           "metadata": {"name": name, "namespace": NS,
                                        "labels": {KIND_LABEL: kind},
                                        **fields.get("metadata", {})}}
    if "spec" in fields:
        obj["spec"] = fields["spec"]
    api.create(obj)


def test_a_well_formed_foreign_member_counts(api: FakeApiServer,
                                             connection: Connection) -> None:
    """The control for the next test: a live member lease of "ghost" makes it a member."""
    plant(api, "eas-member-ghost", MEMBER_KIND, {"spec": GOOD})
    view = coordinator(connection, "a").step(T0)
    assert view.members == ("a", "ghost") and len(view.owned) == 16


@pytest.mark.parametrize("fields", MALFORMED)
def test_a_malformed_member_lease_names_no_member(api: FakeApiServer, connection: Connection,
                                                  fields: dict[str, Any]) -> None:
    plant(api, "eas-member-ghost", MEMBER_KIND, fields)
    a = coordinator(connection, "a")
    view = a.step(T0)
    assert a.last_error is None
    assert view.members == ("a",)
    assert view.owned == ALL
    assert a.step(T0 + RETRY).owned == ALL


@pytest.mark.parametrize("fields", MALFORMED)
def test_a_malformed_shard_lease_does_not_stop_the_others(
        api: FakeApiServer, connection: Connection, fields: dict[str, Any]) -> None:
    """The step goes on; shard 0 is owned only through a compare-and-swap write that names
    `a` (never on the strength of the malformed object)."""
    plant(api, shard_lease_name(0), SHARD_KIND, fields)
    a = coordinator(connection, "a")
    for step in range(3):
        view = a.step(T0 + step * RETRY)
        assert view.owned >= ALL - {0}
        assert a.last_error is None
        assert (0 in view.owned) == (holder(api, 0) == "a")


@pytest.mark.parametrize("fields", MALFORMED)
def test_a_malformed_shard_lease_is_taken_over(api: FakeApiServer, connection: Connection,
                                               fields: dict[str, Any]) -> None:
    plant(api, shard_lease_name(0), SHARD_KIND, fields)
    a = coordinator(connection, "a")
    for step in range(3):
        a.step(T0 + D + S + 1 + step * RETRY)
    assert 0 in a.view.owned and holder(api, 0) == "a"


# A clean stop


def test_release_all_hands_everything_over_at_once(api: FakeApiServer,
                                                   connection: Connection) -> None:
    a, b = coordinator(connection, "a"), coordinator(connection, "b")
    for now in (T0, T0 + 0.5, T0 + 1, T0 + 1.5):
        (a if now in (T0, T0 + 1) else b).step(now)
    mine = a.view.owned
    assert len(mine) == 16
    api.clear_requests()
    a.release_all()
    assert sorted(name for _, name in lease_writes(api)) == sorted(
        [*(shard_lease_name(s) for s in mine), member_lease_name("a")])
    assert {s for s, who in holders(api).items() if who == ""} == mine
    member = stored(api, member_lease_name("a"))
    assert "holderIdentity" not in member["spec"]
    assert member["spec"]["renewTime"] == T0_TEXT  # a release keeps the last renewal
    assert not any(a.may_write(key, T0 + 2) for key in KEYS)
    view = b.step(T0 + 2)  # long before a's leases would expire (T0 + 1 + D + S)
    assert view == ShardView(ALL, ("b",), ALL)
    assert holders(api) == dict.fromkeys(range(SHARD_COUNT), "b")
    never_both(a, b, now=T0 + 2)
