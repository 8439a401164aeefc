"""The controller's in-memory per-HPA state, and its JSON shape (FORMAT-controller.md)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Recommendation:
    replicas: int
    timestamp: float


@dataclass
class ScaleEvent:
    replica_change: int
    timestamp: float
    outdated: bool = False


@dataclass
class History:
    recommendations: list[Recommendation] | None = None
    """None until recordInitialRecommendation (Go: no map entry / nil slice)."""
    scale_up_events: list[ScaleEvent] = field(default_factory=list)
    scale_down_events: list[ScaleEvent] = field(default_factory=list)


def _events(items: Any) -> list[ScaleEvent]:
    return [
        ScaleEvent(int(e["replica_change"]), float(e["timestamp"]), bool(e.get("outdated", False)))
        for e in items or []
    ]


def history_from_dict(obj: Mapping[str, Any] | None) -> History:
    """``{"recommendations": [{replicas, timestamp}] | null, "scale_up_events": [...], ...}``."""
    obj = obj or {}
    recs = obj.get("recommendations")
    return History(
        recommendations=None
        if recs is None
        else [Recommendation(int(r["replicas"]), float(r["timestamp"])) for r in recs],
        scale_up_events=_events(obj.get("scale_up_events")),
        scale_down_events=_events(obj.get("scale_down_events")),
    )


def history_to_dict(history: History) -> dict[str, Any]:
    def events(items: list[ScaleEvent]) -> list[dict[str, Any]]:
        return [
            {"replica_change": e.replica_change, "timestamp": e.timestamp, "outdated": e.outdated}
            for e in items
        ]

    return {
        "recommendations": None
        if history.recommendations is None
        else [{"replicas": r.replicas, "timestamp": r.timestamp} for r in history.recommendations],
        "scale_up_events": events(history.scale_up_events),
        "scale_down_events": events(history.scale_down_events),
    }
