"""The replay's limits and arithmetic: each bound is configurable and named in the error,
memory does not follow untrusted sizes, sums stay exact, the chunked oracle equals the
whole-trace one, and the flags and modes answer with one line."""

from __future__ import annotations

import argparse
import heapq
import json
import math
import re
import tracemalloc
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.errors import InputError
from autoscaler.replay import flag_types, oracle, traces_csv
from autoscaler.replay.command import ReplayOptions, run_replay
from autoscaler.replay.limits import TraceLimits
from autoscaler.replay.model import (
    DecisionRecord,
    DemandSeries,
    FloatArray,
    IntArray,
    RequestTrace,
    StepChunk,
    Summary,
)
from autoscaler.replay.report_summary import summaries_to_json
from autoscaler.replay.settings import LLMCapacity, ModelOverrides, SimulationSettings
from autoscaler.replay.traces import TraceError, read_kubectl_watch, read_trace, resample_step

DAY = 86400


class Recorder:
    def __init__(self) -> None:
        self.chunks: list[StepChunk] = []
        self.summary: Summary | None = None

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        self.chunks.append(chunk)

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        pass

    def on_summary(self, summary: Summary) -> None:
        self.summary = summary

    def column(self, name: str) -> FloatArray:
        return np.concatenate([getattr(c, name) for c in self.chunks]).astype(np.float64)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ configurable limits

@pytest.mark.parametrize(("name", "fmt", "text", "fragment"), [
    pytest.param("two-days.csv", "csv", "0,1\n86400,2\n172800,3\n", "raise --max-span",
                 id="csv-span"),
    pytest.param("llm.csv", "azure-llm", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                 "2024-01-01T00:00:00,1,1\n2024-01-03T00:00:00,1,1\n", "raise --max-span",
                 id="azure-span"),
    pytest.param("fn.csv", "per-minute", "f," + ",".join(f"minute_{m}" for m in
                                                         range(1, 2 * 1440 + 1))
                 + "\nx" + ",1" * 2 * 1440 + "\n", "more than 1440 minutes",
                 id="per-minute-columns"),
    pytest.param("load.txt", "rps", "1 " * (2 * DAY), "more than 86400 counts", id="rps-steps"),
])
def test_a_day_limit_refuses_two_days_and_the_flag_lifts_it(
        tmp_path: Path, name: str, fmt: str, text: str, fragment: str) -> None:
    path = write(tmp_path, name, text)
    with pytest.raises(TraceError, match=re.escape(fragment)):
        read_trace(path, fmt, TraceLimits().with_span(DAY))
    # Three days of grid: the csv's last value holds for the median spacing, a day.
    workload = read_trace(path, fmt, TraceLimits().with_span(3 * DAY))
    assert isinstance(workload, DemandSeries | RequestTrace)


def test_row_limits(tmp_path: Path) -> None:
    rows = write(tmp_path, "t.csv", "".join(f"{t},1\n" for t in range(5)))
    with pytest.raises(TraceError) as error:
        read_trace(rows, "csv", TraceLimits().with_rows(3))
    assert str(error.value) == "t.csv:4: more than 3 rows: raise --max-rows"
    watch = write(tmp_path, "w.txt", "h Deployment/d 1%/2% 1 2 1 92s\n" * 3)
    with pytest.raises(TraceError, match=re.escape("w.txt:3: more than 2 rows")):
        read_trace(watch, "kubectl-watch", TraceLimits().with_rows(2))


def test_rate_scale_cannot_multiply_requests_past_the_row_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "llm.csv", "TIMESTAMP,ContextTokens,GeneratedTokens\n"
                                      "2024-01-01T00:00:00,1,1\n2024-01-01T00:00:01,1,1\n")
    with pytest.raises(TraceError, match="rate_scale 600 makes 1200 requests, more than 1000"):
        read_trace(path, "azure-llm", TraceLimits().with_rows(1000), rate_scale=600.0)


def test_json_size_is_checked_before_parsing(tmp_path: Path) -> None:
    path = write(tmp_path, "r.json", "[" + " " * 5000 + "]")
    with pytest.raises(TraceError, match=re.escape("r.json: larger than 4096 bytes")):
        read_trace(path, "prometheus", replace(TraceLimits(), max_json_bytes=4096))


def test_rps_array_is_sized_by_the_limit_not_the_file(tmp_path: Path) -> None:
    """16 MiB of counts used to reserve 8 bytes per 2 file bytes (64 MiB) before reading."""
    path = tmp_path / "load.txt"
    path.write_bytes(b"0 " * (8 << 20))
    tracemalloc.start()
    try:
        with pytest.raises(TraceError, match="more than 1000 counts"):
            read_trace(path, "rps", replace(TraceLimits(), max_steps=1000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


def test_rps_refuses_a_number_without_end(tmp_path: Path) -> None:
    path = tmp_path / "digits.txt"
    path.write_bytes(b"7" * (4 << 20))  # no whitespace: the carry would grow each read
    with pytest.raises(TraceError, match=re.escape("digits.txt:1: a count longer than 64")):
        read_trace(path, "rps")


@pytest.mark.parametrize(("text", "line", "fragment"), [
    pytest.param("h web 1%/2% 1 2 1 92s\n", 1, "REFERENCE 'web' is not Kind/name",
                 id="reference"),
    pytest.param("h Deployment/d 1%/2% 0 2 1 92s\n", 1, "MINPODS must be at least 1",
                 id="minpods-zero"),
    pytest.param("h Deployment/d 1%/2% 1 2 10001 92s\n", 1, "REPLICAS 10001 is above 10000",
                 id="replicas"),
    pytest.param("h Deployment/d 1%/2% 1 2 1 9999999999s\n", 1, "AGE", id="age-digits"),
    pytest.param("h Deployment/d 1%/2% ² 2 1 92s\n", 1, "MINPODS '²' is not a whole number",
                 id="superscript"),
])
def test_kubectl_rows_are_usable_or_refused(text: str, line: int, fragment: str) -> None:
    with pytest.raises(TraceError) as error:
        read_kubectl_watch(text)
    assert str(error.value).startswith(f"<text>:{line}: ")
    assert fragment in str(error.value)


# ---------------------------------------------------------------- exact arithmetic

def test_oracle_replica_seconds_are_exact_integers() -> None:
    # 2**53 + 1 is not a float: a float accumulator would lose the 1.
    values = np.array([3.0 * (2**40), 3.0])  # 2**40 pods, then 1 pod (3-core pods)
    series = DemandSeries(0.0, 1.0, np.repeat(values, [2**13, 1]))
    summary = oracle.oracle_demand(series, SimulationSettings(), Recorder())
    assert summary.replica_seconds == 2**53 + 1
    assert isinstance(summary.replica_seconds, int)


def test_oracle_refuses_a_demand_no_integer_can_hold() -> None:
    series = DemandSeries(0.0, 1.0, np.array([1.0, 1e300]))
    with pytest.raises(InputError, match=re.escape("the demand at 1 s needs 3.33333e+299 pods")):
        oracle.oracle_demand(series, SimulationSettings(), Recorder())


def test_summary_json_refuses_nan() -> None:
    summary = Summary("p", 10.0, 1, math.nan, 0.0, 0, 1, 1.0, 1.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="not JSON compliant"):
        summaries_to_json([summary])


@settings(max_examples=25, deadline=None)
@given(st.lists(st.floats(0.01, 50), min_size=1, max_size=40), st.integers(1, 4))
def test_resample_in_blocks_equals_one_block(gaps: list[float], block: int) -> None:
    times = np.concatenate(([0.0], np.cumsum(gaps)))
    values = np.arange(len(times), dtype=np.float64) % 7
    whole = resample_step(times, values)
    original = traces_csv._RESAMPLE_BLOCK
    traces_csv._RESAMPLE_BLOCK = block
    try:
        blocked = resample_step(times, values)
    finally:
        traces_csv._RESAMPLE_BLOCK = original
    np.testing.assert_array_equal(blocked, whole)


def reference_oracle_pods(trace: RequestTrace, settings: SimulationSettings) -> IntArray:
    """The whole-trace algorithm the chunked oracle replaced (per-second arrays)."""
    capacity = settings.capacity
    service = (trace.prompt_tokens / capacity.prefill_tokens_per_second
               + trace.output_tokens / capacity.decode_tokens_per_second)
    duration = math.ceil(trace.duration_seconds) + 1
    peak = np.zeros(duration + 1, dtype=np.int64)
    ends: list[float] = []
    for arrival, length in zip(trace.arrival_seconds.tolist(), service.tolist(), strict=True):
        while ends and ends[0] <= arrival:
            heapq.heappop(ends)
        heapq.heappush(ends, arrival + length)
        peak[int(arrival)] = max(peak[int(arrival)], len(ends))
    busy = np.zeros(duration + 2, dtype=np.int64)
    for arrival, length in zip(trace.arrival_seconds.tolist(), service.tolist(), strict=True):
        busy[int(arrival) + 1:min(duration + 1, math.ceil(arrival + length))] += 1
    concurrent = np.maximum(peak[:duration], busy[:duration])
    pods: IntArray = np.maximum(1, -(-concurrent // capacity.concurrency))
    return pods


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 60), st.integers(0, 3000), st.integers(0, 200)),
                max_size=30), st.integers(1, 3), st.integers(1, 9))
def test_chunked_request_oracle_equals_the_whole_trace_one(
        requests: list[tuple[float, int, int]], concurrency: int, chunk: int) -> None:
    requests.sort()
    trace = RequestTrace(np.array([r[0] for r in requests], dtype=np.float64),
                         np.array([r[1] for r in requests], dtype=np.int64),
                         np.array([r[2] for r in requests], dtype=np.int64))
    settings_ = SimulationSettings(capacity=LLMCapacity(concurrency=concurrency))
    recorder = Recorder()
    original = oracle.CHUNK_SECONDS
    oracle.CHUNK_SECONDS = chunk  # many chunk boundaries inside a minute
    try:
        summary = oracle.oracle_requests(trace, settings_, recorder)
    finally:
        oracle.CHUNK_SECONDS = original
    expected = reference_oracle_pods(trace, settings_)
    np.testing.assert_array_equal(recorder.column("replicas"), expected)
    np.testing.assert_array_equal(recorder.column("t_seconds"), np.arange(len(expected)))
    assert summary.replica_seconds == int(expected.sum())


def test_request_oracle_of_empty_requests_has_finite_capacity() -> None:
    trace = RequestTrace(np.array([0.0, 1.0]), np.zeros(2, dtype=np.int64),
                         np.zeros(2, dtype=np.int64))
    recorder = Recorder()
    oracle.oracle_requests(trace, SimulationSettings(), recorder)
    assert np.isfinite(recorder.column("capacity")).all()


# ------------------------------------------------------------------- flags and modes

@pytest.mark.parametrize(("parse", "text", "expected"), [
    pytest.param(flag_types.duration, "400d", 400 * DAY, id="days"),
    pytest.param(flag_types.duration, "36h", 36 * 3600, id="hours"),
    pytest.param(flag_types.duration, "5000", 5000, id="seconds"),
    pytest.param(flag_types.size, "64M", 64 << 20, id="megabytes"),
    pytest.param(flag_types.instant, "2024-05-01T12:00:00Z", 1714564800, id="rfc3339"),
    pytest.param(flag_types.instant, "2024-05-01T12:00:00", 1714564800, id="naive-is-utc"),
    pytest.param(flag_types.partition, "60:120", (60.0, 120.0), id="partition"),
])
def test_flag_values(parse: object, text: str, expected: object) -> None:
    assert callable(parse)
    assert parse(text) == expected


@pytest.mark.parametrize(("parse", "text", "fragment"), [
    pytest.param(flag_types.duration, "0", "between 1 second", id="duration-zero"),
    pytest.param(flag_types.duration, "soon", "not a duration", id="duration-word"),
    pytest.param(flag_types.size, "9T", "not a size", id="size-unit"),
    pytest.param(flag_types.instant, "1e300", "outside 1970..9999", id="instant-far"),
    pytest.param(flag_types.instant, "nan", "outside 1970..9999", id="instant-nan"),
    pytest.param(flag_types.partition, "5:3", "0 <= START < END", id="partition-reversed"),
    pytest.param(flag_types.partition, "nan:3", "0 <= START < END", id="partition-nan"),
    pytest.param(flag_types.number(0, 10, above=True), "inf", "must be > 0", id="number-inf"),
    pytest.param(flag_types.whole(1, 5), "9" * 5000, "not a whole number", id="whole-digits"),
])
def test_flag_mistakes(parse: object, text: str, fragment: str) -> None:
    assert callable(parse)
    with pytest.raises(argparse.ArgumentTypeError, match=fragment):
        parse(text)


WATCH = "h Deployment/d 40%/50% 1 5 2 92s\nh Deployment/d 90%/50% 1 5 2 107s\n"


@pytest.mark.parametrize(("options", "status", "fragment"), [
    pytest.param({"timeline": Path("x")}, 2, "--timeline does not apply to a kubectl-watch",
                 id="open-loop-timeline"),
    pytest.param({"model": ModelOverrides(concurrency=2)}, 2, "--concurrency does not apply",
                 id="open-loop-model-flag"),
    pytest.param({"policies": ("fixed:3",)}, 2, "at most one --policy, an HPA file",
                 id="open-loop-fixed"),
    pytest.param({}, 0, "", id="open-loop-runs"),
])
def test_open_loop_mode(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                        options: dict[str, object], status: int, fragment: str) -> None:
    trace = write(tmp_path, "w.txt", WATCH)
    code = run_replay(ReplayOptions(trace=trace, fmt="kubectl-watch", out_dir=tmp_path / "out",
                                    **options))  # type: ignore[arg-type]
    err = capsys.readouterr().err
    assert code == status
    assert fragment in err
    assert err.count("\n") == (1 if status else 0)


def test_model_flags_follow_the_workload(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    trace = write(tmp_path, "d.csv", "0,1\n1,2\n")
    options = ReplayOptions(trace=trace, out_dir=tmp_path / "out", plot=False,
                            model=ModelOverrides(prefill_tokens_per_second=10.0))
    assert run_replay(options) == 2
    assert "--prefill-tps does not apply to a demand series" in capsys.readouterr().err
    rate = replace(options, trace_options={"unit": "requests_per_second"},
                   model=ModelOverrides(cpu_seconds_per_request=0.25))
    assert run_replay(rate) == 0
    summaries = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summaries[0]["policy"] == "oracle"
