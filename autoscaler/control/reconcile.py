"""One pass for one autoscaler: observe -> decide -> act -> record.

Observe: GET the scale, the target's pods from the watch cache, and each metric (resource
metrics from the pass-wide metrics.k8s.io LIST of the namespace). Decide: the pure
`algorithms.decide`. Act: PUT the scale (skipped in dry-run), or `rescale_failed` when the
write fails. Record: status (with the history, so a restart keeps the stabilization
windows), upstream-style Events, and a structured log line with the explanation.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import structlog

from algorithms.config import ControllerConfig
from algorithms.decide import Decision, decide, rescale_failed
from algorithms.history import History
from algorithms.labels import SelectorError, parse_selector
from algorithms.observation import Observation, ScaleObservation
from algorithms.pods import PodInfo
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.status import FALSE, SCALING_ACTIVE, TRUE, HPAStatus, set_condition
from autoscaler.daemon.explain import explain, targets
from autoscaler.daemon.metric_sources import PrometheusLike, ResourceMetrics, fetch
from autoscaler.daemon.safety import check
from autoscaler.errors import AutoscalerError, TransientError
from autoscaler.kube.convert import format_time
from autoscaler.kube.scale import ScaleRead
from autoscaler.specs.model import CRD, ManagedSpec
from autoscaler.specs.parse import history_to_dict
from autoscaler.status_codec import status_to_dict

log = structlog.get_logger("autoscaler.reconcile")

ADVISORY_CONDITIONS = ("TrafficSpreading", "SelectorExclusive", "SingleOwner")


class ScaleApi(Protocol):
    def get(self, namespace: str, ref: Any) -> ScaleRead: ...

    def update(self, namespace: str, ref: Any, read: ScaleRead, replicas: int) -> ScaleRead: ...


class PodSource(Protocol):
    def pods(self, namespace: str, selector: Any = None) -> tuple[PodInfo, ...]: ...


class StatusSink(Protocol):
    def patch_status(self, managed: ManagedSpec, status: dict[str, Any]) -> None: ...


class HistoryStore(Protocol):
    def load(self, key: str) -> History | None: ...

    def save(self, key: str, history: History) -> None: ...


class EventSink(Protocol):
    def record(self, managed: ManagedSpec, event_type: str, reason: str, message: str,
               now: float) -> None: ...


@dataclass
class Memory:
    """What the daemon keeps per autoscaler between passes (for CRs it is also persisted)."""

    status: HPAStatus = field(default_factory=HPAStatus)
    history: History = field(default_factory=History)
    selector: str = ""
    invalid_reported: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # where each metric's data came from, last pass


@dataclass(frozen=True)
class PassResult:
    key: str
    decision: Decision | None
    wrote_scale: bool
    dry_run: bool
    errors: tuple[str, ...] = ()


def spec_targets(spec: HorizontalPodAutoscalerSpec) -> list[str]:
    out = []
    for metric in spec.metrics:
        source = (metric.resource or metric.container_resource or metric.pods
                  or metric.object or metric.external)
        target = getattr(source, "target", None)
        if target is None:
            out.append("<unknown>")
        elif target.average_utilization is not None:
            out.append(f"{target.average_utilization}%")
        else:
            quantity = target.average_value or target.value
            out.append(quantity.text if quantity is not None else "<unknown>")
    return out


@dataclass
class Reconciler:
    scale: ScaleApi
    pods: PodSource
    events: EventSink
    statuses: StatusSink
    config: ControllerConfig = field(default_factory=ControllerConfig)
    dry_run: bool = False
    on_decision: Callable[[ManagedSpec, Decision, bool], None] | None = None
    history_store: HistoryStore | None = None  # for sources without a status of their own
    prometheus: PrometheusLike | None = None
    memory: dict[str, Memory] = field(default_factory=dict)
    # Set by the loop each pass: autoscaler key -> other autoscalers on the same workload.
    duplicates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Workers reconcile different autoscalers concurrently; `memory` is shared between them.
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def remember(self, managed: ManagedSpec) -> Memory:
        with self._lock:
            memory = self.memory.get(managed.key)
            if memory is None:
                # First sight: a CR brings its persisted status and history (restart-safe).
                memory = Memory(status=managed.status,
                                history=self._stored_history(managed) or managed.history)
                self.memory[managed.key] = memory
            elif (managed.source == CRD and managed.status.conditions
                  and not memory.status.conditions):
                memory.status = managed.status
            return memory

    def _stored_history(self, managed: ManagedSpec) -> History | None:
        if managed.source == CRD or self.history_store is None:
            return None
        try:
            return self.history_store.load(managed.key)
        except AutoscalerError as exc:
            log.warning("history not loaded; starting empty", autoscaler=managed.key,
                        error=str(exc))
            return None

    def forget(self, key: str) -> None:
        with self._lock:
            self.memory.pop(key, None)

    def other_selectors(self, managed: ManagedSpec) -> tuple[tuple[str, str], ...]:
        prefix = f"{managed.namespace}/"
        with self._lock:
            known = list(self.memory.items())
        return tuple((key, memory.selector) for key, memory in known
                     if key != managed.key and key.split(":", 1)[-1].startswith(prefix)
                     and memory.selector)

    def reconcile(self, managed: ManagedSpec, metrics: ResourceMetrics, now: float
                  ) -> PassResult:
        memory = self.remember(managed)
        dry_run = self.dry_run or managed.dry_run
        if managed.spec is None:
            return self._invalid(managed, memory, now)
        spec = managed.spec
        try:
            read: ScaleRead | None = self.scale.get(managed.namespace, spec.scale_target_ref)
        except AutoscalerError as exc:
            read, scale_error = None, str(exc)
        else:
            scale_error = ""
        observation = self._observe(managed, spec, read, scale_error, memory, metrics, now)
        decision = decide(spec, observation, memory.history, now, self.config)
        wrote = False
        if decision.rescale and read is not None and not dry_run:
            try:
                self.scale.update(managed.namespace, spec.scale_target_ref, read,
                                  decision.desired_replicas)
                wrote = True
            except AutoscalerError as exc:
                decision = rescale_failed(decision, str(exc), now)
                self._event(managed, "Warning", "FailedRescale",
                            f"New size: {decision.status.desired_replicas}; reason: "
                            f"{decision.reason}; error: {exc}", now)
        if dry_run and decision.rescale:
            # Shadow mode: what would have happened is reported, nothing is kept as if done.
            decision = replace(decision, history=decision.pre_event_history)
        decision = self._safety(managed, spec, observation.pods, decision, now)
        self._record(managed, memory, decision, wrote, dry_run, now)
        return PassResult(managed.key, decision, wrote, dry_run)

    def _observe(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec,
                 read: ScaleRead | None, scale_error: str, memory: Memory,
                 metrics: ResourceMetrics, now: float) -> Observation:
        scale: ScaleObservation | None = None if read is None else read.observation
        pods: tuple[PodInfo, ...] = ()
        if scale is not None:
            memory.selector = scale.selector
            try:
                selector = parse_selector(scale.selector) if scale.selector else None
            except SelectorError:
                selector = None  # decide reports InvalidSelector itself
            if selector is not None:
                pods = self.pods.pods(managed.namespace, selector)
        names = sorted(p.name for p in pods)
        fetched = [fetch(metric, managed, names, scale.selector if scale else "", metrics,
                         self.prometheus, now) for metric in spec.metrics]
        memory.sources = tuple(f.source for f in fetched)
        return Observation(scale=scale, pods=pods, metrics=tuple(f.data for f in fetched),
                           status=memory.status, generation=managed.generation,
                           scale_error=scale_error,
                           other_selectors=self.other_selectors(managed))

    def _record(self, managed: ManagedSpec, memory: Memory, decision: Decision, wrote: bool,
                dry_run: bool, now: float) -> None:
        memory.history = decision.history
        previous = memory.status
        memory.status = decision.status
        spec = managed.spec
        assert spec is not None
        explanation = explain(decision, dry_run, memory.sources)
        if wrote:
            self._event(managed, "Normal", "SuccessfulRescale",
                        f"New size: {decision.desired_replicas}; reason: {decision.reason}", now)
            if managed.source != CRD and self.history_store is not None:
                try:
                    self.history_store.save(managed.key, decision.history)
                except AutoscalerError as exc:
                    log.warning("history not saved", autoscaler=managed.key, error=str(exc))
        log.info("decision", autoscaler=managed.key, reference=managed.reference,
                 targets=targets(decision, spec_targets(spec)), **explanation)
        if self.on_decision is not None:
            self.on_decision(managed, decision, dry_run)
        if managed.source == CRD and (decision.status != previous or wrote):
            body = status_to_dict(decision.status, format_time)
            body.update(reference=managed.reference,
                        targets=targets(decision, spec_targets(spec)),
                        history=history_to_dict(decision.history), explanation=explanation)
            self._status(managed, body)

    def _safety(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec,
                pods: tuple[PodInfo, ...], decision: Decision, now: float) -> Decision:
        """Advisory conditions (see safety.py): set False with a Warning event while the
        problem lasts, back to True once it is gone."""
        findings = {f.condition: f for f in check(spec.scale_target_ref, pods,
                                                  self.duplicates.get(managed.key, ()))}
        conditions = decision.status.conditions
        for condition_type in ADVISORY_CONDITIONS:
            finding = findings.get(condition_type)
            if finding is not None:
                conditions = set_condition(conditions, condition_type, FALSE, finding.reason,
                                           finding.message, now)
                self._event(managed, "Warning", finding.reason, finding.message, now)
            elif any(c.type == condition_type for c in conditions):
                conditions = set_condition(conditions, condition_type, TRUE, "Resolved",
                                           "the problem reported earlier is gone", now)
        if conditions == decision.status.conditions:
            return decision
        return replace(decision, status=replace(decision.status, conditions=conditions))

    def _invalid(self, managed: ManagedSpec, memory: Memory, now: float) -> PassResult:
        message = "; ".join(managed.errors)
        if memory.invalid_reported != managed.errors:
            memory.invalid_reported = managed.errors
            log.warning("invalid spec", autoscaler=managed.key, origin=managed.origin,
                        errors=list(managed.errors))
            self._event(managed, "Warning", "InvalidSpec", message, now)
            if managed.source == CRD:
                conditions = set_condition(memory.status.conditions, SCALING_ACTIVE, FALSE,
                                           "InvalidSpec", f"the spec is invalid: {message}", now)
                memory.status = replace(memory.status, conditions=conditions)
                self._status(managed, status_to_dict(memory.status, format_time))
        return PassResult(managed.key, None, False, self.dry_run, managed.errors)

    def _event(self, managed: ManagedSpec, event_type: str, reason: str, message: str,
               now: float) -> None:
        if self.dry_run or managed.dry_run:
            return  # dry-run never writes to the cluster, events included
        try:
            self.events.record(managed, event_type, reason, message, now)
        except AutoscalerError as exc:
            log.warning("event not recorded", autoscaler=managed.key, reason=reason,
                        error=str(exc))

    def _status(self, managed: ManagedSpec, body: dict[str, Any]) -> None:
        if self.dry_run or managed.dry_run:
            return
        try:
            self.statuses.patch_status(managed, body)
        except TransientError as exc:
            log.warning("status not written; retried next pass", autoscaler=managed.key,
                        error=str(exc))
        except AutoscalerError as exc:
            log.error("status not written", autoscaler=managed.key, error=str(exc))
