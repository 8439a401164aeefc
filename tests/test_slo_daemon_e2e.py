"""The SLO recommender end to end: `autoscaler run` as a process (official client over HTTP,
the in-repo fake API server, time as data through `--clock-file`) reading the metering
proxy's counters from a real Prometheus (backfilled history with a load step), scaling the
Deployment to what an independent M/M/c calculation in this file says, explaining the
numbers in the status, and holding still (with upstream's condition) when Prometheus is
gone.

The load: each request has 1,000 prompt tokens at 1,000 tokens/s and 100 output tokens at
100 tokens/s, so 2 s of service; TTFT target 3 s at 80 %: the wait budget is 3 - 1 = 2 s.
With random routing (kube-proxy's default) and exponential-like service (serviceScv 1) each
pod is an M/M/1 queue fed lambda / N, whose waiting tail is exact and textbook:
P(W > t) = rho * exp(-(mu - lambda / N) * t), rho = lambda / (N * mu).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pytest
from daemon_harness import (
    APP,
    NS,
    SCALE_PATH,
    STEP,
    T0,
    DaemonProcess,
    autoscaler_cr,
    conditions,
    play_deployment_controller,
    replicas,
    seed_cluster,
    set_replicas,
    status,
)

from autoscaler.testing import FakeApiServer
from autoscaler.testing.prometheus import PrometheusProcess, Series

SCRAPE = 15.0
CHAT = "/v1/chat/completions"
# Per pod: 0.25 req/s until T0 + 60, then 0.75 req/s (two pods carry the history).
BEFORE, AFTER, STEP_AT = 0.25, 0.75, T0 + 60
HISTORY_FROM, HISTORY_TO = T0 - 1200, T0 + 900
SERVICE_SECONDS, PREFILL_SECONDS, TTFT, ATTAINMENT = 2.0, 1.0, 3.0, 0.8


def arrivals_at(t: float) -> float:
    """Requests one pod received from HISTORY_FROM to t."""
    before = max(0.0, min(t, STEP_AT) - HISTORY_FROM) * BEFORE
    return before + max(0.0, t - STEP_AT) * AFTER


def counter(name: str, labels: dict[str, str], per_request: float) -> Series:
    times = [HISTORY_FROM + i * SCRAPE
             for i in range(int((HISTORY_TO - HISTORY_FROM) / SCRAPE) + 1)]
    return Series(name, labels, tuple((t, arrivals_at(t) * per_request) for t in times),
                  kind="counter")


def pod_history(pod: str) -> list[Series]:
    labels = {"namespace": NS, "pod": pod, "path": CHAT}
    metered = {**labels, "streamed": "true"}
    return [counter("llm_proxy_arrivals_total", labels, 1.0),
            counter("llm_proxy_metered_responses_total", metered, 1.0),
            counter("llm_proxy_metered_prompt_tokens_total", metered, 1000.0),
            counter("llm_proxy_metered_completion_tokens_total", metered, 100.0),
            counter("llm_proxy_upstream_prefill_seconds_total", labels, PREFILL_SECONDS),
            counter("llm_proxy_upstream_decode_seconds_total", labels,
                    SERVICE_SECONDS - PREFILL_SECONDS)]


def mm1_pods(arrival_rate: float) -> int:
    """Smallest N whose M/M/1 pods (each fed lambda / N) keep P(W > budget) <= 1 - target
    (independent of algorithms.slo)."""
    mu, budget = 1 / SERVICE_SECONDS, TTFT - PREFILL_SECONDS
    for pods in range(1, 100):
        rho = arrival_rate / (pods * mu)
        late = rho * math.exp(-(mu - arrival_rate / pods) * budget)
        if rho < 1 and late <= 1 - ATTAINMENT + 1e-12:
            return pods
    raise AssertionError("no answer below 100 pods")


@pytest.fixture
def prometheus() -> Iterator[PrometheusProcess]:
    with PrometheusProcess() as server:
        server.backfill([s for pod in (f"{APP}-0", f"{APP}-1") for s in pod_history(pod)])
        server.start()
        yield server


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        seed_cluster(server)
        yield server


SPEC = {
    "metrics": [{"type": "External", "external": {
        "metric": {"name": "llm_slo_replicas"},
        "target": {"type": "AverageValue", "averageValue": "1"}}}],
    "metricsSource": "prometheus",
    "sloRecommender": {"ttftSeconds": TTFT, "attainment": ATTAINMENT,
                       "routing": "random", "windowSeconds": 60, "serviceScv": 1},
    # No stabilization or rate limit on the way up: the scale is the recommendation.
    "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "policies": [
        {"type": "Pods", "value": 10, "periodSeconds": 15}]}},
}


def test_scales_to_the_queueing_answer_and_explains_it(
        api: FakeApiServer, prometheus: PrometheusProcess, tmp_path: Path) -> None:
    set_replicas(api, 2)
    autoscaler_cr(api, SPEC)
    daemon = DaemonProcess(api, tmp_path, "--prometheus-url", prometheus.url)
    try:
        play_deployment_controller(api, 3.0, T0)
        daemon.start(T0)
        low = mm1_pods(2 * BEFORE)
        # Worked example: 0.5 req/s; 2 pods: rho 0.5, 0.5 e^-0.5 = 0.30 late; 3 pods:
        # rho 1/3, (1/3) e^-(0.5 - 1/6) 2 = 0.17 <= 0.2.
        assert replicas(api) == low == 3
        metric = status(api)["explanation"]["metrics"][0]
        assert metric["source"] == "slo-recommender (prometheus)"
        recommender = metric["recommender"]
        assert recommender["replicas"] == low
        assert recommender["arrivalRatePerSecond"] == pytest.approx(2 * BEFORE)
        assert conditions(api)["ScalingActive"] == ("True", "ValidMetricFound")

        now = T0
        while now < STEP_AT + 60 + STEP:  # the window has moved past the load step
            now += STEP
            play_deployment_controller(api, 3.0, now)
            daemon.step(now)
        high = mm1_pods(2 * AFTER)
        assert high == 9  # 1.5 req/s: 8 pods leave 0.2007 late, 9 pods 0.171
        assert replicas(api) == high
        assert status(api)["explanation"]["metrics"][0]["recommender"][
            "arrivalRatePerSecond"] == pytest.approx(2 * AFTER)

        prometheus.kill()
        mark = len(api.requests)
        now += STEP
        play_deployment_controller(api, 3.0, now)
        daemon.step(now)
        assert [r for r in api.requests[mark:] if r.path == SCALE_PATH
                and r.method in ("PUT", "PATCH")] == []
        active = conditions(api)["ScalingActive"]
        assert active == ("False", "FailedGetExternalMetric")
        message = next(c["message"] for c in status(api)["conditions"]
                       if c["type"] == "ScalingActive")
        assert "prometheus" in message
        assert replicas(api) == high
    finally:
        daemon.stop()
