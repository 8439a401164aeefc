"""The controller's whole memory for one autoscaler, as one value, and how it survives a
restart.

Upstream keeps recommendations and scale events in process memory and the last status in
the HPA object; a restarted kube-controller-manager starts with empty lists and seeds the
recommendations with the current size (`recordInitialRecommendation`). Here all of it is one
frozen `ControllerState`: `decide` reads it, `settle` returns the next one, and the daemon
persists it (CR status or a Lease).

**Persistence rule.** A restart never makes a decision that the uninterrupted controller
would not make:

1. *Write-ahead.* Before a scale write the state is saved with a `PendingScale`. On restore
   the pending write is resolved against the target's current size: still at `from` -> it
   never happened (the state stays as planned, no scale event); anything else -> it is
   applied (scale event, conditions), so a crash between the write and the save can never
   widen a policy budget.
2. *Coalescing.* After a pass the state is saved unless the only change is a new
   recommendation inside the saved state's band `[min(last, current), max(last, current)]`
   (`last` = its newest recommendation, `current` = its status' replica count), e.g. the
   steady state where every pass recommends the current size. Scale events, pending writes
   and status changes are always saved.
3. *Restore.* A saved state whose last pass is less than 1.9 sync periods old is exact (two
   passes are at least one period apart, so no pass can have been skipped or coalesced
   since): it is used as is. An older one may lack coalesced recommendations or passes
   missed while the daemon was down, so it is extended conservatively with the current size
   and the band's lower end (capped at the current size), stamped now. On the behavior path
   these raise the scale-down window's maximum to at least the current size and lower the
   scale-up window's minimum to at most it; on the legacy path (the window's maximum is the
   recommendation) values not above the current size can only hold a scale-down back. Either
   way the stabilized size lies between the current size and what the uninterrupted
   controller would choose.

Worked example: 4 replicas, every pass recommends 4 (band [4, 4]; saved once at t=0, then
coalesced). The daemon dies at t=100 and restarts at t=130: the state is stale (130 > 1.9 x
15), so the recommendation (4, 130) is added. The load has dropped and the new pass
recommends 1: the window still holds a 4 stamped 130, so 4 is kept until t=430 -- never
earlier than the uninterrupted controller (whose last 4 is from t=100..115) nor than
upstream after a restart (which seeds (4, 130) itself).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from algorithms.history import ScaleEvent, TimestampedRecommendation, store_event
from algorithms.status import (
    ABLE_TO_SCALE,
    FALSE,
    SCALED_TO_ZERO,
    TRUE,
    HPAStatus,
    remove_condition,
    set_condition,
)

# Two passes of one autoscaler are at least one sync period apart; a saved state younger
# than this many periods therefore reflects the pass just before (see the rule above).
FRESH_PERIODS = 1.9


@dataclass(frozen=True, slots=True)
class RescaleEffects:
    """What a successful scale write changes besides the size (decided by `decide`)."""

    event_period_seconds: int | None  # how long the scale event counts; None: legacy, none
    scaled_to_zero: bool | None  # the ScaledToZero condition to set; None: remove it


@dataclass(frozen=True, slots=True)
class PendingScale:
    """A scale write announced before it is sent (write-ahead)."""

    from_replicas: int
    to_replicas: int
    at: float
    effects: RescaleEffects


@dataclass(frozen=True, slots=True)
class ControllerState:
    """Everything a future decision depends on. `recommendations is None` means the
    controller has no memory of this autoscaler yet (its first pass seeds the current size)."""

    recommendations: tuple[TimestampedRecommendation, ...] | None = None
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()
    status: HPAStatus = HPAStatus()
    observed_at: float | None = None  # the pass this state is the result of
    pending_scale: PendingScale | None = None


def next_state(state: ControllerState,
               recommendations: tuple[TimestampedRecommendation, ...] | None,
               status: HPAStatus, observed_at: float) -> ControllerState:
    """`replace(state, recommendations=..., status=..., observed_at=...)`: the state after a
    pass. Called once per `decide`, where `dataclasses.replace` costs as much as the rest
    of the state handling; a new field of `ControllerState` must be carried over here."""
    return ControllerState(recommendations, state.scale_up_events, state.scale_down_events,
                           status, observed_at, state.pending_scale)


def apply_written(state: ControllerState, pending: PendingScale) -> ControllerState:
    """The state after the announced write succeeded, at `pending.at` (upstream: the
    SucceededRescale condition, `storeScaleEvent`, ScaledToZero, lastScaleTime)."""
    now, to = pending.at, pending.to_replicas
    conditions = set_condition(state.status.conditions, ABLE_TO_SCALE, TRUE, "SucceededRescale",
                               f"the HPA controller was able to update the target scale to {to}",
                               now)
    zero = pending.effects.scaled_to_zero
    if zero is None:
        conditions = remove_condition(conditions, SCALED_TO_ZERO)
    elif zero:
        conditions = set_condition(conditions, SCALED_TO_ZERO, TRUE, "ScaledToZero",
                                   "the HPA controller scaled the workload to zero", now)
    else:
        conditions = set_condition(conditions, SCALED_TO_ZERO, FALSE, "NotScaledToZero",
                                   "the HPA controller did not scale the workload to zero", now)
    up, down = state.scale_up_events, state.scale_down_events
    period = pending.effects.event_period_seconds
    if period is not None and to > pending.from_replicas:
        up = store_event(up, period, to - pending.from_replicas, now)
    elif period is not None:
        down = store_event(down, period, pending.from_replicas - to, now)
    status = replace(state.status, desired_replicas=to, last_scale_time=now,
                     conditions=conditions)
    return replace(state, scale_up_events=up, scale_down_events=down, status=status,
                   pending_scale=None)


def coalescing_band(state: ControllerState) -> tuple[int, int] | None:
    """[min, max] of the newest recommendation and the status' replica count, or None."""
    if not state.recommendations:
        return None
    newest = state.recommendations[0]
    for rec in state.recommendations:  # the last one recorded at the latest time
        if rec.timestamp >= newest.timestamp:
            newest = rec
    current = state.status.current_replicas
    return min(newest.replicas, current), max(newest.replicas, current)


def _status_key(status: HPAStatus) -> tuple[object, ...]:
    # Messages and current metrics change with every reading and never change a decision.
    conditions = tuple((c.type, c.status, c.reason, c.last_transition_time)
                       for c in status.conditions)
    return (status.current_replicas, status.desired_replicas, status.last_scale_time,
            status.observed_generation, conditions)


def needs_save(saved: ControllerState | None, state: ControllerState) -> bool:
    """Whether losing `state` in favour of `saved` could change a future decision beyond what
    `restore` compensates for (rule 2 above)."""
    if saved is None:
        return True
    if (state.pending_scale != saved.pending_scale
            or state.scale_up_events != saved.scale_up_events
            or state.scale_down_events != saved.scale_down_events
            or _status_key(state.status) != _status_key(saved.status)):
        return True
    band = coalescing_band(saved)
    if band is None:
        return state.recommendations != saved.recommendations
    known = set(saved.recommendations or ())
    return any(not band[0] <= r.replicas <= band[1]
               for r in state.recommendations or () if r not in known)


@dataclass(frozen=True, slots=True)
class Restored:
    state: ControllerState
    seeded: tuple[int, ...] = ()  # recommendations added, stamped `now` (stale state)
    pending: str = ""  # how a pending write was resolved: "", "applied", "dropped"


def resolve_pending(state: ControllerState, current_replicas: int) -> Restored:
    """Rule 1: a write announced but not confirmed happened unless the target is still at
    the size it was written from."""
    written = state.pending_scale
    if written is None:
        return Restored(state)
    if current_replicas == written.from_replicas != written.to_replicas:
        return Restored(replace(state, pending_scale=None), pending="dropped")
    return Restored(apply_written(state, written), pending="applied")


def restore(saved: ControllerState, now: float, current_replicas: int | None,
            sync_period_seconds: float) -> Restored:
    """The state a restarted controller continues from (rules 1 and 3 above).
    `current_replicas` is None when the target's scale could not be read: a pending write
    then stays pending (`resolve_pending` once the scale is known)."""
    resolved = Restored(saved)
    if current_replicas is not None:
        resolved = resolve_pending(saved, current_replicas)
    state = resolved.state
    if state.recommendations is None:
        return resolved
    age = None if state.observed_at is None else now - state.observed_at
    if age is not None and 0 <= age < FRESH_PERIODS * sync_period_seconds:
        return resolved
    # Seeds are capped at the current size: on the legacy path (behavior null) the window's
    # maximum is the recommendation itself, so a seed above the current size would *scale
    # up*; a seed equal to the current size already blocks every scale-down on both paths
    # (down-window maximum >= current) and every scale-up through a scale-up window.
    cap = state.status.current_replicas if current_replicas is None else current_replicas
    band = coalescing_band(state)
    values = sorted({min(v, cap) for v in (*(band or ()), cap)})
    seeds = tuple(TimestampedRecommendation(v, now) for v in values)
    return Restored(replace(state, recommendations=(*state.recommendations, *seeds)),
                    tuple(values), resolved.pending)
