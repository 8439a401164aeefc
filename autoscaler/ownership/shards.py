"""Which daemon replica reconciles which autoscaler: shards owned through Leases, pure decisions.

Nothing here does I/O or reads a clock (`autoscaler.ownership.shard_leases` does both).

Shards
------
An autoscaler belongs to shard `shard_of(target key)` (sha256 of "namespace/Kind/name" of its
scale target, modulo SHARD_COUNT). The *target*, not the autoscaler: two autoscalers of one
target (upstream reports them as ambiguous and scales neither) always land in the same shard,
so the replica that owns it sees both. SHARD_COUNT is fixed: every replica of every version
must map a target to the same shard, or two replicas could own one autoscaler through two
different shard Leases. Example: with 32 shards and 3 replicas, shards split 11/11/10.

Each shard has a coordination.k8s.io Lease (`shard_lease_name`) with the writer-Lease rules of
`autoscaler.ownership.rules` (role "cloud", always healthy): a replica acquires a free or
expired shard lease, renews its own, releases one it should hand over; it reconciles and
writes for a shard only while `rules.may_write` holds for its last acknowledged acquire or
renew. The safety argument of `rules` (never two writers: disjoint writer windows, under its
clock-skew and compare-and-swap assumptions) applies to each shard Lease unchanged.

Members and assignment
----------------------
Each replica also renews a member Lease (`member_lease_name`): the members are the holders of
live member leases (`live_members`), plus the replica itself. `assign` maps every shard to one
member, deterministically from the set of members alone, so replicas that see the same
members agree; a replica contends only for the shards assigned to it and hands back (releases)
the shards it holds that are assigned to someone else (`shard_action`). Membership decides
only *who should* hold a shard, never who may write: two replicas that disagree about the
members (one has not yet seen a newcomer) can only make a shard wait or move twice; the shard
Lease's compare-and-swap still admits one holder at a time.

Rebalancing: a replica that joins is seen at the others' next step; they release its shards
and it acquires them (free leases) at its next step: within two steps. A replica that dies
stops renewing; its member lease is not live after `renew + duration + skew`, when its shard
leases (renewed in the same step) are expired too, and the assignees take them over at their
next step: within lease duration + skew + one step.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import replace

from autoscaler.ownership.rules import Action, Candidate, LeaseState, next_action

SHARD_COUNT = 32
KIND_LABEL = "edgeautoscaler.io/lease-kind"
SHARD_KIND = "shard"
MEMBER_KIND = "member"
# On member Leases: the shard count the replica hashes with. A live member with another
# count means two versions hash targets differently (two shard Leases could then cover one
# autoscaler): every replica that sees it holds no shard until it is gone.
COUNT_ANNOTATION = "edgeautoscaler.io/shard-count"
_SHARD_PREFIX = "eas-shard-"
MEMBER_PREFIX = "eas-member-"


def _digest(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")


def shard_of(target_key: str, shard_count: int = SHARD_COUNT) -> int:
    """The shard of a scale target ("namespace/Kind/name"), stable across processes and
    versions (sha256, not Python's salted `hash`)."""
    return _digest(target_key) % shard_count


def shard_lease_name(shard: int, shard_count: int = SHARD_COUNT) -> str:
    """`eas-shard-07-of-32`: the count is in the name, so replicas built with different
    counts never share a lease (they must not run together: see the module docstring)."""
    return f"{_SHARD_PREFIX}{shard:02d}-of-{shard_count}"


def shard_from_lease_name(name: str, shard_count: int = SHARD_COUNT) -> int | None:
    """The inverse of `shard_lease_name`; None for any other name."""
    prefix, suffix = _SHARD_PREFIX, f"-of-{shard_count}"
    if not (name.startswith(prefix) and name.endswith(suffix)):
        return None
    digits = name[len(prefix):-len(suffix)]
    if not (digits.isascii() and digits.isdigit()):  # "0²" is a digit to isdigit()
        return None
    shard = int(digits)
    return shard if shard < shard_count and name == shard_lease_name(shard, shard_count) \
        else None


def member_lease_name(identity: str) -> str:
    return f"{MEMBER_PREFIX}{hashlib.sha256(identity.encode()).hexdigest()[:16]}"


def live_members(me: str, members: Iterable[LeaseState], now: float,
                 max_clock_skew_seconds: float) -> tuple[str, ...]:
    """The holders of member leases not expired in my clock, and me, sorted. A released
    member lease (holder "": a replica that stopped cleanly) names nobody."""
    live = {lease.holder for lease in members
            if lease.holder and not lease.expired(now, max_clock_skew_seconds)}
    return tuple(sorted(live | {me}))


def count_conflicts(me: str, counts: Mapping[str, str], shard_count: int) -> tuple[str, ...]:
    """The live members (holder -> their COUNT_ANNOTATION, "" when absent) that hash with
    another shard count than mine. An absent annotation is a version from before the
    annotation, which hashed with the same 32: no conflict."""
    return tuple(sorted(f"{member} ({count} shards)" for member, count in counts.items()
                        if member != me and count and count != str(shard_count)))


def assign(members: Iterable[str], shard_count: int = SHARD_COUNT) -> dict[int, str]:
    """Shard -> member: rendezvous (highest random weight) hashing with capacities: every
    member gets floor(shards / members) shards and the first (shards mod members) members to
    fill up one more, so the split is as even as it can be (no member more than one shard
    above another) and depends only on the set of members.

    Example: members {a, b} and 32 shards: each gets 16; shard 0 goes to whichever of
    a, b ranks higher for it (sha256 of "0/a" vs "0/b"), and so on until one is full, after
    which the rest go to the other. When c joins, the shares drop to 11/11/10: c gets 11, and
    the capacities reshuffle a few more between a and b (shard 25 moves from b to a); the
    rankings do not change, so most shards stay put (measured over random joins of 2..8
    members: 1.06x the minimum movement at 2, about 2x at 8, never more than half)."""
    names = sorted(set(members))
    if not names:
        return {}
    base, extra = divmod(shard_count, len(names))
    load = dict.fromkeys(names, 0)
    above = 0  # members that took base + 1 shards: at most `extra` of them
    owners: dict[int, str] = {}
    for shard in range(shard_count):
        ranked = sorted(names, key=lambda name: (-_digest(f"{shard}/{name}"), name))
        owner = next(name for name in ranked
                     if load[name] < base or (load[name] == base and above < extra))
        above += load[owner] == base
        load[owner] += 1
        owners[shard] = owner
    return owners


def shard_action(me: Candidate, lease: LeaseState | None, assignee: str, now: float
                 ) -> Action:
    """What to do with one shard's Lease (as read), given who it is assigned to. My own
    shard: the writer rules of a healthy cloud candidate (create, acquire when free or
    expired, renew). A shard I hold that is someone else's: release it (that replica then
    acquires it free at its next step). Anything else: leave it alone."""
    mine = assignee == me.identity
    who = assignee or "nobody"
    if lease is not None and lease.holder == me.identity and not mine:
        released = replace(lease, holder="", holder_role="")
        return Action("release", f"assigned to {who}: hand it over", released)
    if not mine:
        return Action("none", f"assigned to {who}")
    return next_action(me, lease, now, healthy=True)


def member_action(me: Candidate, lease: LeaseState | None, now: float) -> Action:
    """My member lease: create it, renew it (it is never anyone else's: the name is a
    hash of my identity). A lease held by someone else under my name (a hash collision,
    or a second replica started with my identity) is left alone: `Candidate` identities
    must be unique (assumption A4 of `rules`)."""
    if lease is not None and lease.holder not in ("", me.identity):
        return Action("wait", f"member lease held by {lease.holder}: identities must be "
                              "unique")
    return next_action(me, lease, now, healthy=True)


def owners_by_shard(leases: Mapping[int, LeaseState], now: float,
                    max_clock_skew_seconds: float) -> dict[int, str]:
    """Shard -> its holder per the leases as read (for display: `autoscaler get`); a free
    or expired lease has no owner."""
    return {shard: lease.holder for shard, lease in leases.items()
            if lease.holder and not lease.expired(now, max_clock_skew_seconds)}
