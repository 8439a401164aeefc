"""A decision, explained: inputs, per-metric proposals, which stage limited it.

The same structure goes to the logs, to `status.explanation` and (as one line) to the
dry-run printer, so "why did it (not) scale?" has one answer everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from algorithms.plan import Plan
from algorithms.quantity import format_milli
from algorithms.status import HPAStatus, MetricStatus


@dataclass(frozen=True)
class MetricOrigin:
    """Where one metric's data came from, and (SLO recommender) the numbers behind it."""

    source: str
    detail: Mapping[str, float | int | str | bool] = field(default_factory=dict)


def current_value(status: MetricStatus) -> str:
    current = status.current
    if current.average_utilization is not None:
        return f"{current.average_utilization}%"
    milli = current.average_value_milli if current.average_value_milli is not None \
        else current.value_milli
    return "<unknown>" if milli is None else format_milli(milli, current.binary)


def limiting_stage(plan: Plan) -> str:
    """Which stage moved the answer away from the max across metrics (if any)."""
    normalized = plan.normalized
    if normalized is None:
        return "none"
    proposal = normalized.stabilized.reason
    if normalized.scaling_limited:
        return f"rate-limit/clamp ({normalized.limited.reason})"
    if proposal != "ReadyForNewScale":
        return f"stabilization ({proposal})"
    return "none"


def explain(plan: Plan, outcome: str, dry_run: bool, sources: tuple[MetricOrigin, ...] = ()
            ) -> dict[str, Any]:
    """`outcome` says what happened to the plan: "written", "failed: ...", "dry run",
    "not attempted: ...", or "" when no write was due."""
    metrics = []
    for index, result in enumerate(plan.metric_results):
        entry: dict[str, Any] = {"metric": result.metric_name or result.status.type}
        if index < len(sources):
            entry["source"] = sources[index].source
            if sources[index].detail:
                entry["recommender"] = dict(sources[index].detail)
        if result.failed:
            entry.update(error=result.failure_message, reason=result.failure_reason)
        else:
            entry.update(proposal=result.replicas, current=current_value(result.status))
        metrics.append(entry)
    normalized = plan.normalized
    stages: dict[str, Any] = {}
    if normalized is not None:
        stages = {"stabilized": normalized.stabilized.replicas,
                  "stabilization": normalized.stabilized.reason,
                  "limited": normalized.limited.replicas,
                  "limit": normalized.limited.reason}
    return {"currentReplicas": plan.current_replicas,
            "desiredReplicas": plan.target_replicas,
            "rescale": plan.rescale, "outcome": outcome, "dryRun": dry_run,
            "reason": plan.reason, "error": plan.error, "metrics": metrics, "stages": stages,
            "limitedBy": limiting_stage(plan)}


def targets(status: HPAStatus, spec_targets: list[str]) -> str:
    """`kubectl get hpa` TARGETS: current/target per metric, comma separated."""
    shown = []
    statuses = status.current_metrics
    for index, target in enumerate(spec_targets):
        value = current_value(statuses[index]) if index < len(statuses) and \
            statuses[index].type else "<unknown>"
        shown.append(f"{value}/{target}")
    return ", ".join(shown)
