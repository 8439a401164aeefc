"""`ShardedSpecs` (autoscaler/runtime/wiring.py): the loop sees only the held shards'
autoscalers; the others' selectors still reach the AmbiguousSelector index; an autoscaler
whose shard was held anew (even between two passes that both held it) is reloaded from
its store instead of continuing from what this replica remembered."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from algorithms.state import ControllerState
from autoscaler.ownership.shard_leases import ShardView
from autoscaler.ownership.shards import shard_of
from autoscaler.runtime.wiring import ShardedSpecs, shard_key
from autoscaler.specs.model import ManagedSpec
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing.fakes import (
    FakeAnnotations,
    FakeEvents,
    FakePods,
    FakeScale,
    FakeStatuses,
    FakeWorld,
)

T0 = 1_800_000_000.0
SHARDS = 4


def cr(name: str) -> ManagedSpec:
    return from_custom_resource({
        "apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
        "metadata": {"name": name, "namespace": "ns", "generation": 1},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": name},
                 "minReplicas": 1, "maxReplicas": 4,
                 "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                     "type": "Utilization", "averageUtilization": 50}}}]}})


SPECS = [cr(f"app-{i}") for i in range(12)]


def shard(managed: ManagedSpec) -> int:
    return shard_of(shard_key(managed), SHARDS)


@dataclass
class Ownership:
    """The coordinator as data: which shards are held, and their epochs."""

    held: set[int]
    epochs: dict[int, int] = field(default_factory=dict)
    shard_count: int = SHARDS

    @property
    def view(self) -> ShardView:
        return ShardView(frozenset(self.held), ("me",), frozenset(self.held))

    def holds_shard(self, shard: int, now: float) -> bool:
        return shard in self.held

    def epoch(self, shard: int) -> int:
        return self.epochs.get(shard, 1)


def sharded(ownership: Ownership, selectors: dict[str, str] | None = None) -> ShardedSpecs:
    reconciler = FakeWorld(FakeStatuses(), FakeAnnotations(), FakeEvents()).reconciler(
        FakeScale(1, "app=x"), FakePods())

    def selector_of(namespace: str, ref: Any) -> str | None:
        return (selectors or {}).get(ref.name)
    return ShardedSpecs(lambda: list(SPECS), ownership, lambda: T0, reconciler, selector_of)


def test_split_by_held_shards() -> None:
    held = {shard(SPECS[0]), shard(SPECS[1])}
    specs = sharded(Ownership(held))
    mine = specs()
    assert mine and all(shard(m) in held for m in mine)
    assert {m.key for m in mine} | {m.key for m in specs.others} == {m.key for m in SPECS}
    assert not {m.key for m in mine} & {m.key for m in specs.others}


def test_other_replicas_selectors_feed_the_ambiguous_selector_index() -> None:
    ownership = Ownership({shard(SPECS[0])})
    specs = sharded(ownership, {m.name: "app=shared" for m in SPECS})
    specs()
    specs.peek_selectors()
    other = specs.others[0]
    found = specs.reconciler.selectors.candidates("someone", "ns", [{"app": "shared"}])
    assert (f"ns/{other.name}", "app=shared") in found
    # Deleted from the cluster: forgotten at the next pass.
    specs.collect = lambda: [m for m in SPECS if m.key != other.key]
    specs()
    specs.peek_selectors()
    found = specs.reconciler.selectors.candidates("someone", "ns", [{"app": "shared"}])
    assert (f"ns/{other.name}", "app=shared") not in found


@pytest.mark.parametrize(("bump", "kept"), [
    pytest.param(False, True, id="same-epoch-keeps-memory"),
    pytest.param(True, False, id="held-anew-reloads-from-the-store"),
])
def test_a_shard_held_anew_reloads_its_autoscalers(bump: bool, kept: bool) -> None:
    first = shard(SPECS[0])
    ownership = Ownership({first})
    specs = sharded(ownership)
    mine = specs()
    for managed in mine:
        specs.reconciler.remember(managed.key)
    if bump:  # lapsed and re-acquired between two passes: the loop saw it held both times
        ownership.epochs[first] = 2
    again = specs()
    assert [m.key for m in again] == [m.key for m in mine]
    assert all((m.key in specs.reconciler.memory) is kept for m in again)


def test_flush_saves_the_unsaved_state_of_the_released_shard_only() -> None:
    """Before a release (`ShardCoordinator.before_release`), what this replica remembers of
    the shard's autoscalers and the store does not hold yet is saved; nothing else."""
    first = shard(SPECS[0])
    ownership = Ownership({first, *(shard(m) for m in SPECS[1:])})
    specs = sharded(ownership)
    mine = specs()
    statuses = specs.reconciler.stores[SPECS[0].source]
    written: list[dict[str, Any]] = statuses.writer.written  # type: ignore[attr-defined]
    for managed in mine:
        specs.reconciler.remember(managed.key).state = ControllerState(observed_at=T0)
    saved = next(m for m in mine if shard(m) != first)
    specs.reconciler.remember(saved.key).saved = specs.reconciler.memory[saved.key].state
    specs.flush(first)
    in_first = [m for m in mine if shard(m) == first]
    assert len(written) == len(in_first)
    assert all(specs.reconciler.memory[m.key].saved is not None for m in in_first)
    specs.flush(first)  # saved now: nothing more to write
    assert len(written) == len(in_first)
