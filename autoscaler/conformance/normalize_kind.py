"""Kind `normalize`: the controller's pure steps after the per-metric proposal
(FORMAT-controller.md): `normalize`, `record_scale_event` and `default_behavior`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.history import replicas_change_per_period, scale_event_period
from algorithms.normalize import NormalizeInput, normalize_desired_replicas
from algorithms.policies import Events
from algorithms.spec_codec import behavior_to_dict
from algorithms.state import ControllerState, PendingScale, RescaleEffects, apply_written
from autoscaler.conformance import translate as t
from autoscaler.conformance.result import CaseResult


def _compare(expect: Mapping[str, Any], got: Mapping[str, Any]) -> CaseResult:
    """Compare only the keys the case expects."""
    mismatched = {k: v for k, v in expect.items() if got.get(k) != v}
    return CaseResult(not mismatched, str(dict(expect)),
                   str({k: got.get(k) for k in expect}))


def _normalize(case: Mapping[str, Any]) -> CaseResult:
    history = t.history(case.get("history"))
    args = NormalizeInput(
        current_replicas=t.need(case, "current_replicas", int, ""),
        desired_replicas=t.need(case, "desired_replicas", int, ""),
        min_replicas=t.need(case, "min_replicas", int, ""),
        max_replicas=t.need(case, "max_replicas", int, ""),
        behavior=t.behavior(case.get("behavior")),
        recommendations=history.recommendations or (),
        events=Events(history.scale_up_events, history.scale_down_events))
    result = normalize_desired_replicas(args, t.controller_config(case.get("controller")),
                                        float(t.need(case, "now", (int, float), "")))
    stored = result.stabilized.recommendations
    got = {"replicas": result.replicas,
           "scaling_limited_reason": result.limited.reason,
           "scaling_limited_status": "True" if result.scaling_limited else "False",
           "able_to_scale_reason": result.stabilized.reason,
           "recommendations": [r.replicas for r in stored],
           "recommendations_count": len(stored)}
    return _compare(t.need(case, "expect", dict, ""), got)


def _record(case: Mapping[str, Any]) -> CaseResult:
    history = t.history(case.get("history"))
    behavior = t.behavior(case.get("behavior"))
    now = float(t.need(case, "now", (int, float), ""))
    prev = t.need(case, "prev_replicas", int, "")
    new = t.need(case, "new_replicas", int, "")
    effects = RescaleEffects(scale_event_period(behavior, new > prev), scaled_to_zero=None)
    after = apply_written(history, PendingScale(prev, new, now, effects))
    expect = dict(t.need(case, "expect", dict, ""))
    got: dict[str, Any] = {
        "scale_up_events": _events(after, up=True),
        "scale_down_events": _events(after, up=False)}
    period = expect.get("period_change")
    if period is not None:
        direction = t.need(period, "direction", str, "expect.period_change")
        seconds = t.need(period, "period_seconds", int, "expect.period_change")
        events = history.scale_up_events if direction == "up" else history.scale_down_events
        got["period_change"] = {"direction": direction, "period_seconds": seconds,
                                "replicas": replicas_change_per_period(seconds, events, now)}
    return _compare(expect, got)


def _events(history: ControllerState, up: bool) -> list[dict[str, Any]]:
    events = history.scale_up_events if up else history.scale_down_events
    return [{"replica_change": e.replica_change, "outdated": e.outdated} for e in events]


def _default_behavior(case: Mapping[str, Any]) -> CaseResult:
    behavior = t.behavior(t.need(case, "behavior", dict, ""))
    assert behavior is not None
    got_dict = behavior_to_dict(behavior)
    want = t.need(t.need(case, "expect", dict, ""), "defaulted_behavior", dict, "expect")
    got: dict[str, Any] = {}
    for direction, fields in want.items():
        rules = got_dict.get(direction, {})
        got[direction] = {name: rules.get(name) for name in fields}
    return _compare(want, got)


OPS = {"normalize": _normalize, "record_scale_event": _record,
       "default_behavior": _default_behavior}


def run(case: Mapping[str, Any]) -> CaseResult:
    op = t.need(case, "op", str, "")
    if op not in OPS:
        raise t.CaseFormatError("op", f"unsupported op {op!r}")
    return OPS[op](case)


