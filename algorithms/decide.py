"""The decision: one pure function of (spec, observation, state, now) -> Plan.

Upstream `reconcileAutoscaler`, without I/O: per-metric proposal -> max across metrics ->
stabilize -> rate-limit by policy -> clamp, with upstream's conditions, reasons and Events.
The plan says what to write; `algorithms.plan.settle` gives the state once the write's
outcome is known (upstream records the scale event and SucceededRescale only after a
successful write, FailedUpdateScale otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from algorithms.config import ControllerConfig
from algorithms.events import WARNING, PlannedEvent
from algorithms.fast_path import fast_proposals
from algorithms.history import TimestampedRecommendation, scale_event_period
from algorithms.normalize import Normalized, normalize_replicas
from algorithms.observation import Observation, ScaleObservation
from algorithms.plan import Plan
from algorithms.proposals import Proposals, compute_replicas_for_metrics, has_object_or_external
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState, RescaleEffects, next_state
from algorithms.status import (
    ABLE_TO_SCALE,
    FALSE,
    SCALED_TO_ZERO,
    SCALING_ACTIVE,
    SCALING_LIMITED,
    TRUE,
    Condition,
    HPAStatus,
    remove_condition,
    set_condition,
)

_NO_PROPOSALS = Proposals(0)


@dataclass(slots=True)
class _Pass:
    """Mutable scratch for one pass; never escapes `decide`."""

    conditions: tuple[Condition, ...]
    now: float

    def set(self, condition_type: str, status: str, reason: str, message: str) -> None:
        for existing in self.conditions:
            if existing.type == condition_type:
                if (existing.status == status and existing.reason == reason
                        and existing.message == message):
                    return  # set_condition would rebuild an equal tuple (the steady state)
                break
        self.conditions = set_condition(self.conditions, condition_type, status, reason,
                                        message, self.now)


def decide(spec: HorizontalPodAutoscalerSpec, observation: Observation, state: ControllerState,
           now: float, config: ControllerConfig = ControllerConfig(), *,
           fast_path: bool = True) -> Plan:
    """`spec` must be API-defaulted (`algorithms.defaults.set_defaults`).

    `fast_path=False` always takes the full metric computation (tests compare the two: the
    fast path, `algorithms.fast_path`, must give an equal Plan wherever it applies)."""
    previous = state.status
    work = _Pass(previous.conditions, now)
    scale = observation.scale
    if scale is None:
        error = observation.scale_error
        work.set(ABLE_TO_SCALE, FALSE, "FailedGetScale",
                 f"the HPA controller was unable to get the target's current scale: {error}")
        # Upstream writes only the condition here: the rest of the status stays as it was.
        status = replace(previous, conditions=work.conditions)
        return Plan(replace(state, status=status, observed_at=now), None,
                    previous.desired_replicas,
                    error=f"failed to query scale subresource: {error}",
                    events=(PlannedEvent(WARNING, "FailedGetScale", error),))
    work.set(ABLE_TO_SCALE, TRUE, "SucceededGetScale",
             "the HPA controller was able to get the target's current scale")
    recommendations = state.recommendations
    if recommendations is None:  # upstream recordInitialRecommendation
        recommendations = (TimestampedRecommendation(scale.spec_replicas, now),)
    return _decide_with_scale(spec, observation, scale, state, recommendations, work, config,
                              fast_path)


def _generation(observation: Observation, config: ControllerConfig) -> int | None:
    # setStatus rebuilds the status: observedGeneration only with the HPAGeneration gate.
    return observation.generation if config.feature_gates.hpa_generation else None


def _decide_with_scale(spec: HorizontalPodAutoscalerSpec, observation: Observation,
                       scale: ScaleObservation, state: ControllerState,
                       recommendations: tuple[TimestampedRecommendation, ...], work: _Pass,
                       config: ControllerConfig, fast_path: bool) -> Plan:
    previous = state.status
    current = scale.spec_replicas
    min_replicas = 1 if spec.min_replicas is None else spec.min_replicas
    gates = config.feature_gates
    scaled_to_zero = gates.hpa_scale_to_zero and _condition_true(previous, SCALED_TO_ZERO)
    can_scale_from_zero = scaled_to_zero and has_object_or_external(spec)

    desired, reason, rescale, compute = 0, "", True, True
    if current == 0:
        compute = (min_replicas != 0 and scaled_to_zero) or can_scale_from_zero
        if not compute:
            rescale = False
            work.set(SCALING_ACTIVE, FALSE, "ScalingDisabled",
                     "scaling is disabled since the replica count of the target is zero")
            if not gates.hpa_scale_to_zero:
                work.conditions = remove_condition(work.conditions, SCALED_TO_ZERO)
    elif current > spec.max_replicas:
        reason, desired, compute = ("Current number of replicas above Spec.MaxReplicas",
                                    spec.max_replicas, False)
    elif current < min_replicas:
        reason, desired, compute = ("Current number of replicas below Spec.MinReplicas",
                                    min_replicas, False)

    proposals = _NO_PROPOSALS
    normalized = None
    if compute:
        # The common case in one pass over the pods (algorithms.fast_path), else upstream's.
        fast = fast_proposals(spec, scale, observation, config, work.now) if fast_path else None
        proposals = fast if fast is not None else compute_replicas_for_metrics(
            spec, scale, observation, config, work.now)
        if proposals.replicas == -1:
            return _failed_metrics(observation, proposals, state, recommendations, work,
                                   config, current)
        work.set(SCALING_ACTIVE, TRUE, "ValidMetricFound",
                 "the HPA was able to successfully calculate a replica count from "
                 f"{proposals.metric_name}")
        desired, reason, normalized, recommendations = _normalize(
            spec, proposals, current, min_replicas, state, recommendations, work, config)
        if current == 0 and min_replicas != 0 and scaled_to_zero and desired < min_replicas:
            desired = min_replicas
            reason = reason or "Current number of replicas below Spec.MinReplicas"
        rescale = desired != current

    events = _metric_events(proposals)
    generation = _generation(observation, config)
    if not rescale:
        status = HPAStatus(current, current, generation, previous.last_scale_time,
                           proposals.statuses, work.conditions)
        return Plan(next_state(state, recommendations, status, work.now), current, current,
                    error=proposals.error, metric_results=proposals.results,
                    normalized=normalized, events=events)
    # Until the write's outcome is known the stored desired size and lastScaleTime stand
    # (upstream's status on a failed write); `settle` applies the outcome.
    status = HPAStatus(current, previous.desired_replicas, generation,
                       previous.last_scale_time, proposals.statuses, work.conditions)
    effects = RescaleEffects(scale_event_period(spec.behavior, desired > current),
                             _scaled_to_zero(spec, current, desired, min_replicas, config))
    return Plan(next_state(state, recommendations, status, work.now), current, desired, True,
                reason, proposals.error, proposals.results, normalized, events, effects)


def _failed_metrics(observation: Observation, proposals: Proposals, state: ControllerState,
                    recommendations: tuple[TimestampedRecommendation, ...], work: _Pass,
                    config: ControllerConfig, current: int) -> Plan:
    """No metric can be trusted (or the valid ones would scale down): keep the size and the
    stored desired replicas, ScalingActive=False with the first failure's reason."""
    work.set(SCALING_ACTIVE, FALSE, proposals.reason, proposals.message)
    previous = state.status
    status = HPAStatus(current, previous.desired_replicas, _generation(observation, config),
                       previous.last_scale_time, proposals.statuses, work.conditions)
    error = f"failed to compute desired number of replicas based on listed metrics: " \
            f"{proposals.error}"
    events = (*_metric_events(proposals),
              PlannedEvent(WARNING, "FailedComputeMetricsReplicas", proposals.error))
    return Plan(next_state(state, recommendations, status, work.now), current,
                current, error=error, metric_results=proposals.results, events=events)


def _metric_events(proposals: Proposals) -> tuple[PlannedEvent, ...]:
    if proposals.selector_event is not None:
        return (proposals.selector_event,)
    return tuple([PlannedEvent(WARNING, r.failure_reason, r.error)
                  for r in proposals.results if r.failed])


def _normalize(spec: HorizontalPodAutoscalerSpec, proposals: Proposals, current: int,
               min_replicas: int, state: ControllerState,
               recommendations: tuple[TimestampedRecommendation, ...], work: _Pass,
               config: ControllerConfig
               ) -> tuple[int, str, Normalized, tuple[TimestampedRecommendation, ...]]:
    desired = max(0, proposals.replicas)
    reason = ""
    if desired > current:
        reason = f"{proposals.metric_name} above target"
    if desired < current:
        reason = "All metrics below target"
    normalized = normalize_replicas(current, desired, min_replicas, spec.max_replicas,
                                    spec.behavior, recommendations, state.scale_up_events,
                                    state.scale_down_events, config, work.now)
    work.set(ABLE_TO_SCALE, TRUE, normalized.stabilized.reason, normalized.stabilized.message)
    work.set(SCALING_LIMITED, TRUE if normalized.scaling_limited else FALSE,
             normalized.limited.reason, normalized.limited.message)
    return normalized.replicas, reason, normalized, normalized.stabilized.recommendations


def _scaled_to_zero(spec: HorizontalPodAutoscalerSpec, current: int, desired: int,
                    min_replicas: int, config: ControllerConfig) -> bool | None:
    """The ScaledToZero condition a successful write sets (KEP-2021: on every rescale, so it
    is never stale); None removes it (gate off)."""
    if not config.feature_gates.hpa_scale_to_zero:
        return None
    return current > 0 and desired == 0 and min_replicas == 0 and has_object_or_external(spec)


def _condition_true(status: HPAStatus, condition_type: str) -> bool:
    condition = status.condition(condition_type)
    return condition is not None and condition.status == TRUE
