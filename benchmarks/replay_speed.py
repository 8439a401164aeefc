"""Replay speed and memory (run by hand; prints figures, asserts nothing).

1. One HPA over 7 days at 1-second steps (a seeded diurnal CPU demand series), `--runs`
   times; wall and CPU time of each run. Target: <= 2 s on one core.
2. The whole NASA-HTTP 1995 trace (5,059,950 s, ~58.6 days) at 1-second steps, one HPA,
   streamed through the simulator (no timeline kept). Target: peak RSS <= 500 MB.

Steady syncs (load, pods and state unable to change the decision) are advanced in one step
by default (`SimulationSettings.skip_steady_syncs`, proved equal by tests/test_replay_fast.py);
`--no-skip` runs `decide()` on every sync, for comparison.

    .venv/bin/python benchmarks/replay_speed.py [--skip-nasa] [--runs N] [--no-skip]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from autoscaler.replay.model import DecisionRecord, DemandSeries, StepChunk, Summary
from autoscaler.replay.run import replay
from autoscaler.replay.scenarios import SEED_HPA
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.traces import read_rps_lines

TRACES = Path(__file__).resolve().parents[1] / "tests" / "data" / "traces"
NASA = TRACES / "nasa_http_1995_rps_workload.tbz2"


class CountingSink:
    """Consumes the run like a real sink would, keeping only counts."""

    def __init__(self) -> None:
        self.steps = 0
        self.decisions = 0

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        self.steps += len(chunk.t_seconds)

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        self.decisions += 1

    def on_summary(self, summary: Summary) -> None:
        pass


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def replay_one(series: DemandSeries, settings: SimulationSettings, sink: CountingSink
               ) -> Summary:
    [summary] = replay(series, [SEED_HPA], settings, sink)
    return summary


def timed(run: Callable[[], Summary]) -> tuple[Summary, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def seven_days(runs: int, skip: bool) -> None:
    seconds = 7 * 86400
    t = np.arange(seconds)
    rng = np.random.default_rng(0)
    demand = 4.0 + 3.0 * np.sin(t / 86400 * 2 * np.pi) + rng.gamma(2.0, 0.5, seconds)
    series = DemandSeries(0.0, 1.0, demand, "cores", "synthetic diurnal")
    walls, cpus = [], []
    settings = SimulationSettings(skip_steady_syncs=skip)
    for run in range(1, runs + 1):
        sink = CountingSink()
        summary, wall, cpu = timed(partial(replay_one, series, settings, sink))
        walls.append(wall)
        cpus.append(cpu)
        print(f"7 days, 1 HPA, 1 s steps, run {run}: {wall:.2f} s wall, {cpu:.2f} s CPU "
              f"({sink.steps:,} steps, {sink.decisions:,} controller syncs, "
              f"{sink.steps / cpu:,.0f} steps per CPU second, "
              f"{cpu / sink.decisions * 1e6:,.1f} us CPU per sync incl. its 15 steps); "
              f"{summary.scale_events} scale events")
    if runs > 1:
        print(f"7 days: best {min(walls):.2f} s wall, {min(cpus):.2f} s CPU; median "
              f"{statistics.median(walls):.2f} s wall, {statistics.median(cpus):.2f} s CPU")


def nasa(skip: bool) -> None:
    start = time.perf_counter()
    series = read_rps_lines(NASA)
    read = time.perf_counter() - start
    sink = CountingSink()
    settings = SimulationSettings(cpu_seconds_per_request=0.5, skip_steady_syncs=skip)
    summary, wall, cpu = timed(partial(replay_one, series, settings, sink))
    print(f"NASA 1995, {series.duration_seconds / 86400:.1f} days at 1 s: read {read:.1f} s, "
          f"replay {wall:.1f} s wall, {cpu:.1f} s CPU ({sink.steps:,} steps, "
          f"{sink.decisions:,} syncs); peak RSS {peak_rss_mb():.0f} MB; replica-seconds "
          f"{summary.replica_seconds:,.0f}, violation {summary.violation_share:.2%}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--skip-nasa", action="store_true")
    parser.add_argument("--runs", type=int, default=3,
                        help="repeat the 7-day replay (a shared machine is noisy)")
    parser.add_argument("--no-skip", action="store_true",
                        help="run decide() on every sync (no steady-sync skipping)")
    args = parser.parse_args()
    print(f"steady-sync skipping: {'off' if args.no_skip else 'on'}")
    seven_days(max(1, args.runs), not args.no_skip)
    if not args.skip_nasa:
        nasa(not args.no_skip)


if __name__ == "__main__":
    main()
