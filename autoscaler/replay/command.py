"""`autoscaler replay` and `autoscaler demo`: workload + policies -> summary, log, plot."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

from autoscaler.replay.from_prometheus import RangeRequest, fetch_range
from autoscaler.replay.model import DemandSeries, HpaWatchTrace
from autoscaler.replay.open_loop import compare, format_comparisons
from autoscaler.replay.report import (
    DecisionLogWriter,
    PlotSink,
    ProgressBar,
    SummaryCollector,
    Tee,
    TimelineWriter,
    format_summary_table,
    summaries_to_json,
)
from autoscaler.replay.run import Policy, PolicyError, parse_policy, replay
from autoscaler.replay.scenarios import SCENARIOS, Scenario
from autoscaler.replay.settings import ModelOverrides, SimulationSettings
from autoscaler.replay.traces import TraceError, read_trace


@dataclass(frozen=True)
class ReplayOptions:
    scenario: str | None = None
    trace: Path | None = None
    fmt: str | None = None
    policies: tuple[str, ...] = ()
    trace_options: dict[str, Any] = field(default_factory=dict)
    out_dir: Path = Path("replay-out")
    timeline: Path | None = None
    timeline_format: Literal["csv", "jsonl"] = "csv"
    plot: bool = True
    progress: bool | None = None  # None: only on a TTY
    seed: int = 0
    every_sync: bool = False
    model: ModelOverrides = field(default_factory=ModelOverrides)
    prometheus: RangeRequest | None = None  # replay a range pulled from this Prometheus


def _named(options: ReplayOptions) -> Scenario:
    name = options.scenario or "llamaedge"
    if name not in SCENARIOS:
        raise PolicyError(f"unknown scenario {name!r}; choose one of {sorted(SCENARIOS)}")
    return SCENARIOS[name]()


def _policies(options: ReplayOptions) -> tuple[Policy, ...]:
    policies: list[Policy] = []
    for text in options.policies or ("oracle",):
        policies.extend(parse_policy(text))
    return tuple(policies)


def run_replay(options: ReplayOptions, out: TextIO = sys.stdout) -> int:
    try:
        trace, fmt = options.trace, options.fmt
        if options.prometheus is not None:
            trace = fetch_range(options.prometheus, options.out_dir / "prometheus-range.json")
            fmt = "prometheus"
        if trace is None:
            return _simulate(_named(options), options, out)
        workload = read_trace(trace, fmt, **options.trace_options)
        policies = _policies(options)
    except (PolicyError, TraceError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if isinstance(workload, HpaWatchTrace):
        spec = next((p.spec for p in policies if p.spec is not None), None)
        print(format_comparisons(compare(workload, spec)), file=out)
        return 0
    reference = next((f"{p.spec.scale_target_ref.kind}/{p.spec.scale_target_ref.name}"
                      for p in policies if p.spec is not None), "Deployment/replay")
    scenario = Scenario("trace", str(trace), workload, policies,
                        SimulationSettings(), reference)
    return _simulate(scenario, options, out)


def _simulate(scenario: Scenario, options: ReplayOptions, out: TextIO) -> int:
    settings = replace(options.model.apply(scenario.settings), seed=options.seed)
    options.out_dir.mkdir(parents=True, exist_ok=True)
    workload = scenario.workload
    unit = workload.unit if isinstance(workload, DemandSeries) else "requests"
    first = next((p.spec for p in scenario.policies if p.spec is not None), None)
    log_path = options.out_dir / "decisions.log"
    collector = SummaryCollector()
    with log_path.open("w", encoding="utf-8") as log:
        sinks: list[Any] = [collector, DecisionLogWriter(
            log, "hpa", scenario.reference, first.min_replicas or 1 if first else 1,
            first.max_replicas if first else 1, every_sync=options.every_sync)]
        if options.plot:
            sinks.append(PlotSink(options.out_dir / "replay.png", unit=unit))
        if options.timeline is not None:
            sinks.append(TimelineWriter(options.timeline, options.timeline_format))
        sinks.append(ProgressBar(workload.duration_seconds, enabled=options.progress))
        tee = Tee(*sinks)
        try:
            summaries = replay(workload, list(scenario.policies), settings, tee)
        finally:
            tee.close()
    (options.out_dir / "summary.json").write_text(summaries_to_json(summaries) + "\n")
    print(f"{scenario.name}: {scenario.description}", file=out)
    print(format_summary_table(collector.summaries, unit), file=out)
    outputs = [log_path, options.out_dir / "summary.json"]
    if options.plot:
        outputs.append(options.out_dir / "replay.png")
    if options.timeline is not None:
        outputs.append(options.timeline)
    print("wrote " + ", ".join(str(p) for p in outputs), file=out)
    return 0
