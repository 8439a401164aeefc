"""decide(): the whole pipeline on the seed's LlamaEdge Deployment (3000m request, 50% CPU,
1..10), hand-computed, plus invariants that hold for any input."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from algorithms.decide import Decision, decide, rescale_failed
from algorithms.defaults import set_defaults
from algorithms.history import History, TimestampedRecommendation
from algorithms.observation import (
    MetricUnavailable,
    Observation,
    PodResourceUsage,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.pods import ContainerInfo, PodInfo
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.spec_codec import parse_spec

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


def reasons(decision: Decision) -> dict[str, str]:
    return {c.type: c.reason for c in decision.status.conditions}


@pytest.mark.parametrize(("usages", "history", "desired", "able", "limited"), [
    pytest.param([3000], History(), 2, "ReadyForNewScale", "DesiredWithinRange",
                 id="one-busy-pod-100pct-doubles"),
    pytest.param([2700, 2700, 2700], History(), 6, "ReadyForNewScale", "DesiredWithinRange",
                 id="90pct-of-3-goes-to-6"),
    pytest.param([1600, 1600, 1600], History(), 3, "ReadyForNewScale", "DesiredWithinRange",
                 id="53pct-inside-tolerance-stays"),
    pytest.param([3000] * 4, History(), 8, "ReadyForNewScale", "DesiredWithinRange",
                 id="4-saturated-pods-to-8"),
    pytest.param([3000] * 6, History(), 10, "ReadyForNewScale", "TooManyReplicas",
                 id="saturated-6-capped-at-max-10"),
    pytest.param([300, 300, 300, 300], History(), 4, "ScaleDownStabilized", "DesiredWithinRange",
                 id="idle-held-by-5min-window"),
    pytest.param([300, 300, 300, 300],
                 History((TimestampedRecommendation(4, T0 - 301),)), 1,
                 "ReadyForNewScale", "DesiredWithinRange", id="idle-after-window-drops-to-1"),
])
def test_seed_llamaedge_table(usages: list[int], history: History, desired: int, able: str,
                              limited: str) -> None:
    # A pass with no recorded history first records the current size (upstream
    # recordInitialRecommendation), which is what holds the idle case at 4.
    decision = decide(SEED_SPEC, observe(usages), history, T0)
    assert decision.desired_replicas == desired
    assert decision.rescale == (desired != len(usages))
    assert reasons(decision)["AbleToScale"] == ("SucceededRescale" if decision.rescale else able)
    assert reasons(decision)["ScalingLimited"] == limited
    assert reasons(decision)["ScalingActive"] == "ValidMetricFound"


def test_new_pods_in_cpu_initialization_count_as_idle_on_scale_up() -> None:
    # Two pods: one warmed (100%), one that became ready 10 s ago with a 30 s window: its
    # sample is not trusted, so on scale-up it counts as 0%: ratio (3000+0)/6000 / 0.5 = 1.0
    # -> inside tolerance, stay at 2 (the bare formula would say ceil(2 * 2.0) = 4).
    warm = pod(0)
    fresh = replace(pod(1, started_ago=60.0), ready_transition_time=T0 - 10)
    obs = replace(observe([3000, 3000]), pods=(warm, fresh))
    decision = decide(SEED_SPEC, obs, History(), T0)
    assert decision.desired_replicas == 2
    assert decision.status.current_metrics[0].current.average_utilization == 100


def test_reason_and_event_message_mirror_upstream() -> None:
    decision = decide(SEED_SPEC, observe([3000]), History(), T0)
    assert decision.reason == "cpu resource utilization (percentage of request) above target"
    assert decision.status.last_scale_time == T0
    assert decision.history.recommendations == (TimestampedRecommendation(1, T0),
                                                TimestampedRecommendation(2, T0))


def test_metrics_unavailable_never_acts() -> None:
    obs = replace(observe([3000]), metrics=(MetricUnavailable("metrics-server unreachable"),))
    decision = decide(SEED_SPEC, obs, History(), T0)
    assert not decision.rescale
    assert reasons(decision)["ScalingActive"] == "FailedGetResourceMetric"
    active = decision.status.condition("ScalingActive")
    assert active is not None and "metrics-server unreachable" in active.message


def test_failed_update_records_no_scale_event_and_keeps_desired() -> None:
    spec = set_defaults(replace(SEED_SPEC, behavior=parse_spec({
        "maxReplicas": 1, "scaleTargetRef": {"kind": "D", "name": "x"},
        "behavior": {"scaleUp": {}}}).behavior))
    decision = decide(spec, observe([3000]), History(), T0)
    assert decision.rescale and len(decision.history.scale_up_events) == 1
    failed = rescale_failed(decision, "connection refused", T0)
    assert failed.history.scale_up_events == ()
    assert failed.status.desired_replicas == 0  # the stored (empty) status value
    assert reasons(failed)["AbleToScale"] == "FailedUpdateScale"
    assert failed.history.recommendations == decision.history.recommendations


def test_scale_read_failure_only_sets_able_to_scale() -> None:
    obs = Observation(scale=None, scale_error="deployments.apps not found")
    decision = decide(SEED_SPEC, obs, History(), T0)
    assert not decision.rescale
    assert [(c.type, c.reason) for c in decision.status.conditions] == [
        ("AbleToScale", "FailedGetScale")]


def _spec_with_bounds(low: int, high: int) -> HorizontalPodAutoscalerSpec:
    return replace(SEED_SPEC, min_replicas=low, max_replicas=high)


@given(st.lists(st.integers(0, 6000), min_size=1, max_size=10), st.integers(1, 5),
       st.integers(0, 10))
def test_decide_is_deterministic_and_bounded(usages: list[int], low: int, extra: int) -> None:
    spec = _spec_with_bounds(low, low + extra)
    obs = observe(usages)
    first = decide(spec, obs, History(), T0)
    assert first == decide(spec, obs, History(), T0)
    assert low <= first.desired_replicas <= low + extra
