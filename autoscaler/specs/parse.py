"""Shared by every spec source: raw autoscaling/v2 spec JSON -> defaulted, validated spec,
plus the history codec for what the daemon persists between restarts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.defaults import set_defaults
from algorithms.errors import SpecError
from algorithms.history import History, ScaleEvent, TimestampedRecommendation
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.spec_codec import parse_spec
from algorithms.validation import validate_spec
from autoscaler.kube.convert import format_time, parse_time

EXTENSION_FIELDS = ("dryRun", "syncPeriodSeconds", "metricsSource", "metricQueries")


def checked_spec(raw: Any, path: str = "spec"
                 ) -> tuple[HorizontalPodAutoscalerSpec | None, tuple[str, ...]]:
    """(spec, ()) when valid, else (None, every error with its field path)."""
    if isinstance(raw, Mapping):
        raw = {k: v for k, v in raw.items() if k not in EXTENSION_FIELDS}
    try:
        spec = set_defaults(parse_spec(raw, path))
    except SpecError as exc:
        return None, tuple(str(e) for e in exc.errors)
    errors = validate_spec(spec, path)
    if errors:
        return None, tuple(str(e) for e in errors)
    return spec, ()


def history_from_dict(raw: Mapping[str, Any] | None) -> History:
    """Persisted history; absent means "no entry yet" (the first pass records one)."""
    if not raw:
        return History()
    recommendations = tuple(
        TimestampedRecommendation(int(r["replicas"]), parse_time(r["timestamp"]) or 0.0)
        for r in raw.get("recommendations") or [])
    return History(recommendations=recommendations or None,
                   scale_up_events=_events(raw.get("scaleUpEvents")),
                   scale_down_events=_events(raw.get("scaleDownEvents")))


def _events(raw: Any) -> tuple[ScaleEvent, ...]:
    return tuple(ScaleEvent(int(e["replicaChange"]), parse_time(e["timestamp"]) or 0.0,
                            bool(e.get("outdated", False))) for e in raw or [])


def history_to_dict(history: History) -> dict[str, Any]:
    def events(items: tuple[ScaleEvent, ...]) -> list[dict[str, Any]]:
        return [{"replicaChange": e.replica_change, "timestamp": format_time(e.timestamp),
                 "outdated": e.outdated} for e in items]

    return {"recommendations": [{"replicas": r.replicas, "timestamp": format_time(r.timestamp)}
                                for r in history.recommendations or ()],
            "scaleUpEvents": events(history.scale_up_events),
            "scaleDownEvents": events(history.scale_down_events)}
