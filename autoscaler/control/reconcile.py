"""One pass for one autoscaler: observe -> decide -> act -> settle -> record.

Observe: GET the scale, the target's pods from the watch cache, each metric. Decide: the
pure `algorithms.decide` on the autoscaler's `ControllerState`. Act: announce the write
(write-ahead save), then PUT the scale, unless dry-run or another controller is the writer.
Settle: `algorithms.plan.settle` with the outcome. Record: Events, a log line, the state
(saved by its source's store when `must_save` says a future decision could depend on it).

Two kinds of dry run: `--dry-run` (a shadow daemon, e.g. from a laptop) writes nothing at
all; `spec.dryRun` on one autoscaler never touches its target but reports like a live one:
status (AbleToScale=True DryRun, desiredReplicas = the size it would set) and Events.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog

from algorithms.config import ControllerConfig
from algorithms.decide import decide
from algorithms.labels import SelectorError, parse_selector
from algorithms.observation import MetricUnavailable, Observation, ScaleObservation
from algorithms.plan import DryRun, Failed, NotAttempted, Outcome, Plan, Written, settle
from algorithms.plan import write_ahead as announce
from algorithms.pods import PodInfo
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState, resolve_pending, restore
from autoscaler.control.explain import MetricOrigin
from autoscaler.control.metric_labels import metric_failures
from autoscaler.control.metric_sources import PrometheusLike, ResourceMetrics, Scale, fetch
from autoscaler.control.record import Recorder, outcome_text
from autoscaler.control.selectors import SelectorIndex
from autoscaler.control.server import DaemonMetrics
from autoscaler.control.stores import StateStore
from autoscaler.errors import AutoscalerError, InputError, StandbyError
from autoscaler.kube.scale import ScaleRead
from autoscaler.specs.model import ManagedSpec

log = structlog.get_logger("autoscaler.reconcile")


class ScaleApi(Protocol):
    def get(self, namespace: str, ref: Any) -> ScaleRead: ...

    def update(self, namespace: str, ref: Any, read: ScaleRead, replicas: int) -> ScaleRead: ...


class PodSource(Protocol):
    def pods(self, namespace: str, selector: Any = None) -> tuple[PodInfo, ...]: ...


@dataclass
class Memory:
    """What the daemon keeps per autoscaler between passes."""

    state: ControllerState | None = None  # None until loaded from the store
    saved: ControllerState | None = None  # what the store holds, as far as we know
    invalid_reported: tuple[str, ...] = ()
    sources: tuple[MetricOrigin, ...] = ()  # where each metric's data came from, last pass
    healthy: bool | None = None  # the last pass computed a proposal from valid metrics


@dataclass(frozen=True)
class PassResult:
    key: str
    plan: Plan | None = None
    outcome: Outcome | None = None
    state: ControllerState | None = None  # after the pass
    dry_run: bool = False
    failure: AutoscalerError | None = None  # for the loop's retry and backoff
    errors: tuple[str, ...] = ()

    @property
    def wrote_scale(self) -> bool:
        return isinstance(self.outcome, Written)


@dataclass
class Reconciler:
    scale: ScaleApi
    pods: PodSource
    stores: Mapping[str, StateStore]  # by spec source: where each keeps its state
    recorder: Recorder
    config: ControllerConfig = field(default_factory=ControllerConfig)
    dry_run: bool = False
    prometheus: PrometheusLike | None = None
    sync_period_seconds: float = 15.0
    memory: dict[str, Memory] = field(default_factory=dict)
    telemetry: DaemonMetrics | None = None  # failures by operation (the loop sets it)
    # Every autoscaler's last selector, for the AmbiguousSelector check (control/selectors.py).
    selectors: SelectorIndex = field(default_factory=SelectorIndex)
    # Workers reconcile different autoscalers concurrently; `memory` is shared between them.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def _failed(self, managed: ManagedSpec, operation: str,
                error: AutoscalerError | str) -> None:
        if self.telemetry is not None:
            self.telemetry.error(managed.namespace, managed.name, operation, error)

    def remember(self, key: str) -> Memory:
        with self._lock:
            return self.memory.setdefault(key, Memory())

    def forget(self, key: str) -> None:
        with self._lock:
            self.memory.pop(key, None)
        self.selectors.forget(key)

    def other_selectors(self, managed: ManagedSpec, pods: tuple[PodInfo, ...]
                        ) -> tuple[tuple[str, str], ...]:
        """The other autoscalers of the namespace whose selectors may select `pods` (a
        superset of those that do: decide's check gives the same answer, see
        control/selectors.py), as ("namespace/name", selector)."""
        return self.selectors.candidates(managed.key, managed.namespace,
                                         (p.labels for p in pods))

    def reconcile(self, managed: ManagedSpec, metrics: ResourceMetrics, now: float
                  ) -> PassResult:
        memory = self.remember(managed.key)
        dry_run = self.dry_run or managed.dry_run
        if managed.spec is None:
            return self._invalid(managed, memory, now)
        spec = managed.spec
        store = self.stores[managed.source]
        read, scale_error = self._read_scale(managed, spec)
        if memory.state is None or not store.owns(managed, now):
            failure = self._load(managed, memory, store, read, now)
            if failure is not None:
                return PassResult(managed.key, dry_run=dry_run, failure=failure,
                                  errors=(str(failure),))
        state = memory.state or ControllerState()
        if state.pending_scale is not None and read is not None:
            # Loaded while the scale was unreadable: resolve the announced write now.
            state = resolve_pending(state, read.observation.spec_replicas).state
        observation = self._observe(managed, spec, read, scale_error, memory, metrics, now)
        plan = decide(spec, observation, state, now, self.config)
        outcome, failure = self._act(managed, spec, plan, read, dry_run, store, memory)
        settled = self.recorder.safety(managed, spec, observation.pods, settle(plan, outcome,
                                                                                 now), now)
        memory.state = settled
        memory.healthy = plan.current_replicas is not None and any(
            not r.failed for r in plan.metric_results)
        self.recorder.report(managed, spec, plan, outcome, settled, memory.sources, dry_run,
                             now)
        self._save(managed, memory, store, settled, self.recorder.status_report(
            managed, spec, plan, outcome, settled, memory.sources, dry_run))
        if failure is None and isinstance(scale_error, AutoscalerError):
            failure = scale_error
        return PassResult(managed.key, plan, outcome, settled, dry_run, failure,
                          tuple(e for e in (plan.error, *_failed(outcome)) if e))

    def _read_scale(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec
                    ) -> tuple[ScaleRead | None, AutoscalerError | None]:
        try:
            return self.scale.get(managed.namespace, spec.scale_target_ref), None
        except AutoscalerError as exc:
            self._failed(managed, "get_scale", exc)
            return None, exc

    def _load(self, managed: ManagedSpec, memory: Memory, store: StateStore,
              read: ScaleRead | None, now: float) -> AutoscalerError | None:
        """Load the persisted state and continue from it (`algorithms.state.restore`).
        Unreachable store: no pass (retried); unusable state: start without memory, like
        upstream after a restart, and say so."""
        try:
            loaded = store.load(managed)
        except InputError as exc:
            log.warning("persisted state unusable; starting without memory",
                        autoscaler=managed.key, error=str(exc))
            self._failed(managed, "load_state", exc)
            loaded = None
        except AutoscalerError as exc:
            log.warning("state not loaded; retried next pass", autoscaler=managed.key,
                        error=str(exc))
            self._failed(managed, "load_state", exc)
            return exc
        memory.saved = None  # the first pass after a load always saves
        if loaded is None:
            memory.state = None
            return None
        current = None if read is None else read.observation.spec_replicas
        restored = restore(loaded, now, current,
                           managed.sync_period_seconds or self.sync_period_seconds)
        if restored.seeded or restored.pending:
            log.info("state restored", autoscaler=managed.key, observed_at=loaded.observed_at,
                     seeded=list(restored.seeded), pending_write=restored.pending)
        memory.state = restored.state
        return None

    def _observe(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec,
                 read: ScaleRead | None, scale_error: AutoscalerError | None, memory: Memory,
                 metrics: ResourceMetrics, now: float) -> Observation:
        scale: ScaleObservation | None = None if read is None else read.observation
        pods: tuple[PodInfo, ...] = ()
        pods_error = ""
        if scale is not None:
            self.selectors.register(managed.key, managed.namespace, scale.selector)
            try:
                selector = parse_selector(scale.selector) if scale.selector else None
            except SelectorError:
                selector = None  # decide reports InvalidSelector itself
            if selector is not None:
                try:
                    pods = self.pods.pods(managed.namespace, selector)
                except AutoscalerError as exc:
                    self._failed(managed, "list_pods", exc)
                    pods_error = ("unable to get pods while calculating replica count: "
                                  f"{exc}")
        names = sorted(p.name for p in pods)
        sizes = Scale(scale.spec_replicas, spec.max_replicas) if scale is not None else None
        fetched = [fetch(metric, managed, names, scale.selector if scale else "", metrics,
                         self.prometheus, now, sizes) for metric in spec.metrics]
        memory.sources = tuple(MetricOrigin(f.source, f.detail) for f in fetched)
        # Metric reads count only where they mattered: with the scale and the pods known.
        for f in fetched if scale is not None and not pods_error else ():
            message = f.data.message if isinstance(f.data, MetricUnavailable) else None
            for operation, text in metric_failures(f.source, message):
                self._failed(managed, operation, text)
        data = tuple(MetricUnavailable(pods_error) if pods_error else f.data for f in fetched)
        return Observation(scale=scale, pods=pods, metrics=data,
                           generation=managed.generation,
                           scale_error=str(scale_error or ""),
                           other_selectors=self.other_selectors(managed, pods),
                           name=f"{managed.namespace}/{managed.name}")

    def _act(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec, plan: Plan,
             read: ScaleRead | None, dry_run: bool, store: StateStore, memory: Memory
             ) -> tuple[Outcome, AutoscalerError | None]:
        if not plan.rescale or read is None:
            return NotAttempted(), None
        if dry_run:
            return DryRun(), None
        if not self.dry_run:
            # Write-ahead: a crash between the write and the state save must not lose the
            # scale event (policy budgets). If the announcement fails we still act, like
            # upstream (which never persists); the save after the write retries.
            self._save(managed, memory, store, announce(plan), None)
        try:
            self.scale.update(managed.namespace, spec.scale_target_ref, read,
                              plan.target_replicas)
        except StandbyError as exc:
            return NotAttempted(str(exc)), None
        except AutoscalerError as exc:
            self._failed(managed, "update_scale", exc)
            return Failed(str(exc)), exc
        return Written(), None

    def _save(self, managed: ManagedSpec, memory: Memory, store: StateStore,
              state: ControllerState, report: dict[str, Any] | None) -> None:
        if self.dry_run or not (report is None or store.must_save(memory.saved, state)):
            return
        try:
            store.save(managed, state, report or {})
        except AutoscalerError as exc:
            log.warning("state not saved; retried next pass", autoscaler=managed.key,
                        error=str(exc))
            self._failed(managed, "save_state", exc)
            return
        memory.saved = state

    def flush(self, managed: ManagedSpec) -> None:
        """Save what this process remembers of `managed` if the store may hold less (its
        last pass's state was coalesced away): before a planned handover, so the next
        holder restores the stabilization windows exactly instead of conservatively."""
        memory = self.memory.get(managed.key)
        if memory is None or memory.state is None or memory.state == memory.saved \
                or managed.spec is None:
            return
        self._save(managed, memory, self.stores[managed.source], memory.state, None)

    def _invalid(self, managed: ManagedSpec, memory: Memory, now: float) -> PassResult:
        if memory.invalid_reported != managed.errors:
            memory.invalid_reported = managed.errors
            self.recorder.invalid(managed, now)
            store = self.stores[managed.source]
            state = self.recorder.invalid_state(managed, memory.state or managed.state, now)
            memory.state = state
            self._save(managed, memory, store, state, {})
        return PassResult(managed.key, state=memory.state, dry_run=self.dry_run,
                          errors=managed.errors)


def _failed(outcome: Outcome) -> tuple[str, ...]:
    return (outcome_text(outcome),) if isinstance(outcome, Failed) else ()

