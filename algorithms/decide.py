"""The decision: one pure function of (spec, observation, history, now) -> Decision.

Upstream `reconcileAutoscaler`, without I/O: per-metric proposal -> max across metrics ->
stabilize -> rate-limit by policy -> clamp, with upstream's conditions and reasons. The
Decision assumes the scale update (if any) succeeds; `rescale_failed` gives the outcome when
it does not, exactly as upstream records it (no scale event, FailedUpdateScale).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from algorithms.config import ControllerConfig
from algorithms.history import History, TimestampedRecommendation, store_scale_event
from algorithms.metrics import MetricResult
from algorithms.normalize import Normalized, NormalizeInput, normalize_desired_replicas
from algorithms.observation import Observation, ScaleObservation
from algorithms.policies import Events
from algorithms.proposals import (
    Proposals,
    compute_replicas_for_metrics,
    has_object_or_external,
)
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.status import (
    ABLE_TO_SCALE,
    FALSE,
    SCALED_TO_ZERO,
    SCALING_ACTIVE,
    SCALING_LIMITED,
    TRUE,
    Condition,
    HPAStatus,
    MetricStatus,
    remove_condition,
    set_condition,
)


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do and what to record. `rescale` means: set the scale to `desired_replicas`."""

    current_replicas: int
    desired_replicas: int
    rescale: bool
    status: HPAStatus
    history: History
    reason: str  # upstream's rescale reason, e.g. "cpu resource utilization ... above target"
    error: str = ""  # the pass's error (upstream's returned error), "" if none
    metric_results: tuple[MetricResult, ...] = ()
    normalized: Normalized | None = None
    # State before the rescale outcome, for `rescale_failed`.
    pre_rescale_conditions: tuple[Condition, ...] = ()
    pre_event_history: History = History()
    previous_status: HPAStatus = HPAStatus()

    @property
    def status_changed(self) -> bool:
        """Upstream writes the status only when it differs (semantic equality)."""
        return self.status != self.previous_status


@dataclass(slots=True)
class _Pass:
    """Mutable scratch for one pass; never escapes `decide`."""

    conditions: tuple[Condition, ...]
    now: float

    def set(self, condition_type: str, status: str, reason: str, message: str) -> None:
        self.conditions = set_condition(self.conditions, condition_type, status, reason,
                                        message, self.now)


def decide(spec: HorizontalPodAutoscalerSpec, observation: Observation, history: History,
           now: float, config: ControllerConfig = ControllerConfig()) -> Decision:
    """`spec` must be API-defaulted (`algorithms.defaults.set_defaults`)."""
    previous = observation.status
    work = _Pass(previous.conditions, now)
    scale = observation.scale
    if scale is None:
        work.set(ABLE_TO_SCALE, FALSE, "FailedGetScale",
                 "the HPA controller was unable to get the target's current scale: "
                 f"{observation.scale_error}")
        status = replace(previous, conditions=work.conditions)
        return Decision(previous.current_replicas, previous.desired_replicas, False, status,
                        history, "", f"failed to query scale subresource: "
                        f"{observation.scale_error}", previous_status=previous)
    work.set(ABLE_TO_SCALE, TRUE, "SucceededGetScale",
             "the HPA controller was able to get the target's current scale")
    current = scale.spec_replicas
    if history.recommendations is None:
        history = History((TimestampedRecommendation(current, now),),
                          history.scale_up_events, history.scale_down_events)
    return _decide_with_scale(spec, observation, scale, history, work, config)


def _generation(observation: Observation, config: ControllerConfig) -> int | None:
    if config.feature_gates.hpa_generation:
        return observation.generation
    return observation.status.observed_generation


def _decide_with_scale(spec: HorizontalPodAutoscalerSpec, observation: Observation,
                       scale: ScaleObservation, history: History, work: _Pass,
                       config: ControllerConfig) -> Decision:
    previous = observation.status
    current = scale.spec_replicas
    min_replicas = 1 if spec.min_replicas is None else spec.min_replicas
    gates = config.feature_gates
    scaled_to_zero = gates.hpa_scale_to_zero and _condition_true(previous, SCALED_TO_ZERO)
    can_scale_from_zero = scaled_to_zero and has_object_or_external(spec)

    desired = 0
    reason = ""
    rescale = True
    compute = True
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

    statuses: tuple[MetricStatus, ...] = ()
    results: tuple[MetricResult, ...] = ()
    normalized = None
    error = ""
    if compute:
        proposals = compute_replicas_for_metrics(spec, scale, observation, config, work.now)
        statuses, results, error = proposals.statuses, proposals.results, proposals.error
        if proposals.replicas == -1:
            work.set(SCALING_ACTIVE, FALSE, proposals.reason, proposals.message)
            status = HPAStatus(current, previous.desired_replicas,
                               _generation(observation, config), previous.last_scale_time,
                               statuses, work.conditions)
            return Decision(current, previous.desired_replicas, False, status, history, "",
                            f"failed to compute desired number of replicas based on listed "
                            f"metrics: {proposals.error}", results, previous_status=previous)
        work.set(SCALING_ACTIVE, TRUE, "ValidMetricFound",
                 "the HPA was able to successfully calculate a replica count from "
                 f"{proposals.metric_name}")
        desired, reason, normalized, history = _normalize(
            spec, proposals, current, min_replicas, history, work, config)
        if current == 0 and min_replicas != 0 and scaled_to_zero and desired < min_replicas:
            desired = min_replicas
            reason = reason or "Current number of replicas below Spec.MinReplicas"
        rescale = desired != current

    pre_conditions = work.conditions
    pre_history = history
    if rescale:
        work.set(ABLE_TO_SCALE, TRUE, "SucceededRescale",
                 f"the HPA controller was able to update the target scale to {desired}")
        history = store_scale_event(history, spec.behavior, current, desired, work.now)
        _set_scaled_to_zero(work, spec, current, desired, min_replicas, config)
    else:
        desired = current
    status = HPAStatus(current, desired, _generation(observation, config),
                       work.now if rescale else previous.last_scale_time, statuses,
                       work.conditions)
    return Decision(current, desired, rescale, status, history, reason, error, results,
                    normalized, pre_conditions, pre_history, previous)


def _normalize(spec: HorizontalPodAutoscalerSpec, proposals: Proposals, current: int,
               min_replicas: int, history: History, work: _Pass, config: ControllerConfig
               ) -> tuple[int, str, Normalized, History]:
    desired = max(0, proposals.replicas)
    reason = ""
    if desired > current:
        reason = f"{proposals.metric_name} above target"
    if desired < current:
        reason = "All metrics below target"
    normalized = normalize_desired_replicas(NormalizeInput(
        current_replicas=current, desired_replicas=desired, min_replicas=min_replicas,
        max_replicas=spec.max_replicas, behavior=spec.behavior,
        recommendations=history.recommendations or (),
        events=Events(history.scale_up_events, history.scale_down_events)), config, work.now)
    work.set(ABLE_TO_SCALE, TRUE, normalized.stabilized.reason, normalized.stabilized.message)
    work.set(SCALING_LIMITED, TRUE if normalized.scaling_limited else FALSE,
             normalized.limited.reason, normalized.limited.message)
    history = History(normalized.stabilized.recommendations, history.scale_up_events,
                      history.scale_down_events)
    return normalized.replicas, reason, normalized, history


def _set_scaled_to_zero(work: _Pass, spec: HorizontalPodAutoscalerSpec, current: int,
                        desired: int, min_replicas: int, config: ControllerConfig) -> None:
    # Set on every rescale so the condition is never stale (KEP-2021).
    if not config.feature_gates.hpa_scale_to_zero:
        work.conditions = remove_condition(work.conditions, SCALED_TO_ZERO)
    elif current > 0 and desired == 0 and min_replicas == 0 and has_object_or_external(spec):
        work.set(SCALED_TO_ZERO, TRUE, "ScaledToZero",
                 "the HPA controller scaled the workload to zero")
    else:
        work.set(SCALED_TO_ZERO, FALSE, "NotScaledToZero",
                 "the HPA controller did not scale the workload to zero")


def _condition_true(status: HPAStatus, condition_type: str) -> bool:
    condition = status.condition(condition_type)
    return condition is not None and condition.status == TRUE


def rescale_failed(decision: Decision, error: str, now: float) -> Decision:
    """The outcome when the scale update failed: FailedUpdateScale, the stored desired
    replicas kept, no scale event recorded (the recommendation still is)."""
    conditions = set_condition(decision.pre_rescale_conditions, ABLE_TO_SCALE, FALSE,
                               "FailedUpdateScale",
                               f"the HPA controller was unable to update the target scale: "
                               f"{error}", now)
    previous = decision.previous_status
    status = replace(decision.status, desired_replicas=previous.desired_replicas,
                     last_scale_time=previous.last_scale_time, conditions=conditions)
    return replace(decision, desired_replicas=previous.desired_replicas, rescale=False,
                   status=status, history=decision.pre_event_history,
                   error=f"failed to rescale: {error}")
