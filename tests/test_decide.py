"""decide() and settle(): the whole pipeline on the seed's LlamaEdge Deployment (3000m
request, 50% CPU, 1..10), hand-computed, the outcomes of a plan, plus invariants that hold
for any input."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms.decide import decide
from algorithms.defaults import set_defaults
from algorithms.history import TimestampedRecommendation
from algorithms.observation import (
    MetricUnavailable,
    Observation,
    PodResourceUsage,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.plan import (
    DryRun,
    Failed,
    NotAttempted,
    Plan,
    Written,
    events_for,
    settle,
    write_ahead,
)
from algorithms.pods import ContainerInfo, PodInfo
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.spec_codec import parse_spec
from algorithms.state import ControllerState, resolve_pending

T0 = 1_000_000.0
SEED_SPEC = set_defaults(parse_spec({
    "maxReplicas": 10, "minReplicas": 1,
    "metrics": [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                       "name": "wasmedge-qwen-2-0-5b-allminilm-2"}}))
LABELS = {"app": "wasmedge-qwen-2-0-5b-allminilm-2"}
SELECTOR = "app=wasmedge-qwen-2-0-5b-allminilm-2"


def pod(i: int, started_ago: float = 3600.0) -> PodInfo:
    return PodInfo(name=f"qwen-{i}", start_time=T0 - started_ago,
                   ready_transition_time=T0 - started_ago + 20, labels=LABELS,
                   containers=(ContainerInfo("qwen-2-0-5b-container", {"cpu": 3000}),))


def observe(usages_milli: list[int], replicas: int | None = None,
            started_ago: float = 3600.0) -> Observation:
    n = len(usages_milli) if replicas is None else replicas
    metrics = ResourceMetricsData({
        f"qwen-{i}": PodResourceUsage(T0 - 5, 30.0, {"qwen-2-0-5b-container": {"cpu": u}})
        for i, u in enumerate(usages_milli)})
    return Observation(scale=ScaleObservation(n, n, SELECTOR),
                       pods=tuple(pod(i, started_ago) for i in range(n)), metrics=(metrics,))


def reasons(state: ControllerState) -> dict[str, str]:
    return {c.type: c.reason for c in state.status.conditions}


def written(plan: Plan) -> ControllerState:
    return settle(plan, Written() if plan.rescale else NotAttempted(), T0)


EMPTY = ControllerState()


@pytest.mark.parametrize(("usages", "state", "desired", "able", "limited"), [
    pytest.param([3000], EMPTY, 2, "ReadyForNewScale", "DesiredWithinRange",
                 id="one-busy-pod-100pct-doubles"),
    pytest.param([2700, 2700, 2700], EMPTY, 6, "ReadyForNewScale", "DesiredWithinRange",
                 id="90pct-of-3-goes-to-6"),
    pytest.param([1600, 1600, 1600], EMPTY, 3, "ReadyForNewScale", "DesiredWithinRange",
                 id="53pct-inside-tolerance-stays"),
    pytest.param([3000] * 4, EMPTY, 8, "ReadyForNewScale", "DesiredWithinRange",
                 id="4-saturated-pods-to-8"),
    pytest.param([3000] * 6, EMPTY, 10, "ReadyForNewScale", "TooManyReplicas",
                 id="saturated-6-capped-at-max-10"),
    pytest.param([300, 300, 300, 300], EMPTY, 4, "ScaleDownStabilized", "DesiredWithinRange",
                 id="idle-held-by-5min-window"),
    pytest.param([300, 300, 300, 300],
                 ControllerState((TimestampedRecommendation(4, T0 - 301),)), 1,
                 "ReadyForNewScale", "DesiredWithinRange", id="idle-after-window-drops-to-1"),
])
def test_seed_llamaedge_table(usages: list[int], state: ControllerState, desired: int,
                              able: str, limited: str) -> None:
    # A pass with no recorded history first records the current size (upstream
    # recordInitialRecommendation), which is what holds the idle case at 4.
    plan = decide(SEED_SPEC, observe(usages), state, T0)
    assert plan.target_replicas == desired
    assert plan.rescale == (desired != len(usages))
    after = written(plan)
    assert after.status.desired_replicas == desired
    assert reasons(after)["AbleToScale"] == ("SucceededRescale" if plan.rescale else able)
    assert reasons(plan.state)["AbleToScale"] == able  # before the write's outcome
    assert reasons(after)["ScalingLimited"] == limited
    assert reasons(after)["ScalingActive"] == "ValidMetricFound"


def test_new_pods_in_cpu_initialization_count_as_idle_on_scale_up() -> None:
    # Two pods: one warmed (100%), one that became ready 10 s ago with a 30 s window: its
    # sample is not trusted, so on scale-up it counts as 0%: ratio (3000+0)/6000 / 0.5 = 1.0
    # -> inside tolerance, stay at 2 (the bare formula would say ceil(2 * 2.0) = 4).
    warm = pod(0)
    fresh = replace(pod(1, started_ago=60.0), ready_transition_time=T0 - 10)
    obs = replace(observe([3000, 3000]), pods=(warm, fresh))
    plan = decide(SEED_SPEC, obs, EMPTY, T0)
    assert plan.target_replicas == 2 and not plan.rescale
    assert plan.state.status.current_metrics[0].current.average_utilization == 100


def test_reason_and_event_message_mirror_upstream() -> None:
    plan = decide(SEED_SPEC, observe([3000]), EMPTY, T0)
    assert plan.reason == "cpu resource utilization (percentage of request) above target"
    after = written(plan)
    assert after.status.last_scale_time == T0
    assert after.recommendations == (TimestampedRecommendation(1, T0),
                                     TimestampedRecommendation(2, T0))
    assert [(e.type, e.reason, e.message) for e in events_for(plan, Written())] == [
        ("Normal", "SuccessfulRescale", "New size: 2; reason: cpu resource utilization "
                                        "(percentage of request) above target")]


def test_metrics_unavailable_never_acts() -> None:
    obs = replace(observe([3000]), metrics=(MetricUnavailable("metrics-server unreachable"),))
    plan = decide(SEED_SPEC, obs, EMPTY, T0)
    assert not plan.rescale and plan.target_replicas == 1
    assert reasons(plan.state)["ScalingActive"] == "FailedGetResourceMetric"
    active = plan.state.status.condition("ScalingActive")
    assert active is not None and "metrics-server unreachable" in active.message
    # upstream's Warning events: the metric's, then the pass's
    assert [e.reason for e in plan.events] == ["FailedGetResourceMetric",
                                               "FailedComputeMetricsReplicas"]
    assert "metrics-server unreachable" in plan.events[0].message


BEHAVIOR_SPEC = set_defaults(replace(SEED_SPEC, behavior=parse_spec({
    "maxReplicas": 1, "scaleTargetRef": {"kind": "D", "name": "x"},
    "behavior": {"scaleUp": {}}}).behavior))


@pytest.mark.parametrize(("outcome", "desired", "able", "events", "event_reason"), [
    pytest.param(Written(), 2, "SucceededRescale", 1, "SuccessfulRescale", id="written"),
    pytest.param(Failed("connection refused"), 0, "FailedUpdateScale", 0, "FailedRescale",
                 id="failed-keeps-stored-desired"),
    pytest.param(DryRun(), 2, "DryRun", 0, "DryRunRescale", id="dry-run-shows-target"),
    pytest.param(NotAttempted("standby"), 0, "ReadyForNewScale", 0, None, id="standby-quiet"),
])
def test_outcomes_of_a_rescale_plan(outcome: Written | Failed | DryRun | NotAttempted,
                                    desired: int, able: str, events: int,
                                    event_reason: str | None) -> None:
    plan = decide(BEHAVIOR_SPEC, observe([3000]), EMPTY, T0)
    assert plan.rescale and plan.target_replicas == 2
    after = settle(plan, outcome, T0)
    assert after.status.desired_replicas == desired
    assert reasons(after)["AbleToScale"] == able
    assert len(after.scale_up_events) == events
    assert after.recommendations == plan.state.recommendations  # recorded whatever happens
    reasons_out = [e.reason for e in events_for(plan, outcome)]
    assert reasons_out == ([] if event_reason is None else [event_reason])


def test_failed_rescale_event_names_the_size_it_tried_to_set() -> None:
    # Upstream: "New size: %d; reason: %s; error: %v" with the *desired* size.
    plan = decide(SEED_SPEC, observe([3000] * 4), EMPTY, T0)
    (event,) = events_for(plan, Failed("HTTP 503"))
    assert event.message.startswith("New size: 8; reason: cpu resource utilization")
    assert event.message.endswith("; error: HTTP 503")


def test_write_ahead_state_resolves_to_the_written_state() -> None:

    plan = decide(BEHAVIOR_SPEC, observe([3000]), EMPTY, T0)
    announced = write_ahead(plan)
    assert announced.pending_scale is not None
    assert announced.status == plan.state.status  # the status shown does not pretend
    happened = resolve_pending(announced, current_replicas=2)
    assert happened.pending == "applied"
    assert happened.state == settle(plan, Written(), T0)
    never = resolve_pending(announced, current_replicas=1)
    assert never.pending == "dropped" and never.state == plan.state


def test_scale_read_failure_only_sets_able_to_scale() -> None:
    obs = Observation(scale=None, scale_error="deployments.apps not found")
    plan = decide(SEED_SPEC, obs, EMPTY, T0)
    assert not plan.rescale and plan.current_replicas is None
    assert [(c.type, c.reason) for c in plan.state.status.conditions] == [
        ("AbleToScale", "FailedGetScale")]
    assert [(e.reason, e.message) for e in plan.events] == [
        ("FailedGetScale", "deployments.apps not found")]
    assert plan.state.recommendations is None  # upstream records nothing before the scale


def _spec_with_bounds(low: int, high: int) -> HorizontalPodAutoscalerSpec:
    return replace(SEED_SPEC, min_replicas=low, max_replicas=high)


@given(st.lists(st.integers(0, 6000), min_size=1, max_size=10), st.integers(1, 5),
       st.integers(0, 10))
def test_decide_is_deterministic_and_bounded(usages: list[int], low: int, extra: int) -> None:
    spec = _spec_with_bounds(low, low + extra)
    obs = observe(usages)
    first = decide(spec, obs, EMPTY, T0)
    assert first == decide(spec, obs, EMPTY, T0)
    assert low <= first.target_replicas <= low + extra
