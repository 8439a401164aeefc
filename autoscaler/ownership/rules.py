"""Who may write a target's scale: one coordination.k8s.io Lease per target, pure decisions.

Nothing here does I/O or reads a clock: `now` is the caller's clock, passed in. The adapter
(`autoscaler.ownership.lease`) reads and writes the Lease; this module decides what to write.

Roles and protocol
------------------
Candidates are the cloud daemon replicas (role "cloud") and the edge agent (role "edge").
The Lease names a `holder` ("" = free), its `renew_time` and `duration_seconds`, and two
fields of ours (annotations on the wire): `holder_role` and `preferred_holder`.

* cloud, healthy (it has valid metrics for the target): creates a missing lease holding it,
  renews its own lease, acquires a free lease at once, takes over an expired one (below).
  If the holder is an edge agent and the lease is live, it does not touch the holder: it
  writes `preferred_holder = <its identity>` once (a handback request) and waits.
* cloud, unhealthy: stops renewing and releases (holder ""), so that a healthy replica can
  take over at once; otherwise it does nothing.
* edge, healthy (it has local metrics): acquires only a lease expired in its own clock by
  more than the skew margin: `now > renew_time + duration + max_clock_skew` (a free lease
  too: the edge never jumps the queue). It renews while no handback is requested. A
  missing lease it creates free (`init`: holder "", renew_time now), which starts the clock
  for its own expiry rule without making it a writer.
* edge holder, handback requested (`preferred_holder` names someone else) or unhealthy:
  releases. Release sets holder "" and nothing else: renew_time keeps the last renewal,
  so a release never delays the edge's expiry rule, and a healthy cloud replica acquires
  the free lease at its next step.

Why the request field and not a cloud takeover: the cloud must not become a writer while
the edge's lease is live, and it cannot wait for expiry without the edge stopping its
renewals; the edge cannot see the cloud's health except through the Lease. The request
changes neither holder nor renew_time, so it never affects anyone's writer window; it is a
compare-and-swap write like every other, so at worst it costs the edge one 409 on a renewal.
Annotations, not the gated `spec.preferredHolder` (CoordinatedLeaderElection): an apiserver
without that feature gate silently drops the field.

HA cloud replicas use the same rules with role "cloud": the first healthy replica to
create or acquire wins the compare-and-swap, the others wait for release or expiry; a
follower never sends a handback request to a cloud holder.

Writer windows
--------------
A candidate acts as the target's writer only while `may_write(me, granted, now)`: `granted`
is the Lease as returned by its own acknowledged acquire or renew (never a mere read, which
may be stale: KubeEdge's MetaServer serves reads from the edge's cache), and
`now < renew_time + renew_deadline`. Deciding to release drops the grant before the release
is sent (its response may be lost); a read showing the lease missing or held by someone
else drops it too (only ever shortening a window). See `grant_after_*`.

Safety: never two writers
-------------------------
Assumptions:
  A1. Clock skew: at every true instant t, any two candidates' clocks differ by at most
      S = max_clock_skew_seconds (e.g. each within S/2 of true time; a clock step or
      drift over a lease period counts as skew). All candidates use the same S.
  A2. renew_deadline + 2 S < lease_duration (validated by `Candidate`); safety needs only
      renew_deadline <= duration; the 2 S spare keeps it safe even if skew is misjudged by
      a factor of two (each clock within S of true time).
  A3. Lease writes are linearizable compare-and-swap on resourceVersion (the apiserver's
      optimistic concurrency); a write stamps renew_time with `now` taken before it is
      sent, so the stamp is no later than the commit.
  A4. Identities are unique, and nobody deletes or hand-edits the Lease while in use
      (a deletion lets a healthy cloud create it at once, as with client-go's election).
Argument (clock_X(t) = t + o_X, so |o_H - o_C| <= S): a window of candidate H, granted by
a write stamped r = clock_H(t_s), ends at true time t_s + renew_deadline; H's later writes
are stamped later (one request at a time). The holder changes away from H only by (a) H's
own release, sent after H dropped its grant, or a free-lease acquire after it, or (b) a
takeover by C whose compare-and-swap read the lease with renew_time r (CAS: nothing was
written in between, and a request write keeps r) and decided at
clock_C(t_d) > r + duration + S, i.e.
t_d > t_s + duration + S + (o_H - o_C) >= t_s + duration > t_s + renew_deadline. C's window
opens at its acknowledgement, after its decision. So every holder change ends the previous
holder's window no later than the change commits, and a window opens only on an
acknowledged write made while holding: windows of different candidates are disjoint.
Liveness: a dead or metric-less cloud is replaced by a healthy edge once the edge's clock
passes renew_time + duration + S (plus one step of the edge's loop); the holder must step
more often than renew_deadline to stay writer without gaps.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

Role = Literal["cloud", "edge"]
ActionKind = Literal["acquire", "renew", "release", "request", "init", "wait", "none"]
ROLES: tuple[Role, ...] = ("cloud", "edge")


@dataclass(frozen=True)
class LeaseState:
    """The Lease as data. Times are seconds since the epoch in the writer's clock;
    `resource_version` is the version read ("" for a lease not yet created)."""

    holder: str
    acquire_time: float
    renew_time: float
    duration_seconds: float
    transitions: int
    resource_version: str
    preferred_holder: str = ""
    holder_role: str = ""

    def takeover_time(self, max_clock_skew_seconds: float) -> float:
        """The first instant (in the reader's clock) after which others may take it over."""
        return self.renew_time + self.duration_seconds + max_clock_skew_seconds

    def expired(self, now: float, max_clock_skew_seconds: float) -> bool:
        return now > self.takeover_time(max_clock_skew_seconds)


@dataclass(frozen=True)
class Candidate:
    identity: str
    role: Role
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    max_clock_skew_seconds: float = 2.0

    def __post_init__(self) -> None:
        problem = _candidate_problem(self)
        if problem:
            raise ValueError(f"candidate {self.identity!r}: {problem}")


def _candidate_problem(me: Candidate) -> str:
    numbers = (me.lease_duration_seconds, me.renew_deadline_seconds, me.max_clock_skew_seconds)
    if not me.identity:
        return "identity must not be empty"
    if me.role not in ROLES:
        return f"role must be one of {ROLES}, not {me.role!r}"
    if not all(math.isfinite(x) for x in numbers):
        return "durations must be finite"
    if me.renew_deadline_seconds <= 0 or me.max_clock_skew_seconds < 0:
        return "renew deadline must be positive and clock skew not negative"
    if me.renew_deadline_seconds + 2 * me.max_clock_skew_seconds >= me.lease_duration_seconds:
        return ("renew_deadline + 2 * max_clock_skew must be below lease_duration "
                f"({me.renew_deadline_seconds} + 2 * {me.max_clock_skew_seconds} >= "
                f"{me.lease_duration_seconds})")
    return ""


@dataclass(frozen=True)
class Action:
    """What to do: `lease` is the state to write (compare-and-swap on its
    resource_version; "" creates), None for "wait" and "none"."""

    kind: ActionKind
    reason: str
    lease: LeaseState | None = None

    @property
    def writes(self) -> bool:
        return self.lease is not None


def next_action(me: Candidate, lease: LeaseState | None, now: float, healthy: bool) -> Action:
    """One decision for `me`, from the lease as read and `now` in my clock. `healthy`: I have
    valid metrics for the target (cloud: from the cloud; edge: local)."""
    if lease is None:
        return _missing(me, now, healthy)
    if lease.holder == me.identity:
        return _as_holder(me, lease, now, healthy)
    if not healthy:
        return Action("none", "no valid metrics: not contending")
    if me.role == "cloud":
        return _cloud_contender(me, lease, now)
    return _edge_contender(me, lease, now)


def may_write(me: Candidate, lease: LeaseState | None, now: float) -> bool:
    """True only if `lease` (my last acknowledged acquire/renew) names me and my renew
    deadline has not passed in my clock."""
    return (lease is not None and lease.holder == me.identity
            and now < lease.renew_time + me.renew_deadline_seconds)


def grant_after_read(me: Candidate, granted: LeaseState | None,
                     read: LeaseState | None) -> LeaseState | None:
    """A read never grants; one showing the lease gone or held by another revokes."""
    if granted is None or read is None or read.holder != me.identity:
        return None
    return granted


def grant_after_send(action: Action, granted: LeaseState | None) -> LeaseState | None:
    """Stop writing before a release is sent: its response may be lost."""
    return None if action.kind == "release" else granted


def grant_after_ack(action: Action, written: LeaseState,
                    granted: LeaseState | None) -> LeaseState | None:
    """An acknowledged acquire or renew grants a window stamped by its renew_time."""
    return written if action.kind in ("acquire", "renew") else granted


def _missing(me: Candidate, now: float, healthy: bool) -> Action:
    if not healthy:
        return Action("none", "no lease and no valid metrics")
    if me.role == "cloud":
        return Action("acquire", "no lease: create it holding it", _fresh(me, now, 0, ""))
    free = LeaseState("", now, now, me.lease_duration_seconds, 0, "")
    return Action("init", "no lease: create it free, starting the expiry clock", free)


def _as_holder(me: Candidate, lease: LeaseState, now: float, healthy: bool) -> Action:
    released = replace(lease, holder="", holder_role="")
    if not healthy:
        return Action("release", "holder without valid metrics: hand the lease back", released)
    if me.role == "edge" and lease.preferred_holder not in ("", me.identity):
        return Action("release", f"handback requested by {lease.preferred_holder}", released)
    renewed = replace(lease, renew_time=now, duration_seconds=me.lease_duration_seconds,
                      holder_role=me.role)
    return Action("renew", "holder with valid metrics", renewed)


def _cloud_contender(me: Candidate, lease: LeaseState, now: float) -> Action:
    if lease.holder == "":
        return Action("acquire", "lease free", _taken(me, lease, now))
    if lease.expired(now, me.max_clock_skew_seconds):
        return Action("acquire", f"lease of {lease.holder} expired", _taken(me, lease, now))
    if lease.holder_role == "edge" and lease.preferred_holder == "":
        requested = replace(lease, preferred_holder=me.identity)
        return Action("request", f"ask edge holder {lease.holder} to hand back", requested)
    return Action("wait", f"held by {lease.holder} until "
                          f"{lease.takeover_time(me.max_clock_skew_seconds):.3f}")


def _edge_contender(me: Candidate, lease: LeaseState, now: float) -> Action:
    if lease.expired(now, me.max_clock_skew_seconds):
        return Action("acquire", f"lease of {lease.holder or 'nobody'} expired",
                      _taken(me, lease, now))
    return Action("wait", f"{lease.holder or 'free'} lease not expired before "
                          f"{lease.takeover_time(me.max_clock_skew_seconds):.3f}")


def _taken(me: Candidate, lease: LeaseState, now: float) -> LeaseState:
    return _fresh(me, now, lease.transitions + 1, lease.resource_version)


def _fresh(me: Candidate, now: float, transitions: int, resource_version: str) -> LeaseState:
    return LeaseState(me.identity, now, now, me.lease_duration_seconds, transitions,
                      resource_version, preferred_holder="", holder_role=me.role)
