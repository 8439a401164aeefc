"""Kind `normalize`: the controller's pure steps after the per-metric proposal
(FORMAT-controller.md): `normalize`, `record_scale_event` and `default_behavior`."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.history import History, replicas_change_per_period, store_scale_event
from algorithms.normalize import NormalizeInput, normalize_desired_replicas
from algorithms.policies import Events
from algorithms.spec_codec import behavior_to_dict
from autoscaler.conformance import translate as t
from autoscaler.conformance.result import Outcome


def _compare(expect: Mapping[str, Any], got: Mapping[str, Any]) -> Outcome:
    """Compare only the keys the case expects."""
    mismatched = {k: v for k, v in expect.items() if got.get(k) != v}
    return Outcome(not mismatched, str(dict(expect)),
                   str({k: got.get(k) for k in expect}))


def _normalize(case: Mapping[str, Any]) -> Outcome:
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


def _record(case: Mapping[str, Any]) -> Outcome:
    history = t.history(case.get("history"))
    behavior = t.behavior(case.get("behavior"))
    now = float(t.need(case, "now", (int, float), ""))
    after = store_scale_event(history, behavior, t.need(case, "prev_replicas", int, ""),
                              t.need(case, "new_replicas", int, ""), now)
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


def _events(history: History, up: bool) -> list[dict[str, Any]]:
    events = history.scale_up_events if up else history.scale_down_events
    return [{"replica_change": e.replica_change, "outdated": e.outdated} for e in events]


def _default_behavior(case: Mapping[str, Any]) -> Outcome:
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


def run(case: Mapping[str, Any]) -> Outcome:
    op = t.need(case, "op", str, "")
    if op not in OPS:
        raise t.CaseFormatError("op", f"unsupported op {op!r}")
    return OPS[op](case)


