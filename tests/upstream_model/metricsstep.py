"""``validateAndParseSelector`` and ``computeReplicasForMetrics`` of horizontal.go."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .calculator import ReplicaCalculator, Tolerances
from .metricsapi import CaseMetrics
from .metricspec import MetricContext, MetricFailure, MetricStatus, compute_replicas_for_metric
from .pods import Pod, parse_pod
from .quantity import parse_quantity
from .selector import SelectorError, parse_selector
from .settings import Settings
from .state import ReconcileState, ReconcileStop


def tolerances_for_hpa(settings: Settings, behavior: Mapping[str, Any] | None) -> Tolerances:
    """``tolerancesForHpa``."""
    result = settings.tolerances
    if behavior is None or not settings.gate("HPAConfigurableTolerance"):
        return result
    down, up = result.scale_down, result.scale_up
    if (behavior.get("scaleDown") or {}).get("tolerance") is not None:
        down = parse_quantity(behavior["scaleDown"]["tolerance"]).approximate_float()
    if (behavior.get("scaleUp") or {}).get("tolerance") is not None:
        up = parse_quantity(behavior["scaleUp"]["tolerance"]).approximate_float()
    return Tolerances(down, up)


def validate_and_parse_selector(state: ReconcileState) -> list[Pod]:
    """``validateAndParseSelector`` followed by the pod lister; the HPA is registered."""
    text = str(state.scale.get("selector", ""))
    if text == "":
        state.event("Warning", "SelectorRequired", "selector is required")
        state.set("ScalingActive", "False", "InvalidSelector",
                  "the HPA target's scale is missing a selector")
        raise ReconcileStop("selector is required")
    try:
        selector = parse_selector(text)
    except SelectorError as err:
        msg = f"couldn't convert selector into a corresponding internal selector object: {err}"
        state.event("Warning", "InvalidSelector", msg)
        state.set("ScalingActive", "False", "InvalidSelector", msg)
        raise ReconcileStop(msg) from err
    pods = [parse_pod(p) for p in state.case.get("pods") or []]
    selected = [p for p in pods if selector.matches(p.labels)]
    owners = {state.key} if selected else set()
    for other in state.case.get("other_hpa_selectors") or []:
        try:
            other_selector = parse_selector(str(other.get("selector", "")))
        except SelectorError:
            continue
        if any(other_selector.matches(p.labels) for p in selected):
            owners.add(f"{state.namespace}/{other.get('name', '')}")
    if len(owners) > 1:
        hpas = " ".join(sorted(owners))
        msg = f"pods by selector {text} are controlled by multiple HPAs: [{hpas}]"
        state.event("Warning", "AmbiguousSelector", msg)
        state.set("ScalingActive", "False", "AmbiguousSelector", msg)
        raise ReconcileStop(msg)
    return selected


def case_metrics(case: Mapping[str, Any]) -> CaseMetrics:
    custom = case.get("custom_metrics") or {}
    return CaseMetrics(
        resource_items=case.get("pod_metrics") or {},
        custom_pods=custom.get("pods") or {},
        objects=custom.get("objects") or [],
        external=case.get("external_metrics") or {},
        failing=frozenset(case.get("metrics_api_errors") or []),
    )


def _stop_compute(state: ReconcileState, current: int, statuses: list[MetricStatus] | None,
                  error: str) -> ReconcileStop:
    """The caller's ``err != nil && metricDesiredReplicas == -1`` branch."""
    state.set_status(current, state.status.desired_replicas, statuses, False)
    state.event("Warning", "FailedComputeMetricsReplicas", error)
    return ReconcileStop("failed to compute desired number of replicas based on listed metrics "
                         f"for {state.reference}: {error}")


def compute_replicas_for_metrics(
    state: ReconcileState, metrics_spec: list[Mapping[str, Any]], current: int
) -> tuple[int, str, list[MetricStatus], str]:
    """``computeReplicasForMetrics`` -> (replicas, metric name, statuses, partial error)."""
    try:
        pods = validate_and_parse_selector(state)
    except ReconcileStop as stop:
        raise _stop_compute(state, current, None, stop.error) from stop
    settings = state.settings
    calc = ReplicaCalculator(case_metrics(state.case), pods, settings.cpu_initialization_period,
                             settings.delay_of_initial_readiness_status, state.now)
    ctx = MetricContext(calc, current, int(state.scale.get("status_replicas", 0)),
                        tolerances_for_hpa(settings, state.behavior), state.namespace,
                        state.events)
    statuses: list[MetricStatus] = [{"type": ""} for _ in metrics_spec]
    replicas, metric, invalid = 0, "", 0
    first: MetricFailure | None = None
    for i, spec in enumerate(metrics_spec):
        try:
            proposal, name, statuses[i] = compute_replicas_for_metric(ctx, spec)
        except MetricFailure as failure:
            first = first if invalid > 0 else failure
            invalid += 1
            continue
        # Go: `if replicas == 0 || replicaCountProposal > replicas` -- with every proposal 0,
        # the last metric proposing 0 is the one named.
        if replicas == 0 or proposal > replicas:
            replicas, metric = proposal, name
    error = ""
    if first is not None:
        error = (f"invalid metrics ({invalid} invalid out of {len(metrics_spec)}), "
                 f"first error is: {first.error}")
    if invalid >= len(metrics_spec) or (invalid > 0 and replicas < current):
        if first is None:
            # No metric at all: Go sets the zero-valued condition and returns -1 with a nil
            # error, so reconcileAutoscaler carries on with a proposal of -1.
            state.set("", "", "", "")
            return -1, "", statuses, ""
        state.set("ScalingActive", "False", first.reason, first.message)
        raise _stop_compute(state, current, statuses, error)
    state.set("ScalingActive", "True", "ValidMetricFound",
              f"the HPA was able to successfully calculate a replica count from {metric}")
    return replicas, metric, statuses, error
