"""Replay reports: timeline files, decision log, summary table, plot, progress bar, tee."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.replay.model import (
    DecisionRecord,
    OracleChoice,
    RequestMetrics,
    StepChunk,
    Summary,
)
from autoscaler.replay.plot import Downsampler, PlotSink, time_unit
from autoscaler.replay.report import (
    COLUMNS,
    DecisionLogWriter,
    ProgressBar,
    SummaryCollector,
    Tee,
    TimelineWriter,
    format_age,
    format_number,
    format_summary_table,
    format_targets,
    summaries_to_json,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def make_chunk(t: Sequence[float], demand: Sequence[float], capacity: Sequence[float] = (),
               replicas: Sequence[int] = (), violation: Sequence[bool] = ()) -> StepChunk:
    n = len(t)
    capacity_a = np.asarray(capacity or [1.0] * n, np.float64)
    replicas_a = np.asarray(replicas or [1] * n, np.int64)
    demand_a = np.asarray(demand, np.float64)
    served = np.minimum(demand_a, capacity_a)
    return StepChunk(
        t_seconds=np.asarray(t, np.float64), demand=demand_a, capacity=capacity_a,
        replicas=replicas_a, ready=replicas_a.copy(), served=served,
        queued=np.zeros(n), dropped=demand_a - served,
        violation=np.asarray(violation or [False] * n, np.bool_))


BASE_SUMMARY = Summary(
    policy="hpa:seed.yaml", duration_seconds=1000.0, replica_seconds=1234567.0,
    violation_seconds=25.0, underprovisioned_seconds=100.0, scale_events=7, max_replicas=5,
    arrived=5000.0, served=4990.0, dropped=10.0, queued_at_end=0.0,
    delay_p50_seconds=0.125, delay_p95_seconds=1.5, delay_p99_seconds=None)


def make_summary(policy: str = "hpa:seed.yaml", **changes: Any) -> Summary:
    return dataclasses.replace(BASE_SUMMARY, policy=policy, **changes)


def record(t: float, current: int, desired: int, percent: int | None = 37,
           reason: str = "cpu resource utilization (percentage of request) above target",
           target: int | None = 20) -> DecisionRecord:
    return DecisionRecord(t_seconds=t, current_replicas=current, desired_replicas=desired,
                          current_percent=percent, target_percent=target,
                          rescale=current != desired, reason=reason)


# --- timeline -----------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "text"), [
    pytest.param(0.0, "0", id="zero"),
    pytest.param(5_000_001.0, "5000001", id="large integral t stays exact"),
    pytest.param(2.5, "2.5", id="fraction"),
    pytest.param(0.1, "0.1", id="shortest repr"),
    pytest.param(1 / 3, "0.3333333333333333", id="all digits when needed"),
    pytest.param(-4.0, "-4", id="negative integral"),
    pytest.param(1e20, "1e+20", id="huge integral falls back to repr"),
    pytest.param(float("inf"), "inf", id="infinity"),
])
def test_format_number(value: float, text: str) -> None:
    assert format_number(value) == text


@given(st.floats(allow_nan=False))
def test_format_number_round_trips(value: float) -> None:
    assert float(format_number(value)) == value


TWO_STEPS = make_chunk(t=[4_999_999.0, 5_000_000.0], demand=[1.5, 0.25], capacity=[1.0, 2.0],
                       replicas=[1, 2], violation=[True, False])

CSV_TEXT = (
    "policy,t_seconds,demand,capacity,replicas,ready,served,queued,dropped,violation\n"
    "hpa:seed.yaml,4999999,1.5,1,1,1,1,0,0.5,1\n"
    "hpa:seed.yaml,5000000,0.25,2,2,2,0.25,0,0,0\n"
    '"fixed:3,x",0,3,1,1,1,1,0,2,0\n')
JSONL_TEXT = (
    '{"policy":"hpa:seed.yaml","t_seconds":4999999,"demand":1.5,"capacity":1,"replicas":1,'
    '"ready":1,"served":1,"queued":0,"dropped":0.5,"violation":true}\n'
    '{"policy":"hpa:seed.yaml","t_seconds":5000000,"demand":0.25,"capacity":2,"replicas":2,'
    '"ready":2,"served":0.25,"queued":0,"dropped":0,"violation":false}\n'
    '{"policy":"fixed:3,x","t_seconds":0,"demand":3,"capacity":1,"replicas":1,'
    '"ready":1,"served":1,"queued":0,"dropped":2,"violation":false}\n')


@pytest.mark.parametrize(("fmt", "expected"), [
    pytest.param("csv", CSV_TEXT, id="csv"),
    pytest.param("jsonl", JSONL_TEXT, id="jsonl"),
])
def test_timeline_rows_exactly(tmp_path: Path, fmt: str, expected: str) -> None:
    path = tmp_path / f"timeline.{fmt}"
    with TimelineWriter(path, fmt) as writer:  # type: ignore[arg-type]
        writer.on_chunk("hpa:seed.yaml", TWO_STEPS)
        writer.on_chunk("fixed:3,x", make_chunk(t=[0.0], demand=[3.0]))
        writer.on_chunk("fixed:3,x", make_chunk(t=[], demand=[]))
    assert path.read_text() == expected


def read_back(path: Path, fmt: str) -> list[dict[str, object]]:
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    with path.open(newline="") as file:
        return [{k: v if k == "policy" else float(v) for k, v in row.items()}
                for row in csv.DictReader(file)]


def chunk_rows(policy: str, chunk: StepChunk) -> list[dict[str, object]]:
    arrays = [chunk.t_seconds, chunk.demand, chunk.capacity, chunk.replicas, chunk.ready,
              chunk.served, chunk.queued, chunk.dropped, chunk.violation]
    return [{"policy": policy, **dict(zip(COLUMNS[1:], values, strict=True))}
            for values in zip(*(a.tolist() for a in arrays), strict=True)]


finite = st.floats(min_value=-1e300, max_value=1e300, allow_nan=False)


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
@settings(max_examples=30, deadline=None)
@given(values=st.lists(st.tuples(finite, finite, st.booleans()), min_size=1, max_size=20))
def test_timeline_reads_back_equal(tmp_path_factory: pytest.TempPathFactory, fmt: str,
                                   values: list[tuple[float, float, bool]]) -> None:
    path = tmp_path_factory.mktemp("timeline") / f"t.{fmt}"
    demand, capacity, violation = zip(*values, strict=True)
    chunk = make_chunk(t=[float(i) for i in range(len(values))], demand=demand,
                       capacity=capacity, violation=violation)
    with TimelineWriter(path, fmt) as writer:  # type: ignore[arg-type]
        writer.on_chunk("p", chunk)
    got = read_back(path, fmt)
    assert got == chunk_rows("p", chunk)  # 1 == 1.0 == True: values compare as numbers


def test_timeline_jsonl_writes_null_for_non_finite(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    with TimelineWriter(path, "jsonl") as writer:
        writer.on_chunk("p", make_chunk(t=[0.0, 1.0], demand=[float("nan"), 0.5]))
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["demand"] is None
    assert second["demand"] == 0.5


def test_timeline_rejects_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="csv"):
        TimelineWriter(tmp_path / "t.txt", "xml")  # type: ignore[arg-type]


# --- decision log -------------------------------------------------------------------------


@pytest.mark.parametrize(("seconds", "text"), [
    pytest.param(-5.0, "<invalid>", id="far future"),
    pytest.param(-1.5, "0s", id="clock skew"),
    pytest.param(0.0, "0s", id="zero"),
    pytest.param(59.9, "59s", id="truncates"),
    pytest.param(60.0, "60s", id="seconds up to two minutes"),
    pytest.param(92.0, "92s", id="92s"),
    pytest.param(119.0, "119s", id="just under two minutes"),
    pytest.param(120.0, "2m", id="two minutes"),
    pytest.param(121.0, "2m1s", id="minutes and seconds"),
    pytest.param(599.0, "9m59s", id="under ten minutes"),
    pytest.param(600.0, "10m", id="ten minutes"),
    pytest.param(15 * 60 + 59, "15m", id="minutes only"),
    pytest.param(3 * 3600 - 1, "179m", id="minutes up to three hours"),
    pytest.param(3 * 3600 + 5 * 60, "3h5m", id="hours and minutes"),
    pytest.param(4 * 3600, "4h", id="whole hours"),
    pytest.param(8 * 3600 + 59 * 60, "8h", id="hours only from eight"),
    pytest.param(47 * 3600, "47h", id="hours up to two days"),
    pytest.param(3 * 86400 + 4 * 3600, "3d4h", id="days and hours"),
    pytest.param(5 * 86400, "5d", id="whole days"),
    pytest.param(8 * 86400 + 5 * 3600, "8d", id="days only from eight"),
    pytest.param(58 * 86400, "58d", id="58 days"),
    pytest.param(2 * 365 * 86400 + 3 * 86400, "2y3d", id="years and days"),
    pytest.param(9 * 365 * 86400, "9y", id="years"),
])
def test_format_age_matches_human_duration(seconds: float, text: str) -> None:
    assert format_age(seconds) == text


@pytest.mark.parametrize(("current", "target", "metric", "text"), [
    pytest.param(37, 20, None, "37%/20%", id="known"),
    pytest.param(None, 20, None, "<unknown>/20%", id="unknown current"),
    pytest.param(37, None, None, "37%/<auto>", id="no target"),
    pytest.param(None, None, None, "<none>", id="no metric"),
    pytest.param(37, 20, "cpu", "cpu: 37%/20%", id="kubectl 1.30+ with metric name"),
])
def test_format_targets(current: int | None, target: int | None, metric: str | None,
                        text: str) -> None:
    assert format_targets(current, target, metric) == text


def test_decision_log_lines() -> None:
    stream = io.StringIO()
    log = DecisionLogWriter(stream, "hpa", "Deployment/qwen", 1, 5)
    log.on_decision("hpa:seed.yaml", record(92.0, 3, 4))
    log.on_decision("hpa:seed.yaml", record(121.0, 4, 4, percent=None,
                                            reason="the last scale time was sufficiently old"))
    assert stream.getvalue().splitlines() == [
        "NAME   REFERENCE         TARGETS          MINPODS   MAXPODS   REPLICAS   AGE      "
        "POLICY          REASON",
        "hpa    Deployment/qwen   37%/20%          1         5         3->4       92s      "
        "hpa:seed.yaml   cpu resource utilization (percentage of request) above target",
        "hpa    Deployment/qwen   <unknown>/20%    1         5         4          2m1s     "
        "hpa:seed.yaml   the last scale time was sufficiently old",
    ]


@pytest.mark.parametrize(("every_sync", "lines"), [
    pytest.param(False, 3, id="unchanged syncs are not printed, as in a watch"),
    pytest.param(True, 4, id="every sync"),
])
def test_decision_log_repeats(every_sync: bool, lines: int) -> None:
    stream = io.StringIO()
    log = DecisionLogWriter(stream, "hpa", "Deployment/qwen", 1, 5, every_sync=every_sync)
    log.on_decision("a", record(15.0, 3, 3))
    log.on_decision("a", record(30.0, 3, 3))  # same state as before for policy a
    log.on_decision("b", record(30.0, 3, 3))  # another policy's first line
    assert len(stream.getvalue().splitlines()) == lines


def test_decision_log_prints_nothing_without_decisions() -> None:
    stream = io.StringIO()
    log = DecisionLogWriter(stream, "hpa", "Deployment/qwen", 1, 5)
    log.on_chunk("a", make_chunk(t=[0.0], demand=[1.0]))
    log.on_summary(make_summary())
    assert stream.getvalue() == ""


# --- summary ------------------------------------------------------------------------------


def test_summary_table() -> None:
    table = format_summary_table(
        [make_summary(), make_summary("fixed:3", delay_p50_seconds=None, delay_p95_seconds=None,
                                      dropped=0.5, max_replicas=3, scale_events=0)],
        "requests")
    assert table.splitlines() == [
        "policy         replica-seconds  violation s  violation %  underprov %  p50 s  p95 s"
        "  p99 s  scale events  max replicas  dropped (requests)",
        "hpa:seed.yaml        1,234,567           25        2.50%       10.00%   0.12   1.50"
        "      -             7             5                  10",
        "fixed:3              1,234,567           25        2.50%       10.00%      -      -"
        "      -             0             3                0.50",
        *SERIES_LEGEND,
    ]


SERIES_LEGEND = [
    "replica-seconds: pods (spec.replicas) summed over the seconds of the run; scale events: "
    "rescales (an oracle's: changes of its pod count, where counted); max replicas: the most "
    "pods at once",
    "violation: seconds in which the demand exceeded the Ready pods' capacity or a backlog "
    "waited (and their share of the run); underprov: seconds in which the demand exceeded "
    "that capacity; p50/p95/p99: queueing delay of the work (-: not modeled); dropped: work "
    "beyond the backlog bound",
]


@pytest.mark.parametrize("requests", [
    pytest.param(None, id="series"),
    pytest.param(RequestMetrics(5.0, 0.95, 10, 9, 0, 0), id="requests"),
])
def test_each_column_is_explained_once(requests: RequestMetrics | None) -> None:
    table = format_summary_table([make_summary(requests=requests), make_summary("fixed:2")],
                                 "requests")
    headers = ["replica-seconds:", "scale events:", "max replicas:", "violation:",
               "underprov:", "p50/p95/p99:", "dropped:"]
    if requests is not None:
        headers += ["attainment:", "met / arrived:", "goodput:", "replica-h:", "TTFT =",
                    "e2e =", "unavoidable:"]
    for header in headers:
        assert table.count(header) == 1, header
    # The legend sits under its own table, before the request table.
    lines = table.splitlines()
    assert lines[3].startswith("replica-seconds:") and lines[4].startswith("violation:")
    assert ("a request arrived that missed the TTFT SLO" in lines[4]) == (requests is not None)


def test_summary_collector_and_json() -> None:
    collector = SummaryCollector()
    for policy in ("b", "a"):
        collector.on_summary(make_summary(policy))
    assert [s.policy for s in collector.summaries] == ["b", "a"]
    decoded = json.loads(summaries_to_json(collector.summaries))
    assert [d["policy"] for d in decoded] == ["b", "a"]
    assert decoded[0]["violation_share"] == 0.025
    assert decoded[0]["delay_p99_seconds"] is None


REQUESTS = RequestMetrics(
    slo_ttft_seconds=5.0, attainment_target=0.95, arrived=5000, met_slo=4500, dropped=10,
    unavoidable=400, ttft_p50_seconds=0.5, ttft_p95_seconds=4.25, ttft_p99_seconds=9.0,
    latency_p50_seconds=1.5, latency_p95_seconds=7.0, latency_p99_seconds=None)


def test_request_table_under_the_summary_table() -> None:
    oracle = make_summary("oracle<=10", requests=dataclasses.replace(REQUESTS, met_slo=4000),
                          routing="least-in-flight", scale_events=120,
                          oracle=OracleChoice(headroom=2.5, target_attainment=0.915,
                                              basis="ceiling", missed=True, bound_pods=10))
    table = format_summary_table(
        [make_summary(requests=REQUESTS, routing="least-in-flight"), oracle], "requests")
    lines = table.splitlines()
    assert lines[5] == ""  # the summary table and its legend, then the request table
    assert lines[6:9] == [
        "requests: policy            replica-h  scale events  attainment  met / arrived"
        "  goodput/s  TTFT p50/p95/p99 s  e2e p50/p95/p99 s",
        "hpa:seed.yaml                  342.94             7      90.00%  4,500 / 5,000"
        "      4.500      0.50/4.25/9.00        1.50/7.00/-",
        "oracle<=10 (k=2.5, missed)     342.94           120      80.00%  4,000 / 5,000"
        "      4.000      0.50/4.25/9.00        1.50/7.00/-",
    ]
    notes = "\n".join(lines[9:])
    assert "routing: least-in-flight: the Ready pod with the fewest requests in flight" in notes
    assert "400 of 5,000 requests have a prefill alone above 5 s" in notes
    assert "attainment is at most 92.00%" in notes
    assert "the smallest k reaching 91.50% (95.00% is out of reach" in notes


def test_series_summaries_get_no_request_table() -> None:
    table = format_summary_table([make_summary()], "cores")
    assert table.splitlines()[2:] == SERIES_LEGEND


def test_request_metrics_in_json() -> None:
    summary = make_summary(requests=REQUESTS, routing="random", duration_seconds=3600.0)
    decoded = json.loads(summaries_to_json([summary, make_summary("fixed:1")]))
    assert decoded[0]["routing"] == "random"
    assert decoded[0]["replica_hours"] == pytest.approx(1234567 / 3600)
    assert decoded[0]["goodput_per_second"] == 4500 / 3600
    assert decoded[0]["requests"]["attainment"] == 0.9
    assert decoded[0]["requests"]["ceiling"] == 0.92
    assert decoded[0]["requests"]["latency_p99_seconds"] is None
    assert decoded[0]["oracle"] is None
    assert decoded[1]["requests"] is None and "goodput_per_second" not in decoded[1]


# --- plot ---------------------------------------------------------------------------------


steps = st.tuples(st.floats(0, 1e6), st.floats(0, 1e6), st.integers(0, 50), st.booleans())


@settings(max_examples=60, deadline=None)
@given(start=st.integers(0, 10**6), gaps=st.lists(st.integers(1, 5000), max_size=300),
       values=st.data(), max_points=st.integers(2, 64), chunk_size=st.integers(1, 50))
def test_downsampling_bounds_buckets_and_keeps_extremes(
        start: int, gaps: list[int], values: st.DataObject, max_points: int,
        chunk_size: int) -> None:
    t = np.cumsum([float(start), *gaps])
    rows = values.draw(st.lists(steps, min_size=len(t), max_size=len(t)))
    demand, capacity, replicas, violation = (list(c) for c in zip(*rows, strict=True))
    whole = Downsampler(max_points)
    whole.add(make_chunk(t.tolist(), demand, capacity, replicas, violation))
    chunked = Downsampler(max_points)
    for i in range(0, len(t), chunk_size):
        part = slice(i, i + chunk_size)
        chunked.add(make_chunk(t[part].tolist(), demand[part], capacity[part], replicas[part],
                               violation[part]))
    buckets = chunked.buckets
    assert buckets is not None
    assert buckets.index[-1] - buckets.index[0] + 1 <= max_points
    assert buckets.demand_max.max() == max(demand)
    assert buckets.capacity_min.min() == min(capacity)
    assert buckets.replicas_max.max() == max(replicas)
    assert bool(buckets.violation_any.any()) == any(violation)
    # Bucket widths depend only on the span, so chunking cannot change the result.
    assert whole.buckets is not None
    assert whole.buckets.width == buckets.width
    np.testing.assert_array_equal(whole.buckets.index, buckets.index)
    np.testing.assert_array_equal(whole.buckets.demand_max, buckets.demand_max)
    np.testing.assert_array_equal(whole.buckets.violation_any, buckets.violation_any)


def test_downsampling_long_run_stays_small() -> None:
    sampler = Downsampler(4000)
    day = np.arange(86400, dtype=np.float64)
    for d in range(10):
        demand = np.sin(day / 5000.0) + (day == 43210) * 100.0 * (d == 7)
        sampler.add(make_chunk((day + d * 86400).tolist(), demand.tolist()))
    buckets = sampler.buckets
    assert buckets is not None
    assert len(buckets.index) <= 4000
    assert buckets.width == 256  # 864000 s / 4000 rounded up to a power of two
    assert buckets.demand_max.max() == pytest.approx(100.0 + np.sin(43210 / 5000.0))


@pytest.mark.parametrize(("duration", "label"), [
    pytest.param(600.0, "minutes", id="ten minutes"),
    pytest.param(7200.0, "minutes", id="two hours"),
    pytest.param(86400.0, "hours", id="a day"),
    pytest.param(58 * 86400.0, "days", id="58 days"),
])
def test_time_unit(duration: float, label: str) -> None:
    assert time_unit(duration)[1] == label


def feed_policies(sink: PlotSink, policies: int, duration: int, summaries: bool) -> None:
    t = np.arange(duration, dtype=np.float64)
    for p in range(policies):
        demand = 2.0 + np.sin(t / 300.0 + p)
        replicas = np.ceil(demand).astype(np.int64) - (t % 900 < 60)
        chunk = make_chunk(t.tolist(), demand.tolist(), replicas.astype(float).tolist(),
                           replicas.tolist(), (demand > replicas).tolist())
        sink.on_chunk(f"policy-{p}", chunk)
        if summaries:
            sink.on_summary(make_summary(f"policy-{p}"))


@pytest.mark.parametrize(("policies", "duration", "summaries"), [
    pytest.param(1, 600, False, id="one policy, no summary"),
    pytest.param(3, 7200, True, id="three policies"),
    pytest.param(6, 20000, True, id="six policies"),
])
def test_plot_writes_png(tmp_path: Path, policies: int, duration: int, summaries: bool) -> None:
    path = tmp_path / "replay.png"
    sink = PlotSink(path, max_points=500, unit="cores")
    feed_policies(sink, policies, duration, summaries)
    sink.close()
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 20_000


def test_plot_without_data_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "replay.png"
    PlotSink(path).close()
    assert not path.exists()


# --- progress bar -------------------------------------------------------------------------


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_progress(bar: ProgressBar, clock: FakeClock, chunks: int, step: float) -> None:
    for i in range(chunks):
        bar.on_chunk("hpa:seed.yaml", make_chunk(t=[float(i * 10 + j) for j in range(10)],
                                                 demand=[1.0] * 10))
        clock.now += step
    bar.on_summary(make_summary(duration_seconds=chunks * 10.0))


@pytest.mark.parametrize(("stream", "enabled"), [
    pytest.param(io.StringIO(), None, id="not a tty"),
    pytest.param(FakeTty(), False, id="disabled on a tty"),
])
def test_progress_bar_silent_when_disabled(stream: io.StringIO, enabled: bool | None) -> None:
    clock = FakeClock()
    bar = ProgressBar(100.0, stream, enabled, clock=clock)
    run_progress(bar, clock, 10, 1.0)
    bar.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize(("step", "draws"), [
    pytest.param(1.0, 10 + 1, id="slow chunks: every chunk plus the final line"),
    pytest.param(0.01, 1 + 1, id="fast chunks: throttled to the first plus the final"),
    pytest.param(0.0625, 5 + 1, id="every other chunk at 16 chunks a second"),
])
def test_progress_bar_on_tty(step: float, draws: int) -> None:
    stream, clock = FakeTty(), FakeClock()
    bar = ProgressBar(100.0, stream, clock=clock)
    run_progress(bar, clock, 10, step)
    bar.close()
    out = stream.getvalue()
    assert out.count("\r") == draws
    assert out.endswith("100.0%  100s/100s\n")
    assert "hpa:seed.yaml [" in out


def test_progress_bar_render() -> None:
    bar = ProgressBar(86400.0 * 58, FakeTty())
    assert bar.render("oracle", 86400.0 * 29) == (
        "oracle [###############...............]  50.0%  29d/58d")


# --- tee ----------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        self.calls.append(f"chunk {policy}")

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        self.calls.append(f"decision {policy}")

    def on_summary(self, summary: Summary) -> None:
        self.calls.append(f"summary {summary.policy}")


class ClosingRecorder(Recorder):
    def close(self) -> None:
        self.calls.append("close")


def test_tee_fans_out_in_order() -> None:
    plain, closing = Recorder(), ClosingRecorder()
    tee = Tee(plain, closing)
    tee.on_chunk("a", make_chunk(t=[0.0], demand=[1.0]))
    tee.on_decision("a", record(15.0, 1, 2))
    tee.on_summary(make_summary("a"))
    tee.close()
    assert plain.calls == ["chunk a", "decision a", "summary a"]
    assert closing.calls == [*plain.calls, "close"]
