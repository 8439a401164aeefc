"""Shards owned through Leases, the pure side (`autoscaler.ownership.shards`): the shard of a
target, the lease names, the assignment (balance, determinism, what moves when a member
joins), live members, the per-shard decisions, and a model check of the whole protocol
(`tests/shard_model.py`): replicas with skewed clocks stepping over a linearizable
compare-and-swap Lease store, killed, restarted, joined and stopped, with failed, lost and
late writes. Never two writers for a shard at one true instant; once the membership is
stable, every shard is held by its assignee.

The seeded model runs print their base seed (`SHARD_SEED=<n>` replays them, default the
run's `DIFF_SEED` shown in the report header; `SHARD_MODEL_RUNS` sets how many)."""

from __future__ import annotations

import hashlib
import math
import os
import random
import string
from collections import Counter

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from shard_model import RD, T0, D, S, TwoWritersError, World, simulate

from autoscaler.ownership.rules import Action, Candidate, LeaseState
from autoscaler.ownership.shards import (
    SHARD_COUNT,
    assign,
    live_members,
    member_action,
    member_lease_name,
    owners_by_shard,
    shard_action,
    shard_from_lease_name,
    shard_lease_name,
    shard_of,
)

ME = Candidate("a", "cloud", D, RD, S)
IDENTITY = st.text(string.ascii_lowercase + string.digits + "-.", min_size=1, max_size=12)


def lease(holder: str, renew: float = T0, rv: str = "7", transitions: int = 1) -> LeaseState:
    return LeaseState(holder, T0 - 100, renew, D, transitions, rv,
                      holder_role="cloud" if holder else "")


# shard_of: sha256 of the target key, stable across processes and versions


TARGETS = [
    pytest.param("default/Deployment/qwen", 17, 3, id="deployment"),
    pytest.param("llm/StatefulSet/vllm-0", 4, 6, id="statefulset"),
    pytest.param("ns-1/Deployment/app-7", 16, 4, id="other-namespace"),
    pytest.param("", 20, 1, id="empty-key"),
]


@pytest.mark.parametrize(("key", "of_32", "of_7"), TARGETS)
def test_shard_of_is_pinned(key: str, of_32: int, of_7: int) -> None:
    """Computed once: a change here re-shards every cluster (replicas of two versions would
    own one autoscaler through two shard Leases)."""
    assert shard_of(key) == of_32 and shard_of(key, 7) == of_7
    digest = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    assert (digest % 32, digest % 7) == (of_32, of_7)


def test_shard_of_spreads_targets_evenly() -> None:
    """10,000 targets over 32 shards: chi-square (31 degrees of freedom) below 61.1, its
    0.1 % critical value (this fixed set gives 29.0); no shard below half or above 1.5 times
    its share."""
    counts = Counter(shard_of(f"ns-{i % 10}/Deployment/app-{i}") for i in range(10_000))
    expected = 10_000 / SHARD_COUNT
    chi_square = sum((counts[s] - expected) ** 2 / expected for s in range(SHARD_COUNT))
    assert set(counts) == set(range(SHARD_COUNT))
    assert chi_square < 61.1, chi_square
    assert expected / 2 < min(counts.values()) <= max(counts.values()) < expected * 1.5


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60), st.integers(1, 1000))
def test_shard_of_is_in_range(key: str, count: int) -> None:
    assert 0 <= shard_of(key, count) < count
    assert shard_of(key, count) == shard_of(key, count)


# Lease names


NAMES = [
    pytest.param(0, 32, "eas-shard-00-of-32", id="first"),
    pytest.param(31, 32, "eas-shard-31-of-32", id="last"),
    pytest.param(7, 8, "eas-shard-07-of-8", id="other-count"),
    pytest.param(123, 1000, "eas-shard-123-of-1000", id="three-digits"),
    pytest.param(0, 1, "eas-shard-00-of-1", id="one-shard"),
]


@pytest.mark.parametrize(("shard", "count", "name"), NAMES)
def test_shard_lease_name(shard: int, count: int, name: str) -> None:
    assert shard_lease_name(shard, count) == name
    assert shard_from_lease_name(name, count) == shard


MALFORMED = [
    pytest.param("eas-shard-7-of-32", id="not-zero-padded"),
    pytest.param("eas-shard-007-of-32", id="padded-too-much"),
    pytest.param("eas-shard-32-of-32", id="out-of-range"),
    pytest.param("eas-shard-99-of-32", id="far-out-of-range"),
    pytest.param("eas-shard--1-of-32", id="negative"),
    pytest.param("eas-shard-+7-of-32", id="plus-sign"),
    pytest.param("eas-shard- 7-of-32", id="space"),
    pytest.param("eas-shard-07-of-16", id="another-count"),
    pytest.param("eas-shard-07-of-320", id="count-with-a-suffix"),
    pytest.param("eas-shard-07-of-32x", id="trailing"),
    pytest.param("xeas-shard-07-of-32", id="leading"),
    pytest.param("EAS-SHARD-07-OF-32", id="upper-case"),
    pytest.param("eas-shard--of-32", id="no-digits"),
    pytest.param("eas-shard-of-32", id="overlapping-affixes"),
    pytest.param("eas-shard-\u0660\u0667-of-32", id="arabic-indic-digits"),
    pytest.param("eas-shard-0x1f-of-32", id="hex"),
    pytest.param(member_lease_name("a"), id="member-lease"),
    pytest.param("", id="empty"),
    pytest.param("eas-shard-0\u00b2-of-32", id="superscript-digit"),
]


@pytest.mark.parametrize("name", MALFORMED)
def test_shard_from_malformed_lease_name(name: str) -> None:
    assert shard_from_lease_name(name) is None


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 2000).flatmap(lambda n: st.tuples(st.just(n), st.integers(0, n - 1))),
       st.integers(1, 2000))
def test_lease_names_round_trip_and_carry_the_count(drawn: tuple[int, int], other: int
                                                    ) -> None:
    count, shard = drawn
    name = shard_lease_name(shard, count)
    assert shard_from_lease_name(name, count) == shard
    if other != count:
        assert shard_from_lease_name(name, other) is None


@settings(max_examples=300, deadline=None)
@given(st.text(string.ascii_lowercase + string.digits + "-.", max_size=30)
       | st.from_regex(r"\Aeas-shard-[0-9a-z+-]{0,5}-of-[0-9]{1,3}\Z"))
def test_any_lease_name_parses_to_none_or_its_shard(name: str) -> None:
    """Names a Lease can have (DNS-1123 characters): None, or the shard that names it."""
    shard = shard_from_lease_name(name)
    assert shard is None or shard_lease_name(shard) == name


def test_member_lease_names_are_per_identity() -> None:
    assert member_lease_name("a") == member_lease_name("a") != member_lease_name("b")
    assert member_lease_name("a").startswith("eas-member-")
    assert len(member_lease_name("x" * 300)) == len("eas-member-") + 16  # a valid name


# assign: capacity-bounded rendezvous hashing


ASSIGNMENTS = [
    pytest.param(["a", "b"], 32, {"a": 16, "b": 16}, id="two-split-16-16"),
    pytest.param(["a", "b", "c"], 32, {"a": 11, "b": 11, "c": 10}, id="docstring-11-11-10"),
    pytest.param(["a"], 32, {"a": 32}, id="alone"),
    pytest.param(["a", "b", "c"], 2, {"a": 1, "c": 1}, id="fewer-shards-than-members"),
    pytest.param([], 32, {}, id="nobody"),
]


@pytest.mark.parametrize(("members", "count", "loads"), ASSIGNMENTS)
def test_assign_examples(members: list[str], count: int, loads: dict[str, int]) -> None:
    owners = assign(members, count)
    assert Counter(owners.values()) == loads
    assert sorted(owners) == (list(range(count)) if members else [])


@settings(max_examples=150, deadline=None)
@given(st.lists(IDENTITY, min_size=1, max_size=40, unique=True), st.integers(1, 64),
       st.randoms(use_true_random=False))
def test_assign_is_total_balanced_and_depends_only_on_the_set(
        members: list[str], count: int, rng: random.Random) -> None:
    owners = assign(members, count)
    assert sorted(owners) == list(range(count))
    assert set(owners.values()) <= set(members)
    loads = [sum(1 for who in owners.values() if who == m) for m in members]
    assert max(loads) - min(loads) <= 1
    assert sorted(loads) == sorted([count // len(members) + 1] * (count % len(members))
                                   + [count // len(members)] * (len(members) - count
                                                                 % len(members)))
    shuffled = members + rng.sample(members, rng.randint(0, len(members)))
    rng.shuffle(shuffled)
    assert assign(shuffled, count) == owners  # order and duplicates do not matter
    assert assign(tuple(members), count) == assign(iter(members), count) == owners


@settings(max_examples=150, deadline=None)
@given(st.lists(IDENTITY, min_size=1, max_size=40, unique=True), st.integers(1, 64),
       IDENTITY)
def test_a_joining_member_takes_its_fair_share(members: list[str], count: int,
                                               newcomer: str) -> None:
    """What holds for any members: the newcomer gets floor or ceil of count / (n + 1)
    shards, each of which moved; with one member before, only those move. Moves between
    the old members happen too (see the next two tests), so no tighter bound is asserted
    for any n and count: measured over 15,000 random (n <= 40, count <= 64) joins, up to 13
    shards moved between old members (n = 29, count = 62: 15 moved, 2 of them to the
    newcomer), and up to 7 of 9 shards when count is about n."""
    assume(newcomer not in members)
    before, after = assign(members, count), assign([*members, newcomer], count)
    moved = [s for s in range(count) if before[s] != after[s]]
    taken = [s for s in range(count) if after[s] == newcomer]
    assert len(taken) in (count // (len(members) + 1), math.ceil(count / (len(members) + 1)))
    assert set(taken) <= set(moved)
    if len(members) == 1:
        assert moved == taken


def test_a_join_can_move_a_shard_between_old_members() -> None:
    """The docstring's example: c joins a and b. c takes 10 shards, and shard 25 moves from b
    to a (filling in shard order, a has room for it before its capacity drops): every moved
    shard does NOT go to the newcomer with this algorithm."""
    before, after = assign(["a", "b"]), assign(["a", "b", "c"])
    moved = {s: (before[s], after[s]) for s in range(SHARD_COUNT) if before[s] != after[s]}
    assert len(moved) == 11
    assert {s: m for s, m in moved.items() if m[1] != "c"} == {25: ("b", "a")}


def test_most_shards_stay_put_when_a_member_joins() -> None:
    """The docstring's claim for the real shard count, as measured over a fixed sample (40
    random member sets per size n = 1..12, seed 20240): a join moves at most half the shards
    (n = 1: exactly half; n >= 2: at most 14 here, 15 over 4,000 sets per size), so most stay
    put. But not the minimum: on average 1.06 times the newcomer's share at n = 2, rising to
    about 2 (2.31 at n = 10) because of moves between old members; asserted <= 2.5."""
    rng = random.Random(20240)
    for n in range(1, 13):
        total = 0
        for _ in range(40):
            members = [f"autoscaler-{rng.getrandbits(40):010x}" for _ in range(n)]
            newcomer = f"autoscaler-{rng.getrandbits(40):010x}"
            before, after = assign(members), assign([*members, newcomer])
            moved = sum(1 for s in range(SHARD_COUNT) if before[s] != after[s])
            assert moved <= SHARD_COUNT // 2, (n, members, newcomer, moved)
            total += moved
        share = SHARD_COUNT / (n + 1)
        assert total / 40 <= 2.5 * share, (n, total / 40, share)


@settings(max_examples=100, deadline=None)
@given(st.lists(IDENTITY, min_size=2, max_size=40, unique=True), st.integers(1, 64),
       st.data())
def test_a_leaving_member_hands_every_shard_over(members: list[str], count: int,
                                                 data: st.DataObject) -> None:
    gone = data.draw(st.sampled_from(members))
    before = assign(members, count)
    after = assign([m for m in members if m != gone], count)
    assert gone not in after.values()
    assert all(after[s] != before[s] for s in range(count) if before[s] == gone)


# live_members


def member(holder: str, renew: float = T0) -> LeaseState:
    return LeaseState(holder, T0 - 60, renew, D, 0, "3", holder_role="cloud" if holder else "")


LIVE = [
    pytest.param([member("b")], T0 + 1, ("a", "b"), id="live-member"),
    pytest.param([member("b")], T0 + D + S, ("a", "b"), id="at-the-takeover-instant-live"),
    pytest.param([member("b")], T0 + D + S + 0.001, ("a",), id="just-after-expired"),
    pytest.param([member("b")], T0 + D, ("a", "b"), id="past-duration-within-skew"),
    pytest.param([member("")], T0 + 1, ("a",), id="released-names-nobody"),
    pytest.param([], T0, ("a",), id="me-alone"),
    pytest.param([member("a", T0 - 1000)], T0, ("a",), id="me-even-expired"),
    pytest.param([member("c"), member("b"), member("c", T0 - 100)], T0 + 1, ("a", "b", "c"),
                 id="sorted-and-deduplicated"),
    pytest.param([member("b", T0 + 30)], T0, ("a", "b"), id="renewed-in-a-clock-ahead"),
]


@pytest.mark.parametrize(("members", "now", "live"), LIVE)
def test_live_members(members: list[LeaseState], now: float, live: tuple[str, ...]) -> None:
    assert live_members("a", members, now, S) == live


def test_owners_by_shard_shows_live_holders_only() -> None:
    leases = {0: lease("a"), 1: lease(""), 2: lease("b", T0 - D - S - 1), 3: lease("b")}
    assert owners_by_shard(leases, T0, S) == {0: "a", 3: "b"}


# shard_action and member_action


SHARD_ACTIONS = [
    pytest.param(None, "a", T0, "acquire", "a", T0, "", id="assigned-missing-creates"),
    pytest.param(lease(""), "a", T0 + 1, "acquire", "a", T0 + 1, "7",
                 id="assigned-free-acquires"),
    pytest.param(lease("b"), "a", T0 + 1, "wait", None, None, None,
                 id="assigned-held-by-live-other-waits"),
    pytest.param(lease("b"), "a", T0 + D + S, "wait", None, None, None,
                 id="assigned-held-by-other-waits-through-the-skew-margin"),
    pytest.param(lease("b"), "a", T0 + D + S + 0.001, "acquire", "a", T0 + D + S + 0.001,
                 "7", id="assigned-held-by-expired-other-takes-over"),
    pytest.param(lease("a"), "a", T0 + 2, "renew", "a", T0 + 2, "7", id="mine-renews"),
    pytest.param(lease("a"), "a", T0 + 60, "renew", "a", T0 + 60, "7",
                 id="mine-expired-renews-cas-guarded"),
    pytest.param(lease("a"), "b", T0 + 2, "release", "", T0, "7",
                 id="held-assigned-to-other-releases-keeping-renew-time"),
    pytest.param(lease("a"), "b", T0 + 60, "release", "", T0, "7",
                 id="held-expired-assigned-to-other-releases"),
    pytest.param(None, "b", T0, "none", None, None, None, id="not-assigned-missing"),
    pytest.param(lease(""), "b", T0, "none", None, None, None, id="not-assigned-free"),
    pytest.param(lease("c"), "b", T0, "none", None, None, None, id="not-assigned-held"),
    pytest.param(lease("b"), "b", T0 + 60, "none", None, None, None,
                 id="not-assigned-expired-left-to-its-assignee"),
]


@pytest.mark.parametrize(("read", "assignee", "now", "kind", "holder", "renew", "rv"),
                         SHARD_ACTIONS)
def test_shard_action(read: LeaseState | None, assignee: str, now: float, kind: str,
                      holder: str | None, renew: float | None, rv: str | None) -> None:
    action = shard_action(ME, read, assignee, now)
    assert action.kind == kind, action
    written = action.lease
    if holder is None:
        assert written is None
        return
    assert written is not None
    assert (written.holder, written.renew_time, written.resource_version) == (holder, renew, rv)
    assert written.holder_role == ("cloud" if holder else "")
    if read is not None and kind == "acquire" and read.holder != "a":
        assert written.transitions == read.transitions + 1


MEMBER_ACTIONS = [
    pytest.param(None, "acquire", "a", id="missing-creates"),
    pytest.param(member("a"), "renew", "a", id="mine-renews"),
    pytest.param(member(""), "acquire", "a", id="released-reacquires"),
    pytest.param(member("a", T0 - 1000), "renew", "a", id="mine-expired-renews"),
    pytest.param(member("z"), "wait", None, id="held-by-another-identity-left-alone"),
    pytest.param(member("z", T0 - 1000), "wait", None, id="even-expired"),
]


@pytest.mark.parametrize(("read", "kind", "holder"), MEMBER_ACTIONS)
def test_member_action(read: LeaseState | None, kind: str, holder: str | None) -> None:
    action: Action = member_action(ME, read, T0)
    assert action.kind == kind
    assert (action.lease.holder if action.lease is not None else None) == holder


# The model check (tests/shard_model.py)


BASE_SEED = int(os.environ.get("SHARD_SEED") or os.environ.get("DIFF_SEED")
                or random.SystemRandom().randrange(2**32))
MODEL_RUNS = int(os.environ.get("SHARD_MODEL_RUNS", "120"))


def scenario(seed: int) -> tuple[int, int, float, int]:
    """replicas (2..5), shard count, seconds of chaos, membership events."""
    rng = random.Random(seed ^ 0x5EED)
    return (rng.randint(2, 5), rng.choice((1, 3, 8, 32, 32)), rng.uniform(30.0, 150.0),
            rng.randint(0, 12))


def settled(world: World, seed: int) -> None:
    problems = world.settled_problems()
    assert not problems, (
        f"seed {seed} (replay: SHARD_SEED={seed} SHARD_MODEL_RUNS=1): not settled "
        f"{world.settle_seconds:.1f} s after the last disturbance: {problems[:6]}\n"
        + "\n".join(world.trace[-30:]))


def test_protocol_model_seeded_runs() -> None:
    """Never two writers (checked after every event and just before every grant's
    deadline); every shard with its assignee once quiet. Also checks the runs did exercise
    takeovers, hand-overs, clean stops and every kind of failed write."""
    print(f"shard model base seed {BASE_SEED} ({MODEL_RUNS} runs; replay with "
          f"SHARD_SEED={BASE_SEED})")
    seen: Counter[str] = Counter()
    events = 0
    for seed in range(BASE_SEED, BASE_SEED + MODEL_RUNS):
        try:
            world = simulate(seed, *scenario(seed))
        except TwoWritersError as exc:
            pytest.fail(f"replay: SHARD_SEED={seed} SHARD_MODEL_RUNS=1\n{exc}")
        settled(world, seed)
        events += world.handled
        for proc in world.procs:
            seen += proc.counts
    assert events >= 100 * MODEL_RUNS, events  # hundreds of events per run on average
    if MODEL_RUNS >= 30:
        wanted = {"acquire", "renew", "release", "takeover", "acquire conflict",
                  "renew error", "release_all ok"}
        assert wanted <= set(seen), seen


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(2, 5), st.sampled_from((1, 3, 8, 32)),
       st.floats(20.0, 150.0), st.integers(0, 12))
def test_protocol_model_hypothesis(seed: int, replicas: int, shard_count: int,
                                   chaos_seconds: float, membership_events: int) -> None:
    world = simulate(seed, replicas, shard_count, chaos_seconds, membership_events)
    settled(world, seed)


def test_the_model_check_catches_a_broken_release() -> None:
    """Not vacuous: keeping the grant while the release is sent (no `grant_after_send`)
    gives two writers (the assignee acquires the free lease while the releaser's window
    runs on) within these 20 fixed seeds."""
    def keep(action: Action, granted: LeaseState | None) -> LeaseState | None:
        return granted

    found = 0
    for seed in range(20):
        try:
            simulate(seed, *scenario(seed), send_rule=keep)
        except TwoWritersError:
            found += 1
    assert found >= 5, found


def test_the_liveness_check_is_not_vacuous() -> None:
    """The settle bound matters: checked 5 s after the last disturbance instead, some of
    these fixed seeds still have shards away from their assignee (a takeover waits for
    duration + skew)."""
    early = 0
    for seed in range(40):
        replicas, count, chaos, membership_events = scenario(seed)
        rng = random.Random(seed)
        world = World(rng, count, T0 + chaos)
        for _ in range(replicas):
            world.spawn(T0)
        for _ in range(membership_events):
            world.schedule(T0 + rng.uniform(0, chaos), rng.choice(("kill", "join", "stop")))
        world.run(world.chaos_until)
        world.run(max(world.quiet_after, world.chaos_until) + 5.0)
        early += bool(world.settled_problems())
    assert early > 0
