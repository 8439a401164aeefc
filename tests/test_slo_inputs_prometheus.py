"""The SLO recommender's inputs read from a real Prometheus (Debian's binary, backfilled
history of the metering proxy's counters), with known rates: every ratio is checked against
the numbers the counters were built from. No skip when the binary is missing: .ci/run
installs it and PrometheusMissingError fails the test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from algorithms.observation import MetricUnavailable
from algorithms.slo.model import ForecastSpec, PanicSpec, SloObservation, SloSpec
from autoscaler.prometheus.slo_inputs import instant_query
from autoscaler.prometheus.source import PrometheusSettings, PrometheusSource
from autoscaler.testing.prometheus import PrometheusProcess, Series

NOW = 1_800_000_000.0
STEP = 15.0
CHAT = "/v1/chat/completions"
MINUTES = 20


def counter(name: str, labels: dict[str, str], per_second: float,
            last: float = NOW, ramp: float = 0.0) -> Series:
    """A counter growing at `per_second` (plus `ramp` per second per second: the rate then
    grows linearly, which the forecast should see)."""
    points = int(MINUTES * 60 / STEP)
    samples = []
    for i in range(points + 1):
        t = (i - points) * STEP  # seconds before `last`, <= 0
        elapsed = i * STEP
        samples.append((last + t, per_second * elapsed + ramp * elapsed ** 2 / 2))
    return Series(name, labels, tuple(samples), kind="counter")


def gauge(name: str, labels: dict[str, str], value: float, last: float = NOW) -> Series:
    points = int(MINUTES * 60 / STEP)
    return Series(name, labels, tuple((last - (points - i) * STEP, value)
                                      for i in range(points + 1)))


def pod(name: str, path: str = CHAT, namespace: str = "ns", **extra: str) -> dict[str, str]:
    return {"namespace": namespace, "pod": name, "path": path, **extra}


def proxy_series(name: str, arrivals: float, prompt: float = 2000, output: float = 150,
                 prefill_tps: float = 1000, decode_tps: float = 50, namespace: str = "ns",
                 ramp: float = 0.0) -> list[Series]:
    """One pod's counters: `arrivals` req/s, all metered and streamed, with these means."""
    streamed = pod(name, namespace=namespace, streamed="true")
    return [
        counter("llm_proxy_arrivals_total", pod(name, namespace=namespace), arrivals,
                ramp=ramp),
        counter("llm_proxy_metered_responses_total", streamed, arrivals),
        counter("llm_proxy_metered_prompt_tokens_total", streamed, arrivals * prompt),
        counter("llm_proxy_metered_completion_tokens_total", streamed, arrivals * output),
        counter("llm_proxy_upstream_prefill_seconds_total", pod(name, namespace=namespace),
                arrivals * prompt / prefill_tps),
        counter("llm_proxy_upstream_decode_seconds_total", pod(name, namespace=namespace),
                arrivals * output / decode_tps),
    ]


HISTORY = [
    *proxy_series("p0", 0.5), *proxy_series("p1", 1.5),
    # Embeddings do not count: no first token, and they would dilute the means.
    counter("llm_proxy_arrivals_total", pod("p0", "/v1/embeddings"), 50.0),
    # Same pod name in another namespace.
    *proxy_series("p0", 9.0, namespace="other"),
    gauge("llm_proxy_requests_in_flight", {"namespace": "ns", "pod": "p0"}, 2.0),
    gauge("llm_proxy_requests_waiting", {"namespace": "ns", "pod": "p0"}, 3.0),
    gauge("llm_proxy_requests_in_flight", {"namespace": "ns", "pod": "p1"}, 1.0),
    gauge("llm_proxy_requests_waiting", {"namespace": "ns", "pod": "p1"}, 0.0),
    # Idle pod: counters exist, no traffic (rate 0, not missing).
    *proxy_series("idle", 0.0),
    # A pod whose traffic ramps up: 0.1 req/s more every 100 s.
    *proxy_series("ramp", 0.2, ramp=0.001),
    # Stopped 10 minutes ago: its gauge must not count.
    gauge("llm_proxy_requests_in_flight", {"namespace": "ns", "pod": "gone"}, 7.0,
          last=NOW - 600),
    gauge("llm_proxy_requests_waiting", {"namespace": "ns", "pod": "gone"}, 7.0,
          last=NOW - 600),
]


@pytest.fixture(scope="module")
def source() -> Iterator[PrometheusSource]:
    with PrometheusProcess() as server:
        server.backfill(HISTORY)
        server.start()
        yield PrometheusSource(PrometheusSettings(server.url))


def observe(source: PrometheusSource, spec: SloSpec, pods: list[str],
            namespace: str = "ns") -> SloObservation:
    observation = source.slo_observation(spec, namespace, pods, NOW)
    assert isinstance(observation, SloObservation), observation
    return observation


def test_two_pods_rates_and_means(source: PrometheusSource) -> None:
    got = observe(source, SloSpec(), ["p0", "p1"])
    assert got.arrival_rate_per_second == pytest.approx(2.0)
    assert got.mean_prompt_tokens == pytest.approx(2000)
    assert got.mean_output_tokens == pytest.approx(150)
    assert got.prefill_tokens_per_second == pytest.approx(1000)
    assert got.decode_tokens_per_second == pytest.approx(50)
    assert got.in_flight_requests == pytest.approx(6.0)  # 2 + 3 + 1 + 0
    assert got.panic_arrival_rate_per_second is None  # no panic configured
    assert got.recent_rates_per_second == ()


def test_idle_pod_is_zero_rate_and_unknown_means(source: PrometheusSource) -> None:
    got = observe(source, SloSpec(), ["idle"])
    assert got.arrival_rate_per_second == 0.0
    assert got.mean_prompt_tokens is None and got.prefill_tokens_per_second is None


@pytest.mark.parametrize(("namespace", "pods", "why"), [
    pytest.param("ns", ["nobody"], "no llm_proxy_arrivals_total series", id="not-scraped"),
    pytest.param("ns", [], "the target has no pods", id="no-pods"),
    pytest.param('ns", namespace=~".+', ["p0"], "no llm_proxy_arrivals_total series",
                 id="namespace-cannot-break-out"),
    pytest.param("ns", [".+"], "no llm_proxy_arrivals_total series", id="pod-is-not-a-regex"),
])
def test_missing_is_unavailable_never_zero(source: PrometheusSource, namespace: str,
                                           pods: list[str], why: str) -> None:
    got = source.slo_observation(SloSpec(), namespace, pods, NOW)
    assert isinstance(got, MetricUnavailable) and why in got.message, got


def test_stale_gauges_do_not_count(source: PrometheusSource) -> None:
    got = observe(source, SloSpec(), ["p1", "gone"])
    assert got.arrival_rate_per_second == pytest.approx(1.5)
    assert got.in_flight_requests == pytest.approx(1.0)


def test_panic_window_rate(source: PrometheusSource) -> None:
    got = observe(source, SloSpec(panic=PanicSpec(window_seconds=6)), ["p0", "p1"])
    assert got.panic_arrival_rate_per_second == pytest.approx(2.0)


def test_recent_rates_follow_the_ramp(source: PrometheusSource) -> None:
    spec = SloSpec(forecast=ForecastSpec(history_seconds=300, step_seconds=30))
    got = observe(source, spec, ["ramp"])
    rates = got.recent_rates_per_second
    assert len(rates) == 11  # 300 s / 30 s + the point at NOW
    # rate() over 30 s around t is the counter's slope there: 0.2 + 0.001 * elapsed.
    slopes = [b - a for a, b in itertools.pairwise(rates)]
    assert all(s == pytest.approx(0.03, rel=1e-6) for s in slopes)
    assert rates[-1] == pytest.approx(0.2 + 0.001 * (MINUTES * 60 - 15), rel=1e-6)


def test_seasonal_rates_end_one_season_ago_plus_lead(source: PrometheusSource) -> None:
    spec = SloSpec(lead_time_seconds=60, forecast=ForecastSpec(
        method="seasonal-naive", history_seconds=300, step_seconds=30, season_seconds=600))
    got = observe(source, spec, ["ramp"])
    # The window ends at NOW - 600 + 60 = NOW - 540, the ramp's slope then.
    assert got.seasonal_rates_per_second[-1] == pytest.approx(
        0.2 + 0.001 * (MINUTES * 60 - 540 - 15), rel=1e-6)


def test_one_instant_query_per_pass(source: PrometheusSource) -> None:
    before = source.queries
    observe(source, SloSpec(panic=PanicSpec()), ["p0"])
    assert source.queries - before == 1
    assert "label_replace" in instant_query(SloSpec(), "ns", ["p0"], 120)
