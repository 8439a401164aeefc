"""The request-level table of an LLM request trace, printed under the summary table.

Violation *seconds* (the series' headline) mostly measure how requests are routed, not how
well a policy scales: one late request makes its second violate. This table gives, per
policy, its cost, attainment (the share of requests meeting the TTFT SLO), goodput and
latency percentiles, then explains its columns, the routing and the ceiling once.
"""

from __future__ import annotations

from collections.abc import Sequence

from algorithms.slo.model import ROUTING_LEAST_IN_FLIGHT, ROUTING_RANDOM, ROUTING_ROUND_ROBIN
from autoscaler.replay.model import RequestMetrics, Summary

ROUTING_MEANING = {
    ROUTING_RANDOM: "a uniformly random Ready pod (kube-proxy, iptables mode)",
    ROUTING_ROUND_ROBIN: "the next Ready pod in turn (kube-proxy, IPVS rr)",
    ROUTING_LEAST_IN_FLIGHT: "the Ready pod with the fewest requests in flight (an "
                             "inference gateway)",
}

HEADERS = ("requests: policy", "replica-h", "scale events", "attainment", "met / arrived",
           "goodput/s", "TTFT p50/p95/p99 s", "e2e p50/p95/p99 s")


def _percent(share: float) -> str:
    return f"{100.0 * share:.2f}%"


def _triple(a: float | None, b: float | None, c: float | None) -> str:
    return "/".join("-" if v is None else f"{v:.2f}" for v in (a, b, c))


def policy_label(summary: Summary) -> str:
    """The policy, with an oracle's headroom: `oracle (k=3)`, `oracle<=10 (k=8, missed)`."""
    choice = summary.oracle
    if choice is None:
        return summary.policy
    missed = ", missed" if choice.missed else ""
    return f"{summary.policy} (k={choice.headroom:g}{missed})"


def _row(summary: Summary, requests: RequestMetrics) -> tuple[str, ...]:
    return (
        policy_label(summary),
        f"{summary.replica_hours:,.2f}",
        str(summary.scale_events),
        _percent(requests.attainment),
        f"{requests.met_slo:,} / {requests.arrived:,}",
        f"{summary.goodput_per_second or 0.0:.3f}",
        _triple(requests.ttft_p50_seconds, requests.ttft_p95_seconds,
                requests.ttft_p99_seconds),
        _triple(requests.latency_p50_seconds, requests.latency_p95_seconds,
                requests.latency_p99_seconds),
    )


def _notes(summaries: Sequence[Summary], first: RequestMetrics) -> list[str]:
    slo = f"{first.slo_ttft_seconds:g} s"
    routings = sorted({s.routing for s in summaries if s.routing is not None})
    lines = [f"routing: {r}: {ROUTING_MEANING.get(r, r)}" for r in routings]
    lines += [
        f"attainment: share of the arrived requests with a time to first token <= {slo} "
        f"(target {_percent(first.attainment_target)}; a dropped request fails), met / "
        "arrived: those requests and all; goodput: those per second of the run; replica-h: "
        "replica-seconds / 3600",
        "TTFT = wait + prefill, e2e = arrival to last token, over the accepted requests "
        "(histogram bin upper edges, <= 1.8 % high)",
        f"unavoidable: {first.unavoidable:,} of {first.arrived:,} requests have a prefill "
        f"alone above {slo}: no capacity meets them, attainment is at most "
        f"{_percent(first.ceiling)}",
    ]
    oracle = next((s.oracle for s in summaries if s.oracle is not None), None)
    if oracle is not None:
        why = (f"{_percent(first.attainment_target)} is out of reach, so the ceiling minus "
               "0.5 points" if oracle.basis == "ceiling" else "the target")
        lines.append(
            f"oracle: pods Ready at once for k x the requests in service if all started on "
            f"arrival, the smallest k reaching {_percent(oracle.target_attainment)} ({why}); "
            "missed: no k did, the best is shown; oracle<=N: at most N pods")
    return lines


def format_request_table(summaries: Sequence[Summary]) -> str:
    """Aligned table, one row per policy that has request metrics, then the notes."""
    measured = [(s, s.requests) for s in summaries if s.requests is not None]
    rows = [HEADERS, *(_row(s, r) for s, r in measured)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(HEADERS))]
    lines = []
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join(cells).rstrip())
    if measured:
        lines += _notes(summaries, measured[0][1])
    return "\n".join(lines)
