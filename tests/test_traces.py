"""Trace readers: each format on tiny hand-computed files, every malformed case with its
line number, scaling properties, and the real traces in shared/traces."""

from __future__ import annotations

import bz2
import io
import json
import math
import re
import tarfile
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.replay import traces_rps
from autoscaler.replay.model import DemandSeries, HpaWatchTrace, RequestTrace
from autoscaler.replay.traces import (
    TraceError,
    iter_rps_chunks,
    read_azure_llm_csv,
    read_kubectl_watch,
    read_per_minute_csv,
    read_prometheus_range_json,
    read_rps_lines,
    read_trace,
    read_value_csv,
    sniff_format,
)
from autoscaler.replay.traces_csv import scale_requests

SHARED = Path(__file__).resolve().parent / "data"
TRACES = SHARED / "traces"
SEED_DOCUMENT = SHARED / "seed" / "elastic-inference-design.txt"


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def assert_trace_error(error: pytest.ExceptionInfo[TraceError], name: str,
                       line: int | None, fragment: str) -> None:
    message = str(error.value)
    where = f"{name}:{line}: " if line is not None else f"{name}: "
    assert message.startswith(where), message
    assert fragment in message, message


# ------------------------------------------------------------------- timestamp,value

VALUE_CSV_CASES = [
    pytest.param("timestamp,value\n0,1\n1,2\n2,3\n", {}, [1, 2, 3], id="header-seconds"),
    pytest.param("0,1\n2,3\n4,5\n", {}, [1, 1, 3, 3, 5, 5], id="no-header-last-holds-spacing"),
    pytest.param("100,1\n101,2\n", {}, [1, 2], id="time-counts-from-first-sample"),
    pytest.param("5,7\n", {}, [7], id="single-sample-one-second"),
    pytest.param("0,2\n0.5,4\n1,6\n", {}, [3, 6], id="sub-second-time-weighted"),
    pytest.param("timestamp,value\n2024-01-01T00:00:00,1\n2024-01-01T00:00:02,2\n", {},
                 [1, 1, 2, 2], id="iso-naive"),
    pytest.param("2024-01-01T01:00:00+01:00,1\n2024-01-01T00:00:01Z,4\n", {}, [1, 4],
                 id="iso-zones-same-clock"),
    pytest.param("2023-11-16 18:17:03.0000000,1\n2023-11-16 18:17:04.0000000,2\n", {},
                 [1, 2], id="iso-seven-fraction-digits"),
    pytest.param("# cpu of one pod\ntime,cores\n\n0,1\n1,2\n", {}, [1, 2],
                 id="comment-blank-other-header"),
    pytest.param("0,1\n1,2\n", {"time_scale": 2.0}, [1, 1, 2, 2], id="time-scale-slower"),
    pytest.param("0,1\n1,2\n2,3\n3,4\n", {"time_scale": 0.5}, [1.5, 3.5],
                 id="time-scale-faster-averages"),
    pytest.param("0,1\n1,2\n", {"rate_scale": 3.0}, [3, 6], id="rate-scale"),
]


@pytest.mark.parametrize(("text", "options", "expected"), VALUE_CSV_CASES)
def test_value_csv(tmp_path: Path, text: str, options: dict[str, Any],
                   expected: list[float]) -> None:
    series = read_value_csv(write(tmp_path, "trace.csv", text), **options)
    assert (series.start_seconds, series.step_seconds, series.unit) == (0.0, 1.0, "cores")
    np.testing.assert_allclose(series.values, expected)
    assert series.values.dtype == np.float64


def test_value_csv_unit_and_source(tmp_path: Path) -> None:
    path = write(tmp_path, "rps.csv", "0,1\n")
    series = read_value_csv(path, unit="requests_per_second")
    assert (series.unit, series.source) == ("requests_per_second", str(path))


VALUE_CSV_ERRORS = [
    pytest.param("", 1, "no data rows", id="empty"),
    pytest.param("timestamp,value\n", 1, "no data rows", id="header-only"),
    pytest.param("0,abc\n", 1, "value 'abc' is not a number", id="single-bad-line"),
    pytest.param("timestamp,value\n0,1\n1,abc\n", 3, "value 'abc' is not a number",
                 id="bad-value"),
    pytest.param("0,1\n\n\n1,x\n", 4, "value 'x'", id="blank-lines-counted"),
    pytest.param("0,1\n1,2,3\n", 2, "expected 2 fields", id="three-fields"),
    pytest.param("0,1\n1\n", 2, "expected 2 fields", id="one-field"),
    pytest.param("0,1\n0,2\n", 2, "not after the previous", id="repeated-time"),
    pytest.param("0,1\n5,1\n3,2\n", 3, "not after the previous", id="time-goes-back"),
    pytest.param("0,1\nyesterday,2\n", 2, "neither seconds nor ISO-8601", id="bad-time"),
    pytest.param("0,1\n2024-13-01T00:00:00,2\n", 2, "neither seconds", id="month-13"),
    pytest.param("0,1\n2024-01-01T00:00:00,2\n", 2, "mix seconds and ISO", id="mixed"),
    pytest.param("0,1\n1,-2\n", 2, "negative", id="negative"),
    pytest.param("0,1\n1,nan\n", 2, "not a finite number", id="nan"),
    pytest.param("0,1\n1,inf\n", 2, "not a finite number", id="inf"),
    pytest.param("1700000000000,1\n1700000001000,2\n1800000000000,3\n", 3,
                 "timestamps in milliseconds?", id="milliseconds"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), VALUE_CSV_ERRORS)
def test_value_csv_errors(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    with pytest.raises(TraceError) as error:
        read_value_csv(write(tmp_path, "trace.csv", text))
    assert_trace_error(error, "trace.csv", line, fragment)
    assert error.value.line == line


@pytest.mark.parametrize(("options", "fragment"), [
    pytest.param({"time_scale": 0.0}, "time_scale", id="time-zero"),
    pytest.param({"time_scale": math.inf}, "time_scale", id="time-inf"),
    pytest.param({"rate_scale": -1.0}, "rate_scale", id="rate-negative"),
    pytest.param({"unit": "watts"}, "unit", id="unit"),
])
def test_bad_options_fail_before_reading(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        read_value_csv(Path("/nonexistent/trace.csv"), **options)


def _timestamp_text(seconds: int, iso: bool) -> str:
    if not iso:
        return str(seconds)
    return (datetime(2024, 3, 1, tzinfo=UTC) + timedelta(seconds=seconds)).strftime(
        "%Y-%m-%dT%H:%M:%S")


@settings(max_examples=40, deadline=None)
@given(
    start=st.integers(0, 10**6),
    gaps=st.lists(st.integers(1, 5), max_size=12),
    values=st.lists(st.floats(0, 1e6, allow_nan=False).map(lambda v: round(v, 3)),
                    min_size=13, max_size=13),
    iso=st.booleans(),
)
def test_value_csv_round_trip(start: int, gaps: list[int], values: list[float],
                              iso: bool) -> None:
    """Whole-second samples come back as the held step function, values exact."""
    times = np.cumsum([start, *gaps])
    kept = values[:len(times)]
    text = "".join(f"{_timestamp_text(int(t), iso)},{v!r}\n" for t, v in zip(times, kept,
                                                                              strict=True))
    hold = math.ceil(float(np.median(gaps))) if gaps else 1
    expected = np.repeat(kept, [*gaps, hold])
    with tempfile.TemporaryDirectory() as folder:
        series = read_value_csv(write(Path(folder), "round.csv", text))
    np.testing.assert_array_equal(series.values, expected)


@settings(max_examples=40, deadline=None)
@given(gaps=st.lists(st.floats(0.05, 4).map(lambda g: round(g, 2)), min_size=1, max_size=8),
       time_scale=st.sampled_from([0.5, 1.0, 1.5, 3.0]))
def test_value_csv_keeps_the_area(gaps: list[float], time_scale: float) -> None:
    """Resampling moves no load: the 1-s averages integrate to the step function's area."""
    times = np.cumsum([0.0, *gaps])
    values = np.arange(1.0, len(times) + 1)
    text = "".join(f"{float(t)!r},{float(v)!r}\n" for t, v in zip(times, values, strict=True))
    with tempfile.TemporaryDirectory() as folder:
        series = read_value_csv(write(Path(folder), "area.csv", text), time_scale=time_scale)
    scaled = times * time_scale
    end = len(series.values)
    area = float(np.sum(values[:-1] * np.diff(scaled)) + values[-1] * (end - scaled[-1]))
    assert math.isclose(float(series.values.sum()), area, rel_tol=1e-9)
    assert end == math.ceil(scaled[-1] + float(np.median(np.diff(scaled))) - 1e-9)


# ----------------------------------------------------------------------- Azure LLM CSV

AZURE_TEXT = """\
TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:17:03.9799600,4808,10
2023-11-16 18:17:04.0319600,3180,8
2023-11-16 18:17:05.9799600,100,0
"""

AZURE_CASES = [
    pytest.param(AZURE_TEXT, {}, [0, 0.052, 2.0], [4808, 3180, 100], [10, 8, 0], id="plain"),
    pytest.param(AZURE_TEXT, {"time_scale": 2.0}, [0, 0.104, 4.0], [4808, 3180, 100],
                 [10, 8, 0], id="time-scale"),
    pytest.param(AZURE_TEXT, {"rate_scale": 2.0}, [0, 0, 0.052, 0.052, 2, 2],
                 [4808, 4808, 3180, 3180, 100, 100], [10, 10, 8, 8, 0, 0], id="rate-doubles"),
    pytest.param(AZURE_TEXT, {"rate_scale": 0.0}, [], [], [], id="rate-zero"),
    pytest.param("TIMESTAMP,ContextTokens,GeneratedTokens\n"
                 "2023-11-16 18:17:05.5,1,2\n2023-11-16 18:17:05,3,4\n", {}, [0, 0.5],
                 [3, 1], [4, 2], id="sorted-by-arrival"),
]


@pytest.mark.parametrize(("text", "options", "arrivals", "prompts", "outputs"), AZURE_CASES)
def test_azure_llm(tmp_path: Path, text: str, options: dict[str, Any], arrivals: list[float],
                   prompts: list[int], outputs: list[int]) -> None:
    trace = read_azure_llm_csv(write(tmp_path, "llm.csv", text), **options)
    np.testing.assert_allclose(trace.arrival_seconds, arrivals, atol=1e-6)
    np.testing.assert_array_equal(trace.prompt_tokens, prompts)
    np.testing.assert_array_equal(trace.output_tokens, outputs)
    assert trace.arrival_seconds.dtype == np.float64
    assert trace.prompt_tokens.dtype == trace.output_tokens.dtype == np.int64


AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
AZURE_ERRORS = [
    pytest.param("", 1, "empty file", id="empty"),
    pytest.param("time,prompt,output\n", 1, "is not TIMESTAMP,ContextTokens", id="header"),
    pytest.param(AZURE_HEADER, 1, "no requests", id="header-only"),
    pytest.param(AZURE_HEADER + "2023-11-16 18:17:03,1,2\n2023-11-16 18:17:04,1\n", 3,
                 "expected 3 fields", id="short-row"),
    pytest.param(AZURE_HEADER + "2023-11-16 18:17:03,-1,2\n", 2, "ContextTokens -1 is negative",
                 id="negative-prompt"),
    pytest.param(AZURE_HEADER + "2023-11-16 18:17:03,1,2.5\n", 2,
                 "GeneratedTokens '2.5' is not an integer", id="fractional-output"),
    pytest.param(AZURE_HEADER + "16/11/2023 18:17,1,2\n", 2, "is not ISO-8601", id="bad-time"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), AZURE_ERRORS)
def test_azure_llm_errors(tmp_path: Path, text: str, line: int, fragment: str) -> None:
    with pytest.raises(TraceError) as error:
        read_azure_llm_csv(write(tmp_path, "llm.csv", text))
    assert_trace_error(error, "llm.csv", line, fragment)


@settings(max_examples=60, deadline=None)
@given(count=st.integers(0, 3000), rate_scale=st.floats(0, 5), seed=st.integers(0, 2**32))
def test_rate_scale_copies(count: int, rate_scale: float, seed: int) -> None:
    """floor(k) copies each, plus a Bernoulli(frac k) extra: bounded, near k*n, seeded."""
    copies = scale_requests(count, rate_scale, seed)
    whole, fraction = math.floor(rate_scale), rate_scale - math.floor(rate_scale)
    assert copies.dtype == np.int64 and len(copies) == count
    assert set(np.unique(copies)) <= {whole, whole + 1}
    spread = 6 * math.sqrt(count * fraction * (1 - fraction)) + 1
    assert abs(int(copies.sum()) - rate_scale * count) <= spread
    np.testing.assert_array_equal(copies, scale_requests(count, rate_scale, seed))


def test_azure_rate_scale_is_seeded(tmp_path: Path) -> None:
    lines = [f"2023-11-16 18:17:{i // 10:02d}.{i % 10}000000,{i},{i}" for i in range(200)]
    path = write(tmp_path, "llm.csv", AZURE_HEADER + "\n".join(lines) + "\n")
    first = read_azure_llm_csv(path, rate_scale=1.5, seed=7)
    again = read_azure_llm_csv(path, rate_scale=1.5, seed=7)
    other = read_azure_llm_csv(path, rate_scale=1.5, seed=8)
    np.testing.assert_array_equal(first.prompt_tokens, again.prompt_tokens)
    assert not np.array_equal(first.prompt_tokens, other.prompt_tokens)
    assert np.all(np.diff(first.arrival_seconds) >= 0)
    assert 200 <= len(first.arrival_seconds) <= 400
    # A duplicate is the same request: tokens travel with the arrival time.
    np.testing.assert_allclose(first.arrival_seconds, first.prompt_tokens / 10, atol=1e-5)


# ------------------------------------------------------------------ per-minute counts

PER_MINUTE_TEXT = """\
HashFunction,HashApp,HashOwner,minute_1,minute_2,minute_3
f1,a,o,60,0,120
f2,a,o,0,30,60
"""

PER_MINUTE_CASES = [
    pytest.param(PER_MINUTE_TEXT, {}, 60.0, [1, 0.5, 3], id="sum-of-rows"),
    pytest.param(PER_MINUTE_TEXT, {"column": "f2"}, 60.0, [0, 0.5, 1], id="one-function"),
    pytest.param(PER_MINUTE_TEXT, {"time_scale": 0.5}, 30.0, [1, 0.5, 3], id="time-scale"),
    pytest.param(PER_MINUTE_TEXT, {"rate_scale": 2.0}, 60.0, [2, 1, 6], id="rate-scale"),
    pytest.param("Hash,minute_2,note,minute_1\nf,6,x,12\n", {}, 60.0, [0.2, 0.1],
                 id="columns-by-number-others-ignored"),
]


@pytest.mark.parametrize(("text", "options", "step", "expected"), PER_MINUTE_CASES)
def test_per_minute(tmp_path: Path, text: str, options: dict[str, Any], step: float,
                    expected: list[float]) -> None:
    series = read_per_minute_csv(write(tmp_path, "fn.csv", text), **options)
    assert (series.start_seconds, series.step_seconds) == (0.0, step)
    assert series.unit == "requests_per_second"
    np.testing.assert_allclose(series.values, expected)


PER_MINUTE_ERRORS = [
    pytest.param("", {}, 1, "empty file", id="empty"),
    pytest.param("HashFunction,minute_1\n", {}, 1, "no data rows", id="header-only"),
    pytest.param("HashFunction,count\nf,1\n", {}, 1, "no minute_<n> columns", id="no-minutes"),
    pytest.param("HashFunction,minute_1,minute_3\nf,1,2\n", {}, 1, "minute_2 is missing",
                 id="gap-in-minutes"),
    pytest.param("HashFunction,minute_1,minute_1\nf,1,2\n", {}, 1, "repeat", id="repeat"),
    pytest.param("HashFunction,minute_1,minute_2\nf,1,2\ng,1,many\n", {}, 3,
                 "minute_2 'many' is not a number", id="bad-count"),
    pytest.param("HashFunction,minute_1,minute_2\nf,1,2\ng,1\n", {}, 3, "expected 3 fields",
                 id="short-row"),
    pytest.param("HashFunction,minute_1,minute_2\nf,1,-2\n", {}, 2, "minute_2 is negative",
                 id="negative"),
    pytest.param(PER_MINUTE_TEXT, {"column": "zz"}, None,
                 "no row has HashFunction 'zz' (the file has 2 rows)", id="unknown-function"),
]


@pytest.mark.parametrize(("text", "options", "line", "fragment"), PER_MINUTE_ERRORS)
def test_per_minute_errors(tmp_path: Path, text: str, options: dict[str, Any],
                           line: int | None, fragment: str) -> None:
    with pytest.raises(TraceError) as error:
        read_per_minute_csv(write(tmp_path, "fn.csv", text), **options)
    assert_trace_error(error, "fn.csv", line, fragment)


# ------------------------------------------------------------------- Prometheus JSON


def prometheus_text(*series: tuple[dict[str, str], list[tuple[Any, str]]]) -> str:
    """A query_range answer with one sample per line, so samples have line numbers:
    line 1 opens the envelope, then per series a `metric` line, one line per sample and a
    closing `]},` line (the first series' samples start on line 3)."""
    parts = []
    for labels, samples in series:
        rows = ",\n".join(f"[{json.dumps(t)},{json.dumps(v)}]" for t, v in samples)
        parts.append(f'{{"metric":{json.dumps(labels)},"values":[\n{rows}\n]}}')
    body = ",\n".join(parts)
    return ('{"status":"success","data":{"resultType":"matrix","result":[\n'
            f"{body}\n]}}}}\n")


POD_A = {"pod": "a", "ns": "x"}
POD_B = {"pod": "b", "ns": "x"}
TWO_PODS = prometheus_text((POD_A, [(100, "1"), (115, "2"), (130, "3")]),
                           (POD_B, [(115, "0.5"), (130, "0.25")]))

PROMETHEUS_CASES = [
    pytest.param(TWO_PODS, {}, 15.0, [1, 2.5, 3.25], id="summed-later-series-zero-before"),
    pytest.param(TWO_PODS, {"series": "b"}, 15.0, [0.5, 0.25], id="label-value"),
    pytest.param(TWO_PODS, {"series": "pod=a"}, 15.0, [1, 2, 3], id="key-value"),
    pytest.param(TWO_PODS, {"time_scale": 2.0, "rate_scale": 4.0}, 30.0, [4, 10, 13],
                 id="scaled"),
    pytest.param(prometheus_text(({}, [(1.7e9, "1e-3"), (1.7e9 + 0.5, "2")])), {}, 0.5,
                 [0.001, 2], id="sub-second-step-no-labels"),
]


@pytest.mark.parametrize(("text", "options", "step", "expected"), PROMETHEUS_CASES)
def test_prometheus(tmp_path: Path, text: str, options: dict[str, Any], step: float,
                    expected: list[float]) -> None:
    series = read_prometheus_range_json(write(tmp_path, "cpu.json", text), **options)
    assert (series.start_seconds, series.step_seconds, series.unit) == (0.0, step, "cores")
    np.testing.assert_allclose(series.values, expected)


PROMETHEUS_ERRORS = [
    pytest.param(prometheus_text((POD_A, [(100, "1"), (115, "NaN"), (130, "3")])), {}, 4,
                 'series {pod="a",ns="x"} at 115: value \'NaN\' is missing data', id="nan"),
    pytest.param(prometheus_text((POD_A, [(100, "1"), (115, "2")]),
                                 (POD_B, [(100, "1"), (115, "+Inf")])), {}, 8,
                 'series {pod="b",ns="x"} at 115', id="inf-in-second-series"),
    pytest.param(prometheus_text((POD_A, [(100, "1")]), (POD_B, [(100, "NaN")]),
                                 (POD_A, [(100, "NaN")])), {}, 6, "NaN",
                 id="first-of-two-identical-bad-samples"),
    pytest.param(prometheus_text((POD_A, [(100, "1"), (100, "2")])), {}, 4,
                 "timestamp 100 is not after", id="repeated-time"),
    pytest.param('{"status":"success",\n"data": [1,,2]}', {}, 2, "not JSON", id="bad-json"),
    pytest.param('{"status":"error","error":"bad_data: parse error"}', {}, 1,
                 "query did not succeed: bad_data", id="status-error"),
    pytest.param('{"status":"success","data":{"resultType":"vector","result":[]}}', {}, 1,
                 "resultType 'vector'", id="instant-query"),
    pytest.param('{"status":"success","data":{"resultType":"matrix","result":[]}}', {}, 1,
                 "no series", id="no-series"),
    pytest.param(prometheus_text((POD_A, [(100, "1"), (115, "2"), (145, "3")])), {}, None,
                 "irregular step: 115 to 145 is 30 s, the step is 15 s", id="irregular"),
    pytest.param(prometheus_text((POD_A, [(100, "1"), (130, "3")]),
                                 (POD_B, [(100, "1"), (115, "1"), (130, "1")])), {}, None,
                 'series {pod="a",ns="x"} has no sample at 115', id="hole-is-not-zero"),
    pytest.param(prometheus_text((POD_A, [(100, "1")])), {}, None, "step cannot be inferred",
                 id="one-timestamp"),
    pytest.param(TWO_PODS, {"series": "pod=c"}, None, "matches no series", id="no-match"),
    pytest.param(TWO_PODS, {"series": "x"}, None, "matches 2 series", id="ambiguous"),
]


@pytest.mark.parametrize(("text", "options", "line", "fragment"), PROMETHEUS_ERRORS)
def test_prometheus_errors(tmp_path: Path, text: str, options: dict[str, Any],
                           line: int | None, fragment: str) -> None:
    with pytest.raises(TraceError) as error:
        read_prometheus_range_json(write(tmp_path, "cpu.json", text), **options)
    assert_trace_error(error, "cpu.json", line, fragment)


# ---------------------------------------------------------------- per-second counts


def tbz2(tmp_path: Path, name: str, members: dict[str, bytes]) -> Path:
    path = tmp_path / name
    with tarfile.open(path, "w:bz2") as archive:
        for member, data in members.items():
            info = tarfile.TarInfo(member)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


RPS_TEXT = "1 2 3\n4\t5\n\n6 7 \n"
RPS_VALUES = [1, 2, 3, 4, 5, 6, 7]


@pytest.fixture(params=["text", "tbz2", "tar.bz2", "bz2"])
def rps_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    data = RPS_TEXT.encode()
    if request.param == "text":
        return write(tmp_path, "workload.txt", RPS_TEXT)
    if request.param == "bz2":
        path = tmp_path / "workload.txt.bz2"
        path.write_bytes(bz2.compress(data))
        return path
    return tbz2(tmp_path, f"workload.{request.param}", {"workload.txt": data})


@pytest.mark.parametrize("read_bytes", [4, 1 << 18], ids=["numbers-split-across-reads",
                                                           "one-read"])
def test_rps(rps_file: Path, read_bytes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traces_rps, "_READ_BYTES", read_bytes)
    series = read_rps_lines(rps_file)
    assert (series.start_seconds, series.step_seconds) == (0.0, 1.0)
    assert series.unit == "requests_per_second"
    np.testing.assert_array_equal(series.values, RPS_VALUES)
    scaled = read_rps_lines(rps_file, time_scale=0.5, rate_scale=1.5)
    assert scaled.step_seconds == 0.5
    np.testing.assert_allclose(scaled.values, np.multiply(RPS_VALUES, 1.5))


@pytest.mark.parametrize(("chunk", "sizes"), [
    pytest.param(3, [3, 3, 1], id="remainder"),
    pytest.param(7, [7], id="exact"),
    pytest.param(100, [7], id="larger-than-file"),
    pytest.param(1, [1] * 7, id="single"),
])
def test_rps_chunks(rps_file: Path, chunk: int, sizes: list[int],
                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traces_rps, "_READ_BYTES", 5)
    chunks = list(iter_rps_chunks(rps_file, chunk_values=chunk))
    assert [len(c) for c in chunks] == sizes
    np.testing.assert_array_equal(np.concatenate(chunks), RPS_VALUES)


def test_rps_decimals_and_first_file_in_archive(tmp_path: Path) -> None:
    path = tbz2(tmp_path, "w.tbz2", {"a.txt": b"0.5 2e1", "b.txt": b"9"})
    np.testing.assert_array_equal(read_rps_lines(path).values, [0.5, 20])


RPS_ERRORS = [
    pytest.param("1 2 x\n", 1, "count 'x' is not a non-negative number", id="word"),
    pytest.param("1\n2\n-3\n", 3, "count '-3'", id="negative-line-3"),
    pytest.param("1 nan\n", 1, "count 'nan'", id="nan"),
    pytest.param("1 2\n3 inf", 2, "count 'inf'", id="inf"),
    pytest.param("", 1, "no counts", id="empty"),
    pytest.param("\n\n", 1, "no counts", id="blank"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), RPS_ERRORS)
@pytest.mark.parametrize("read_bytes", [3, 1 << 18], ids=["small-reads", "one-read"])
def test_rps_errors(tmp_path: Path, text: str, line: int, fragment: str, read_bytes: int,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(traces_rps, "_READ_BYTES", read_bytes)
    with pytest.raises(TraceError) as error:
        read_rps_lines(write(tmp_path, "load.txt", text))
    assert_trace_error(error, "load.txt", line, fragment)


def test_rps_error_in_archive_names_member(tmp_path: Path) -> None:
    with pytest.raises(TraceError) as error:
        read_rps_lines(tbz2(tmp_path, "w.tbz2", {"workload.txt": b"1 2\n3 oops\n"}))
    assert_trace_error(error, "w.tbz2:workload.txt", 2, "count 'oops'")
    with pytest.raises(TraceError) as empty:
        read_rps_lines(tbz2(tmp_path, "none.tbz2", {}))
    assert_trace_error(empty, "none.tbz2", None, "holds no file")


def test_rps_chunk_size_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="chunk_values"):
        next(iter_rps_chunks(write(tmp_path, "w.txt", "1"), chunk_values=0))


# -------------------------------------------------------------- kubectl get hpa -w

WATCH_TEXT = """\
[root@master-01 ~]# kubectl get hpa -w
NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE
web Deployment/web <unknown>/50% 1 10 1 5s
web Deployment/web 37%/20% 2 5 3 2m1s
web Deployment/web cpu: 120%/50% <unset> 5 4 2d4h
[root@master-01 ~]# kubectl get po
NAME READY STATUS RESTARTS AGE
web-7dffd47c6fl 1/1 Running 0 4m34s
"""


def test_kubectl_watch_rows() -> None:
    trace = read_kubectl_watch(WATCH_TEXT)
    assert isinstance(trace, HpaWatchTrace)
    assert [(r.current_percent, r.target_percent, r.min_replicas, r.max_replicas,
             r.replicas, r.age_seconds) for r in trace.rows] == [
        (None, 50, 1, 10, 1, 5.0),
        (37, 20, 2, 5, 3, 121.0),
        (120, 50, 1, 5, 4, 187200.0),
    ]
    assert {(r.name, r.reference) for r in trace.rows} == {("web", "Deployment/web")}


@pytest.mark.parametrize(("age", "seconds"), [
    pytest.param("92s", 92, id="seconds"), pytest.param("2m1s", 121, id="minutes-seconds"),
    pytest.param("5m50s", 350, id="5m50s"), pytest.param("5m", 300, id="minutes"),
    pytest.param("3h", 10800, id="hours"), pytest.param("2d4h", 187200, id="days-hours"),
    pytest.param("1y2d", 366 * 86400 + 86400, id="years-days"),
])
def test_kubectl_ages(age: str, seconds: int) -> None:
    row = read_kubectl_watch(f"h Deployment/d 1%/2% 1 2 1 {age}\n").rows[0]
    assert row.age_seconds == seconds


def test_kubectl_watch_all_namespaces() -> None:
    text = ("$ kubectl get hpa -A -w\n"
            "NAMESPACE NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE\n"
            "prod web Deployment/web 37%/20% 1 5 3 92s\n")
    (row,) = read_kubectl_watch(text).rows
    assert (row.name, row.reference, row.replicas, row.age_seconds) == (
        "web", "Deployment/web", 3, 92.0)


KUBECTL_ERRORS = [
    pytest.param("h Deployment/d 1%/2% 1 2 1 92s\nh Deployment/d 1%/2% 1 2 1 soon\n", 2,
                 "AGE 'soon'", id="age"),
    pytest.param("h Deployment/d 500m/1 1 2 1 92s\n", 1, "TARGETS '500m/1'", id="value-target"),
    pytest.param("h Deployment/d 1%/2% 1 two 1 92s\n", 1, "MAXPODS 'two'", id="maxpods"),
    pytest.param("$ kubectl get hpa -w\nh Deployment/d 1%/2% 1 2\n", 2, "expected the columns",
                 id="short-line"),
    pytest.param("NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE\n", None,
                 "no `kubectl get hpa` rows", id="header-only"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), KUBECTL_ERRORS)
def test_kubectl_errors(tmp_path: Path, text: str, line: int | None, fragment: str) -> None:
    with pytest.raises(TraceError) as error:
        read_kubectl_watch(write(tmp_path, "watch.txt", text))
    assert_trace_error(error, "watch.txt", line, fragment)
    with pytest.raises(TraceError) as from_text:
        read_kubectl_watch(text)
    assert_trace_error(from_text, "<text>", line, fragment)


def test_kubectl_watch_of_the_seed_document() -> None:
    """The whole design document: only the `get hpa -w` output after its prompt is read."""
    trace = read_kubectl_watch(SEED_DOCUMENT)
    assert len(trace.rows) == 7
    cloud = [r for r in trace.rows if r.name.endswith("cloud")]
    edge = [r for r in trace.rows if r.name.endswith("edge")]
    assert [(r.current_percent, r.replicas, r.age_seconds) for r in cloud] == [
        (37, 3, 92), (37, 4, 106), (18, 4, 121), (12, 4, 136)]
    assert [(r.current_percent, r.target_percent, r.max_replicas) for r in edge] == [
        (348, 50, 2), (535, 50, 2), (769, 50, 2)]


# ----------------------------------------------------------------- read_trace dispatch

SNIFF_CASES = [
    pytest.param("t.csv", "timestamp,value\n0,1\n", "csv", DemandSeries, id="csv"),
    pytest.param("t.txt", "0,1\n1,2\n", "csv", DemandSeries, id="csv-no-header"),
    pytest.param("t.csv", AZURE_TEXT, "azure-llm", RequestTrace, id="azure-llm"),
    pytest.param("t.csv", PER_MINUTE_TEXT, "per-minute", DemandSeries, id="per-minute"),
    pytest.param("t.json", TWO_PODS, "prometheus", DemandSeries, id="prometheus"),
    pytest.param("t.out", TWO_PODS, "prometheus", DemandSeries, id="prometheus-by-content"),
    pytest.param("t.txt", RPS_TEXT, "rps", DemandSeries, id="rps"),
    pytest.param("t.log", WATCH_TEXT, "kubectl-watch", HpaWatchTrace, id="kubectl-prompt"),
    pytest.param("t.log", WATCH_TEXT.split("\n", 1)[1], "kubectl-watch", HpaWatchTrace,
                 id="kubectl-header"),
]


@pytest.mark.parametrize(("name", "text", "fmt", "kind"), SNIFF_CASES)
def test_read_trace_sniffs(tmp_path: Path, name: str, text: str, fmt: str,
                           kind: type) -> None:
    path = write(tmp_path, name, text)
    assert sniff_format(path) == fmt
    assert isinstance(read_trace(path), kind)
    assert isinstance(read_trace(path, fmt), kind)


def test_read_trace_passes_options(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "0,1\n1,2\n")
    series = read_trace(path, "csv", unit="requests_per_second", rate_scale=2.0)
    assert isinstance(series, DemandSeries)
    assert series.unit == "requests_per_second"
    np.testing.assert_array_equal(series.values, [2, 4])
    function = read_trace(write(tmp_path, "f.csv", PER_MINUTE_TEXT), column="f1")
    assert isinstance(function, DemandSeries)
    np.testing.assert_allclose(function.values, [1, 0, 2])


def test_read_trace_refuses(tmp_path: Path) -> None:
    path = write(tmp_path, "t.csv", "0,1\n")
    with pytest.raises(TraceError) as unknown:
        read_trace(path, "parquet")
    assert_trace_error(unknown, "t.csv", None, "unknown trace format 'parquet'")
    assert "csv, azure-llm, per-minute, prometheus, rps, kubectl-watch" in str(unknown.value)
    with pytest.raises(ValueError, match=re.escape("option(s) seed do not apply to format "
                                                   "'csv'")):
        read_trace(path, seed=3)
    with pytest.raises(TraceError) as unclear:
        read_trace(write(tmp_path, "mystery.dat", "hello world\n"))
    assert_trace_error(unclear, "mystery.dat", 1, "cannot tell the trace format")


# -------------------------------------------------------------------- the real traces


def test_real_azure_llm_trace() -> None:
    trace = read_azure_llm_csv(TRACES / "AzureLLMInferenceTrace_code.csv")
    assert len(trace.arrival_seconds) == 8819
    assert 56 * 60 < trace.duration_seconds < 58 * 60
    assert np.median(trace.prompt_tokens) == 1469
    assert np.median(trace.output_tokens) == 13
    per_second = np.bincount(trace.arrival_seconds.astype(np.int64))
    assert per_second.max() == 67  # the README's burst
    assert np.all(np.diff(trace.arrival_seconds) >= 0)


def test_real_azure_functions_trace() -> None:
    path = TRACES / "azure_functions_2019_sample100_inv_per_min.csv"
    series = read_per_minute_csv(path)
    per_minute = series.values * 60
    assert (len(per_minute), series.step_seconds) == (1440, 60.0)
    assert (per_minute.min(), per_minute.max()) == (233, 1622)
    first_hash = path.read_text().splitlines()[1].split(",")[0]
    one = read_per_minute_csv(path, column=first_hash)
    assert 0 < one.values.sum() <= series.values.sum()


@pytest.fixture(scope="module")
def nasa() -> DemandSeries:
    return read_rps_lines(TRACES / "nasa_http_1995_rps_workload.tbz2")


def test_real_nasa_trace(nasa: DemandSeries) -> None:
    assert len(nasa.values) == 5_059_950
    assert nasa.values.max() == 20
    assert nasa.values.min() == 0
    assert nasa.step_seconds == 1.0


def test_real_nasa_chunks_match(nasa: DemandSeries) -> None:
    """Streaming gives the same numbers; only the first and last day are compared in full
    to keep the test quick, every chunk's sum is compared."""
    chunks: Iterator[np.ndarray[Any, Any]] = iter_rps_chunks(
        TRACES / "nasa_http_1995_rps_workload.tbz2")
    offset = 0
    for chunk in chunks:
        assert chunk.sum() == nasa.values[offset:offset + len(chunk)].sum()
        offset += len(chunk)
    assert offset == len(nasa.values)
    np.testing.assert_array_equal(chunk, nasa.values[-len(chunk):])
