"""`autoscaler replay` and `autoscaler demo`: workload + policies -> summary, log, plot,
and a few closing sentences saying what the numbers mean (autoscaler.replay.story).

Every failure is answered with one line on stderr (`error: <what>`, where the message says
what to change) and an exit status: 2 for the user's input (a flag, a trace, a policy file,
an output path), 1 for runtime failures (Prometheus unreachable, a write failing, out of
memory), 130 when interrupted. No traceback for any of them.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal, TextIO

from autoscaler.errors import AutoscalerError, InputError
from autoscaler.replay.from_prometheus import RangeRequest, fetch_range
from autoscaler.replay.limits import DEFAULT_LIMITS, TraceLimits
from autoscaler.replay.model import HpaWatchTrace, Workload
from autoscaler.replay.modes import OutputFlags, check_model, check_open_loop
from autoscaler.replay.open_loop import (
    compare,
    explain_comparisons,
    format_comparisons,
    write_summary,
)
from autoscaler.replay.report_summary import summaries_from_json
from autoscaler.replay.run import Policy, PolicyError, parse_policy
from autoscaler.replay.scenarios import SCENARIOS, Scenario
from autoscaler.replay.settings import ModelOverrides, SimulationSettings
from autoscaler.replay.story import story
from autoscaler.replay.traces import UsageError, read_trace

DEFAULT_OUT_DIR = Path("replay-out")
_MESSAGE_CHARS = 2000  # a message quoting a file must still be one readable line


@dataclass(frozen=True)
class ReplayOptions:
    scenario: str | None = None
    trace: Path | None = None
    fmt: str | None = None
    policies: tuple[str, ...] = ()
    trace_options: dict[str, Any] = field(default_factory=dict)
    # None means "not given": the default applies, and a kubectl-watch trace (which writes
    # nothing) can tell a flag it would ignore.
    out_dir: Path | None = None  # default replay-out
    timeline: Path | None = None
    timeline_format: Literal["csv", "jsonl"] | None = None  # default csv
    plot: bool | None = None  # default True
    progress: bool | None = None  # None: only on a TTY
    seed: int | None = None  # default 0
    every_sync: bool = False
    model: ModelOverrides = field(default_factory=ModelOverrides)
    prometheus: RangeRequest | None = None  # replay a range pulled from this Prometheus
    limits: TraceLimits = DEFAULT_LIMITS

    def outputs(self) -> OutputFlags:
        return OutputFlags(self.out_dir, self.timeline, self.timeline_format, self.plot,
                           self.progress, self.every_sync, self.seed)


def fail(message: object, status: int) -> int:
    """Print `error: message` as exactly one line on stderr; return `status`."""
    text = " ".join(str(message).split())
    if len(text) > _MESSAGE_CHARS:
        text = text[:_MESSAGE_CHARS] + "..."
    print(f"error: {text}", file=sys.stderr)
    return status


def run_replay(options: ReplayOptions, out: TextIO = sys.stdout) -> int:
    try:
        return _replay(options, out)
    except InputError as exc:  # a trace, a policy, a flag: the user's to fix
        return fail(exc, 2)
    except AutoscalerError as exc:  # Prometheus unreachable, or answering garbage
        return fail(exc, 1)
    except OSError as exc:  # an output could not be written (disk full, permissions)
        return fail(f"cannot write {exc.filename or 'an output'}: {exc.strerror or exc}", 1)
    except MemoryError:
        return fail("out of memory: replay a shorter part of the trace, or fewer requests "
                    "(a smaller --rate-scale)", 1)
    except KeyboardInterrupt:
        return fail("interrupted", 130)


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


def _replay(options: ReplayOptions, out: TextIO) -> int:
    if options.trace is None and options.prometheus is None:
        scenario = _named(options)
        if options.policies:
            raise UsageError("--policy needs --trace or --prometheus (a scenario brings its "
                             "own policies)")
        return _simulate(scenario, options, out)
    policies = _policies(options)  # a typo in a policy must not cost a long trace read
    trace, fmt = options.trace, options.fmt
    if options.prometheus is not None:
        destination = _out_dir(options) / "prometheus-range.json"
        trace = fetch_range(options.prometheus, destination, options.limits)
        fmt = "prometheus"
    assert trace is not None  # one of the two, by the test above
    workload = read_trace(trace, fmt, options.limits, **options.trace_options)
    if isinstance(workload, HpaWatchTrace):
        check_open_loop(options.outputs(), options.model, options.policies)
        spec = next((p.spec for p in policies if p.spec is not None), None)
        comparisons = compare(workload, spec)
        explanations = explain_comparisons(comparisons)
        print(format_comparisons(comparisons, explanations), file=out)
        written = write_summary(_out_dir(options) / "summary.json", comparisons, explanations,
                                str(trace))
        print(f"wrote {written}", file=out)
        return 0
    reference = next((f"{p.spec.scale_target_ref.kind}/{p.spec.scale_target_ref.name}"
                      for p in policies if p.spec is not None), "Deployment/replay")
    scenario = Scenario("trace", str(trace), workload, policies,
                        SimulationSettings(), reference)
    return _simulate(scenario, options, out)


def _out_dir(options: ReplayOptions) -> Path:
    """The output directory, created; a path that cannot be one is the user's to fix."""
    out_dir = options.out_dir or DEFAULT_OUT_DIR
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--out-dir {out_dir}: exists and is not a directory")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"--out-dir {out_dir}: cannot create: {exc.strerror or exc}"
                         ) from None
    if not os.access(out_dir, os.W_OK | os.X_OK):
        raise UsageError(f"--out-dir {out_dir}: not writable")
    return out_dir


def _check_timeline(timeline: Path | None) -> None:
    if timeline is None:
        return
    if timeline.is_dir():
        raise UsageError(f"--timeline {timeline} is a directory: give a file name")
    parent = timeline.parent
    if not parent.is_dir():
        raise UsageError(f"--timeline {timeline}: directory {parent} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"--timeline {timeline}: directory {parent} is not writable")


def _duration(workload: Workload) -> float:
    return 0.0 if isinstance(workload, HpaWatchTrace) else workload.duration_seconds


def _simulate(scenario: Scenario, options: ReplayOptions, out: TextIO) -> int:
    # The reports load matplotlib (a quarter of a second): not for a run that stops at a
    # mistake in its input.
    from autoscaler.replay.simulate import Outputs, simulate  # noqa: PLC0415
    check_model(options.model, scenario.workload, _duration(scenario.workload))
    settings = replace(options.model.apply(scenario.settings), seed=options.seed or 0)
    outputs = Outputs(_out_dir(options), options.timeline, options.timeline_format or "csv",
                      plot=options.plot is not False, progress=options.progress,
                      every_sync=options.every_sync)
    _check_timeline(options.timeline)
    written = simulate(scenario, settings, outputs, out)
    print("wrote " + ", ".join(str(p) for p in written), file=out)
    # The closing sentences last, where a reader looks first; from the summaries just
    # written (the simulator prints the tables itself, the story needs the policies too).
    summaries = summaries_from_json(
        (outputs.out_dir / "summary.json").read_text(encoding="utf-8"))
    closing = story(summaries, settings, scenario.policies)
    if closing:
        print("\n" + closing, file=out)
    return 0
