"""Per-policy summary: collected as the simulator finishes each policy, printed as a table."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from autoscaler.replay.model import (
    DecisionRecord,
    OracleChoice,
    RequestMetrics,
    StepChunk,
    Summary,
)
from autoscaler.replay.report_requests import format_request_table


class SummaryCollector:
    """ReplaySink keeping each policy's Summary in the order the runs finished."""

    def __init__(self) -> None:
        self._summaries: list[Summary] = []

    @property
    def summaries(self) -> tuple[Summary, ...]:
        return tuple(self._summaries)

    def on_summary(self, summary: Summary) -> None:
        self._summaries.append(summary)

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        pass

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        pass


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _percent(share: float) -> str:
    return f"{100.0 * share:.2f}%"


def _amount(value: float) -> str:
    # Requests are whole; core-seconds are not, and two decimals are plenty for them.
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"


def _row(summary: Summary) -> tuple[str, ...]:
    return (
        summary.policy,
        f"{summary.replica_seconds:,.0f}",
        f"{summary.violation_seconds:,.0f}",
        _percent(summary.violation_share),
        _percent(summary.underprovisioned_share),
        _seconds(summary.delay_p50_seconds),
        _seconds(summary.delay_p95_seconds),
        _seconds(summary.delay_p99_seconds),
        str(summary.scale_events),
        str(summary.max_replicas),
        _amount(summary.dropped),
    )


def _headers(unit: str) -> tuple[str, ...]:
    dropped = f"dropped ({unit})" if unit else "dropped"
    return ("policy", "replica-seconds", "violation s", "violation %", "underprov %",
            "p50 s", "p95 s", "p99 s", "scale events", "max replicas", dropped)


def _legend(summaries: Sequence[Summary]) -> list[str]:
    """What the summary table's columns count, once (request traces and series differ)."""
    lines = ["replica-seconds: pods (spec.replicas) summed over the seconds of the run; scale "
             "events: rescales (an oracle's: changes of its pod count, where counted); max "
             "replicas: the most pods at once"]
    if any(s.requests is not None for s in summaries):
        lines.append(
            "violation: seconds in which a request arrived that missed the TTFT SLO or was "
            "dropped (and their share of the run); underprov: seconds ending with a request "
            "waiting for a slot; p50/p95/p99: time to first token of the accepted requests; "
            "dropped: requests refused (the pod's queue full, or no pod Ready)")
    else:
        lines.append(
            "violation: seconds in which the demand exceeded the Ready pods' capacity or a "
            "backlog waited (and their share of the run); underprov: seconds in which the "
            "demand exceeded that capacity; p50/p95/p99: queueing delay of the work (-: not "
            "modeled); dropped: work beyond the backlog bound")
    return lines


def format_summary_table(summaries: Sequence[Summary], unit: str) -> str:
    """Aligned plain-text table, one row per policy: policy left-aligned, numbers right,
    then a legend of its columns.

    `unit` is the workload's unit, which is what `dropped` counts (e.g. "requests").
    The delay columns are queueing delay or TTFT where the simulator models them, else "-".
    Summaries of an LLM request trace (with request metrics) are followed by the request
    table and its notes (autoscaler.replay.report_requests).
    """
    # Dropped work is counted over time: core-seconds for CPU demand, requests for rates.
    amount = {"cores": "core-seconds", "requests_per_second": "requests"}.get(unit, unit)
    rows = [_headers(amount), *(_row(s) for s in summaries)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    lines += _legend(summaries)
    if any(s.requests is not None for s in summaries):
        lines += ["", format_request_table(summaries)]
    return "\n".join(lines)


def summaries_to_json(summaries: Sequence[Summary]) -> str:
    """JSON list of the Summary fields plus the two shares and replica-hours (request
    traces: goodput, and attainment and ceiling in `requests`), for scripts and CI artifacts.

    Strict JSON: a NaN or an infinity would be a bug upstream (the readers refuse inputs
    that could make one), so it raises ValueError here instead of writing `NaN`.
    """
    records = []
    for summary in summaries:
        record = dataclasses.asdict(summary)
        record["violation_share"] = summary.violation_share
        record["underprovisioned_share"] = summary.underprovisioned_share
        record["replica_hours"] = summary.replica_hours
        if summary.requests is not None:
            record["goodput_per_second"] = summary.goodput_per_second
            record["requests"]["attainment"] = summary.requests.attainment
            record["requests"]["ceiling"] = summary.requests.ceiling
        records.append(record)
    return json.dumps(records, indent=2, allow_nan=False)


def _fields(cls: type[Any], record: dict[str, Any]) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in record.items() if k in names}


def summaries_from_json(text: str) -> list[Summary]:
    """The Summary list `summaries_to_json` wrote (the derived values it adds are dropped).

    Raises ValueError (json.JSONDecodeError is one) or TypeError on anything else."""
    summaries = []
    for record in json.loads(text):
        fields = _fields(Summary, record)
        if fields.get("requests") is not None:
            fields["requests"] = RequestMetrics(**_fields(RequestMetrics, fields["requests"]))
        if fields.get("oracle") is not None:
            fields["oracle"] = OracleChoice(**_fields(OracleChoice, fields["oracle"]))
        summaries.append(Summary(**fields))
    return summaries
