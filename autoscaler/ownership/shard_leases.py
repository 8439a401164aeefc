"""Shard Leases on a real apiserver: the replica side of `autoscaler.ownership.shards`.

`ShardCoordinator.step(now)`: one LIST of the shard and member Leases (label
`edgeautoscaler.io/lease-kind`), then at most one compare-and-swap write per lease: my member
lease, and each shard lease `shards.shard_action` says to create, acquire, renew or release.
A 409 means someone else won: nothing changes until the next step's LIST. A transient
failure ends the step (the grants run out at their renew deadlines by themselves).

It runs on its own thread (`start`), every `retry_seconds`, so a long pass of the control
loop never delays a renewal. The loop and the write wrappers ask it:
* `may_write(target_key, now)`: this replica's last acknowledged acquire or renew of the
  target's shard is within its renew deadline (`rules.may_write`);
* `writing(target_key, now)`: the same, and the write, taking at most the request timeout,
  ends before anyone could take the shard over (`now + timeout <= renew_time + duration`
  in my clock; others take over only after `renew_time + duration + skew` in theirs, and
  the clocks differ by at most the skew), held for the duration of the write. A release
  first withdraws the grant, then waits for the writes already admitted under it to be
  answered, and only then sends the release. So a write never reaches the server after the
  shard changed hands, by release or by expiry, unless the server sat on it past the
  client's timeout (no apiserver API can fence that; a write normally takes milliseconds).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import structlog
from kubernetes import client

from autoscaler.clock import Clock
from autoscaler.errors import AutoscalerError, ConflictError
from autoscaler.ownership.lease import LeaseClient, ObservedLease, list_leases
from autoscaler.ownership.rules import (
    Action,
    Candidate,
    LeaseState,
    grant_after_ack,
    grant_after_read,
    may_write,
)
from autoscaler.ownership.shards import (
    COUNT_ANNOTATION,
    KIND_LABEL,
    MEMBER_KIND,
    MEMBER_PREFIX,
    SHARD_COUNT,
    SHARD_KIND,
    assign,
    count_conflicts,
    live_members,
    member_action,
    member_lease_name,
    shard_action,
    shard_lease_name,
    shard_of,
)

log = structlog.get_logger("autoscaler.shards")

WRITERS = 8  # concurrent Lease writes of one step (a replica holds 32 / replicas shards)
# (transition "acquired" | "released" | "lost", shard) -> None, for /metrics
TransitionHook = Callable[[str, int], None]


def _annotation(observed: ObservedLease, key: str) -> str:
    meta = observed.body.get("metadata")
    notes = meta.get("annotations") if isinstance(meta, Mapping) else None
    value = notes.get(key) if isinstance(notes, Mapping) else None
    return value if isinstance(value, str) else ""


@dataclass(frozen=True)
class ShardView:
    """What a step saw and holds: for /metrics, logs and tests."""

    owned: frozenset[int]
    members: tuple[str, ...]
    assigned: frozenset[int]  # the shards assigned to this replica by `assign`


@dataclass
class _Shard:
    granted: LeaseState | None = None
    observed: ObservedLease | None = None  # as last read or written (the base of a PUT)
    in_flight: int = 0
    withdrawn: bool = False  # a release is under way: admit no new writes
    epoch: int = 0  # grants established from none: each may follow another holder's writes


@dataclass
class ShardCoordinator:
    api_client: client.ApiClient
    namespace: str
    me: Candidate
    timeout_seconds: float = 10.0
    retry_seconds: float = 2.0
    shard_count: int = SHARD_COUNT
    on_change: Callable[[], None] | None = None  # the owned set changed (wake the loop)
    on_transition: TransitionHook | None = None
    # Called with a shard about to be released, while still held (its writes admitted):
    # the daemon saves what it remembers of the shard's autoscalers for the next holder.
    before_release: Callable[[int], None] | None = None
    last_error: AutoscalerError | None = None
    conflicts: tuple[str, ...] = ()  # live members hashing with another shard count
    offline: Mapping[str, str] = field(default_factory=dict)  # the gate protocol: never
    view: ShardView = field(default_factory=lambda: ShardView(frozenset(), (), frozenset()))
    _shards: dict[int, _Shard] = field(default_factory=dict, repr=False)
    _member: LeaseState | None = field(default=None, repr=False)
    _member_observed: ObservedLease | None = field(default=None, repr=False)
    _lock: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)
    _halt: threading.Event = field(default_factory=threading.Event, repr=False)
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self._shards = {shard: _Shard() for shard in range(self.shard_count)}

    # -- asked by the loop and the write wrappers ------------------------------------------

    def owns_shard(self, shard: int, now: float) -> bool:
        with self._lock:
            return self._writable(self._shards[shard], now)

    def _writable(self, state: _Shard, now: float) -> bool:
        """Under the lock: granted, within the renew deadline, not being released."""
        return not state.withdrawn and may_write(self.me, state.granted, now)

    def holds_shard(self, shard: int, now: float) -> bool:
        """The shard's Lease names me as of my last acknowledged write and cannot have
        expired yet (`renew_time + duration`): its autoscalers are reconciled here. Writes
        need more (`may_write`: within the renew deadline); a renewal a little late under a
        slow apiserver pauses the writes, not the reconciles and what they remember."""
        with self._lock:
            state = self._shards[shard]
            granted = state.granted
            return (not state.withdrawn and granted is not None
                    and now < granted.renew_time + self.me.lease_duration_seconds)

    def epoch(self, shard: int) -> int:
        """Counts the grants of `shard` this replica established from none (an acquire, or
        a renew after its grant lapsed): what it remembers of the shard's autoscalers from
        before the current epoch may predate another holder's writes."""
        with self._lock:
            return self._shards[shard].epoch

    def may_write(self, key: str, now: float) -> bool:
        return self.owns_shard(shard_of(key, self.shard_count), now)

    @contextmanager
    def writing(self, key: str, now: float) -> Iterator[bool]:
        """True while the write may go (the grant is held until it is answered)."""
        state = self._shards[shard_of(key, self.shard_count)]
        with self._lock:
            granted = state.granted
            admitted = (self._writable(state, now) and granted is not None
                        and now + self.timeout_seconds
                        <= granted.renew_time + self.me.lease_duration_seconds)
            if admitted:
                state.in_flight += 1
        try:
            yield admitted
        finally:
            if admitted:
                with self._lock:
                    state.in_flight -= 1
                    self._lock.notify_all()

    # -- the step ----------------------------------------------------------------------------

    def step(self, now: float) -> ShardView:
        selector = f"{KIND_LABEL} in ({SHARD_KIND},{MEMBER_KIND})"
        before = self.view.owned
        members, owners = self.view.members, {}  # as before, if the LIST fails
        try:
            listed = list_leases(self.api_client, self.namespace, selector,
                                 self.timeout_seconds)
            member = self._writers().submit(
                self._step_member, now, listed.get(member_lease_name(self.me.identity)))
            leases = [o for name, o in listed.items() if name.startswith(MEMBER_PREFIX)]
            members = live_members(self.me.identity, (o.state for o in leases), now,
                                   self.me.max_clock_skew_seconds)
            conflicts = count_conflicts(self.me.identity, {
                o.state.holder: _annotation(o, COUNT_ANNOTATION) for o in leases
                if o.state.holder in members}, self.shard_count)
            self._report_conflicts(conflicts)
            # Nobody is assigned anything while counts disagree: every shard held here is
            # released, none acquired (no two versions can then own one autoscaler).
            owners = dict.fromkeys(range(self.shard_count), "") if conflicts \
                else assign(members, self.shard_count)
            # The shards' writes go out together: a slow apiserver (say 1 s a write) must
            # not make the 16th renewal of a step wait 15 s, past its renew deadline.
            steps = [self._writers().submit(
                self._step_shard, shard, owners[shard], now,
                listed.get(shard_lease_name(shard, self.shard_count)))
                for shard in range(self.shard_count)]
            failures = [exc for exc in (f.exception() for f in [member, *steps])
                        if exc is not None]
            if failures:
                raise failures[0]
            self.last_error = None
        except AutoscalerError as exc:
            if self.last_error is None or str(self.last_error) != str(exc):
                log.warning("shard lease step failed; grants run out at their deadline",
                            error=str(exc))
            self.last_error = exc
        owned = frozenset(s for s in range(self.shard_count) if self.owns_shard(s, now))
        self.view = ShardView(owned, members, frozenset(
            s for s, who in owners.items() if who == self.me.identity))
        if owned != before:
            log.info("shards changed", owned=sorted(owned), members=list(members))
            if self.on_change is not None:
                self.on_change()
        return self.view

    def _report_conflicts(self, conflicts: tuple[str, ...]) -> None:
        if conflicts and conflicts != self.conflicts:
            log.error("replicas hash with another shard count: holding no shard until "
                      "they are gone (finish or roll back the rollout)",
                      shard_count=self.shard_count, others=list(conflicts))
        elif self.conflicts and not conflicts:
            log.info("shard counts agree again", shard_count=self.shard_count)
        self.conflicts = conflicts

    def _writers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=WRITERS,
                                            thread_name_prefix="shard-lease")
        return self._pool

    def _due(self, granted: LeaseState | None, now: float) -> bool:
        """Renew a held lease every `retry_seconds`, well inside its renew deadline."""
        return granted is None or now - granted.renew_time >= self.retry_seconds

    def _client(self, name: str, kind: str) -> LeaseClient:
        notes = {COUNT_ANNOTATION: str(self.shard_count)} if kind == MEMBER_KIND else {}
        return LeaseClient(self.api_client, self.namespace, name, self.timeout_seconds,
                           labels={KIND_LABEL: kind}, annotations=notes)

    def _step_member(self, now: float, observed: ObservedLease | None) -> None:
        read = observed.state if observed is not None else None
        self._member = grant_after_read(self.me, self._member, read)
        self._member_observed = observed
        action = member_action(self.me, read, now)
        if action.lease is None or (action.kind == "renew" and not self._due(self._member, now)):
            return
        try:
            written = self._client(member_lease_name(self.me.identity), MEMBER_KIND).write(
                action.lease, observed)
        except ConflictError:
            return
        self._member_observed = written
        self._member = grant_after_ack(action, written.state, self._member)

    def _step_shard(self, shard: int, assignee: str, now: float,
                    observed: ObservedLease | None) -> None:
        state = self._shards[shard]
        read = observed.state if observed is not None else None
        with self._lock:
            had = state.granted is not None
            state.granted = grant_after_read(self.me, state.granted, read)
            state.observed = observed
            lost = had and state.granted is None
        if lost:
            self._transition("lost", shard)
        action = shard_action(self.me, read, assignee, now)
        if action.lease is None or (action.kind == "renew" and not self._due(state.granted, now)):
            return
        if action.kind == "release":
            self._hand_over(shard)
            if not self._withdraw(state):
                return  # a write still in flight: the lease expires by itself if it persists
        try:
            written = self._client(shard_lease_name(shard, self.shard_count),
                                   SHARD_KIND).write(action.lease, observed)
        except ConflictError:
            return
        finally:
            with self._lock:
                state.withdrawn = False
        with self._lock:
            state.observed = written
            fresh = state.granted is None
            state.granted = grant_after_ack(action, written.state, state.granted)
            if fresh and state.granted is not None:
                state.epoch += 1
        self._log(action, shard)

    def _hand_over(self, shard: int) -> None:
        if self.before_release is None:
            return
        try:
            self.before_release(shard)
        except Exception:  # a bug there must not keep the shard: it is released anyway
            log.exception("saving state before a release failed", shard=shard)

    def _withdraw(self, state: _Shard) -> bool:
        """Stop admitting writes and wait (at most one request timeout) for those admitted."""
        with self._lock:
            state.withdrawn = True
            state.granted = None
            return self._lock.wait_for(lambda: state.in_flight == 0, self.timeout_seconds)

    def _log(self, action: Action, shard: int) -> None:
        if action.kind in ("acquire", "release"):
            transition = "acquired" if action.kind == "acquire" else "released"
            log.info(f"shard {transition}", shard=shard, reason=action.reason)
            self._transition(transition, shard)

    def _transition(self, transition: str, shard: int) -> None:
        if self.on_transition is not None:
            self.on_transition(transition, shard)

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self, clock: Clock) -> None:
        """Step every `retry_seconds` of real time (not `clock.wait`: a test clock that
        moves only between passes must not hold the renewals back) until `release_all`."""
        def run() -> None:
            while True:
                began = time.monotonic()
                try:
                    self.step(clock.now())
                except Exception:  # a bug: keep stepping (the grants expire if it persists)
                    log.exception("shard lease step crashed")
                # A step every retry period, however long the step took (a slow step is
                # followed at once by the next).
                if self._halt.wait(max(0.0, began + self.retry_seconds - time.monotonic())):
                    return
        self._thread = threading.Thread(target=run, name="shard-leases", daemon=True)
        self._thread.start()

    def release_all(self) -> None:
        """On a clean stop: hand every held shard back and leave the members, so the others
        take over at their next step instead of after expiry."""
        self._halt.set()
        if self._thread is not None:
            self._thread.join(self.retry_seconds + 2 * self.timeout_seconds)
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        for shard, state in self._shards.items():
            observed = state.observed
            if state.granted is None or observed is None:
                continue
            self._hand_over(shard)
            if not self._withdraw(state):
                continue
            self._release(shard_lease_name(shard, self.shard_count), SHARD_KIND, observed)
            self._transition("released", shard)
        if self._member is not None and self._member_observed is not None:
            self._member = None
            self._release(member_lease_name(self.me.identity), MEMBER_KIND,
                          self._member_observed)

    def _release(self, name: str, kind: str, observed: ObservedLease) -> None:
        released = replace(observed.state, holder="", holder_role="")
        try:
            self._client(name, kind).write(released, observed)
        except AutoscalerError as exc:
            log.warning("lease not released; it expires by itself", lease=name,
                        error=str(exc))
