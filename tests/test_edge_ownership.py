"""Ownership of a target's Lease: the rules as tables, timing with a fake clock, and
properties over a model of the world (true time, skewed clocks, a linearizable
compare-and-swap Lease, stale reads, lost responses, requests that commit late)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.clock import FakeClock
from autoscaler.ownership.rules import (
    Action,
    Candidate,
    LeaseState,
    Role,
    grant_after_ack,
    grant_after_read,
    grant_after_send,
    may_write,
    next_action,
)

D, RD, S = 15.0, 10.0, 2.0
T0 = 1_000_000.0
CLOUD = Candidate("cloud-a", "cloud", D, RD, S)
CLOUD_B = Candidate("cloud-b", "cloud", D, RD, S)
EDGE = Candidate("edge-1", "edge", D, RD, S)


def lease(holder: str, renew: float = T0, role: str = "", preferred: str = "",
          rv: str = "7", transitions: int = 1) -> LeaseState:
    role = role or ("edge" if holder.startswith("edge") else "cloud" if holder else "")
    return LeaseState(holder, T0 - 100, renew, D, transitions, rv, preferred, role)


# Rules


DECISIONS = [
    pytest.param(CLOUD, None, T0, True, "acquire", "cloud-a", id="cloud-healthy-creates"),
    pytest.param(CLOUD, None, T0, False, "none", None, id="cloud-unhealthy-no-lease-idle"),
    pytest.param(EDGE, None, T0, True, "init", "", id="edge-creates-a-free-lease"),
    pytest.param(EDGE, None, T0, False, "none", None, id="edge-unhealthy-no-lease-idle"),
    pytest.param(CLOUD, lease("cloud-a"), T0 + 2, True, "renew", "cloud-a",
                 id="cloud-healthy-renews"),
    pytest.param(CLOUD, lease("cloud-a"), T0 + 60, True, "renew", "cloud-a",
                 id="cloud-renews-its-expired-lease-cas-guarded"),
    pytest.param(CLOUD, lease("cloud-a"), T0 + 2, False, "release", "",
                 id="cloud-unhealthy-stops-and-releases"),
    pytest.param(CLOUD_B, lease("cloud-a"), T0 + 5, True, "wait", None,
                 id="ha-follower-waits-for-live-leader"),
    pytest.param(CLOUD_B, lease("cloud-a"), T0 + D + S, True, "wait", None,
                 id="ha-follower-waits-through-skew-margin"),
    pytest.param(CLOUD_B, lease("cloud-a"), T0 + D + S + 0.001, True, "acquire", "cloud-b",
                 id="ha-follower-takes-over-expired-leader"),
    pytest.param(CLOUD_B, lease("cloud-a"), T0 + 60, False, "none", None,
                 id="ha-follower-without-metrics-idle"),
    pytest.param(CLOUD_B, lease(""), T0, True, "acquire", "cloud-b",
                 id="cloud-acquires-free-lease-at-once"),
    pytest.param(CLOUD, lease("edge-1"), T0 + 1, True, "request", "edge-1",
                 id="cloud-asks-edge-for-handback"),
    pytest.param(CLOUD, lease("edge-1", preferred="cloud-b"), T0 + 1, True, "wait", None,
                 id="cloud-waits-on-pending-handback"),
    pytest.param(CLOUD, lease("edge-1"), T0 + 1, False, "none", None,
                 id="unhealthy-cloud-no-handback-request"),
    pytest.param(CLOUD, lease("edge-1"), T0 + D + S + 1, True, "acquire", "cloud-a",
                 id="cloud-takes-over-expired-edge"),
    pytest.param(EDGE, lease("cloud-a"), T0 + 5, True, "wait", None, id="edge-waits-live-cloud"),
    pytest.param(EDGE, lease("cloud-a"), T0 + D + 1, True, "wait", None,
                 id="edge-waits-through-skew-margin"),
    pytest.param(EDGE, lease("cloud-a"), T0 + D + S, True, "wait", None,
                 id="edge-waits-at-exact-takeover-time"),
    pytest.param(EDGE, lease("cloud-a"), T0 + D + S + 0.001, True, "acquire", "edge-1",
                 id="edge-takes-over-expired-cloud"),
    pytest.param(EDGE, lease("cloud-a"), T0 + 60, False, "none", None,
                 id="edge-without-metrics-never-takes-over"),
    pytest.param(EDGE, lease(""), T0 + 1, True, "wait", None, id="edge-never-jumps-free-lease"),
    pytest.param(EDGE, lease("", preferred="cloud-a"), T0 + D + S + 1, True, "acquire",
                 "edge-1", id="edge-takes-free-lease-nobody-claimed"),
    pytest.param(EDGE, lease("edge-1"), T0 + 3, True, "renew", "edge-1", id="edge-renews"),
    pytest.param(EDGE, lease("edge-1", preferred="cloud-a"), T0 + 3, True, "release", "",
                 id="edge-hands-back-on-request"),
    pytest.param(EDGE, lease("edge-1"), T0 + 3, False, "release", "",
                 id="edge-without-metrics-releases"),
    pytest.param(EDGE, lease("edge-1", preferred="edge-1"), T0 + 3, True, "renew", "edge-1",
                 id="edge-ignores-request-naming-itself"),
]


@pytest.mark.parametrize(("me", "read", "now", "healthy", "kind", "holder"), DECISIONS)
def test_next_action(me: Candidate, read: LeaseState | None, now: float, healthy: bool,
                     kind: str, holder: str | None) -> None:
    action = next_action(me, read, now, healthy)
    assert action.kind == kind, action.reason
    assert action.reason
    if holder is None:
        assert action.lease is None and not action.writes
        return
    assert action.lease is not None and action.lease.holder == holder
    # compare-and-swap on what was read; "" creates
    assert action.lease.resource_version == (read.resource_version if read else "")


WRITTEN = [
    pytest.param(CLOUD, None, T0, True,
                 LeaseState("cloud-a", T0, T0, D, 0, "", "", "cloud"), id="create-holding"),
    pytest.param(EDGE, None, T0, True, LeaseState("", T0, T0, D, 0, "", "", ""),
                 id="init-free-with-clock"),
    pytest.param(CLOUD, lease("cloud-a", transitions=3), T0 + 2, True,
                 LeaseState("cloud-a", T0 - 100, T0 + 2, D, 3, "7", "", "cloud"),
                 id="renew-keeps-acquire-time-and-transitions"),
    pytest.param(CLOUD, lease("cloud-a", transitions=3), T0 + 2, False,
                 LeaseState("", T0 - 100, T0, D, 3, "7", "", ""),
                 id="release-keeps-renew-time"),
    pytest.param(EDGE, lease("cloud-a", transitions=3, preferred="x"), T0 + 20, True,
                 LeaseState("edge-1", T0 + 20, T0 + 20, D, 4, "7", "", "edge"),
                 id="takeover-counts-transition-clears-request"),
    pytest.param(CLOUD, lease("edge-1"), T0 + 1, True,
                 LeaseState("edge-1", T0 - 100, T0, D, 1, "7", "cloud-a", "edge"),
                 id="request-changes-only-preferred-holder"),
    pytest.param(EDGE, lease("edge-1", preferred="cloud-a"), T0 + 1, True,
                 LeaseState("", T0 - 100, T0, D, 1, "7", "cloud-a", ""),
                 id="handback-keeps-request-and-renew-time"),
]


@pytest.mark.parametrize(("me", "read", "now", "healthy", "expected"), WRITTEN)
def test_written_state(me: Candidate, read: LeaseState | None, now: float, healthy: bool,
                       expected: LeaseState) -> None:
    assert next_action(me, read, now, healthy).lease == expected


MAY_WRITE = [
    pytest.param(CLOUD, lease("cloud-a"), T0, True, id="just-renewed"),
    pytest.param(CLOUD, lease("cloud-a"), T0 + RD - 0.001, True, id="before-renew-deadline"),
    pytest.param(CLOUD, lease("cloud-a"), T0 + RD, False, id="at-renew-deadline"),
    pytest.param(CLOUD, lease("cloud-a"), T0 + D - 1, False, id="after-deadline-before-expiry"),
    pytest.param(CLOUD_B, lease("cloud-a"), T0, False, id="someone-else-holds"),
    pytest.param(CLOUD, lease(""), T0, False, id="free-lease"),
    pytest.param(CLOUD, None, T0, False, id="no-lease"),
]


@pytest.mark.parametrize(("me", "granted", "now", "expected"), MAY_WRITE)
def test_may_write(me: Candidate, granted: LeaseState | None, now: float,
                   expected: bool) -> None:
    assert may_write(me, granted, now) is expected


INVALID = [
    pytest.param({"identity": ""}, id="empty-identity"),
    pytest.param({"role": "fog"}, id="unknown-role"),
    pytest.param({"renew_deadline_seconds": 0.0}, id="zero-renew-deadline"),
    pytest.param({"max_clock_skew_seconds": -1.0}, id="negative-skew"),
    pytest.param({"renew_deadline_seconds": 11.0}, id="deadline-plus-2-skew-equals-duration"),
    pytest.param({"renew_deadline_seconds": 15.0, "max_clock_skew_seconds": 0.0},
                 id="deadline-equals-duration"),
    pytest.param({"lease_duration_seconds": float("inf")}, id="infinite-duration"),
]


def _candidate(change: dict[str, object]) -> Candidate:
    fields: dict[str, object] = {"identity": "a", "role": "cloud", "lease_duration_seconds": D,
                                 "renew_deadline_seconds": RD, "max_clock_skew_seconds": S}
    return Candidate(**{**fields, **change})  # type: ignore[arg-type]


@pytest.mark.parametrize("change", INVALID)
def test_invalid_candidates(change: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="candidate"):
        _candidate(change)


def test_valid_candidate_at_the_bound() -> None:
    assert _candidate({"renew_deadline_seconds": 10.999}).renew_deadline_seconds == 10.999
    assert _candidate({"renew_deadline_seconds": 14.9, "max_clock_skew_seconds": 0.0})


GRANTS = [
    pytest.param(lambda g: grant_after_read(CLOUD, g, lease("cloud-a", renew=T0 + 5)), True,
                 id="read-still-mine-keeps-but-never-extends"),
    pytest.param(lambda g: grant_after_read(CLOUD, g, lease("cloud-b")), False,
                 id="read-held-by-other-revokes"),
    pytest.param(lambda g: grant_after_read(CLOUD, g, None), False, id="read-missing-revokes"),
    pytest.param(lambda g: grant_after_send(Action("release", "r", lease("")), g), False,
                 id="sending-release-revokes"),
    pytest.param(lambda g: grant_after_send(Action("renew", "r", lease("cloud-a")), g), True,
                 id="sending-renew-keeps"),
    pytest.param(lambda g: grant_after_ack(Action("request", "r", lease("edge-1")),
                                           lease("edge-1"), g), True,
                 id="ack-of-request-keeps"),
]


@pytest.mark.parametrize(("update", "kept"), GRANTS)
def test_grant_bookkeeping(update: Callable[[LeaseState | None], LeaseState | None],
                           kept: bool) -> None:
    granted = lease("cloud-a")
    assert update(granted) == (granted if kept else None)


def test_ack_of_acquire_grants_the_written_stamp() -> None:
    written = lease("cloud-a", renew=T0 + 3, rv="8")
    assert grant_after_ack(Action("acquire", "r", written), written, None) == written
    assert grant_after_read(CLOUD, None, written) is None  # reads never grant


# Timing with a fake clock, over an in-memory compare-and-swap lease


class Store:
    """A linearizable Lease with resourceVersions and a history for stale reads."""

    def __init__(self) -> None:
        self.history: list[LeaseState | None] = [None]

    @property
    def current(self) -> LeaseState | None:
        return self.history[-1]

    def read(self, staleness: int = 0) -> LeaseState | None:
        return self.history[max(0, len(self.history) - 1 - staleness)]

    def cas(self, proposed: LeaseState) -> LeaseState | None:
        current = self.current
        base = current.resource_version if current is not None else ""
        if proposed.resource_version != base:
            return None
        written = replace(proposed, resource_version=str(len(self.history)))
        self.history.append(written)
        return written


@dataclass
class Agent:
    me: Candidate
    offset: float = 0.0
    granted: LeaseState | None = None

    def clock(self, t: float) -> float:
        return t + self.offset

    def writer(self, t: float) -> bool:
        return may_write(self.me, self.granted, self.clock(t))

    def step(self, store: Store, t: float, healthy: bool) -> Action:
        """An atomic read, decide, compare-and-swap, acknowledge."""
        read = store.read()
        self.granted = grant_after_read(self.me, self.granted, read)
        action = next_action(self.me, read, self.clock(t), healthy)
        if action.lease is None:
            return action
        self.granted = grant_after_send(action, self.granted)
        written = store.cas(action.lease)
        if written is None:
            return Action("wait", "lost the race")
        self.granted = grant_after_ack(action, written, self.granted)
        return action


def test_takeover_timing_with_fake_clock() -> None:
    clock, store = FakeClock(T0), Store()
    cloud, edge = Agent(CLOUD), Agent(EDGE)
    assert cloud.step(store, clock.now(), True).kind == "acquire"
    last_renewal = clock.now()
    kinds = []
    while not edge.writer(clock.now()):
        clock.advance(1.0)
        kinds.append(edge.step(store, clock.now(), True).kind)
        assert cloud.writer(clock.now()) == (clock.now() < last_renewal + RD)
    assert set(kinds[:-1]) == {"wait"} and kinds[-1] == "acquire"
    assert clock.now() == last_renewal + D + S + 1.0  # the first step past the margin
    assert not cloud.writer(clock.now())


def test_handback_timing_with_fake_clock() -> None:
    clock, store = FakeClock(T0), Store()
    cloud, edge = Agent(CLOUD), Agent(EDGE)
    assert edge.step(store, clock.now(), True).kind == "init"
    clock.advance(D + S + 1)
    assert edge.step(store, clock.now(), True).kind == "acquire"  # cloud never showed up
    clock.advance(1)
    script = [(cloud, True, "request"), (edge, True, "release"), (cloud, True, "acquire"),
              (edge, True, "wait"), (cloud, True, "renew")]
    for agent, healthy, kind in script:
        assert agent.step(store, clock.now(), healthy).kind == kind
        assert not (cloud.writer(clock.now()) and edge.writer(clock.now()))
        clock.advance(1)
    assert cloud.writer(clock.now()) and not edge.writer(clock.now())
    assert store.current is not None and store.current.transitions == 2


def test_cloud_without_metrics_hands_over_to_edge_after_expiry() -> None:
    clock, store = FakeClock(T0), Store()
    cloud, edge = Agent(CLOUD), Agent(EDGE)
    cloud.step(store, clock.now(), True)
    renewed = clock.now()
    clock.advance(1)
    assert cloud.step(store, clock.now(), False).kind == "release"
    assert not cloud.writer(clock.now())  # stops at once, not at its deadline
    clock.t = renewed + D + S
    assert edge.step(store, clock.now(), True).kind == "wait"
    clock.advance(0.5)
    assert edge.step(store, clock.now(), True).kind == "acquire"
    assert cloud.step(store, clock.now(), False).kind == "none"


def test_worst_case_skew_leaves_a_gap_between_writers() -> None:
    # The edge's clock runs S/2 ahead, the cloud's S/2 behind: the edge's earliest takeover.
    store = Store()
    cloud, edge = Agent(CLOUD, -S / 2), Agent(EDGE, +S / 2)
    cloud.step(store, T0, True)
    assert edge.step(store, T0 + D, True).kind == "wait"
    assert edge.step(store, T0 + D + 1e-6, True).kind == "acquire"
    last_cloud_instant = T0 + RD  # exclusive
    assert last_cloud_instant < T0 + D and not cloud.writer(T0 + D)


def test_ha_replicas_elect_one_leader() -> None:
    store = Store()
    replicas = [Agent(Candidate(f"cloud-{i}", "cloud", D, RD, S)) for i in range(3)]
    kinds = [r.step(store, T0, True).kind for r in replicas]
    assert kinds == ["acquire", "wait", "wait"]
    assert [r.writer(T0) for r in replicas] == [True, False, False]
    replicas[0].step(store, T0 + 1, False)  # the leader loses its metrics: released
    assert replicas[1].step(store, T0 + 1, True).kind == "acquire"
    assert replicas[2].step(store, T0 + 1, True).kind == "wait"
    assert [r.writer(T0 + 1) for r in replicas] == [False, True, False]


# Properties


@dataclass
class Flight:
    """A write on its way: `live` until the client gives up (it may still commit)."""

    agent: int
    action: Action
    live: bool = True


@dataclass
class World:
    agents: list[Agent]
    t: float = T0
    store: Store = field(default_factory=Store)
    flights: list[Flight] = field(default_factory=list)

    def writers(self) -> list[str]:
        return [a.me.identity for a in self.agents if a.writer(self.t)]

    def decide(self, index: int, healthy: bool, staleness: int) -> bool:
        """Read (maybe stale) and decide; True if a write was sent."""
        index %= len(self.agents)
        agent = self.agents[index]
        for flight in self.flights:
            if flight.agent == index:
                flight.live = False  # a new step: the client gave up on the previous write
        read = self.store.read(staleness)
        agent.granted = grant_after_read(agent.me, agent.granted, read)
        action = next_action(agent.me, read, agent.clock(self.t), healthy)
        if action.lease is not None:
            agent.granted = grant_after_send(action, agent.granted)
            self.flights.append(Flight(index, action))
        return action.lease is not None

    def commit(self, index: int, outcome: str) -> None:
        if not self.flights:
            return
        flight = self.flights.pop(index % len(self.flights))
        if outcome == "dropped" or flight.action.lease is None:
            return
        written = self.store.cas(flight.action.lease)
        agent = self.agents[flight.agent]
        if written is not None and flight.live and outcome == "acknowledged":
            agent.granted = grant_after_ack(flight.action, written, agent.granted)


def candidates(roles: Sequence[Role], duration: float, deadline_share: float,
               skew: float) -> list[Candidate]:
    deadline = max(0.01, (duration - 2 * skew) * deadline_share)
    return [Candidate(f"{role}-{i}", role, duration, deadline, skew)
            for i, role in enumerate(roles)]


ROLE_SETS: list[tuple[Role, ...]] = [("cloud", "edge"), ("cloud", "cloud", "edge"),
                                     ("cloud", "cloud", "cloud"), ("edge", "edge", "cloud")]
@dataclass(frozen=True)
class Event:
    kind: str  # "tick", "step" (atomic, acknowledged), "decide" or "commit"
    index: int = 0  # the agent (mod their number), or the flight to commit
    healthy: bool = True
    staleness: int = 0
    fraction: float = 0.0  # of a lease duration, for ticks
    outcome: str = ""


# One draw per event (generation dominates the run time), each a uniform choice.
AGENTS, HEALTH = range(6), (True, True, True, False)
EVENTS = st.one_of(
    st.sampled_from([Event("tick", fraction=f)
                     for f in (0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 1.0, 1.2)]),
    st.sampled_from([Event("step", i, h) for i in AGENTS for h in HEALTH]),
    st.sampled_from([Event("decide", i, h, k) for i in AGENTS for h in HEALTH
                     for k in range(4)]),
    st.sampled_from([Event("commit", i, outcome=o) for i in AGENTS
                     for o in ("acknowledged", "acknowledged", "lost", "dropped")]),
)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    roles = draw(st.sampled_from(ROLE_SETS))
    duration = draw(st.floats(2.0, 30.0))
    skew = duration * draw(st.sampled_from([0.0, 0.2, 0.45]) | st.floats(0.0, 0.45))
    share = draw(st.sampled_from([0.5, 0.999]) | st.floats(0.05, 0.999))
    offsets = [skew / 2 * draw(st.sampled_from([-1.0, 1.0]) | st.floats(-1.0, 1.0))
               for _ in roles]
    agents = [Agent(me, offset) for me, offset in
              zip(candidates(roles, duration, share, skew), offsets, strict=True)]
    return World(agents)


@settings(max_examples=200, deadline=None)
@given(worlds(), st.lists(EVENTS, min_size=40, max_size=120))
def test_never_two_writers_at_one_true_instant(world: World, events: list[Event]) -> None:
    """Windows open only at events (acknowledgements), so checking after each is enough.
    Ticks move true time by up to 1.2 lease durations; a step is a read,
    decision, write and acknowledgement at one instant; otherwise reads may be up to 3
    versions stale, writes commit in any order or never, and their responses may be lost."""
    duration = world.agents[0].me.lease_duration_seconds
    for e in events:
        if e.kind == "tick":
            world.t += e.fraction * duration
        elif e.kind == "step":
            if world.decide(e.index, e.healthy, 0):
                world.commit(len(world.flights) - 1, "acknowledged")
        elif e.kind == "decide":
            world.decide(e.index, e.healthy, e.staleness)
        else:
            world.commit(e.index, e.outcome)
        assert len(world.writers()) <= 1, (world.writers(), world.store.history)


def timeline(gaps: dict[int, list[float]], until: float) -> list[tuple[float, int]]:
    """Merged step times (true time) of each agent, from its gaps, up to `until`."""
    steps = []
    for agent, agent_gaps in gaps.items():
        t = T0
        for gap in agent_gaps:
            t += gap
            if t > until:
                break
            steps.append((t, agent))
    return sorted(steps)


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 3.0), st.floats(-1.0, 1.0), st.floats(-1.0, 1.0),
       st.lists(st.floats(0.01, 1.0), min_size=1, max_size=60),
       st.lists(st.floats(0.01, 1.0), min_size=1, max_size=60),
       st.lists(st.booleans(), min_size=1, max_size=60))
def test_edge_never_writes_while_cloud_stays_healthy(
        skew: float, cloud_offset: float, edge_offset: float, cloud_gaps: list[float],
        edge_gaps: list[float], edge_health: list[bool]) -> None:
    """The cloud steps at least every renew deadline; the edge whenever, healthy or not."""
    cloud_me, edge_me = candidates(("cloud", "edge"), 15.0, 0.9, skew)
    cloud = Agent(cloud_me, cloud_offset * skew / 2)
    edge = Agent(edge_me, edge_offset * skew / 2)
    store = Store()
    gaps = {0: [g * cloud_me.renew_deadline_seconds for g in cloud_gaps] + [1e9],
            1: [g * 20.0 for g in edge_gaps]}
    until = T0 + sum(gaps[0][:-1])
    for n, (t, who) in enumerate(timeline(gaps, until)):
        if who == 0:
            cloud.step(store, t, True)
        else:
            edge.step(store, t, edge_health[n % len(edge_health)])
        assert not edge.writer(t)
        assert store.current is None or store.current.holder != edge.me.identity


@settings(max_examples=200, deadline=None)
@given(st.floats(0.0, 3.0), st.floats(-1.0, 1.0), st.floats(-1.0, 1.0),
       st.integers(1, 10), st.floats(0.1, 3.0), st.booleans(),
       st.lists(st.floats(0.2, 1.0), min_size=1, max_size=20))
def test_edge_takes_over_within_duration_skew_and_a_step(
        skew: float, cloud_offset: float, edge_offset: float, cloud_steps: int,
        edge_period: float, cloud_lingers: bool, edge_gaps: list[float]) -> None:
    """The cloud renews `cloud_steps` times, then dies (or lingers without metrics): the
    edge, stepping every <= `edge_period`, is the writer by its first step past
    renew_time + duration + skew in its own clock, and never before."""
    cloud_me, edge_me = candidates(("cloud", "edge"), 15.0, 0.9, skew)
    cloud = Agent(cloud_me, cloud_offset * skew / 2)
    edge = Agent(edge_me, edge_offset * skew / 2)
    store = Store()
    for i in range(cloud_steps):
        cloud.step(store, T0 + i, True)
    assert store.current is not None
    takeover = store.current.renew_time + 15.0 + skew  # in the edge's clock
    t = T0 + cloud_steps
    for n in range(10_000):
        t += edge_gaps[n % len(edge_gaps)] * edge_period
        if cloud_lingers:
            cloud.step(store, t, False)
        kind = edge.step(store, t, True).kind
        assert edge.writer(t) == (edge.clock(t) > takeover)
        if edge.writer(t):
            assert kind == "acquire" and edge.clock(t) <= takeover + edge_period
            assert not cloud.writer(t)
            return
    pytest.fail("the edge never took over")
