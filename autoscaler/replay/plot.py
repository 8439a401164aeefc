"""Demand vs capacity vs replicas per policy, as a PNG, from a bounded-memory downsample.

One row per policy, the oracles apart in their own section below; demand and capacity share
one left axis in the workload's unit per second, each row's replicas have their own right
axis scaled to that policy's peak.

The simulator streams millions of steps and does not say how many will come, so each
policy's steps go into time buckets whose width starts at one second and doubles (merging
neighbouring pairs) whenever the buckets would outnumber `max_points`. Each bucket keeps
what a plot must not hide: the peak demand, the lowest capacity, the most replicas and
whether any step in it violated the SLO.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator
from numpy.typing import NDArray

from autoscaler.replay.model import DecisionRecord, FloatArray, IntArray, StepChunk, Summary
from autoscaler.replay.report_requests import policy_label

BoolArray = NDArray[np.bool_]

_DEMAND, _CAPACITY, _REPLICAS, _VIOLATION = "tab:blue", "tab:green", "tab:orange", "tab:red"
_VIOLATION_ALPHA = 0.25


@dataclass(frozen=True)
class Buckets:
    """Sparse buckets: bucket `index[i]` covers [origin + index*width, ... + width)."""

    origin: float
    width: float
    index: IntArray
    demand_max: FloatArray
    capacity_min: FloatArray
    replicas_max: IntArray
    violation_any: BoolArray

    @property
    def starts(self) -> FloatArray:
        return self.origin + self.index.astype(np.float64) * self.width

    def merged(self, other: Buckets) -> Buckets:
        """Both sets combined, buckets with the same index reduced into one."""
        return _grouped(self.origin, self.width, np.concatenate([self.index, other.index]),
                        np.concatenate([self.demand_max, other.demand_max]),
                        np.concatenate([self.capacity_min, other.capacity_min]),
                        np.concatenate([self.replicas_max, other.replicas_max]),
                        np.concatenate([self.violation_any, other.violation_any]))

    def coarsened(self) -> Buckets:
        """Twice as wide: buckets 2k and 2k+1 become bucket k."""
        return _grouped(self.origin, self.width * 2, self.index // 2, self.demand_max,
                        self.capacity_min, self.replicas_max, self.violation_any)


def _grouped(origin: float, width: float, index: IntArray, demand: FloatArray,
             capacity: FloatArray, replicas: IntArray, violation: BoolArray) -> Buckets:
    """One bucket per distinct index, in index order, each column reduced its own way."""
    if len(index) == 0:
        return _empty(origin, width)
    order = np.argsort(index, kind="stable")
    index = index[order]
    firsts = np.flatnonzero(np.concatenate([[True], index[1:] != index[:-1]]))
    return Buckets(origin, width, index[firsts],
                   np.maximum.reduceat(demand[order], firsts),
                   np.minimum.reduceat(capacity[order], firsts),
                   np.maximum.reduceat(replicas[order], firsts),
                   np.logical_or.reduceat(violation[order], firsts))


def _empty(origin: float, width: float) -> Buckets:
    return Buckets(origin, width, np.empty(0, np.int64), np.empty(0, np.float64),
                   np.empty(0, np.float64), np.empty(0, np.int64), np.empty(0, np.bool_))


class Downsampler:
    """One policy's steps, bucketed so that the buckets span at most `max_points` widths."""

    def __init__(self, max_points: int) -> None:
        if max_points < 2:
            raise ValueError("max_points must be at least 2")
        self.max_points = max_points
        self._buckets: Buckets | None = None

    @property
    def buckets(self) -> Buckets | None:
        return self._buckets

    def add(self, chunk: StepChunk) -> None:
        if len(chunk.t_seconds) == 0:
            return
        t = np.asarray(chunk.t_seconds, dtype=np.float64)
        current = self._buckets or _empty(float(t[0]), 1.0)
        current = self._widen_to_fit(current, float(t.min()), float(t.max()))
        index = np.floor((t - current.origin) / current.width).astype(np.int64)
        fresh = Buckets(current.origin, current.width, index,
                        np.asarray(chunk.demand, np.float64),
                        np.asarray(chunk.capacity, np.float64),
                        np.asarray(chunk.replicas, np.int64),
                        np.asarray(chunk.violation, np.bool_))
        self._buckets = current.merged(fresh)

    def _widen_to_fit(self, buckets: Buckets, t_min: float, t_max: float) -> Buckets:
        lowest, highest = t_min, t_max
        if len(buckets.index):
            lowest = min(lowest, float(buckets.starts[0]))
            highest = max(highest, float(buckets.starts[-1]))
        while self._span(buckets, lowest, highest) > self.max_points:
            buckets = buckets.coarsened()
        return buckets

    @staticmethod
    def _span(buckets: Buckets, lowest: float, highest: float) -> int:
        first = np.floor((lowest - buckets.origin) / buckets.width)
        last = np.floor((highest - buckets.origin) / buckets.width)
        return int(last - first) + 1


# Axis unit by total duration: (longest duration shown in it, divisor, label).
_TIME_UNITS = ((2 * 3600.0, 60.0, "minutes"), (3 * 86400.0, 3600.0, "hours"),
               (float("inf"), 86400.0, "days"))


def time_unit(duration_seconds: float) -> tuple[float, str]:
    for limit, divisor, label in _TIME_UNITS:
        if duration_seconds <= limit:
            return divisor, label
    raise AssertionError("unreachable: the last unit has no limit")


def panel_title(policy: str, summary: Summary | None) -> str:
    if summary is None:
        return policy
    return (f"{policy_label(summary)}: {summary.replica_seconds:,.0f} replica-s, "
            f"SLO violated {100 * summary.violation_share:.2f}%, "
            f"under-provisioned {100 * summary.underprovisioned_share:.2f}%, "
            f"{summary.scale_events} scale events, max {summary.max_replicas} replicas")


# The workload's unit (model.DemandSeries.unit, or "requests" for an LLM request trace) as
# the rate the plot shows: every plotted value is a per-second amount.
_RATES = {"cores": "CPU cores (CPU-s/s)", "requests_per_second": "requests/s",
          "requests": "requests/s"}


def rate_unit(unit: str) -> str:
    """What one unit of demand or capacity means, per second: `requests/s`."""
    if unit in _RATES:
        return _RATES[unit]
    if not unit:
        return "load/s"
    return unit if unit.endswith("/s") else f"{unit}/s"


def is_oracle(policy: str) -> bool:
    """The oracles ("oracle", "oracle<=N") know the future: a bound, not a controller."""
    return policy.startswith("oracle")


def replicas_top(peak: int) -> float:
    """A row's replica axis: its own peak with a little headroom, never a shared scale (a
    policy of 10 pods drawn on an oracle's 4,000 would be a flat line at the bottom)."""
    return max(1, peak) * 1.1 + 0.5


def format_seconds(seconds: float) -> str:
    for divisor, label in ((86400.0, "d"), (3600.0, "h"), (60.0, "min")):
        if seconds >= divisor:
            return f"{seconds / divisor:.3g} {label}"
    return f"{seconds:.3g} s"


ORACLE_HEADING = ("oracle: lower bound, knows the future (sizes every second for the load "
                  "to come: a yardstick, not a policy you can deploy)")
POLICY_HEADING = "policies you can run: what each would have done on this workload"


class PlotSink:
    """ReplaySink drawing one row per policy into a PNG on `close()`: the runnable policies
    first, the oracles apart below them."""

    def __init__(self, path: Path, max_points: int = 4000, *, unit: str = "",
                 dpi: int = 110) -> None:
        self.path = path
        self.max_points = max_points
        self.unit = unit
        self.dpi = dpi
        self._series: dict[str, Downsampler] = {}
        self._summaries: dict[str, Summary] = {}

    def downsampled(self, policy: str) -> Buckets | None:
        sampler = self._series.get(policy)
        return sampler.buckets if sampler else None

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        sampler = self._series.setdefault(policy, Downsampler(self.max_points))
        sampler.add(chunk)

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        pass

    def on_summary(self, summary: Summary) -> None:
        self._summaries[summary.policy] = summary
        self._series.setdefault(summary.policy, Downsampler(self.max_points))

    def close(self) -> None:
        if not self._series:
            return
        figure = self.render()
        FigureCanvasAgg(figure)
        figure.savefig(self.path, dpi=self.dpi)

    def render(self) -> Figure:
        """The figure `close()` saves. Each row's axes carry labels saying what they are:
        `demand:<policy>` (left, shared by every row) and `replicas:<policy>` (right, the
        row's own scale)."""
        # A bare Figure on the Agg canvas: no pyplot state, no GUI backend, nothing to close.
        policies = list(self._series)
        groups = [(heading, members) for heading, members in (
            (POLICY_HEADING, [p for p in policies if not is_oracle(p)]),
            (ORACLE_HEADING, [p for p in policies if is_oracle(p)])) if members]
        figure = Figure(figsize=(12, 1.4 + 2.2 * len(policies) + 0.4 * len(groups)),
                        layout="constrained")
        sections = figure.subfigures(len(groups), 1, squeeze=False,
                                     height_ratios=[len(m) + 0.2 for _, m in groups])[:, 0]
        divisor, label = time_unit(self._duration())
        origin = self._origin()
        rate = rate_unit(self.unit)
        rows: list[Axes] = []
        for section, (heading, members) in zip(sections, groups, strict=True):
            if heading == ORACLE_HEADING:
                section.set_facecolor(_ORACLE_BACKGROUND)
            section.suptitle(heading, x=0.01, ha="left", fontsize=10, fontweight="bold")
            axes = section.subplots(len(members), 1, squeeze=False)[:, 0]
            for ax, policy in zip(axes, members, strict=True):
                if rows:
                    # One time scale and one demand scale for every row, across sections.
                    ax.sharex(rows[0])
                    ax.sharey(rows[0])
                rows.append(ax)
                _draw_panel(ax, self._series[policy].buckets, origin, divisor, rate, policy)
                ax.set_title(panel_title(policy, self._summaries.get(policy)), fontsize=9,
                             loc="left")
            for ax in axes[:-1]:
                ax.tick_params(labelbottom=False)
        rows[-1].set_xlabel(f"time ({label})")
        # Set once all rows are drawn: the shared scale must fit every policy's peak.
        rows[0].set_ylim(0, self._load_top() * 1.08)
        handles = _legend_handles(rate)
        figure.legend(handles=handles, loc="outside upper center", ncols=2, fontsize=8,
                      title=f"each plotted step covers {format_seconds(self._width())} "
                            "of the replay", title_fontsize=8)
        return figure

    def _origin(self) -> float:
        starts = [b.origin for b in self._all_buckets()]
        return min(starts) if starts else 0.0

    def _duration(self) -> float:
        ends = [float(b.starts[-1]) + b.width for b in self._all_buckets() if len(b.index)]
        return max(ends) - self._origin() if ends else 0.0

    def _width(self) -> float:
        return max([1.0, *(b.width for b in self._all_buckets())])

    def _load_top(self) -> float:
        """The demand's peak, or a capacity peak up to twice it: capacity far above every
        demand says only "plenty" (an oracle of thousands of pods would flatten the rest)."""
        demand = [1e-9]
        capacity = [0.0]
        for b in self._all_buckets():
            for values, peaks in ((b.demand_max, demand), (b.capacity_min, capacity)):
                finite = values[np.isfinite(values)]
                if len(finite):
                    peaks.append(float(finite.max()))
        demand_peak = max(demand)
        return max(demand_peak, min(max(capacity), 2 * demand_peak))

    def _all_buckets(self) -> list[Buckets]:
        return [s.buckets for s in self._series.values() if s.buckets is not None]


_ORACLE_BACKGROUND = "#f1f1f6"


def _legend_handles(rate: str) -> list[Artist]:
    # Built once for the figure rather than collected from a row, which may have no
    # violation to show. Plain words: what each mark is, in which unit, on which axis.
    return [Line2D([], [], color=_DEMAND, label=f"demand ({rate}): the busiest second "
                   "in each plotted step; left axis"),
            Line2D([], [], color=_CAPACITY, label=f"ready capacity ({rate}): what the Ready "
                   "pods can serve, the lowest second in each step; left axis"),
            Line2D([], [], color=_REPLICAS, label="replicas: pods the policy asked for, the "
                   "most in each step; right axis, each row its own scale"),
            Patch(color=_VIOLATION, alpha=_VIOLATION_ALPHA,
                  label="shaded: the SLO was violated in some second of the step")]


def _draw_panel(ax: Axes, buckets: Buckets | None, origin: float, divisor: float,
                rate: str, policy: str) -> None:
    ax.set_label(f"demand:{policy}")
    ax.set_ylabel(f"demand, capacity\n({rate})", fontsize=8)
    ax.grid(True, alpha=0.3)
    replicas_ax = ax.twinx()
    replicas_ax.set_label(f"replicas:{policy}")
    replicas_ax.set_ylabel("replicas", fontsize=8, color=_REPLICAS)
    replicas_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if buckets is None or len(buckets.index) == 0:
        replicas_ax.set_ylim(0, replicas_top(0))
        return
    replicas_ax.set_ylim(0, replicas_top(int(buckets.replicas_max.max())))
    x = (np.append(buckets.starts, buckets.starts[-1] + buckets.width) - origin) / divisor
    _shade_violations(ax, x, buckets.violation_any)
    demand = np.append(buckets.demand_max, buckets.demand_max[-1])
    capacity = np.append(buckets.capacity_min, buckets.capacity_min[-1])
    replicas = np.append(buckets.replicas_max, buckets.replicas_max[-1])
    ax.plot(x, demand, drawstyle="steps-post", color=_DEMAND, lw=0.9)
    ax.plot(x, capacity, drawstyle="steps-post", color=_CAPACITY, lw=0.9)
    replicas_ax.plot(x, replicas, drawstyle="steps-post", color=_REPLICAS, lw=0.9,
                     alpha=0.8)


def _shade_violations(ax: Axes, x: FloatArray, violation: BoolArray) -> None:
    if not violation.any():
        return
    # Runs of violating buckets as (start, length) pairs: one collection, not a patch each.
    padded = np.concatenate([[False], violation, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    starts, stops = edges[::2], edges[1::2]
    spans = [(float(x[a]), float(x[b] - x[a])) for a, b in zip(starts, stops, strict=True)]
    ax.broken_barh(spans, (0, 1), transform=ax.get_xaxis_transform(), color=_VIOLATION,
                   alpha=_VIOLATION_ALPHA, linewidth=0)
