"""Which replay flags apply to which mode; a flag that would be ignored is a usage error.

| mode | chosen by | takes |
|---|---|---|
| scenario | `--scenario` or nothing | outputs, model flags of its workload |
| trace | `--trace` (all formats but one) | + `--policy`, `--format`, scaling |
| Prometheus | `--prometheus URL --start --end` | + `--policy`, `--query`, `--step`, ... |
| open loop | a kubectl-watch trace | at most one HPA `--policy`, nothing written |

Model flags follow the workload: the LLM capacity flags need a request trace (azure-llm,
the llamaedge scenario), `--cpu-seconds-per-request` a request-rate series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from autoscaler.replay.input_errors import UsageError
from autoscaler.replay.model import DemandSeries, RequestTrace, Workload
from autoscaler.replay.settings import ModelOverrides

# The flag of each ModelOverrides field, for messages.
MODEL_FLAGS = {
    "metrics": "--metrics", "metric_window_seconds": "--metric-window",
    "startup_seconds": "--startup-seconds", "sync_period_seconds": "--sync-period",
    "capacity_preset": "--capacity", "prefill_tokens_per_second": "--prefill-tps",
    "decode_tokens_per_second": "--decode-tps", "concurrency": "--concurrency",
    "ttft_slo_seconds": "--ttft-slo", "slo_attainment": "--slo-attainment",
    "routing": "--routing", "cpu_seconds_per_request": "--cpu-seconds-per-request",
    "partition": "--partition",
}
LLM_FLAGS = ("--capacity", "--prefill-tps", "--decode-tps", "--concurrency", "--ttft-slo",
             "--slo-attainment", "--routing")
RATE_FLAGS = ("--cpu-seconds-per-request",)


def model_flags(model: ModelOverrides) -> list[str]:
    return [MODEL_FLAGS[f.name] for f in fields(model) if getattr(model, f.name) is not None]


def _listed(flags: Sequence[str]) -> str:
    return f"{flags[0]} does" if len(flags) == 1 else f"{', '.join(flags)} do"


def refuse(flags: Sequence[str], why: str) -> None:
    """One UsageError naming every flag that does not apply, and what to do instead."""
    if flags:
        raise UsageError(f"{_listed(flags)} not apply {why}")


@dataclass(frozen=True)
class OutputFlags:
    """The output flags as given (None / False: not given), for the open-loop check."""

    out_dir: Path | None = None
    timeline: Path | None = None
    timeline_format: str | None = None
    plot: bool | None = None
    progress: bool | None = None
    every_sync: bool = False
    seed: int | None = None

    def given(self) -> list[str]:
        named = (("--out-dir", self.out_dir is not None), ("--timeline", self.timeline is not None),
                 ("--timeline-format", self.timeline_format is not None),
                 ("--no-plot", self.plot is not None),
                 ("--progress/--no-progress", self.progress is not None),
                 ("--every-sync", self.every_sync), ("--seed", self.seed is not None))
        return [flag for flag, present in named if present]


def check_open_loop(outputs: OutputFlags, model: ModelOverrides, policies: Sequence[str]
                    ) -> None:
    """A kubectl-watch trace is compared, not simulated: outputs and model flags are moot."""
    refuse([f for f in outputs.given() if f != "--out-dir"] + model_flags(model),
           "to a kubectl-watch trace (it is compared open-loop, printed and written to "
           "--out-dir as summary.json; nothing is simulated): drop them")
    simulated = ("oracle<=", "fixed:")
    if len(policies) > 1 or any(p == "oracle" or p.startswith(simulated) for p in policies):
        raise UsageError("a kubectl-watch trace takes at most one --policy, an HPA file (the "
                         "spec to compare with the recording); fixed:N and oracle need a "
                         "simulated trace")


def check_model(model: ModelOverrides, workload: Workload, duration_seconds: float) -> None:
    """Model flags that the workload's engine would ignore are refused."""
    given = model_flags(model)
    if isinstance(workload, DemandSeries):
        refuse([f for f in given if f in LLM_FLAGS],
               f"to a demand series ({workload.unit}): the LLM capacity flags need a request "
               "trace (--format azure-llm, --scenario llamaedge)")
        if workload.unit != "requests_per_second":
            refuse([f for f in given if f in RATE_FLAGS],
                   f"to a series in {workload.unit}: it prices the requests of a request-rate "
                   "series (--unit requests_per_second)")
    if isinstance(workload, RequestTrace):
        refuse([f for f in given if f in RATE_FLAGS],
               "to an LLM request trace: its cost comes from --prefill-tps / --decode-tps")
    if model.partition is not None and model.partition[0] >= duration_seconds:
        raise UsageError(f"--partition starts at {model.partition[0]:g} s, after the "
                         f"workload ends ({duration_seconds:g} s)")
