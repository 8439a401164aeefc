"""Fidelity over time: the core (`decide` + `settle`, state carried forward) against an
independent model of upstream's controller (`tests/upstream_model`, written from
horizontal.go, not from the core), step by step over random closed-loop scenarios.

Each CI run draws a fresh base seed (printed; `DIFF_SEED=<n>` replays it, `DIFF_SCENARIOS`
sets how many). A failure prints the seed, the step, the case that diverged and the
difference, so it can be replayed and turned into a named test.

Compared at every step: whether a write is attempted and its size, the whole status
(replicas, lastScaleTime, observedGeneration, current metrics, every condition with its
reason, message and transition time), and the Events (type and reason; messages of the
rescale events). Injected API errors are worded differently on each side, so messages
that quote them are compared up to the quoted error.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

from diff_scenarios import Scenario, case, gap, perturb, scenario
from upstream_model import UpstreamController

from algorithms.decide import decide
from algorithms.plan import Failed, NotAttempted, Outcome, Written, events_for, settle
from algorithms.state import ControllerState
from autoscaler.conformance import translate
from autoscaler.conformance.reconcile_kind import observe
from autoscaler.status_codec import status_to_dict

SCENARIOS = int(os.environ.get("DIFF_SCENARIOS", "2000"))
BASE_SEED = int(os.environ.get("DIFF_SEED", str(random.SystemRandom().randrange(2**32))))
# Messages that quote an injected error (worded differently by the two sides).
_QUOTING = ("FailedGet", "FailedUpdateScale", "FailedComputeMetricsReplicas", "InvalidSelector")


def _core_status(state: ControllerState) -> dict[str, Any]:
    return status_to_dict(state.status, lambda t: t)


def _comparable_status(status: dict[str, Any]) -> dict[str, Any]:
    out = dict(status)
    conditions = []
    for condition in status.get("conditions") or []:
        entry = dict(condition)
        if entry["status"] == "False" and entry["reason"].startswith(_QUOTING):
            entry["message"] = entry["message"].split(":")[0]
        conditions.append(entry)
    out["conditions"] = conditions
    return out


def _comparable_events(events: list[dict[str, str]]) -> list[tuple[str, str, str]]:
    return [(e["type"], e["reason"],
             e["message"] if e["reason"] in ("SuccessfulRescale",) else
             e["message"].split("; error:")[0] if e["reason"] == "FailedRescale" else "")
            for e in events]


def step_once(sc: Scenario, core: ControllerState, model: UpstreamController,
              model_status: dict[str, Any]) -> tuple[ControllerState, dict[str, Any],
                                                       list[str], dict[str, Any]]:
    """One sync on both sides; returns the new core state, the model's answer, the
    differences found and the case."""
    c = case(sc, model_status)
    spec, observation = observe(c)
    now = c["now"]
    plan = decide(spec, observation, core, now, translate.controller_config(c["controller"]))
    outcome: Outcome = NotAttempted()
    if plan.rescale:
        outcome = (Failed("the server rejected the update") if c["scale"]["update"] == "error"
                   else Written())
    core = settle(plan, outcome, now)
    answer = model.reconcile(c)
    diffs = []
    if plan.rescale != answer["rescale_attempted"] or (
            plan.rescale and plan.target_replicas != answer["new_replicas"]):
        diffs.append(f"write: core {plan.rescale} {plan.target_replicas}, upstream "
                     f"{answer['rescale_attempted']} {answer['new_replicas']}")
    ours, theirs = _comparable_status(_core_status(core)), _comparable_status(answer["status"])
    for key in sorted(set(ours) | set(theirs)):
        if ours.get(key) != theirs.get(key):
            diffs.append(f"status.{key}: core {ours.get(key)!r}, upstream {theirs.get(key)!r}")
    core_events = [{"type": e.type, "reason": e.reason, "message": e.message}
                   for e in events_for(plan, outcome)]
    if _comparable_events(core_events) != _comparable_events(answer["events"]):
        diffs.append(f"events: core {_comparable_events(core_events)}, upstream "
                     f"{_comparable_events(answer['events'])}")
    return core, answer, diffs, c


def run_scenario(seed: int) -> list[str]:
    sc = scenario(seed)
    core = ControllerState()
    model = UpstreamController()
    status: dict[str, Any] = {}
    log: list[str] = []
    for index in range(sc.steps):
        core, answer, diffs, c = step_once(sc, core, model, status)
        if diffs:
            return [f"seed {seed} step {index} (t={c['now'] - 1_000_000.0:+.1f}):",
                    *diffs, "history of the run:", *log[-8:],
                    "case: " + json.dumps({k: v for k, v in c.items()
                                           if k not in ("pods", "pod_metrics")})[:3000]]
        status = answer["status"]
        if answer["scale_updated"]:
            sc.world.set_replicas(answer["new_replicas"])
        note = perturb(sc)
        log.append(f"step {index}: {c['scale']['spec_replicas']} -> "
                   f"{answer['new_replicas'] if answer['scale_updated'] else '-'} {note}")
        sc.world.advance(gap(sc))
    return []


def test_sequences_match_upstream_step_by_step() -> None:
    print(f"differential base seed {BASE_SEED} ({SCENARIOS} scenarios; replay with "
          f"DIFF_SEED={BASE_SEED})")
    failures = []
    for offset in range(SCENARIOS):
        found = run_scenario(BASE_SEED + offset)
        if found:
            failures.append("\n".join(found))
            if len(failures) >= 3:
                break
    assert not failures, "\n\n".join(failures)
