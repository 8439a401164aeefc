"""Run a scenario through the simulator with every report attached; write the outputs."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from autoscaler.errors import UsageError
from autoscaler.replay.model import DemandSeries
from autoscaler.replay.report import (
    DecisionLogWriter,
    ProgressBar,
    SummaryCollector,
    Tee,
    TimelineWriter,
    format_summary_table,
    summaries_to_json,
)
from autoscaler.replay.run import replay
from autoscaler.replay.scenarios import Scenario
from autoscaler.replay.settings import SimulationSettings


@dataclass(frozen=True)
class Outputs:
    """Where and what to write (the directory exists: the command checked it)."""

    out_dir: Path
    timeline: Path | None = None
    timeline_format: Literal["csv", "jsonl"] = "csv"
    plot: bool = True
    progress: bool | None = None  # None: only on a TTY
    every_sync: bool = False

    def written(self) -> list[Path]:
        paths = [self.out_dir / "decisions.log", self.out_dir / "summary.json"]
        if self.plot:
            paths.append(self.out_dir / "replay.png")
        if self.timeline is not None:
            paths.append(self.timeline)
        return paths


def plot_sink(path: Path, unit: str) -> Any:
    """The PNG sink; matplotlib is the `replay` extra, so without it: a clear usage error."""
    try:
        from autoscaler.replay.plot import PlotSink  # noqa: PLC0415 - matplotlib is optional
    except ImportError as exc:
        raise UsageError(f"replay.png needs matplotlib ({exc.name or exc} is not installed): "
                         "pip install 'edge-autoscaler[replay]', or pass --no-plot") from None
    return PlotSink(path, unit=unit)


def simulate(scenario: Scenario, settings: SimulationSettings, outputs: Outputs,
             out: TextIO) -> list[Path]:
    """Replay every policy, print the summary table on `out`; return the files written."""
    workload = scenario.workload
    unit = workload.unit if isinstance(workload, DemandSeries) else "requests"
    first = next((p.spec for p in scenario.policies if p.spec is not None), None)
    collector = SummaryCollector()
    with (outputs.out_dir / "decisions.log").open("w", encoding="utf-8") as log:
        sinks: list[Any] = [collector, DecisionLogWriter(
            log, "hpa", scenario.reference, first.min_replicas or 1 if first else 1,
            first.max_replicas if first else 1, every_sync=outputs.every_sync)]
        if outputs.plot:
            sinks.append(plot_sink(outputs.out_dir / "replay.png", unit))
        if outputs.timeline is not None:
            sinks.append(TimelineWriter(outputs.timeline, outputs.timeline_format))
        sinks.append(ProgressBar(workload.duration_seconds, enabled=outputs.progress))
        tee = Tee(*sinks)
        try:
            summaries = replay(workload, list(scenario.policies), settings, tee)
        finally:
            tee.close()
    (outputs.out_dir / "summary.json").write_text(summaries_to_json(summaries) + "\n",
                                                  encoding="utf-8")
    print(f"{scenario.name}: {scenario.description}", file=out)
    print(format_summary_table(collector.summaries, unit), file=out)
    return outputs.written()
