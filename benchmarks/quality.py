"""Autoscaling quality on the shared real traces (run by hand; prints tables).

For each trace: the upstream default HPA (CPU 80 %, no behavior: what `kubectl autoscale`
gives), the seed's CPU 50 %, two tuned specs, a fixed fleet and the oracle (with its form
bounded at the HPAs' maxReplicas), all on the same simulated cluster (defaults: README,
"The simulator"). The LLM trace also gets the request-level table (attainment, goodput,
TTFT and end-to-end percentiles), once per `--routing` (default random; `all`: each).

    .venv/bin/python benchmarks/quality.py [--nasa-days 7] [--routing all]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from algorithms.slo.model import ROUTING_RANDOM, ROUTINGS
from autoscaler.replay.model import DecisionRecord, DemandSeries, StepChunk, Summary
from autoscaler.replay.report import format_summary_table
from autoscaler.replay.run import Policy, replay, spec_from_object
from autoscaler.replay.scenarios import IN_FLIGHT_HPA, bundled_llm_trace_path
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.traces import read_azure_llm_csv, read_per_minute_csv, read_rps_lines

TRACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "traces"


class Quiet:
    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        pass

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        pass

    def on_summary(self, summary: Summary) -> None:
        pass


def hpa(name: str, percent: int, high: int, behavior: dict[str, Any] | None = None) -> Policy:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "app"},
        "minReplicas": 1, "maxReplicas": high,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": percent}}}]}
    if behavior is not None:
        spec["behavior"] = behavior
    return Policy.hpa(*spec_from_object({"metadata": {"name": name}, "spec": spec}, name))


FAST_UP = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                       "policies": [{"type": "Percent", "value": 300, "periodSeconds": 15},
                                    {"type": "Pods", "value": 4, "periodSeconds": 15}]},
           "scaleDown": {"stabilizationWindowSeconds": 120,
                         "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]}}
SLOW_DOWN = {"scaleDown": {"stabilizationWindowSeconds": 600,
                           "policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}}


def policies(high: int, fixed: int) -> list[Policy]:
    return [hpa("upstream-default-cpu80", 80, high), hpa("seed-cpu50", 50, high),
            hpa("tuned-cpu40-fast-up", 40, high, FAST_UP),
            hpa("tuned-cpu60-slow-down", 60, high, SLOW_DOWN),
            Policy.fixed(fixed), Policy.oracle()]


def run(title: str, workload: Any, chosen: list[Policy], settings: SimulationSettings,
        unit: str) -> None:
    start = time.perf_counter()
    summaries = replay(workload, chosen, settings, Quiet())
    print(f"\n## {title}  ({time.perf_counter() - start:.1f} s)\n")
    print(format_summary_table(summaries, unit))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--nasa-days", type=float, default=7.0,
                        help="how much of the 58.6-day NASA trace to replay (0: all)")
    parser.add_argument("--routing", choices=[*ROUTINGS, "all"], default=ROUTING_RANDOM,
                        help="how the LLM requests reach the pods (default random)")
    args = parser.parse_args()

    for routing in ROUTINGS if args.routing == "all" else (args.routing,):
        for rate in (1.0, 0.25):
            llm = read_azure_llm_csv(bundled_llm_trace_path(), rate_scale=rate)
            run(f"Azure LLM code trace x{rate:g}, LlamaEdge qwen-2-0.5b pods (3000m, 1 "
                f"inference at a time), 1..10, {routing} routing: CPU vs requests in flight",
                llm, [*policies(10, 10)[:-1], Policy.fixed(20), IN_FLIGHT_HPA, Policy.oracle()],
                SimulationSettings(routing=routing), "requests")

    functions = read_per_minute_csv(TRACES / "azure_functions_2019_sample100_inv_per_min.csv")
    run("Azure Functions 2019 sample (sum of 100 functions, 1 day), 0.5 CPU-s per request, "
        "1..20", functions, policies(20, 5),
        SimulationSettings(cpu_seconds_per_request=0.5), "requests_per_second")

    nasa = read_rps_lines(TRACES / "nasa_http_1995_rps_workload.tbz2")
    if args.nasa_days > 0:
        keep = int(args.nasa_days * 86400)
        nasa = DemandSeries(0.0, 1.0, nasa.values[:keep], nasa.unit, nasa.source)
    run(f"NASA HTTP 1995, first {nasa.duration_seconds / 86400:.1f} days, 2 CPU-s per "
        "request, 1..20", nasa, policies(20, 6),
        SimulationSettings(cpu_seconds_per_request=2.0), "requests_per_second")


if __name__ == "__main__":
    main()
