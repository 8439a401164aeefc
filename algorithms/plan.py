"""What `decide` returns, and what becomes of it once the scale write (if any) is done.

`decide(...) -> Plan` says what the controller wants (target, reason, conditions, events);
the caller acts, then `settle(plan, outcome, now) -> ControllerState` gives the next state.
Events, logs, status and explanations all read the same plan and outcome: nobody
re-derives the target or the reason.

Outcomes of a plan: `Written` (the scale was set to the target), `Failed` (the write was
refused: upstream's FailedUpdateScale, no scale event), `DryRun` (a shadow controller
computed the target but must not act), `NotAttempted` (no write was due, or another
controller holds the target: an edge agent on standby).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from algorithms.events import NORMAL, WARNING, PlannedEvent
from algorithms.metrics import MetricResult
from algorithms.normalize import Normalized
from algorithms.state import ControllerState, PendingScale, RescaleEffects, apply_written
from algorithms.status import ABLE_TO_SCALE, FALSE, TRUE, set_condition


@dataclass(frozen=True, slots=True)
class Plan:
    """`state` is the next state if no write is attempted; with `rescale` the caller writes
    `target_replicas` and settles the outcome. `current_replicas` is None when the scale
    could not be read (then `target_replicas` is the last known desired size)."""

    state: ControllerState
    current_replicas: int | None
    target_replicas: int
    rescale: bool = False
    reason: str = ""  # upstream's rescale reason, e.g. "cpu resource ... above target"
    error: str = ""  # the pass's error (upstream's returned error), "" if none
    metric_results: tuple[MetricResult, ...] = ()
    normalized: Normalized | None = None
    events: tuple[PlannedEvent, ...] = ()
    effects: RescaleEffects | None = None  # set iff rescale


@dataclass(frozen=True, slots=True)
class Written:
    pass


@dataclass(frozen=True, slots=True)
class Failed:
    error: str


@dataclass(frozen=True, slots=True)
class DryRun:
    pass


@dataclass(frozen=True, slots=True)
class NotAttempted:
    why: str = ""


Outcome = Written | Failed | DryRun | NotAttempted


def pending(plan: Plan) -> PendingScale:
    """The write `plan` asks for, to announce before sending it (write-ahead)."""
    if not plan.rescale or plan.effects is None or plan.current_replicas is None:
        raise ValueError("the plan asks for no scale write")
    return PendingScale(plan.current_replicas, plan.target_replicas,
                        plan.state.observed_at or 0.0, plan.effects)


def write_ahead(plan: Plan) -> ControllerState:
    """The state to save before the scale write (see `algorithms.state`, rule 1)."""
    return replace(plan.state, pending_scale=pending(plan))


def settle(plan: Plan, outcome: Outcome, now: float) -> ControllerState:
    state = plan.state
    if not plan.rescale or isinstance(outcome, NotAttempted):
        return state
    if isinstance(outcome, Written):
        return apply_written(state, replace(pending(plan), at=now))
    if isinstance(outcome, Failed):
        conditions = set_condition(state.status.conditions, ABLE_TO_SCALE, FALSE,
                                   "FailedUpdateScale", "the HPA controller was unable to "
                                   f"update the target scale: {outcome.error}", now)
        return replace(state, status=replace(state.status, conditions=conditions))
    # Dry run: show what would be set; no scale event, no lastScaleTime.
    conditions = set_condition(state.status.conditions, ABLE_TO_SCALE, TRUE, "DryRun",
                               f"dry run: the HPA controller would update the target scale "
                               f"to {plan.target_replicas}; nothing was written", now)
    return replace(state, status=replace(state.status, desired_replicas=plan.target_replicas,
                                         conditions=conditions))


def events_for(plan: Plan, outcome: Outcome) -> tuple[PlannedEvent, ...]:
    """The pass's Events in upstream's order: those of the computation, then the rescale's.
    FailedRescale names the size it tried to set, like upstream."""
    size = f"New size: {plan.target_replicas}; reason: {plan.reason}"
    if not plan.rescale or isinstance(outcome, NotAttempted):
        return plan.events
    if isinstance(outcome, Written):
        return (*plan.events, PlannedEvent(NORMAL, "SuccessfulRescale", size))
    if isinstance(outcome, Failed):
        return (*plan.events, PlannedEvent(WARNING, "FailedRescale",
                                           f"{size}; error: {outcome.error}"))
    return (*plan.events, PlannedEvent(NORMAL, "DryRunRescale", f"{size} (dry run: not applied)"))
