"""The fast path (`algorithms.fast_path`) against the full path it short-cuts.

`decide(..., fast_path=False)` is the reference: wherever the fast path answers, the Plan must
be equal, every field included (`==`, plus `repr` for the fields `==` leaves out, such as a
status value's BinarySI flag). Hypothesis draws observations inside the fast path's domain
and at each of its edges (pods just inside and outside the CPU initialization period and the
readiness delay, samples just inside and outside their window, missing samples, a container
without the resource or without a request, unready, pending, failed and deleting pods,
foreign pods, ambiguous or unusual selectors, a second metric), utilizations at the
tolerance edges, min/max clamps and behavior windows and policies, over a few passes that
carry the state forward like the daemon.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from strategies import behaviors

from algorithms.config import ControllerConfig
from algorithms.decide import decide
from algorithms.defaults import set_defaults
from algorithms.fast_path import fast_proposals
from algorithms.observation import (
    MetricData,
    Observation,
    PodResourceUsage,
    PodsMetricData,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.plan import NotAttempted, Plan, Written, settle, write_ahead
from algorithms.pods import FAILED, PENDING, RUNNING, ContainerInfo, PodInfo, ReadinessRules
from algorithms.quantity import parse_quantity
from algorithms.replicas import Tolerances
from algorithms.spec import (
    AVERAGE_VALUE,
    UTILIZATION,
    ContainerResourceMetricSource,
    CrossVersionObjectReference,
    HorizontalPodAutoscalerSpec,
    MetricIdentifier,
    MetricSpec,
    MetricTarget,
    PodsMetricSource,
    ResourceMetricSource,
)
from algorithms.state import ControllerState

T0 = 1_000_000.0
REF = CrossVersionObjectReference("Deployment", "web", "apps/v1")
LABELS = {"app": "web"}


def assert_same(fast: Plan, full: Plan) -> None:
    assert fast == full
    assert repr(fast) == repr(full)  # also the fields excluded from ==


# --------------------------------------------------------------------------- the world


@dataclass(frozen=True)
class PodShape:
    """One pod and how its sample relates to its readiness; times relative to `now`."""

    name: str
    phase: str
    ready: str | None
    deleting: bool
    selected: bool
    started_ago: float | None
    ready_after_start: float  # ready_transition_time - start_time
    requests: tuple[int | None, ...]  # per container; None: no request for the resource
    sidecar: tuple[int | None, str | None] | None  # an init container: request, policy
    sample: str  # "fresh", "missing", "partial" (a container lacks it), "empty", "edge-N"
    window: float
    jitter: tuple[int, ...]  # per container, percent points added to the pass's load


@dataclass(frozen=True)
class World:
    spec: HorizontalPodAutoscalerSpec
    config: ControllerConfig
    resource: str
    selector: str
    other_selectors: tuple[tuple[str, str], ...]
    pods: tuple[PodShape, ...]
    extra_metric: MetricData | None  # data of a second metric, if the spec has one
    replicas: int
    passes: tuple[tuple[float, int], ...]  # (seconds since the previous pass, load %)


# Offsets around the edges the readiness rules compare against.
_NEAR = (-1.0, -0.5, 0.0, 0.5, 1.0)


@st.composite
def pod_shapes(draw: st.DrawFn, index: int, rules: ReadinessRules, deviations: int
               ) -> PodShape:
    init = rules.cpu_initialization_period_seconds
    delay = rules.delay_of_initial_readiness_status_seconds
    started_ago = draw(st.one_of(
        st.sampled_from([3600.0, 2 * init + 1]),
        st.sampled_from(_NEAR).map(lambda d: init + d),
        st.floats(0, 2 * init + 10, allow_nan=False)))
    ready_after_start = draw(st.one_of(
        st.sampled_from(_NEAR).map(lambda d: delay + d),
        st.sampled_from([-5.0, 0.0, 20.0, 3000.0]),
        st.floats(-10, 2 * init, allow_nan=False)))
    containers = draw(st.integers(1, 2))
    requests = tuple(draw(st.sampled_from([1000, 3000, 250, 100])) for _ in range(containers))
    jitter = tuple(draw(st.sampled_from([0, 0, 0, 1, -1, 7, -13])) for _ in range(containers))
    shape = PodShape(name=f"web-{index}", phase=RUNNING, ready="True", deleting=False,
                     selected=True, started_ago=started_ago,
                     ready_after_start=ready_after_start, requests=requests, sidecar=None,
                     sample="fresh", window=draw(st.sampled_from([30.0, 15.0, 60.0])),
                     jitter=jitter)
    # Deviations, each at or just across an edge of the domain.
    for _ in range(deviations):
        what = draw(st.sampled_from([
            "phase", "ready", "deleting", "foreign", "no-start", "request", "sidecar",
            "sample", "sample", "edge"]))
        if what == "phase":
            shape = replace(shape, phase=draw(st.sampled_from([PENDING, FAILED, "Succeeded"])))
        elif what == "ready":
            shape = replace(shape, ready=draw(st.sampled_from(["False", None, "Unknown"])))
        elif what == "deleting":
            shape = replace(shape, deleting=True)
        elif what == "foreign":
            shape = replace(shape, selected=False)
        elif what == "no-start":
            shape = replace(shape, started_ago=None)
        elif what == "request":
            shape = replace(shape, requests=(*shape.requests[:-1],
                                             draw(st.sampled_from([None, 0]))))
        elif what == "sidecar":
            shape = replace(shape, sidecar=(draw(st.sampled_from([None, 0, 500])),
                                            draw(st.sampled_from(["Always", None]))))
        elif what == "sample":
            shape = replace(shape, sample=draw(st.sampled_from(["missing", "partial",
                                                                "empty"])))
        else:  # the sample ends just around ready_transition_time + window
            shape = replace(shape, sample=f"edge{draw(st.sampled_from(_NEAR))}",
                            started_ago=draw(st.floats(0, max(init - 1, 0),
                                                       allow_nan=False)))
    return shape


@st.composite
def worlds(draw: st.DrawFn) -> World:
    rules = draw(st.sampled_from([ReadinessRules(), ReadinessRules(60.0, 10.0),
                                  ReadinessRules(0.0, 0.0)]))
    tolerance = draw(st.sampled_from([Tolerances(), Tolerances(0.0, 0.0),
                                      Tolerances(0.05, 0.2)]))
    config = ControllerConfig(tolerances=tolerance, readiness=rules)
    resource = draw(st.sampled_from(["cpu", "cpu", "cpu", "memory", "nvidia.com/gpu"]))
    target = draw(st.sampled_from([50, 80, 100, 60, 1, 300]))
    metric = MetricSpec(type="Resource", resource=ResourceMetricSource(
        resource, MetricTarget(type=UTILIZATION, average_utilization=target)))
    extra_metric: MetricData | None = None
    metrics: tuple[MetricSpec, ...] = (metric,)
    variant = draw(st.sampled_from(["domain"] * 12 + ["average-value", "container", "two"]))
    if variant == "average-value":
        # Upstream reads averageValue first, whatever the type says (and the utilization).
        metric = MetricSpec(type="Resource", resource=ResourceMetricSource(
            resource, MetricTarget(type=draw(st.sampled_from([AVERAGE_VALUE, UTILIZATION])),
                                   average_value=parse_quantity("500m"),
                                   average_utilization=draw(st.sampled_from([None, target])))))
        metrics = (metric,)
    elif variant == "container":
        metrics = (MetricSpec(type="ContainerResource", container_resource=(
            ContainerResourceMetricSource(resource, "c0", metric.resource.target)
            if metric.resource else None)),)
    elif variant == "two":
        metrics = (metric, MetricSpec(type="Pods", pods=PodsMetricSource(
            MetricIdentifier("qps"), MetricTarget(type=AVERAGE_VALUE,
                                                  average_value=parse_quantity("10")))))
        extra_metric = PodsMetricData({"web-0": draw(st.sampled_from([5000, 10000, 30000]))})
    count = draw(st.integers(1, 7) | st.integers(0, 3))
    max_replicas = draw(st.integers(max(count, 1), 12) | st.integers(1, 12))
    min_replicas = draw(st.integers(1, max_replicas) | st.integers(1, min(max_replicas, 2)))
    spec = set_defaults(HorizontalPodAutoscalerSpec(
        scale_target_ref=REF, max_replicas=max_replicas, min_replicas=min_replicas,
        metrics=metrics, behavior=draw(st.one_of(st.none(), behaviors(False)))))
    # Every pod inside the domain, exactly one pod one step off, or anything.
    mode = draw(st.sampled_from(["inside"] * 3 + ["one-off"] * 2 + ["any"]))
    odd = draw(st.integers(0, max(count - 1, 0)))
    pods = tuple(draw(pod_shapes(i, rules, 0 if mode == "inside" else
                                 int(i == odd) if mode == "one-off" else
                                 draw(st.integers(0, 2))))
                 for i in range(count))
    selector = draw(st.sampled_from(["app=web"] * 12 + [
        "app in (web)", "app=web,tier!=db", "", "app=", "app==web", "=bad"]))
    other = draw(st.sampled_from([(), (), (), (), (("ns/other", "app=api"),),
                                  (("ns/other", "app=web"),), (("ns/junk", "(("),)]))
    replicas = draw(st.sampled_from([count] * 8 + [count + 1, max(count - 1, 0), 0,
                                                    max_replicas, max_replicas + 1,
                                                    min_replicas]))
    passes = tuple(draw(st.lists(st.tuples(
        st.sampled_from([15.0, 15.0, 30.0, 0.5, 1.0, 301.0]),
        st.one_of(st.sampled_from([target, target - 1, target + 1]),
                  st.sampled_from([0.9, 1.1, 0.95, 1.2, 0.8, 2.0, 0.1]).map(
                      lambda f: round(target * f)),
                  st.integers(0, 4 * target))), min_size=1, max_size=4)))
    return World(spec, config, resource, selector, other, pods, extra_metric, replicas,
                 passes)


def observe(world: World, now: float, load: int, replicas: int) -> Observation:
    pods = []
    samples = {}
    for shape in world.pods:
        start = None if shape.started_ago is None else now - shape.started_ago
        ready_at = (now if start is None else start) + shape.ready_after_start
        containers = tuple(ContainerInfo(f"c{i}", {} if r is None else {world.resource: r})
                           for i, r in enumerate(shape.requests))
        init: tuple[ContainerInfo, ...] = ()
        if shape.sidecar is not None:
            request, policy = shape.sidecar
            init = (ContainerInfo("side", {} if request is None else {world.resource: request},
                                  policy),)
        pods.append(PodInfo(name=shape.name, phase=shape.phase, ready=shape.ready,
                            ready_transition_time=ready_at, start_time=start,
                            deleting=shape.deleting,
                            labels=LABELS if shape.selected else {"app": "other"},
                            containers=containers, init_containers=init))
        if shape.sample == "missing":
            continue
        timestamp = now - 5.0
        if shape.sample.startswith("edge"):
            timestamp = ready_at + shape.window + float(shape.sample[4:])
        usage = {f"c{i}": {world.resource: max(0, (r or 1000) * (load + j) // 100)}
                 for i, (r, j) in enumerate(zip(shape.requests, shape.jitter, strict=True))}
        if shape.sample == "partial":
            usage["c0"] = {"other": 1}
        if shape.sample == "empty":
            usage = {}
        samples[shape.name] = PodResourceUsage(timestamp, shape.window, usage)
    metrics: tuple[MetricData, ...] = (ResourceMetricsData(samples),)
    if world.extra_metric is not None:
        metrics = (*metrics, world.extra_metric)
    return Observation(scale=ScaleObservation(replicas, replicas, world.selector),
                       pods=tuple(pods), metrics=metrics, other_selectors=world.other_selectors,
                       name="ns/web")


def passes_of(world: World) -> tuple[int, int]:
    """Run the world's passes, comparing both paths; returns (passes, fast-path hits)."""
    state = ControllerState()
    now = T0
    replicas = world.replicas
    hits = 0
    for gap, load in world.passes:
        now += gap
        observation = observe(world, now, load, replicas)
        assert observation.scale is not None
        if fast_proposals(world.spec, observation.scale, observation, world.config,
                          now) is not None:
            hits += 1
        fast = decide(world.spec, observation, state, now, world.config)
        full = decide(world.spec, observation, state, now, world.config, fast_path=False)
        assert_same(fast, full)
        state = settle(full, Written() if full.rescale else NotAttempted(), now)
        if full.rescale:
            replicas = full.target_replicas
    return len(world.passes), hits


@settings(max_examples=2000, deadline=None)
@given(worlds())
def test_fast_path_plan_equals_full_path(world: World) -> None:
    _, hits = passes_of(world)
    event("fast path taken" if hits else "full path only")


# ------------------------------------------------------------------- the domain's edges


def _world(pods: tuple[PodShape, ...], resource: str = "cpu", **changes: Any) -> World:
    spec = set_defaults(HorizontalPodAutoscalerSpec(
        scale_target_ref=REF, max_replicas=10, min_replicas=1, metrics=(MetricSpec(
            type="Resource", resource=ResourceMetricSource(resource, MetricTarget(
                type=UTILIZATION, average_utilization=50))),)))
    world = World(spec, ControllerConfig(), resource, "app=web", (), pods, None, len(pods),
                  ((0.0, 80),))
    return replace(world, **changes)


def _pod(index: int, **changes: Any) -> PodShape:
    shape = PodShape(f"web-{index}", RUNNING, "True", False, True, 3600.0, 20.0, (1000,),
                     None, "fresh", 30.0, (0,))
    return replace(shape, **changes)


@pytest.mark.parametrize(("pods", "fast"), [
    pytest.param((_pod(0), _pod(1)), True, id="settled-pods"),
    # CPU initialization period (300 s): inside it a sample counts only once a whole window
    # was collected after the pod became ready.
    pytest.param((_pod(0, started_ago=300.0),), True, id="init-period-just-over"),
    pytest.param((_pod(0, started_ago=299.5, sample="edge0.0"),), True,
                 id="initializing-window-complete"),
    pytest.param((_pod(0, started_ago=299.5, sample="edge-0.5"),), False,
                 id="initializing-window-incomplete"),
    # Readiness delay (30 s): an unready pod that was never ready is ignored...
    pytest.param((_pod(0, ready="False", ready_after_start=29.5),), False,
                 id="unready-within-delay"),
    # ... and one that was ready once counts.
    pytest.param((_pod(0, ready="False", ready_after_start=30.0),), True,
                 id="unready-after-delay"),
    pytest.param((_pod(0), _pod(1, sample="missing")), False, id="missing-sample"),
    pytest.param((_pod(0), _pod(1, sample="partial")), False, id="container-without-usage"),
    pytest.param((_pod(0), _pod(1, sample="empty")), False, id="sample-without-containers"),
    pytest.param((_pod(0), _pod(1, phase=PENDING)), False, id="pending"),
    pytest.param((_pod(0), _pod(1, deleting=True)), False, id="deleting"),
    pytest.param((_pod(0), _pod(1, selected=False, phase=FAILED)), True,
                 id="foreign-failed-pod-not-selected"),
    pytest.param((_pod(0), _pod(1, requests=(None,))), False, id="no-request"),
    pytest.param((_pod(0, sidecar=(500, "Always")),), True, id="sidecar-request-counts"),
    pytest.param((_pod(0, sidecar=(None, None)),), True, id="plain-init-container-ignored"),
    pytest.param((_pod(0, sidecar=(None, "Always")),), False, id="sidecar-without-request"),
    pytest.param((), False, id="no-pods"),
])
def test_domain_edges(pods: tuple[PodShape, ...], fast: bool) -> None:
    _, hits = passes_of(_world(pods))
    assert bool(hits) is fast


@pytest.mark.parametrize(("changes", "fast"), [
    pytest.param({"resource": "memory"}, True, id="memory-ignores-readiness"),
    pytest.param({"other_selectors": (("ns/api", "app=api"),)}, True, id="other-hpa-elsewhere"),
    pytest.param({"other_selectors": (("ns/dup", "app=web"),)}, False, id="ambiguous"),
    pytest.param({"selector": ""}, False, id="no-selector"),
    pytest.param({"selector": "=bad"}, False, id="bad-selector"),
    pytest.param({"selector": "app in (web),tier!=db"}, True, id="set-based-selector"),
])
def test_domain_edges_of_the_pass(changes: dict[str, Any], fast: bool) -> None:
    # The first pod is unready for CPU (never ready, within the readiness delay) when the
    # metric is memory: readiness rules apply to CPU only.
    pods = ((_pod(0, ready="False", ready_after_start=29.5), _pod(1))
            if changes.get("resource") == "memory" else (_pod(0), _pod(1)))
    world = _world(pods, **changes)
    _, hits = passes_of(world)
    assert bool(hits) is fast


def test_duplicate_pod_names_take_the_full_path() -> None:
    world = _world((_pod(0), _pod(0, requests=(3000,))))
    _, hits = passes_of(world)
    assert hits == 0


def test_next_state_carries_every_field() -> None:
    # decide builds the next state field by field (algorithms.state.next_state): a new
    # ControllerState field must be carried over there, then listed here.
    assert [f.name for f in fields(ControllerState)] == [
        "recommendations", "scale_up_events", "scale_down_events", "status", "observed_at",
        "pending_scale"]
    world = _world((_pod(0), _pod(1)), passes=((0.0, 90),))
    observation = observe(world, T0, 90, 2)
    plan = decide(world.spec, observation, ControllerState(), T0, world.config)
    written = write_ahead(plan)
    again = decide(world.spec, observation, written, T0 + 15, world.config)
    assert again.state == replace(written, recommendations=again.state.recommendations,
                                  status=again.state.status, observed_at=T0 + 15)
    assert again.state.pending_scale == written.pending_scale is not None


def test_tolerance_edge_is_inclusive_on_both_paths() -> None:
    # 45% and 55% of a 50% target are exactly 1 -/+ 0.1: inside the band, keep the size.
    for load in (45, 55, 44, 56):
        world = _world((_pod(0), _pod(1), _pod(2)), passes=((0.0, load),))
        assert passes_of(world) == (1, 1)
