"""Divergences from upstream found by sequence-level checks, named, with upstream's behaviour
as the expectation (values written down from horizontal.go / replica_calculator.go, and the
independent model in tests/upstream_model must agree too).

1. Per-pod External/Object metrics at zero replicas: upstream's
   GetExternalPerPodMetricReplicas / GetObjectPerPodMetricReplicas divide by status.replicas
   = 0 without an error and propose 0, so the idle recommendations are recorded.
2. When every valid proposal is 0, upstream's `replicas == 0 || proposal > replicas` names
   the *last* metric proposing 0.
3. With the HPAGeneration gate off, setStatus rebuilds the status without
   observedGeneration (a stored one is dropped).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from upstream_model import UpstreamController

from algorithms.decide import decide
from algorithms.plan import NotAttempted, Written, settle
from algorithms.state import ControllerState
from autoscaler.conformance import translate
from autoscaler.conformance.reconcile_kind import observe
from autoscaler.status_codec import status_from_dict, status_to_dict

T0 = 1_000_000.0


def external(name: str, average: str) -> dict[str, Any]:
    return {"type": "External", "external": {"metric": {"name": name}, "target": {
        "type": "AverageValue", "averageValue": average}}}


def base_case(spec: dict[str, Any], replicas: int, values: dict[str, list[str]],
              now: float, gates: dict[str, bool] | None = None) -> dict[str, Any]:
    controller: dict[str, Any] = {"tolerance": 0.1}
    if gates is not None:
        controller["feature_gates"] = gates
    return {"kind": "reconcile", "now": now,
            "hpa": {"metadata": {"name": "test-hpa", "namespace": "test-namespace",
                                 "generation": 3},
                    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                                "name": "queue-worker"}, **spec},
                    "status": {}},
            "scale": {"spec_replicas": replicas, "status_replicas": replicas,
                      "selector": "app=queue-worker"},
            "pods": [], "pod_metrics": {}, "external_metrics": values,
            "controller": controller}


class Both:
    """The core and the upstream model, each carrying its own state across calls."""

    def __init__(self) -> None:
        self.core = ControllerState()
        self.model = UpstreamController()
        self.model_status: dict[str, Any] = {}

    def step(self, case: dict[str, Any]) -> tuple[ControllerState, dict[str, Any], int]:
        case = copy.deepcopy(case)
        case["hpa"]["status"] = self.model_status
        spec, observation = observe(case)
        plan = decide(spec, observation, self.core, case["now"],
                      translate.controller_config(case["controller"]))
        self.core = settle(plan, Written() if plan.rescale else NotAttempted(), case["now"])
        answer = self.model.reconcile(case)
        self.model_status = answer["status"]
        assert status_to_dict(self.core.status, lambda t: t) == answer["status"]
        assert plan.rescale == answer["rescale_attempted"]
        return self.core, answer, plan.target_replicas


def conditions(state: ControllerState) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in state.status.conditions}


def test_queue_idle_at_zero_then_min_raised_scales_zero_to_one() -> None:
    both = Both()
    spec = {"minReplicas": 0, "maxReplicas": 5, "metrics": [external("queue", "2")],
            "behavior": {"scaleDown": {"stabilizationWindowSeconds": 0}}}
    _, answer, _ = both.step(base_case(spec, 1, {"queue": ["0"]}, T0))  # empty queue
    assert answer["new_replicas"] == 0
    state, _, _ = both.step(base_case(spec, 0, {"queue": ["0"]}, T0 + 15))
    # At zero with the queue empty upstream proposes 0 without error: still active.
    assert conditions(state)["ScalingActive"] == ("True", "ValidMetricFound")
    assert conditions(state)["ScaledToZero"] == ("True", "ScaledToZero")
    raised = {**spec, "minReplicas": 1}
    _, answer, target = both.step(base_case(raised, 0, {"queue": ["0"]}, T0 + 30))
    assert (target, answer["new_replicas"]) == (1, 1)


def test_idle_recommendations_at_zero_hold_a_scale_up_window() -> None:
    both = Both()
    spec = {"minReplicas": 0, "maxReplicas": 5, "metrics": [external("queue", "2")],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 60},
                         "scaleDown": {"stabilizationWindowSeconds": 0}}}
    _, answer, _ = both.step(base_case(spec, 1, {"queue": ["0"]}, T0))
    assert answer["new_replicas"] == 0
    both.step(base_case(spec, 0, {"queue": ["0"]}, T0 + 15))  # idle: a 0 is recorded
    _, answer, target = both.step(base_case(spec, 0, {"queue": ["6"]}, T0 + 30))
    # The queue fills: upstream holds 0 while the idle 0s are inside the 60 s window.
    assert not answer["rescale_attempted"] and target == 0
    _, answer, target = both.step(base_case(spec, 0, {"queue": ["6"]}, T0 + 76))
    assert answer["new_replicas"] == 3 and target == 3  # 6 / 2 per pod, window passed


def test_every_proposal_zero_names_the_last_metric() -> None:
    both = Both()
    spec = {"minReplicas": 0, "maxReplicas": 5,
            "metrics": [external("first", "2"), external("second", "2")]}
    state, _, _ = both.step(base_case(spec, 3, {"first": ["0"], "second": ["0"]}, T0))
    active = state.status.condition("ScalingActive")
    assert active is not None and active.message.endswith("from external metric second(nil)")


@pytest.mark.parametrize(("gate", "expected"), [
    pytest.param(True, 3, id="gate-on-generation"),
    pytest.param(False, None, id="gate-off-dropped"),
])
def test_observed_generation_follows_the_gate(gate: bool, expected: int | None) -> None:
    both = Both()
    spec = {"minReplicas": 1, "maxReplicas": 5, "metrics": [external("queue", "2")]}
    gates = {"HPAScaleToZero": True, "HPAConfigurableTolerance": True, "HPAGeneration": gate}
    both.model_status = {"observedGeneration": 2, "currentReplicas": 2, "desiredReplicas": 2}
    both.core = ControllerState(status=status_from_dict(both.model_status, lambda v: v))
    state, answer, _ = both.step(base_case(spec, 2, {"queue": ["4"]}, T0, gates))
    assert state.status.observed_generation == expected
    assert answer["status"].get("observedGeneration") == expected
