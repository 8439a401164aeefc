"""Autoscaling quality on the shared real traces (run by hand; prints tables).

For each trace, on the same simulated cluster (defaults: README, "The simulator"): the
upstream default HPA (CPU 80 %, no behavior: what `kubectl autoscale` gives), a sweep of
CPU targets (the cost/violation trade-off of just moving the target), the seed's and two
tuned specs, requests in flight per pod (LLM), the SLO recommender (`sloRecommender` +
the External metric `llm_slo_replicas`, README "SLO-driven scaling") with and without its
forecast and panic options, a fixed fleet and the oracle with its form bounded at the
HPAs' maxReplicas. Then issue #11's goals per SLO policy (benchmarks/quality_goals.py).

The LLM trace runs at `--llm-rate` (default 0.1: 10 one-slot pods get within a few points
of the attainment ceiling under every routing) once per `--routing` (default all).

    .venv/bin/python benchmarks/quality.py [--nasa-days 7] [--routing all] [--llm-rate 0.1]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from algorithms.slo.model import ROUTING_LEAST_IN_FLIGHT, ROUTINGS
from autoscaler.replay.model import DemandSeries, NullSink, Summary
from autoscaler.replay.report import format_summary_table
from autoscaler.replay.run import Policy, policy_from_object, replay
from autoscaler.replay.scenarios import bundled_llm_trace_path
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.traces import read_azure_llm_csv, read_per_minute_csv, read_rps_lines

sys.path.insert(0, str(Path(__file__).resolve().parent))
from quality_goals import format_goals, goals

TRACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "traces"
TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"}
UPSTREAM = "hpa:upstream-default-cpu80"
SWEEP = (80, 60, 50, 40, 30, 20)  # CPU targets: UPSTREAM is the first


def _policy(name: str, high: int, metrics: list[dict[str, Any]],
            behavior: dict[str, Any] | None = None, slo: dict[str, Any] | None = None
            ) -> Policy:
    spec: dict[str, Any] = {"scaleTargetRef": TARGET, "minReplicas": 1, "maxReplicas": high,
                            "metrics": metrics}
    if behavior is not None:
        spec["behavior"] = behavior
    if slo is not None:
        spec["sloRecommender"] = slo
    return policy_from_object({"metadata": {"name": name}, "spec": spec}, name)


def hpa(name: str, percent: int, high: int, behavior: dict[str, Any] | None = None) -> Policy:
    return _policy(name, high, [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": percent}}}], behavior)


SLO_METRIC = [{"type": "External", "external": {
    "metric": {"name": "llm_slo_replicas"},
    "target": {"type": "AverageValue", "averageValue": "1"}}}]
HOLT = {"forecast": {"method": "holt"}}
PANIC = {"panic": {"windowSeconds": 30, "threshold": 2}}


def slo_policies(high: int, base: dict[str, Any], attainments: tuple[float, ...]
                 ) -> list[Policy]:
    """The recommender at each attainment, then the highest with the forecast, the panic
    mode and both (`base` is the sloRecommender block without attainment)."""
    out = [_policy(f"slo-{a:g}", high, SLO_METRIC, slo={**base, "attainment": a})
           for a in attainments]
    top = {**base, "attainment": attainments[-1]}
    for suffix, extra in (("holt", HOLT), ("panic", PANIC), ("holt-panic", {**HOLT, **PANIC})):
        out.append(_policy(f"slo-{attainments[-1]:g}-{suffix}", high, SLO_METRIC,
                           slo={**top, **extra}))
    return out


FAST_UP = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                       "policies": [{"type": "Percent", "value": 300, "periodSeconds": 15},
                                    {"type": "Pods", "value": 4, "periodSeconds": 15}]},
           "scaleDown": {"stabilizationWindowSeconds": 120,
                         "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]}}
SLOW_DOWN = {"scaleDown": {"stabilizationWindowSeconds": 600,
                           "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}


def cpu_policies(high: int) -> list[Policy]:
    names = {80: "upstream-default-cpu80", 50: "seed-cpu50"}
    return [*(hpa(names.get(p, f"cpu{p}"), p, high) for p in SWEEP),
            hpa("tuned-cpu40-fast-up", 40, high, FAST_UP),
            hpa("tuned-cpu60-slow-down", 60, high, SLOW_DOWN)]


def sweep_names() -> list[str]:
    names = {80: "upstream-default-cpu80", 50: "seed-cpu50"}
    return [f"hpa:{names.get(p, f'cpu{p}')}" for p in SWEEP]


RESULTS: dict[str, list[Summary]] = {}  # title -> summaries, for --markdown


def run(title: str, workload: Any, chosen: list[Policy], settings: SimulationSettings,
        unit: str) -> None:
    start = time.perf_counter()
    summaries = replay(workload, chosen, settings, NullSink())
    RESULTS[title] = summaries
    print(f"\n## {title}  ({time.perf_counter() - start:.1f} s)\n")
    print(format_summary_table(summaries, unit))  # with the request table for requests
    high = max(p.spec.max_replicas for p in chosen if p.spec is not None)
    candidates = [p.name for p in chosen if p.slo is not None]
    print()
    print(format_goals(goals(summaries, UPSTREAM, sweep_names(), candidates,
                             f"oracle<={high}"), UPSTREAM, f"oracle<={high}"))


def markdown(results: dict[str, list[Summary]]) -> str:
    """The README's compact tables: per run, each policy's replica-hours and violations
    (attainment for requests), policies as rows, runs as columns."""
    titles = list(results)
    policies = list(dict.fromkeys(s.policy for t in titles for s in results[t]))
    lines = ["| policy | " + " | ".join(titles) + " |",
             "|---|" + "---|" * len(titles)]
    for name in policies:
        cells = []
        for title in titles:
            found = [s for s in results[title] if s.policy == name]
            if not found:
                cells.append("")
                continue
            s = found[0]
            shown = f"{s.requests.attainment:.1%} met" if s.requests is not None \
                else f"{s.violation_share:.2%} viol."
            cells.append(f"{s.replica_hours:,.1f} h, {shown}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nasa-days", type=float, default=7.0,
                        help="how much of the 58.6-day NASA trace to replay (0: all)")
    parser.add_argument("--routing", choices=[*ROUTINGS, "all"], default="all",
                        help="how the LLM requests reach the pods (default: each)")
    parser.add_argument("--llm-rate", type=float, default=0.1,
                        help="the Azure LLM trace's rate scale (default 0.1)")
    parser.add_argument("--only", choices=["llm", "functions", "nasa"], default=None)
    parser.add_argument("--markdown", action="store_true",
                        help="also print the README's compact tables at the end")
    args = parser.parse_args()

    if args.only in (None, "llm"):
        llm = read_azure_llm_csv(bundled_llm_trace_path(), rate_scale=args.llm_rate)
        for routing in ROUTINGS if args.routing == "all" else (args.routing,):
            block = {"ttftSeconds": 5, "routing": routing, "windowSeconds": 60,
                     "leadTimeSeconds": 60, "pod": {"slots": 1}}
            run(f"Azure LLM code trace x{args.llm_rate:g}, LlamaEdge qwen-2-0.5b pods (3000m, "
                f"1 inference at a time), 1..10, {routing} routing", llm,
                [*cpu_policies(10), _in_flight(10), *slo_policies(10, block, (0.8, 0.9)),
                 Policy.fixed(10), Policy.oracle()],
                SimulationSettings(routing=routing), "requests")

    # Series: a request is one "output token" decoded at 1 / (CPU-s per request) tokens/s on
    # one of the pod's 3 cores (3 slots); the work spreads evenly over the Ready pods, so the
    # model's shared queue (least-in-flight) fits; a second violates when work waits, so the
    # target is a short 1 s wait with deterministic service (serviceScv 0).
    series = {"ttftSeconds": 1, "routing": ROUTING_LEAST_IN_FLIGHT, "windowSeconds": 60,
              "leadTimeSeconds": 60, "serviceScv": 0, "pod": {"slots": 3}}
    if args.only in (None, "functions"):
        functions = read_per_minute_csv(TRACES / "azure_functions_2019_sample100_inv_per_min.csv")
        run("Azure Functions 2019 sample (sum of 100 functions, 1 day), 0.5 CPU-s per request, "
            "1..20", functions,
            [*cpu_policies(20), *slo_policies(20, series, (0.95, 0.99)), Policy.fixed(5),
             Policy.oracle()],
            SimulationSettings(cpu_seconds_per_request=0.5), "requests_per_second")

    if args.only in (None, "nasa"):
        nasa = read_rps_lines(TRACES / "nasa_http_1995_rps_workload.tbz2")
        if args.nasa_days > 0:
            keep = int(args.nasa_days * 86400)
            nasa = DemandSeries(0.0, 1.0, nasa.values[:keep], nasa.unit, nasa.source)
        run(f"NASA HTTP 1995, first {nasa.duration_seconds / 86400:.1f} days, 2 CPU-s per "
            "request, 1..20", nasa,
            [*cpu_policies(20), *slo_policies(20, series, (0.95, 0.99)), Policy.fixed(6),
             Policy.oracle()],
            SimulationSettings(cpu_seconds_per_request=2.0), "requests_per_second")
    if args.markdown:
        llm_runs = {t.split(", ")[-1]: v for t, v in RESULTS.items() if t.startswith("Azure LLM")}
        series_runs = {t.split(" (")[0].split(",")[0]: v for t, v in RESULTS.items()
                       if not t.startswith("Azure LLM")}
        for part in (llm_runs, series_runs):
            if part:
                print()
                print(markdown(part))


def _in_flight(high: int) -> Policy:
    return _policy("inflight-1-per-pod", high, [{"type": "Pods", "pods": {
        "metric": {"name": "llm_proxy_requests_in_flight"},
        "target": {"type": "AverageValue", "averageValue": "1"}}}])


if __name__ == "__main__":
    main()
