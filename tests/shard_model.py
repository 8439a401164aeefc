"""A model of the shard-Lease protocol, for the model check in tests/test_shards.py.

True time is the simulation's clock; each replica process reads it through its own offset
(within +-S/2 of true time, so any two clocks differ by at most S: assumption A1 of
`autoscaler.ownership.rules`). The Lease store is linearizable compare-and-swap on a
resourceVersion counter (A3). A replica's step is `ShardCoordinator.step` transcribed with
the real pure functions (`member_action`, `live_members`, `assign`, `shard_action`,
`grant_after_read/send/ack`, `may_write`): one LIST at the step's start (`now` is read
then), then one compare-and-swap write at a time, each committing at a later true instant
(other replicas' events interleave). A write is answered (200 or 409), fails before or after
committing (a lost response: the step ends, as a `TransientError` ends the real step), or
gives up and commits later (an orphan). Replicas are killed (their grants die with them, a
write in flight may still commit), restarted (a new identity, or a killed one's), joined and
stopped cleanly (`release_all`). Slow steps and long pauses stand for GC pauses and
overloaded nodes.

After the chaos, the run goes on with only prompt, answered steps; `World.settled_at` is
the instant by which the protocol promises every shard held by its assignee (see
`World.settle_seconds`).
"""

from __future__ import annotations

import heapq
import random
from collections import Counter
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from typing import Literal

from autoscaler.ownership.rules import (
    Action,
    Candidate,
    LeaseState,
    grant_after_ack,
    grant_after_read,
    grant_after_send,
    may_write,
)
from autoscaler.ownership.shards import (
    assign,
    live_members,
    member_action,
    member_lease_name,
    shard_action,
    shard_lease_name,
)

D, RD, S, RETRY = 15.0, 10.0, 2.0, 2.0  # the coordinator's defaults (retry_seconds = 2)
T0 = 1_800_000_000.0
TAME_WRITE = 0.01  # the longest write after the chaos
TAME_JITTER = 0.2  # the longest extra wait between steps after the chaos

Reply = tuple[Literal["ok", "conflict", "error"], LeaseState | None]
Write = tuple[str, LeaseState]
Steps = Generator[Write, Reply, None]
SendRule = Callable[[Action, LeaseState | None], LeaseState | None]


class Store:
    """Linearizable Leases: a write commits only on the resourceVersion it read ("" creates)."""

    def __init__(self) -> None:
        self.leases: dict[str, LeaseState] = {}
        self.version = 0

    def cas(self, name: str, proposed: LeaseState) -> LeaseState | None:
        current = self.leases.get(name)
        if proposed.resource_version != (current.resource_version if current else ""):
            return None
        self.version += 1
        written = replace(proposed, resource_version=str(self.version))
        self.leases[name] = written
        return written


@dataclass
class Process:
    """One incarnation of a replica: `ShardCoordinator`'s state and step."""

    pid: int
    me: Candidate
    offset: float
    shard_count: int
    send_rule: SendRule = grant_after_send
    granted: dict[int, LeaseState | None] = field(default_factory=dict)
    observed: dict[int, LeaseState | None] = field(default_factory=dict)
    member: LeaseState | None = None
    member_observed: LeaseState | None = None
    alive: bool = True
    stopping: bool = False  # a clean stop: `release_all` once the current step ends
    releasing: bool = False
    busy: bool = False  # a step (or the release) is under way
    counts: Counter[str] = field(default_factory=Counter)  # answered writes, by what they did

    def __post_init__(self) -> None:
        self.granted = dict.fromkeys(range(self.shard_count))
        self.observed = dict.fromkeys(range(self.shard_count))

    @property
    def identity(self) -> str:
        return self.me.identity

    def clock(self, t: float) -> float:
        return t + self.offset

    def writer(self, shard: int, t: float) -> bool:
        return self.alive and may_write(self.me, self.granted[shard], self.clock(t))

    def _due(self, granted: LeaseState | None, now: float) -> bool:
        return granted is None or now - granted.renew_time >= RETRY

    def step(self, listed: dict[str, LeaseState], now: float) -> Steps:
        """`ShardCoordinator.step` after its LIST (`listed`), yielding its writes."""
        name = member_lease_name(self.identity)
        read = listed.get(name)
        self.member = grant_after_read(self.me, self.member, read)
        self.member_observed = read
        action = member_action(self.me, read, now)
        if action.lease is not None and not (action.kind == "renew"
                                             and not self._due(self.member, now)):
            kind, written = yield name, action.lease
            if kind == "error":
                return
            if written is not None:
                self.member_observed = written
                self.member = grant_after_ack(action, written, self.member)
        members = live_members(self.identity, (lease for key, lease in listed.items()
                                               if key.startswith("eas-member-")), now, S)
        owners = assign(members, self.shard_count)
        for shard in range(self.shard_count):
            name = shard_lease_name(shard, self.shard_count)
            read = listed.get(name)
            self.granted[shard] = grant_after_read(self.me, self.granted[shard], read)
            self.observed[shard] = read
            action = shard_action(self.me, read, owners[shard], now)
            if action.lease is None or (action.kind == "renew"
                                        and not self._due(self.granted[shard], now)):
                continue
            self.granted[shard] = self.send_rule(action, self.granted[shard])  # _withdraw
            kind, written = yield name, action.lease
            self._count(action, kind)
            if kind == "error":
                return
            if written is not None:
                self.observed[shard] = written
                self.granted[shard] = grant_after_ack(action, written, self.granted[shard])

    def _count(self, action: Action, reply: str) -> None:
        what = "takeover" if "expired" in action.reason else action.kind
        self.counts[what if reply == "ok" else f"{what} {reply}"] += 1

    def release_all(self) -> Steps:
        """`ShardCoordinator.release_all`: every granted shard, then the member lease."""
        for shard in range(self.shard_count):
            observed = self.observed[shard]
            if self.granted[shard] is None or observed is None:
                continue
            self.granted[shard] = None
            kind, _ = yield shard_lease_name(shard, self.shard_count), replace(
                observed, holder="", holder_role="")
            self.counts[f"release_all {kind}"] += 1
        if self.member is not None and self.member_observed is not None:
            self.member = None
            yield member_lease_name(self.identity), replace(
                self.member_observed, holder="", holder_role="")


@dataclass(order=True)
class Event:
    t: float
    seq: int
    kind: str = field(compare=False)  # step, commit, orphan, check, kill, restart, join, stop
    pid: int = field(default=-1, compare=False)
    write: Write | None = field(default=None, compare=False)


@dataclass
class Chaos:
    """How rough the run is (probabilities per draw)."""

    list_failure: float = 0.05
    write_lost: float = 0.03  # committed, the response lost
    write_failed: float = 0.03  # not committed
    write_orphan: float = 0.03  # the client gives up; it commits up to 5 s later
    slow_write: float = 0.05  # 0.5 .. 4 s
    paused_write: float = 0.01  # RD .. 2 D (a pause between the LIST and a write)
    paused_step: float = 0.02  # RD .. 2 D between steps
    killed_write_commits: float = 0.5


class TwoWritersError(AssertionError):
    pass


@dataclass
class World:
    rng: random.Random
    shard_count: int
    chaos_until: float
    chaos: Chaos = field(default_factory=Chaos)
    send_rule: SendRule = grant_after_send
    store: Store = field(default_factory=Store)
    procs: list[Process] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    t: float = T0
    seq: int = 0
    names: int = 0
    quiet_after: float = T0  # the last instant the chaos touched anything
    steps: int = 0
    handled: int = 0
    trace: list[str] = field(default_factory=list)
    gens: dict[int, Steps] = field(default_factory=dict)  # the step under way, per process

    # -- set-up and scheduling -------------------------------------------------------------

    def offset(self) -> float:
        draw = self.rng.random()
        if draw < 0.4:
            return self.rng.choice((-S / 2, S / 2))
        return self.rng.uniform(-S / 2, S / 2)

    def spawn(self, t: float, identity: str | None = None) -> Process:
        if identity is None:
            identity = f"replica-{self.names}"
            self.names += 1
        proc = Process(len(self.procs), Candidate(identity, "cloud", D, RD, S), self.offset(),
                       self.shard_count, self.send_rule)
        self.procs.append(proc)
        self.log(t, f"start {identity} pid={proc.pid} offset={proc.offset:+.3f}")
        self.schedule(t + self.rng.uniform(0, RETRY), "step", proc.pid)
        return proc

    def schedule(self, t: float, kind: str, pid: int = -1, write: Write | None = None) -> None:
        self.seq += 1
        heapq.heappush(self.events, Event(t, self.seq, kind, pid, write))

    def chaotic(self, t: float) -> bool:
        return t < self.chaos_until

    def disturbed(self, until: float) -> None:
        self.quiet_after = max(self.quiet_after, until)

    def log(self, t: float, text: str) -> None:
        self.trace.append(f"{t - T0:9.3f} {text}")

    @property
    def alive(self) -> list[Process]:
        return [p for p in self.procs if p.alive]

    @property
    def settle_seconds(self) -> float:
        """After the last disturbance: a dead replica's leases (stamped in its clock, up to
        S/2 ahead) are expired in every clock (up to S/2 behind) after D + S + S; then each
        replica's next step sees the same members (one step interval), the holders of others'
        shards release them in it and the assignees acquire them at their next step (one
        more interval). A step interval after the chaos: RETRY + jitter + the step's writes."""
        interval = RETRY + TAME_JITTER + (self.shard_count + 1) * TAME_WRITE
        return D + 2 * S + 2 * interval + 0.1

    @property
    def settled_at(self) -> float:
        return max(self.quiet_after, self.chaos_until) + self.settle_seconds

    # -- the run ---------------------------------------------------------------------------

    def run(self, until: float) -> None:
        while self.events and self.events[0].t <= until:
            event = heapq.heappop(self.events)
            self.t = event.t
            self.handled += 1
            self.handle(event)
            self.check_one_writer()
        self.t = until
        self.check_one_writer()

    def handle(self, event: Event) -> None:
        if event.kind == "check":
            return
        if event.kind in ("kill", "restart", "join", "stop"):
            self.membership(event.kind)
            return
        proc = self.procs[event.pid] if event.pid >= 0 else None
        if event.kind == "orphan" or (proc is not None and not proc.alive):
            self.orphan(event)
            return
        assert proc is not None
        if event.kind == "step":
            self.start_step(proc)
        elif event.kind == "commit":
            self.commit(proc, event)

    def membership(self, kind: str) -> None:
        alive = self.alive
        if kind == "join" or (kind != "restart" and len(alive) <= 1):
            if len(alive) < 6:
                self.spawn(self.t)
            return
        if kind == "restart":
            dead = {p.identity for p in self.procs if not p.alive} - {
                p.identity for p in alive}
            if dead and len(alive) < 6:
                self.spawn(self.t, self.rng.choice(sorted(dead)))
            elif len(alive) < 6:
                self.spawn(self.t)
            return
        victim = self.rng.choice(alive)
        if kind == "kill":
            victim.alive = False
            self.log(self.t, f"kill {victim.identity} pid={victim.pid}")
        elif not victim.stopping:
            victim.stopping = True
            self.log(self.t, f"stop {victim.identity} pid={victim.pid}")
            if not victim.busy:  # else it releases when its step ends (`release_all` joins it)
                self.schedule(self.t, "step", victim.pid)
        self.disturbed(self.t)

    def start_step(self, proc: Process) -> None:
        if proc.busy:
            return
        self.steps += 1
        proc.busy = True
        if proc.stopping:
            proc.releasing = True
            self.gens[proc.pid] = proc.release_all()
            self.advance(proc, self.gens[proc.pid], None)
            return
        if self.chaotic(self.t) and self.rng.random() < self.chaos.list_failure:
            self.log(self.t, f"{proc.identity}: LIST failed")
            self.disturbed(self.t)
            self.end_step(proc)
            return
        steps = proc.step(dict(self.store.leases), proc.clock(self.t))
        self.gens[proc.pid] = steps
        self.advance(proc, steps, None)

    def advance(self, proc: Process, steps: Steps, reply: Reply | None) -> None:
        try:
            write = next(steps) if reply is None else steps.send(reply)
        except StopIteration:
            if proc.releasing:
                proc.alive = proc.busy = False  # released everything: the process exits
                self.log(self.t, f"{proc.identity} stopped")
                self.disturbed(self.t)
                return
            self.end_step(proc)
            return
        self.schedule(self.t + self.write_delay(), "commit", proc.pid, write)

    def write_delay(self) -> float:
        if not self.chaotic(self.t):
            return self.rng.uniform(0, TAME_WRITE)
        draw = self.rng.random()
        if draw < self.chaos.paused_write:
            delay = self.rng.uniform(RD, 2 * D)
        elif draw < self.chaos.paused_write + self.chaos.slow_write:
            delay = self.rng.uniform(0.5, 4.0)
        else:
            return self.rng.uniform(0, 0.05)
        self.disturbed(self.t + delay)
        return delay

    def end_step(self, proc: Process) -> None:
        proc.busy = False
        self.gens.pop(proc.pid, None)
        if proc.stopping:
            self.schedule(self.t, "step", proc.pid)
            return
        wait = RETRY + self.rng.uniform(0, TAME_JITTER)
        if self.chaotic(self.t) and self.rng.random() < self.chaos.paused_step:
            wait = self.rng.uniform(RD, 2 * D)
            self.disturbed(self.t + wait)
        self.schedule(self.t + wait, "step", proc.pid)

    def commit(self, proc: Process, event: Event) -> None:
        assert event.write is not None
        name, proposed = event.write
        steps = self.gens[proc.pid]
        chaos, draw = self.chaos, self.rng.random() if self.chaotic(self.t) else 1.0
        if draw < chaos.write_failed:
            self.log(self.t, f"{proc.identity}: write {name} failed")
            reply: Reply = ("error", None)
        elif draw < chaos.write_failed + chaos.write_orphan:
            late = self.t + self.rng.uniform(0, 5.0)
            self.schedule(late, "orphan", -1, event.write)
            self.disturbed(late)
            reply = ("error", None)
        else:
            written = self.store.cas(name, proposed)
            self.log(self.t, f"{proc.identity}: {name} {_show(proposed)} -> "
                             f"{'committed' if written else '409'}")
            if draw < chaos.write_failed + chaos.write_orphan + chaos.write_lost:
                reply = ("error", None)
            else:
                reply = ("ok", written) if written is not None else ("conflict", None)
            if written is not None and reply[0] == "ok" and written.holder == proc.identity:
                deadline = written.renew_time + RD - proc.offset  # true time
                if deadline > self.t:
                    self.schedule(deadline - 1e-5, "check")
        if reply[0] == "error":
            self.disturbed(self.t)
        self.advance(proc, steps, reply)

    def orphan(self, event: Event) -> None:
        """A write of a dead process (it may still reach the server) or one given up on."""
        if event.write is None or event.kind == "step":
            return
        if event.kind == "commit" and self.rng.random() >= self.chaos.killed_write_commits:
            return
        name, proposed = event.write
        written = self.store.cas(name, proposed)
        self.log(self.t, f"orphan {name} {_show(proposed)} -> "
                         f"{'committed' if written else '409'}")
        self.disturbed(self.t)

    # -- what must hold --------------------------------------------------------------------

    def check_one_writer(self) -> None:
        alive = self.alive
        for shard in range(self.shard_count):
            writers = [p.identity for p in alive if p.writer(shard, self.t)]
            if len(writers) > 1:
                raise TwoWritersError(f"t={self.t - T0:.6f}: shard {shard} has writers {writers}")

    def settled_problems(self) -> list[str]:
        """Every shard held by its assignee (who may write), the loads balanced."""
        alive = self.alive
        owners = assign([p.identity for p in alive], self.shard_count)
        by_identity = {p.identity: p for p in alive}
        problems = []
        for shard, who in owners.items():
            lease = self.store.leases.get(shard_lease_name(shard, self.shard_count))
            holder = lease.holder if lease is not None else None
            if holder != who:
                problems.append(f"shard {shard}: held by {holder!r}, assigned to {who}")
            elif not by_identity[who].writer(shard, self.t):
                problems.append(f"shard {shard}: {who} holds it but may not write")
        loads = Counter(owners.values())
        if alive and max(loads.values()) - min(loads[p.identity] for p in alive) > 1:
            problems.append(f"unbalanced: {loads}")
        return problems


def _show(lease: LeaseState) -> str:
    return f"holder={lease.holder or '-'} renew={lease.renew_time - T0:.3f} " \
           f"rv={lease.resource_version or 'new'}"


def simulate(seed: int, replicas: int, shard_count: int, chaos_seconds: float,
             membership_events: int, send_rule: SendRule = grant_after_send) -> World:
    """A whole run: `replicas` start, `membership_events` kills/restarts/joins/stops at
    random instants of the chaos, then quiet until `settled_at`. Raises `TwoWritersError` (with
    the trace's tail) on two writers; returns the world for the liveness check."""
    rng = random.Random(seed)
    world = World(rng, shard_count, T0 + chaos_seconds, send_rule=send_rule)
    for _ in range(replicas):
        world.spawn(T0)
    for _ in range(membership_events):
        kind = rng.choice(("kill", "kill", "restart", "join", "stop"))
        world.schedule(T0 + rng.uniform(0, chaos_seconds), kind)
    try:
        world.run(world.chaos_until)
        while world.t < world.settled_at:  # chaos already scheduled may push it later
            world.run(world.settled_at)
    except TwoWritersError as exc:
        tail = "\n".join(world.trace[-40:])
        raise TwoWritersError(f"seed {seed}: {exc}\nlast events:\n{tail}") from None
    return world
