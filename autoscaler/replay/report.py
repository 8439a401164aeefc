"""Replay outputs, each a ReplaySink the simulator feeds as it runs.

Per-step timeline (CSV/JSON Lines), `kubectl get hpa -w`-style decision log, summary table,
PNG plot and a progress bar live in their own modules; this one gathers them (not the plot:
matplotlib is the `replay` extra, imported only when a plot is drawn) and adds `Tee` to feed
several at once. The closing sentences are autoscaler.replay.story (pure, from the
summaries).
"""

from __future__ import annotations

from autoscaler.replay.model import DecisionRecord, ReplaySink, StepChunk, Summary
from autoscaler.replay.report_decisions import (
    DecisionLogWriter,
    format_age,
    format_replicas,
    format_targets,
)
from autoscaler.replay.report_progress import ProgressBar
from autoscaler.replay.report_summary import (
    SummaryCollector,
    format_summary_table,
    summaries_from_json,
    summaries_to_json,
)
from autoscaler.replay.report_timeline import COLUMNS, TimelineWriter, format_number

__all__ = [
    "COLUMNS",
    "DecisionLogWriter",
    "ProgressBar",
    "SummaryCollector",
    "Tee",
    "TimelineWriter",
    "format_age",
    "format_number",
    "format_replicas",
    "format_summary_table",
    "format_targets",
    "summaries_from_json",
    "summaries_to_json",
]


class Tee:
    """ReplaySink passing every call on to each of `sinks`, in order."""

    def __init__(self, *sinks: ReplaySink) -> None:
        self.sinks = sinks

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        for sink in self.sinks:
            sink.on_chunk(policy, chunk)

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        for sink in self.sinks:
            sink.on_decision(policy, record)

    def on_summary(self, summary: Summary) -> None:
        for sink in self.sinks:
            sink.on_summary(summary)

    def close(self) -> None:
        """Close the sinks that have a `close()` (files, the plot, the progress line)."""
        for sink in self.sinks:
            close = getattr(sink, "close", None)
            if callable(close):
                close()
