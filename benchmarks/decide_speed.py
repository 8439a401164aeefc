"""Decisions per second of `algorithms.decide` (target: >= 20,000/s for 10 pods, one core).

Run by hand: `.venv/bin/python benchmarks/decide_speed.py`. Prints one line per pod count;
never asserted in tests (timings depend on the machine). `--state steady` carries the state
from pass to pass like the daemon; `--full-path` turns the fast path (`algorithms.fast_path`)
off, for comparison.
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


def measure(pods: int, seconds: float, steady: bool = False, fast_path: bool = True) -> float:
    """Fresh: every call starts from an empty state at T0 (the figure quoted since the
    start). Steady: the state is carried from pass to pass, one sync period apart, as the
    daemon does (a full stabilization window of recommendations, conditions that repeat)."""
    obs = observation(pods)
    history = ControllerState()
    count = 0
    now = T0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        if steady:
            for _ in range(50):
                history = decide(SPEC, obs, history, now, fast_path=fast_path).state
                now += 15.0
        else:
            for _ in range(50):
                decide(SPEC, obs, history, T0, fast_path=fast_path)
        count += 50
    return count / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0, help="time per pod count")
    parser.add_argument("--pods", type=int, nargs="+", default=[10, 1000])
    parser.add_argument("--state", choices=["fresh", "steady"], default="fresh",
                        help="an empty state every call (default) or the state carried over")
    parser.add_argument("--full-path", action="store_true",
                        help="disable the fast path (algorithms.fast_path) for comparison")
    args = parser.parse_args()
    for pods in args.pods:
        rate = measure(pods, args.seconds, args.state == "steady", not args.full_path)
        print(f"decide(): {pods:>5} pods: {rate:>10,.0f} decisions/s "
              f"({1e6 / rate:,.1f} us/decision)")


if __name__ == "__main__":
    main()
