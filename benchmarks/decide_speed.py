"""Decisions per second of `algorithms.decide` (target: >= 20,000/s for 10 pods, one core).

Run by hand: `.venv/bin/python benchmarks/decide_speed.py`. Prints one line per pod count;
never asserted in tests (timings depend on the machine).
"""

from __future__ import annotations

import argparse
import time

from algorithms.decide import decide
from algorithms.defaults import set_defaults
from algorithms.observation import (
    Observation,
    PodResourceUsage,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.pods import ContainerInfo, PodInfo
from algorithms.spec_codec import parse_spec
from algorithms.state import ControllerState

T0 = 1_000_000.0
SPEC = set_defaults(parse_spec({
    "maxReplicas": 2000, "minReplicas": 1,
    "metrics": [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen"}}))


def observation(pods: int) -> Observation:
    labels = {"app": "qwen"}
    pod_list = tuple(PodInfo(name=f"qwen-{i}", start_time=T0 - 3600,
                             ready_transition_time=T0 - 3500, labels=labels,
                             containers=(ContainerInfo("c", {"cpu": 3000}),))
                     for i in range(pods))
    usage = ResourceMetricsData({f"qwen-{i}": PodResourceUsage(T0 - 5, 30.0,
                                                               {"c": {"cpu": 1000 + 17 * i}})
                                 for i in range(pods)})
    return Observation(scale=ScaleObservation(pods, pods, "app=qwen"), pods=pod_list,
                       metrics=(usage,))


def measure(pods: int, seconds: float) -> float:
    obs = observation(pods)
    history = ControllerState()
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(50):
            decide(SPEC, obs, history, T0)
        count += 50
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per pod count")
    parser.add_argument("--pods", type=int, nargs="+", default=[10, 1000])
    args = parser.parse_args()
    for pods in args.pods:
        rate = measure(pods, args.seconds)
        print(f"decide(): {pods:>5} pods: {rate:>10,.0f} decisions/s "
              f"({1e6 / rate:,.1f} us/decision)")


if __name__ == "__main__":
    main()
