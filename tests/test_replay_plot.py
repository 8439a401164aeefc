"""replay.png tells its story: read back from the matplotlib Figure that `PlotSink` saves.

Each policy's replicas on an axis of its own range, demand and capacity in the workload's
unit per second, one legend saying what every mark is, the oracles apart from the policies
one can run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure, SubFigure

from autoscaler.replay.model import StepChunk, Summary
from autoscaler.replay.plot import ORACLE_HEADING, PlotSink, is_oracle, rate_unit

DURATION = 1800


def chunk(peak: int, duration: int = DURATION, demand_peak: float = 5.0) -> StepChunk:
    """A day-like ramp of `duration` seconds whose replicas reach exactly `peak`."""
    t = np.arange(duration, dtype=np.float64)
    shape = 0.5 - 0.5 * np.cos(2 * np.pi * t / duration)  # 0 .. 1 .. 0
    replicas = np.round(shape * peak).astype(np.int64)
    demand = shape * demand_peak
    capacity = replicas * 0.8
    served = np.minimum(demand, capacity)
    return StepChunk(t_seconds=t, demand=demand, capacity=capacity.astype(np.float64),
                     replicas=replicas, ready=replicas.copy(), served=served,
                     queued=np.zeros(duration), dropped=demand - served,
                     violation=demand > capacity)


def summary(policy: str, peak: int) -> Summary:
    return Summary(policy=policy, duration_seconds=float(DURATION), replica_seconds=1000.0,
                   violation_seconds=10.0, underprovisioned_seconds=20.0, scale_events=4,
                   max_replicas=peak, arrived=100.0, served=90.0, dropped=10.0,
                   queued_at_end=0.0)


def render(peaks: dict[str, int], unit: str = "requests", tmp: Path = Path("unused.png"),
           max_points: int = 500) -> Figure:
    sink = PlotSink(tmp, max_points=max_points, unit=unit)
    for policy, peak in peaks.items():
        sink.on_chunk(policy, chunk(peak))
        sink.on_summary(summary(policy, peak))
    return sink.render()


def axis(figure: Figure, kind: str, policy: str) -> Axes:
    found = [ax for ax in figure.axes if ax.get_label() == f"{kind}:{policy}"]
    assert len(found) == 1, f"{kind} axis of {policy}: {[a.get_label() for a in figure.axes]}"
    return found[0]


def section(ax: Axes) -> SubFigure:
    parent = ax.get_figure(root=False)
    assert isinstance(parent, SubFigure)
    return parent


HUGE_ORACLE = {"hpa:seed-cpu50": 10, "hpa:inflight-1-per-pod": 10, "oracle": 4512,
               "oracle<=10": 10}
RANGES = {"hpa:small": 3, "hpa:wide": 160, "fixed:7": 7}
ONE_POD = {"fixed:1": 1}
ORACLES_ONLY = {"oracle": 25, "oracle<=40": 25}
ORACLE_FIRST = {"oracle": 900, "hpa:late": 12}

POLICY_SETS = [
    pytest.param(HUGE_ORACLE, id="HPAs of 10 beside an oracle of 4,512"),
    pytest.param(RANGES, id="3, 7 and 160 replicas"),
    pytest.param(ONE_POD, id="a single pod"),
    pytest.param(ORACLES_ONLY, id="only oracles"),
    pytest.param(ORACLE_FIRST, id="the oracle reported first"),
]


# --- each policy its own replica axis ------------------------------------------------------


@pytest.mark.parametrize("peaks", POLICY_SETS)
def test_each_policy_has_a_replica_axis_of_its_own_range(peaks: dict[str, int]) -> None:
    figure = render(peaks)
    replica_axes = [axis(figure, "replicas", policy) for policy in peaks]
    assert len({id(ax) for ax in replica_axes}) == len(peaks)
    for policy, peak in peaks.items():
        bottom, top = axis(figure, "replicas", policy).get_ylim()
        assert bottom == 0
        # The peak is drawn below the top edge, and the range is the policy's own: at most
        # 1.3x its peak plus a pod of padding (not the largest policy's scale).
        assert peak < top <= 1.3 * max(peak, 1) + 1, (policy, peak, top)


@pytest.mark.parametrize(("peaks", "policy", "other"), [
    pytest.param(HUGE_ORACLE, "hpa:seed-cpu50", "oracle", id="10 pods not on 4,512's scale"),
    pytest.param(RANGES, "hpa:small", "hpa:wide", id="3 pods not on 160's scale"),
    pytest.param(RANGES, "fixed:7", "hpa:wide", id="7 pods not on 160's scale"),
    pytest.param(ORACLE_FIRST, "hpa:late", "oracle", id="12 pods not on 900's scale"),
])
def test_a_small_policy_is_not_flattened_by_a_large_one(peaks: dict[str, int], policy: str,
                                                        other: str) -> None:
    figure = render(peaks)
    small = axis(figure, "replicas", policy).get_ylim()[1]
    large = axis(figure, "replicas", other).get_ylim()[1]
    assert small < large / 4


@pytest.mark.parametrize("peaks", POLICY_SETS)
def test_demand_axes_share_one_scale_that_fits_the_demand(peaks: dict[str, int]) -> None:
    figure = render(peaks)
    limits = {axis(figure, "demand", policy).get_ylim() for policy in peaks}
    assert len(limits) == 1
    (bottom, top), = limits
    assert bottom == 0
    assert top >= 5.0  # the demand's peak in `chunk`


# --- units -------------------------------------------------------------------------------


@pytest.mark.parametrize(("unit", "expected"), [
    pytest.param("requests", "requests/s", id="LLM request trace: arrivals per second"),
    pytest.param("requests_per_second", "requests/s", id="request-rate series"),
    pytest.param("cores", "CPU cores (CPU-s/s)", id="CPU demand series"),
    pytest.param("", "load/s", id="no unit given"),
    pytest.param("tokens", "tokens/s", id="another unit"),
    pytest.param("tokens/s", "tokens/s", id="already a rate"),
])
def test_rate_unit(unit: str, expected: str) -> None:
    assert rate_unit(unit) == expected


@pytest.mark.parametrize(("unit", "shown"), [
    pytest.param("requests", "requests/s", id="request trace"),
    pytest.param("requests_per_second", "requests/s", id="request-rate series"),
    pytest.param("cores", "CPU-s/s", id="CPU series"),
    pytest.param("", "/s", id="no unit"),
])
def test_demand_axis_says_its_unit_per_second(unit: str, shown: str) -> None:
    figure = render(HUGE_ORACLE, unit=unit)
    for policy in HUGE_ORACLE:
        label = axis(figure, "demand", policy).get_ylabel()
        assert "/s" in label
        assert shown in label
        assert "replicas" in axis(figure, "replicas", policy).get_ylabel()


# --- one legend, every mark explained ------------------------------------------------------


@pytest.mark.parametrize(("marks", "words"), [
    pytest.param("demand", ("demand", "requests/s", "left axis"), id="demand line"),
    pytest.param("capacity", ("ready capacity", "Ready pods can serve", "requests/s"),
                 id="ready capacity line"),
    pytest.param("replicas", ("replicas", "pods the policy asked for", "right axis",
                              "its own scale"), id="replica line"),
    pytest.param("violation", ("shaded", "SLO was violated"), id="shaded SLO violations"),
])
def test_legend_explains_every_mark_once(marks: str, words: Sequence[str]) -> None:
    figure = render(HUGE_ORACLE)
    assert len(figure.legends) == 1
    assert all(ax.get_legend() is None for ax in figure.axes)
    texts = [text.get_text() for text in figure.legends[0].get_texts()]
    assert len(texts) == 4
    matching = [text for text in texts if all(word in text for word in words)]
    assert len(matching) == 1, (marks, texts)


def test_legend_says_how_long_a_plotted_step_is() -> None:
    figure = render(ONE_POD, max_points=100)  # 1,800 s into at most 100 steps: 32 s each
    assert figure.legends[0].get_title().get_text() == \
        "each plotted step covers 32 s of the replay"


# --- the oracles apart ---------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "oracle"), [
    pytest.param("oracle", True, id="unbounded oracle"),
    pytest.param("oracle<=10", True, id="bounded oracle"),
    pytest.param("hpa:oracle", False, id="an HPA named oracle"),
    pytest.param("fixed:3", False, id="fixed replicas"),
])
def test_is_oracle(policy: str, oracle: bool) -> None:
    assert is_oracle(policy) is oracle


@pytest.mark.parametrize("peaks", [
    pytest.param(HUGE_ORACLE, id="HPAs then oracles"),
    pytest.param(ORACLE_FIRST, id="the oracle reported first"),
    pytest.param({"hpa:a": 4, "oracle<=4": 4, "hpa:b": 6}, id="a bounded oracle in between"),
])
def test_oracles_have_their_own_section_below_the_policies(peaks: dict[str, int]) -> None:
    figure = render(peaks)
    FigureCanvasAgg(figure)
    figure.draw_without_rendering()  # lay out, so positions are final
    oracles = [axis(figure, "demand", p) for p in peaks if is_oracle(p)]
    others = [axis(figure, "demand", p) for p in peaks if not is_oracle(p)]
    oracle_sections = {id(section(ax)) for ax in oracles}
    other_sections = {id(section(ax)) for ax in others}
    assert len(oracle_sections) == 1
    assert len(other_sections) == 1
    assert oracle_sections != other_sections
    oracle_section = section(oracles[0])
    heading = oracle_section.get_suptitle()
    assert heading == ORACLE_HEADING
    assert "oracle: lower bound, knows the future" in heading
    # Below every runnable policy's row, whatever order the policies were reported in.
    lowest_policy = min(ax.get_window_extent().y0 for ax in others)  # pixels
    highest_oracle = max(ax.get_window_extent().y1 for ax in oracles)
    assert highest_oracle < lowest_policy


@pytest.mark.parametrize(("peaks", "sections"), [
    pytest.param(RANGES, 1, id="no oracle: one section"),
    pytest.param(ORACLES_ONLY, 1, id="only oracles: one section"),
    pytest.param(HUGE_ORACLE, 2, id="both: two sections"),
])
def test_no_empty_section(peaks: dict[str, int], sections: int) -> None:
    figure = render(peaks)
    assert len(figure.subfigs) == sections
    assert all(subfigure.axes for subfigure in figure.subfigs)


@pytest.mark.parametrize("peaks", POLICY_SETS)
def test_each_row_is_titled_with_its_policy(peaks: dict[str, int]) -> None:
    figure = render(peaks)
    for policy, peak in peaks.items():
        title = axis(figure, "demand", policy).get_title(loc="left")
        assert title.startswith(f"{policy}: ")
        assert f"max {peak} replicas" in title


def test_close_saves_the_rendered_figure(tmp_path: Path) -> None:
    path = tmp_path / "replay.png"
    sink = PlotSink(path, max_points=200, unit="cores")
    for policy, peak in HUGE_ORACLE.items():
        sink.on_chunk(policy, chunk(peak))
    sink.close()
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(("steps", "top"), [
    pytest.param(False, (1.0, 2.0), id="a policy with a summary and no steps"),
    pytest.param(True, (1.0, 2.0), id="a policy at zero replicas throughout"),
])
def test_a_policy_without_replicas_still_gets_a_row(steps: bool, top: tuple[float, float]
                                                    ) -> None:
    sink = PlotSink(Path("unused.png"), max_points=200, unit="requests")
    sink.on_chunk("hpa:busy", chunk(8))
    if steps:
        sink.on_chunk("fixed:0", chunk(0))
    sink.on_summary(summary("fixed:0", 0))
    figure = sink.render()
    low, high = top
    assert low < axis(figure, "replicas", "fixed:0").get_ylim()[1] <= high
    assert axis(figure, "demand", "fixed:0").get_title(loc="left").startswith("fixed:0: ")
