"""Pieces both processes assemble the same way: the state stores per spec source, the
writer gate over scale/state/Events, and the dry-run printer."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TextIO

from kubernetes import client

from algorithms.plan import Plan
from algorithms.state import ControllerState
from autoscaler.control.explain import targets
from autoscaler.control.reconcile import Reconciler
from autoscaler.control.record import DECISION_CONDITIONS, decision_key, spec_targets
from autoscaler.control.stores import LeaseStateStore, StateStore, StatusStore
from autoscaler.kube.lease_store import LeaseAnnotationStore
from autoscaler.kube.writer import StatusWriter
from autoscaler.ownership.gate import Gate, GatedStore, WriterGate, target_key
from autoscaler.ownership.shard_leases import ShardView
from autoscaler.ownership.shards import shard_of
from autoscaler.specs import sources
from autoscaler.specs.model import CRD, FILE, SEDNA, ManagedSpec


def state_stores(api_client: client.ApiClient, state_namespace: str, timeout: float
                 ) -> dict[str, StateStore]:
    """ElasticAutoscalers keep their state in their status; the others in a Lease."""
    status = StatusStore(StatusWriter(api_client, sources.GROUP, sources.VERSION,
                                      sources.PLURAL, sources.KIND, timeout))
    leases = LeaseStateStore(LeaseAnnotationStore(api_client, state_namespace, timeout))
    return {CRD: status, FILE: leases, SEDNA: leases}


def gated_stores(stores: Mapping[str, StateStore], gate: Gate,
                 now: Callable[[], float]) -> dict[str, StateStore]:
    return {source: GatedStore(store, gate, now) for source, store in stores.items()}


def target_of(specs: Callable[[], list[ManagedSpec]]) -> Callable[[str], str]:
    """Autoscaler key -> its writer-Lease target key ("" when unknown)."""
    def lookup(key: str) -> str:
        for managed in specs():
            if managed.key == key and managed.spec is not None:
                return target_key(managed.namespace, managed.spec.scale_target_ref)
        return ""
    return lookup


def step_leases(gate: WriterGate, reconciler: Reconciler, specs: list[ManagedSpec],
                now: float, healthy: Callable[[ManagedSpec], bool] | None = None) -> None:
    """Renew each target's Lease while this process can decide for it: by default, while
    its last pass computed a proposal from valid metrics (or nothing is known yet: first
    claim). Any failure (metrics unavailable, API errors, a crash) stops the renewal, so
    the other candidate takes over after expiry plus the skew bound. Each step goes to the
    reconciler's /metrics: Lease held, acquired or released, failed."""
    for managed in specs:
        if managed.spec is None:
            continue
        if healthy is None:
            memory = reconciler.memory.get(managed.key)
            ok = memory is None or memory.healthy is not False
        else:
            ok = healthy(managed)
        key = target_key(managed.namespace, managed.spec.scale_target_ref)
        kind = gate.step(key, now, ok)
        if reconciler.telemetry is not None:
            reconciler.telemetry.lease(managed.namespace, managed.name, kind,
                                       gate.may_write(key, now), gate.failures.get(key))


def shard_key(managed: ManagedSpec) -> str:
    """What decides an autoscaler's shard: its target ("namespace/Kind/name"), so that
    two autoscalers of one target share a shard; an invalid spec (no target known) goes
    by its own key."""
    if managed.spec is None:
        return managed.key
    return target_key(managed.namespace, managed.spec.scale_target_ref)


class ShardOwnership(Protocol):
    """What `ShardedSpecs` asks of the `ShardCoordinator`."""

    shard_count: int

    @property
    def view(self) -> ShardView: ...

    def holds_shard(self, shard: int, now: float) -> bool: ...

    def epoch(self, shard: int) -> int: ...


@dataclass
class ShardedSpecs:
    """The autoscalers of the shards this replica holds, for the loop; the others'
    selectors still go into the AmbiguousSelector index (from the watched targets: no
    request), so the check sees every autoscaler of the cluster as a single controller
    would. In `--scale-reads get` mode nothing is cached: only this replica's own
    selectors are known (the daemon warns at start)."""

    collect: Callable[[], list[ManagedSpec]]
    shards: ShardOwnership
    now: Callable[[], float]
    reconciler: Reconciler
    selector_of: Callable[[str, Any], str | None] | None = None  # TargetCache.selector
    others: list[ManagedSpec] = field(default_factory=list)
    mine: list[ManagedSpec] = field(default_factory=list)
    _peeked: set[str] = field(default_factory=set)
    _epochs: dict[int, int] = field(default_factory=dict)  # shard -> epoch last passed

    def __call__(self) -> list[ManagedSpec]:
        now = self.now()
        mine: list[ManagedSpec] = []
        others: list[ManagedSpec] = []
        sizes: dict[int, int] = {}
        epochs: dict[int, int] = {}
        for managed in self.collect():
            shard = shard_of(shard_key(managed), self.shards.shard_count)
            if self.shards.holds_shard(shard, now):
                epoch = epochs.setdefault(shard, self.shards.epoch(shard))
                if self._epochs.get(shard) != epoch:
                    # Held anew since its last pass here (even if the loop never saw it
                    # go): another replica may have written its state meanwhile, so
                    # reload it from the store, as after a restart.
                    self.reconciler.forget(managed.key)
                mine.append(managed)
                sizes[shard] = sizes.get(shard, 0) + 1
            else:
                others.append(managed)
        self._epochs = epochs
        self.others = others
        self.mine = mine
        telemetry = self.reconciler.telemetry
        if telemetry is not None:
            telemetry.shards(self.shards.view.owned, len(self.shards.view.members), sizes,
                             self.shards.shard_count)
        return mine

    def flush(self, shard: int) -> None:
        """Before `shard` is released: save the state of its autoscalers (`Reconciler.flush`)
        so the next holder continues their windows exactly."""
        for managed in list(self.mine):
            if shard_of(shard_key(managed), self.shards.shard_count) == shard:
                self.reconciler.flush(managed)

    def peek_selectors(self) -> None:
        """Register the other replicas' autoscalers' selectors (call after the loop
        forgot the autoscalers that left this replica, before the reconciles)."""
        seen: set[str] = set()
        for managed in self.others:
            if managed.spec is None or self.selector_of is None:
                continue
            selector = self.selector_of(managed.namespace, managed.spec.scale_target_ref)
            if selector is not None:
                self.reconciler.selectors.register(managed.key, managed.namespace, selector)
                seen.add(managed.key)
        for gone in self._peeked - seen:
            if gone not in self.reconciler.memory:
                self.reconciler.selectors.forget(gone)
        self._peeked = seen


DRY_RUN_HEADER = ("NAMESPACE", "NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                  "REPLICAS", "DECISION")


def dry_run_printer(out: TextIO, every_sync: bool = False
                    ) -> Callable[[ManagedSpec, Plan, ControllerState, bool], None]:
    """The dry-run autoscalers' decisions as a table: a header line first, then a line per
    autoscaler whenever its decision (decision_key: replicas, scale or not, why) differs
    from its last one, or every pass with `every_sync`. Columns are as wide as the widest
    value seen so far (the header with the first line), three spaces apart."""
    widths = [len(h) for h in DRY_RUN_HEADER]
    last: dict[str, tuple[object, ...]] = {}
    lock = threading.Lock()  # reconciles run on several workers

    def line(cells: tuple[str, ...]) -> str:
        for index, cell in enumerate(cells[:-1]):
            widths[index] = max(widths[index], len(cell))
        return "   ".join(cell.ljust(w) for cell, w in zip(cells, widths, strict=True)
                           ).rstrip()

    def show(managed: ManagedSpec, plan: Plan, state: ControllerState, dry_run: bool) -> None:
        if not dry_run or managed.spec is None:
            return
        key = decision_key(plan, state)
        spec = managed.spec
        reasons = {c.type: c.reason for c in state.status.conditions}
        why = (plan.reason if plan.rescale else "") or "; ".join(
            reasons[t] for t in DECISION_CONDITIONS if t in reasons)
        current = "?" if plan.current_replicas is None else str(plan.current_replicas)
        cells = (managed.namespace, managed.name, managed.reference,
                 targets(state.status, spec_targets(spec)), str(spec.min_replicas),
                 str(spec.max_replicas), f"{current}->{plan.target_replicas}",
                 f"{'would scale' if plan.rescale else 'no change'}: {why}")
        with lock:
            if not every_sync and last.get(managed.key) == key:
                return
            header = not last
            last[managed.key] = key
            text = line(cells)  # the first line widens the header's columns too
            if header:
                print(line(DRY_RUN_HEADER), file=out)
            print(text, file=out, flush=True)
    return show
