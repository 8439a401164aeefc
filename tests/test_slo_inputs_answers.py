"""Hostile Prometheus answers to the SLO recommender's queries (a stand-in HTTP server
returns exactly the bytes under test, per API path): each becomes `MetricUnavailable` naming
the problem, never an exception, never a zero."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from algorithms.observation import MetricUnavailable
from algorithms.slo.model import ForecastSpec, SloObservation, SloSpec
from autoscaler.prometheus.source import PrometheusSettings, PrometheusSource

NOW = 1_800_000_000.0
FORECAST = SloSpec(forecast=ForecastSpec(history_seconds=60, step_seconds=15))


class Answers:
    def __init__(self) -> None:
        self.instant = b""
        self.range = b""


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[str, Answers]]:
    answers = Answers()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = answers.range if "/query_range" in self.path else answers.instant
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", answers
    httpd.shutdown()
    httpd.server_close()


def inputs(**values: str) -> bytes:
    return json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"input": name}, "value": [NOW, value]}
        for name, value in values.items()]}}).encode()


def matrix(result: Any) -> bytes:
    return json.dumps({"status": "success",
                       "data": {"resultType": "matrix", "result": result}}).encode()


GOOD = inputs(arrivals="2", responses="2", prompt="4000", output="300", timed_prompt="4000",
              timed_output="300", prefill_seconds="4", decode_seconds="6")
POINTS = [[NOW - 45 + 15 * i, "1.5"] for i in range(4)]
GOOD_RANGE = matrix([{"metric": {}, "values": POINTS}])


@pytest.mark.parametrize(("instant", "ranged", "fragment"), [
    pytest.param(inputs(), GOOD_RANGE, "no llm_proxy_arrivals_total series", id="empty"),
    pytest.param(inputs(arrivals="-1"), GOOD_RANGE, "arrivals is negative", id="negative"),
    pytest.param(inputs(arrivals="NaN"), GOOD_RANGE, "not a number we can scale on",
                 id="nan"),
    pytest.param(json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"input": "arrivals"}, "value": [NOW, "1"]},
        {"metric": {"input": "arrivals"}, "value": [NOW, "2"]}]}}).encode(), GOOD_RANGE,
                 "unexpected series", id="duplicate-input"),
    pytest.param(inputs(bogus="1"), GOOD_RANGE, "unexpected series", id="unknown-input"),
    pytest.param(GOOD, matrix([{"metric": {}, "values": [[NOW, "1"], [NOW - 15, "1"]]}]),
                 "out of order or range", id="range-out-of-order"),
    pytest.param(GOOD, matrix([{"metric": {}, "values": [[NOW + 600, "1"]]}]),
                 "out of order or range", id="range-in-the-future"),
    pytest.param(GOOD, matrix([{"metric": {}, "values": [[NOW, "Inf"]]}]),
                 "not a number we can scale on", id="range-infinite"),
    pytest.param(GOOD, matrix([{"metric": {}, "values": "x"}]), "values is not a list",
                 id="range-values-not-a-list"),
    pytest.param(GOOD, matrix([{"metric": {}, "values": POINTS}] * 2), "2 series",
                 id="range-two-series"),
    pytest.param(GOOD, json.dumps({"status": "success", "data": {
        "resultType": "vector", "result": []}}).encode(), "expected a matrix",
                 id="range-answered-with-a-vector"),
    pytest.param(GOOD, b"{" * 100_000, "malformed answer", id="range-deep-nesting"),
])
def test_hostile_answers_are_unavailable(server: tuple[str, Answers], instant: bytes,
                                         ranged: bytes, fragment: str) -> None:
    url, answers = server
    answers.instant, answers.range = instant, ranged
    got = PrometheusSource(PrometheusSettings(url)).slo_observation(FORECAST, "ns", ["p"], NOW)
    assert isinstance(got, MetricUnavailable), got
    assert fragment in got.message


def test_good_answers_and_a_gap_in_the_rates(server: tuple[str, Answers]) -> None:
    url, answers = server
    answers.instant = GOOD
    # Points at -45, -30, (gap at -15), 0: only the run ending now is a usable history.
    answers.range = matrix([{"metric": {}, "values": [POINTS[0], POINTS[1], POINTS[3]]}])
    got = PrometheusSource(PrometheusSettings(url)).slo_observation(FORECAST, "ns", ["p"], NOW)
    assert isinstance(got, SloObservation), got
    assert (got.arrival_rate_per_second, got.mean_prompt_tokens, got.mean_output_tokens,
            got.prefill_tokens_per_second, got.decode_tokens_per_second) == (
        2.0, 2000.0, 150.0, 1000.0, 50.0)
    assert got.recent_rates_per_second == (1.5,)
