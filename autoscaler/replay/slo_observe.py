"""The SLO recommender's inputs in replay: what the daemon reads from Prometheus, measured
on the simulated cluster, then answered by the same `algorithms.slo.metric.slo_metric`.

The daemon's inputs (`autoscaler.prometheus.slo_inputs`) are counter rates over the spec's
window, so replay takes the same spans of the simulated requests:

| input | daemon (PromQL over the window) | replay, at a sync at `now` |
|---|---|---|
| arrival rate | rate of `llm_proxy_arrivals_total` | arrivals in [now - W, now) / W |
| token means | metered tokens / metered responses | over the requests finished in the span |
| prefill, decode rates | tokens / upstream seconds (metered streams) | the same sums |
| panic rate | arrivals over max(panic window, 30 s) | the same span |
| in flight | in-flight + waiting gauges of the pods | accepted, unfinished, over running pods |
| recent / seasonal rates | range query, window max(step, 30 s) | the same spans and points |

W is the window cut at the trace start (at 20 s into a trace a 60-s window holds 20 s: the
rate over those 20 s, as Prometheus' `rate()` extrapolates over the covered span), and a
point of the rate history before the trace holds no data, as a gap in Prometheus does.

Request-rate series (the fluid engine) have no tokens: a request is one "output token"
decoded at 1 / cpu_seconds_per_request tokens per second of one slot, so with
`sloRecommender.pod.slots` = the pod's cores the model serves the series' work; the rates
are the series' means over the same spans and "in flight" is the backlog in requests.
A CPU-cores series has no arrival rate: the metric is unavailable there, with the reason.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from algorithms.observation import MetricUnavailable
from algorithms.slo.metric import SloMetric, slo_metric
from algorithms.slo.model import (
    FORECAST_SEASONAL_NAIVE,
    SLO_METRIC_NAME,
    SloObservation,
    SloSpec,
)
from autoscaler.prometheus.slo_inputs import MIN_RATE_WINDOW_SECONDS
from autoscaler.replay.fluid import FluidEngine
from autoscaler.replay.llm import LLMEngine
from autoscaler.replay.sim_pods import SimPod

# A rate reader: (end of the span, its seconds) -> requests per second, None: no data.
_Rate = Callable[[float, float], float | None]


def prepare(engine: object) -> None:
    """Before the run: start the counters the inputs are read from."""
    if isinstance(engine, LLMEngine):
        engine.track_finishes()


def observation(engine: object, slo: SloSpec, pods: list[SimPod], now: float
                ) -> SloObservation | None:
    """The recommender's inputs at a sync at `now`; None when the workload has no requests
    (a CPU series)."""
    if isinstance(engine, LLMEngine):
        return _llm(engine, slo, pods, now)
    if isinstance(engine, FluidEngine) and engine.unit == "requests_per_second":
        return _fluid(engine, slo, now)
    return None


def slo_replicas(engine: object, slo: SloSpec, pods: list[SimPod], now: float,
                 max_replicas: int) -> SloMetric:
    """The `llm_slo_replicas` metric at a sync: the recommendation for len(pods) current."""
    observed = observation(engine, slo, pods, now)
    if observed is None:
        return SloMetric(MetricUnavailable(
            f"{SLO_METRIC_NAME}: needs requests (an LLM request trace or a request-rate "
            "series); this workload is a CPU series"), None)
    return slo_metric(slo, observed, len(pods), max_replicas)


def _span(now: float, seconds: float) -> tuple[int, int]:
    """The window [now - seconds, now) in whole seconds, cut at the trace start."""
    end = math.floor(now)
    return max(0, end - max(1, round(seconds))), end


def _llm_rate(engine: LLMEngine, now: float, seconds: float) -> float | None:
    a, b = _span(now, seconds)
    return engine.arrivals_between(a, b) / (b - a) if b > a else None


def _llm(engine: LLMEngine, slo: SloSpec, pods: list[SimPod], now: float) -> SloObservation:
    meter = engine.track_finishes()
    a, b = _span(now, slo.window_seconds)
    done = meter.between(a, b)
    responses = done.responses
    rate = _llm_rate(engine, now, slo.window_seconds)
    panic = None if slo.panic is None else _llm_rate(
        engine, now, max(slo.panic.window_seconds, MIN_RATE_WINDOW_SECONDS))
    return SloObservation(
        arrival_rate_per_second=0.0 if rate is None else rate,
        mean_prompt_tokens=done.prompt_tokens / responses if responses else None,
        mean_output_tokens=done.output_tokens / responses if responses else None,
        prefill_tokens_per_second=_ratio(done.prompt_tokens, done.prefill_seconds),
        decode_tokens_per_second=_ratio(done.output_tokens, done.decode_seconds),
        panic_arrival_rate_per_second=panic,
        in_flight_requests=float(sum(engine.in_flight(p, now) for p in pods
                                     if p.is_running(now))),
        recent_rates_per_second=_history(slo, now, lambda t, w: _llm_rate(engine, t, w)),
        seasonal_rates_per_second=_seasonal(slo, now, lambda t, w: _llm_rate(engine, t, w)))


def _ratio(top: float, bottom: float) -> float | None:
    return top / bottom if bottom > 0 else None


def _fluid_rate(engine: FluidEngine, now: float, seconds: float) -> float | None:
    a, b = _span(now, seconds)
    return float(engine.offered(a, b).mean()) if b > a else None


def _fluid(engine: FluidEngine, slo: SloSpec, now: float) -> SloObservation:
    rate = _fluid_rate(engine, now, slo.window_seconds)
    panic = None if slo.panic is None else _fluid_rate(
        engine, now, max(slo.panic.window_seconds, MIN_RATE_WINDOW_SECONDS))
    return SloObservation(
        arrival_rate_per_second=0.0 if rate is None else rate,
        mean_prompt_tokens=0.0, mean_output_tokens=1.0,
        prefill_tokens_per_second=None, decode_tokens_per_second=1.0 / engine.cost,
        panic_arrival_rate_per_second=panic,
        in_flight_requests=engine.backlog / engine.cost,
        recent_rates_per_second=_history(slo, now, lambda t, w: _fluid_rate(engine, t, w)),
        seasonal_rates_per_second=_seasonal(slo, now,
                                            lambda t, w: _fluid_rate(engine, t, w)))


def _history(slo: SloSpec, end: float, rate: _Rate) -> tuple[float, ...]:
    """The rate every forecast step over its history ending at `end`, each over max(step,
    30 s): the gap-free run ending at `end` (points whose window starts before the trace
    hold no data)."""
    if slo.forecast is None:
        return ()
    step, history = slo.forecast.step_seconds, slo.forecast.history_seconds
    window = max(step, MIN_RATE_WINDOW_SECONDS)
    points: list[float] = []
    t = end
    while t >= end - history - 1e-9 and t - window >= 0:
        value = rate(t, window)
        if value is None:
            break
        points.append(value)
        t -= step
    return tuple(reversed(points))


def _seasonal(slo: SloSpec, now: float, rate: _Rate) -> tuple[float, ...]:
    if slo.forecast is None or slo.forecast.method != FORECAST_SEASONAL_NAIVE:
        return ()
    end = now - slo.forecast.season_seconds + slo.lead_time_seconds
    # A season shorter than the lead time would read arrivals that have not happened yet.
    return _history(slo, end, rate) if end <= now else ()
