"""`algorithms.state.ControllerState` <-> the JSON the daemon persists.

Two homes, one shape: an ElasticAutoscaler keeps the HPA status fields at the top of its
`status` and the rest under `status.history`; autoscalers without a status of their own
(YAML files, Sedna) keep `{"status": ..., "history": ...}` in a Lease annotation.

```json
"history": {"recommendations": [{"replicas": 4, "timestamp": "2027-01-15T08:00:15Z"}],
            "scaleUpEvents": [{"replicaChange": 2, "timestamp": "...", "outdated": false}],
            "scaleDownEvents": [],
            "observedAt": "2027-01-15T08:00:15.250000Z",
            "pendingScale": {"fromReplicas": 2, "toReplicas": 4, "at": "...",
                             "eventPeriodSeconds": 15, "scaledToZero": false}}
```

Times keep microseconds (window edges must survive a restart exactly). A history that does
not parse raises `InputError` naming the field; the caller then starts without memory
(upstream's behaviour after a restart) and says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.history import ScaleEvent, TimestampedRecommendation
from algorithms.state import ControllerState, PendingScale, RescaleEffects
from algorithms.status import HPAStatus
from autoscaler.errors import InputError
from autoscaler.rfc3339 import format_time, parse_time
from autoscaler.status_codec import status_from_dict, status_to_dict


def history_to_dict(state: ControllerState) -> dict[str, Any]:
    def events(items: tuple[ScaleEvent, ...]) -> list[dict[str, Any]]:
        return [{"replicaChange": e.replica_change, "timestamp": format_time(e.timestamp),
                 "outdated": e.outdated} for e in items]

    out: dict[str, Any] = {
        "recommendations": None if state.recommendations is None else [
            {"replicas": r.replicas, "timestamp": format_time(r.timestamp)}
            for r in state.recommendations],
        "scaleUpEvents": events(state.scale_up_events),
        "scaleDownEvents": events(state.scale_down_events),
        # Always present (null when unset): a merge patch must clear an old value.
        "observedAt": None if state.observed_at is None else format_time(state.observed_at),
        "pendingScale": None}
    pending = state.pending_scale
    if pending is not None:
        out["pendingScale"] = {"fromReplicas": pending.from_replicas,
                               "toReplicas": pending.to_replicas,
                               "at": format_time(pending.at),
                               "eventPeriodSeconds": pending.effects.event_period_seconds,
                               "scaledToZero": pending.effects.scaled_to_zero}
    return out


def state_from_dict(history: Any, status: HPAStatus) -> ControllerState:
    """The persisted history plus the status it was saved with; absent history = no memory."""
    if history is None or history == {}:
        return ControllerState(status=status)
    raw = _mapping(history, "history")
    recs_raw = raw.get("recommendations")
    recommendations = None if recs_raw is None else tuple(
        TimestampedRecommendation(_int(r, "replicas", f"history.recommendations[{i}]"),
                                  _time(r, "timestamp", f"history.recommendations[{i}]"))
        for i, r in enumerate(_list(recs_raw, "history.recommendations")))
    observed = raw.get("observedAt")
    return ControllerState(
        recommendations=recommendations or None,
        scale_up_events=_events(raw.get("scaleUpEvents"), "history.scaleUpEvents"),
        scale_down_events=_events(raw.get("scaleDownEvents"), "history.scaleDownEvents"),
        status=status,
        observed_at=None if observed is None else _time(raw, "observedAt", "history"),
        pending_scale=_pending(raw.get("pendingScale")))


def state_to_document(state: ControllerState) -> dict[str, Any]:
    """The Lease annotation's content: the status and the history together."""
    return {"status": status_to_dict(state.status, format_time),
            "history": history_to_dict(state)}


def state_from_document(document: Any) -> ControllerState:
    raw = _mapping(document, "state")
    return state_from_dict(raw.get("history"), parse_status(raw.get("status")))


def parse_status(raw: Any) -> HPAStatus:
    if raw is None:
        return HPAStatus()
    try:
        return status_from_dict(_mapping(raw, "status"), parse_time)
    except InputError:
        raise
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise InputError(f"status: malformed: {type(exc).__name__}: {exc}") from exc


def _events(raw: Any, path: str) -> tuple[ScaleEvent, ...]:
    out = []
    for i, event in enumerate(_list(raw or [], path)):
        outdated = _mapping(event, f"{path}[{i}]").get("outdated", False)
        if not isinstance(outdated, bool):
            raise InputError(f"{path}[{i}].outdated: {outdated!r} is not a boolean")
        out.append(ScaleEvent(_int(event, "replicaChange", f"{path}[{i}]"),
                              _time(event, "timestamp", f"{path}[{i}]"), outdated))
    return tuple(out)


def _pending(raw: Any) -> PendingScale | None:
    if raw is None:
        return None
    path = "history.pendingScale"
    body = _mapping(raw, path)
    period = body.get("eventPeriodSeconds")
    zero = body.get("scaledToZero")
    if period is not None and (isinstance(period, bool) or not isinstance(period, int)):
        raise InputError(f"{path}.eventPeriodSeconds: {period!r} is not an integer")
    if zero is not None and not isinstance(zero, bool):
        raise InputError(f"{path}.scaledToZero: {zero!r} is not a boolean")
    return PendingScale(_int(body, "fromReplicas", path), _int(body, "toReplicas", path),
                        _time(body, "at", path), RescaleEffects(period, zero))


def _mapping(raw: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InputError(f"{path}: expected an object, got {str(raw)[:60]!r}")
    return raw


def _list(raw: Any, path: str) -> list[Any]:
    if not isinstance(raw, list):
        raise InputError(f"{path}: expected a list, got {str(raw)[:60]!r}")
    return raw


def _int(raw: Any, key: str, path: str) -> int:
    value = _mapping(raw, path).get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31 - 1:
        raise InputError(f"{path}.{key}: {value!r} is not a replica count")
    return value


def _time(raw: Any, key: str, path: str) -> float:
    value = parse_time(_mapping(raw, path).get(key))
    if value is None:
        raise InputError(f"{path}.{key}: missing")
    return value
