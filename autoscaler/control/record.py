"""What a pass leaves behind besides the scale: Events, the log line, the dry-run line, the
status report and the advisory conditions. All of it reads the same plan and outcome."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import structlog

from algorithms.plan import DryRun, Failed, NotAttempted, Outcome, Plan, Written, events_for
from algorithms.pods import PodInfo
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState
from algorithms.status import FALSE, SCALING_ACTIVE, TRUE, set_condition
from autoscaler.control.explain import MetricOrigin, explain, targets
from autoscaler.control.safety import check
from autoscaler.control.server import DaemonMetrics
from autoscaler.errors import AutoscalerError
from autoscaler.kube.writer import EventTarget
from autoscaler.specs.model import ManagedSpec

log = structlog.get_logger("autoscaler.reconcile")

ADVISORY_CONDITIONS = ("TrafficSpreading", "SelectorExclusive", "SingleOwner")

# (autoscaler, plan, settled state, dry run) -> None; e.g. the dry-run printer.
OnDecision = Callable[[ManagedSpec, Plan, ControllerState, bool], None]
DECISION_CONDITIONS = ("AbleToScale", "ScalingActive", "ScalingLimited")


def decision_key(plan: Plan, state: ControllerState) -> tuple[object, ...]:
    """What makes a decision the same as the autoscaler's previous one: the replicas before
    and after, whether it scales, and why (the rescale reason, the HPA conditions' reasons).
    The metric values are not in it: they move every pass while the decision stays."""
    reasons = tuple((c.type, c.status, c.reason) for c in state.status.conditions
                    if c.type in DECISION_CONDITIONS)
    return (plan.current_replicas, plan.target_replicas, plan.rescale, plan.reason, reasons)


class EventSink(Protocol):
    def record(self, target: EventTarget, event_type: str, reason: str, message: str,
               now: float) -> None: ...


def outcome_text(outcome: Outcome) -> str:
    if isinstance(outcome, Written):
        return "written"
    if isinstance(outcome, Failed):
        return f"failed: {outcome.error}"
    if isinstance(outcome, DryRun):
        return "dry run"
    return f"not attempted: {outcome.why}" if outcome.why else ""


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


def event_target(managed: ManagedSpec) -> EventTarget | None:
    involved = managed.involved
    if not involved:
        return None
    return EventTarget(managed.key, involved.get("namespace", managed.namespace),
                       involved.get("name", managed.name), involved.get("kind", ""),
                       involved.get("apiVersion", ""), involved.get("uid", ""))


@dataclass
class Recorder:
    events: EventSink
    dry_run: bool = False  # `--dry-run`: nothing is written to the cluster, Events included
    on_decision: OnDecision | None = None
    # autoscaler key -> other autoscalers on the same workload (set by the loop each pass)
    duplicates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    telemetry: DaemonMetrics | None = None  # failed Events are counted (the loop sets it)
    # autoscaler key -> decision_key of its last decision: a decision logs at info when it
    # differs (or is the first of this process), at debug when it repeats the last one.
    last_decisions: dict[str, tuple[object, ...]] = field(default_factory=dict)

    def event(self, managed: ManagedSpec, event_type: str, reason: str, message: str,
              now: float) -> None:
        target = event_target(managed)
        if self.dry_run or target is None:
            return
        try:
            self.events.record(target, event_type, reason, message, now)
        except AutoscalerError as exc:
            log.warning("event not recorded", autoscaler=managed.key, reason=reason,
                        error=str(exc))
            if self.telemetry is not None:
                self.telemetry.error(managed.namespace, managed.name, "event", exc)

    def report(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec, plan: Plan,
               outcome: Outcome, state: ControllerState, sources: tuple[MetricOrigin, ...],
               dry_run: bool, now: float) -> None:
        for event in events_for(plan, outcome):
            self.event(managed, event.type, event.reason, event.message, now)
        explanation = explain(plan, outcome_text(outcome), dry_run, sources)
        fields = {"autoscaler": managed.key, "reference": managed.reference,
                  "targets": targets(state.status, spec_targets(spec)), **explanation}
        key = decision_key(plan, state)
        changed = self.last_decisions.get(managed.key) != key
        self.last_decisions[managed.key] = key
        if plan.error or isinstance(outcome, Failed):
            log.warning("decision", **fields)
        elif changed:
            log.info("decision", **fields)
        else:
            log.debug("decision", **fields)
        if self.on_decision is not None:
            self.on_decision(managed, plan, state, dry_run)

    def status_report(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec,
                      plan: Plan, outcome: Outcome, state: ControllerState,
                      sources: tuple[MetricOrigin, ...], dry_run: bool) -> dict[str, Any]:
        return {"reference": managed.reference,
                "targets": targets(state.status, spec_targets(spec)),
                "explanation": explain(plan, outcome_text(outcome), dry_run, sources)}

    def safety(self, managed: ManagedSpec, spec: HorizontalPodAutoscalerSpec,
               pods: tuple[PodInfo, ...], state: ControllerState, now: float
               ) -> ControllerState:
        """Advisory conditions (see safety.py): False with a Warning event while the problem
        lasts, back to True once it is gone. They never change a decision."""
        findings = {f.condition: f for f in check(spec.scale_target_ref, pods,
                                                  self.duplicates.get(managed.key, ()))}
        conditions = state.status.conditions
        for condition_type in ADVISORY_CONDITIONS:
            finding = findings.get(condition_type)
            if finding is not None:
                conditions = set_condition(conditions, condition_type, FALSE, finding.reason,
                                           finding.message, now)
                self.event(managed, "Warning", finding.reason, finding.message, now)
            elif any(c.type == condition_type for c in conditions):
                conditions = set_condition(conditions, condition_type, TRUE, "Resolved",
                                           "the problem reported earlier is gone", now)
        if conditions == state.status.conditions:
            return state
        return replace(state, status=replace(state.status, conditions=conditions))

    def invalid(self, managed: ManagedSpec, now: float) -> None:
        log.warning("invalid spec", autoscaler=managed.key, origin=managed.origin,
                    errors=list(managed.errors))
        self.event(managed, "Warning", "InvalidSpec", "; ".join(managed.errors), now)

    def invalid_state(self, managed: ManagedSpec, state: ControllerState | None, now: float
                      ) -> ControllerState:
        state = state or ControllerState()
        conditions = set_condition(state.status.conditions, SCALING_ACTIVE, FALSE,
                                   "InvalidSpec",
                                   f"the spec is invalid: {'; '.join(managed.errors)}", now)
        return replace(state, status=replace(state.status, conditions=conditions))


def is_standby(outcome: Outcome | None) -> bool:
    return isinstance(outcome, NotAttempted) and bool(outcome.why)
