"""Hostile Prometheus answers (a stand-in HTTP server returns exactly the bytes under test):
each becomes `MetricUnavailable` naming the problem, never an exception, never a zero; a slow
server costs one timeout, not four plus backoff. Plus hypothesis-generated answers."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.observation import MetricUnavailable, PodsMetricData, ResourceMetricsData
from autoscaler.prometheus import query
from autoscaler.prometheus.source import PrometheusSettings, PrometheusSource
from autoscaler.safeload import load_json

NOW = 1_800_000_000.0


class Answers:
    def __init__(self) -> None:
        self.body: bytes = b""
        self.status = 200
        self.delay = 0.0
        self.requests = 0


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Answers]]:
    answers = Answers()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            answers.requests += 1
            if answers.delay:
                time.sleep(answers.delay)  # the server under test's slowness
            body = answers.body
            if "timestamp(" in unquote(self.path) and answers.status == 200:
                body = vector([({"pod": "p0"}, str(NOW))])  # raw series are fresh
            self.send_response(answers.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            with contextlib.suppress(OSError):  # the client gave up (timeout)
                self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


def vector(series: list[tuple[dict[str, str], str]]) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": labels, "value": [NOW, value]} for labels, value in series]}}).encode()


def answer(result_type: str, result: Any) -> bytes:
    return json.dumps({"status": "success",
                       "data": {"resultType": result_type, "result": result}}).encode()


CPU = {"pod": "p0", "container": "c"}


@pytest.mark.parametrize(("body", "fragment"), [
    pytest.param(vector([(CPU, "1e306")]), "not a number we can scale on", id="1e306"),
    pytest.param(vector([(CPU, "NaN")]), "not a number we can scale on", id="nan"),
    pytest.param(vector([(CPU, "-2")]), "negative", id="negative-usage"),
    pytest.param(answer("scalar", [NOW, "3"]), "expected an instant vector", id="scalar"),
    pytest.param(answer("string", [NOW, "x"]), "expected an instant vector", id="string"),
    pytest.param(answer("vector", ["not an object"]), "not an object", id="item-not-object"),
    pytest.param(answer("vector", [{"metric": "x", "value": [NOW, "1"]}]),
                 "not a string map", id="metric-is-a-string"),
    pytest.param(answer("vector", [{"metric": CPU, "value": ["yesterday", "1"]}]),
                 "value is not [timestamp", id="timestamp-yesterday"),
    pytest.param(answer("vector", [{"metric": CPU, "value": [NOW, 1]}]),
                 "value is not [timestamp", id="value-not-a-string"),
    pytest.param(vector([(CPU, "1"), (CPU, "2")]), "appears twice", id="duplicate-container"),
    pytest.param(b"{" * 5000, "malformed answer", id="deep-json"),
    pytest.param(b"<html>proxy error</html>", "malformed answer", id="not-json"),
    pytest.param(json.dumps({"data": None}).encode(), "no data object", id="no-data"),
    pytest.param(b'{"data": {"resultType": "vector", "result": [' + b"9" * 5000 + b"]}}",
                 "malformed answer", id="5000-digit-number"),
])
def test_hostile_cpu_answers(server: tuple[str, Answers], body: bytes, fragment: str) -> None:
    url, answers = server
    answers.body, answers.status, answers.delay = body, 200, 0.0
    data = PrometheusSource(PrometheusSettings(url)).resource("ns", ["p0"], "cpu", NOW)
    assert isinstance(data, MetricUnavailable), data
    assert fragment in data.message


def test_duplicate_pods_series_are_refused(server: tuple[str, Answers]) -> None:
    url, answers = server
    answers.body, answers.status, answers.delay = vector(
        [({"pod": "p0"}, "1"), ({"pod": "p0"}, "2")]), 200, 0.0
    data = PrometheusSource(PrometheusSettings(url)).templated(
        "Pods", "x", "ns", ["p0"], "", "m", NOW)
    assert isinstance(data, MetricUnavailable) and "appears twice" in data.message


def test_a_slow_server_costs_one_timeout_not_retries(server: tuple[str, Answers]) -> None:
    url, answers = server
    answers.body, answers.status, answers.delay = vector([(CPU, "1")]), 200, 3.0
    answers.requests = 0
    started = time.monotonic()
    data = PrometheusSource(PrometheusSettings(url, timeout_seconds=0.5)).resource(
        "ns", ["p0"], "cpu", NOW)
    elapsed = time.monotonic() - started
    assert isinstance(data, MetricUnavailable) and "query failed" in data.message
    assert answers.requests == 1  # no retries: the loop owns retry
    assert elapsed < 2.0  # one timeout (0.5 s), not 4 x timeout + backoff


def test_http_errors_name_the_status(server: tuple[str, Answers]) -> None:
    url, answers = server
    answers.body, answers.status, answers.delay = b"overloaded", 503, 0.0
    data = PrometheusSource(PrometheusSettings(url)).resource("ns", ["p0"], "cpu", NOW)
    assert isinstance(data, MetricUnavailable) and "HTTP 503" in data.message


def test_a_good_answer_still_works(server: tuple[str, Answers]) -> None:
    url, answers = server
    answers.body, answers.status, answers.delay = vector([(CPU, "0.25")]), 200, 0.0
    data = PrometheusSource(PrometheusSettings(url)).resource("ns", ["p0"], "cpu", NOW)
    assert isinstance(data, ResourceMetricsData)
    assert data.pods["p0"].containers["c"]["cpu"] == 250
    pods = PrometheusSource(PrometheusSettings(url)).templated(
        "Pods", "x", "ns", ["p0"], "", "m", NOW)
    assert isinstance(pods, PodsMetricData)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                                max_size=4),
    max_leaves=20)


@settings(max_examples=150, deadline=None)
@given(st.one_of(
    json_values.map(lambda v: json.dumps(v).encode()),
    st.lists(st.fixed_dictionaries({"metric": json_values, "value": json_values}),
             max_size=4).map(lambda r: answer("vector", r)),
    st.binary(max_size=200)))
def test_any_answer_is_a_value_or_unavailable(body: bytes) -> None:
    """Generated answers (valid JSON of any shape, vectors with arbitrary items, random
    bytes) through the real parser, without a server."""
    try:
        document = load_json(body, "answer")
    except ValueError:
        return  # the real path reports this as a malformed answer
    try:
        samples = query.samples(document, "q")
    except query.PrometheusUnavailableError:
        return
    assert all(isinstance(s.value, float) for s in samples)
