"""The SLO recommender's inputs, read from the metering proxy's counters in Prometheus.

Every number is a ratio of counter rates over the spec's window, summed over the target's
pods (namespace and pod names escaped, `autoscaler.prometheus.promql`), for the inference
paths only (`/v1/chat/completions`, `/v1/completions`; embeddings have no first token):

| input | PromQL (`M_` = `llm_proxy_metered_`, `U_` = `llm_proxy_upstream_`) |
|---|---|
| arrival rate | `llm_proxy_arrivals_total` |
| mean prompt / output tokens | `M_{prompt,completion}_tokens_total / M_responses_total` |
| prefill rate (tokens/s) | `M_prompt_tokens_total{streamed="true"} / U_prefill_seconds_total` |
| decode rate (tokens/s) | `M_completion_tokens_total{streamed="true"} / U_decode_seconds_total` |
| panic rate | arrivals over the panic window |
| in flight | `llm_proxy_requests_in_flight + llm_proxy_requests_waiting` (fresh samples only) |

All of them come back in ONE instant query (each sub-query tagged with an `input` label by
`label_replace`); the forecast adds one range query (two for seasonal-naive).

Missing is never zero. No arrivals series at all (the sidecar is not scraped, or the pods
are too young for two samples in the window) makes the whole metric unavailable; a ratio
whose denominator is 0 (no metered response in the window) is `None`, which the
recommender only accepts while nothing arrives. Worked example: 120 arrivals and 110
metered responses with 220,000 prompt tokens over 60 s -> rate 2.0 req/s, mean prompt
220,000 / 110 = 2,000 tokens.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol

from algorithms.slo.model import FORECAST_SEASONAL_NAIVE, SloObservation, SloSpec
from autoscaler.prometheus import promql
from autoscaler.prometheus.query import PrometheusUnavailableError, Sample, Series

INFERENCE_PATHS = ("/v1/chat/completions", "/v1/completions")
INPUTS = frozenset({"arrivals", "responses", "prompt", "output", "timed_prompt", "timed_output",
                    "prefill_seconds", "decode_seconds", "in_flight", "panic_arrivals"})
# A rate needs two scrapes inside its window: with the usual 15 s scrape interval, 30 s.
MIN_RATE_WINDOW_SECONDS = 30.0


class Queries(Protocol):
    def instant(self, query: str, now: float) -> list[Sample]: ...

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]: ...


def _matchers(namespace: str, pods: Sequence[str], streamed: bool = False) -> str:
    paths = promql.regex_alternation(INFERENCE_PATHS)
    extra = ', streamed="true"' if streamed else ""
    return (f'{promql.matcher("namespace", namespace)}, '
            f'pod=~"{promql.regex_alternation(pods)}", path=~"{paths}"{extra}')


def _tagged(name: str, expression: str) -> str:
    return f'label_replace({expression}, "input", "{name}", "", "")'


def _window(seconds: float) -> str:
    return f"{max(1, round(seconds))}s"


def instant_query(spec: SloSpec, namespace: str, pods: Sequence[str],
                  staleness_seconds: float) -> str:
    """One query answering every instant input, each series labelled `input=<name>`."""
    every, timed = _matchers(namespace, pods), _matchers(namespace, pods, streamed=True)
    window = _window(spec.window_seconds)
    pods_only = (f'{promql.matcher("namespace", namespace)}, '
                 f'pod=~"{promql.regex_alternation(pods)}"')

    def rate(metric: str, matchers: str, over: str = window) -> str:
        return f"sum(rate({metric}{{{matchers}}}[{over}]))"

    parts = {
        "arrivals": rate("llm_proxy_arrivals_total", every),
        "responses": rate("llm_proxy_metered_responses_total", every),
        "prompt": rate("llm_proxy_metered_prompt_tokens_total", every),
        "output": rate("llm_proxy_metered_completion_tokens_total", every),
        "timed_prompt": rate("llm_proxy_metered_prompt_tokens_total", timed),
        "timed_output": rate("llm_proxy_metered_completion_tokens_total", timed),
        "prefill_seconds": rate("llm_proxy_upstream_prefill_seconds_total", every),
        "decode_seconds": rate("llm_proxy_upstream_decode_seconds_total", every),
        # Gauges keep answering for 5 minutes after their pod stopped: fresh samples only.
        "in_flight": (f"sum((llm_proxy_requests_in_flight{{{pods_only}}} + "
                      f"llm_proxy_requests_waiting{{{pods_only}}}) and "
                      f"(time() - timestamp(llm_proxy_requests_in_flight{{{pods_only}}}) < "
                      f"{staleness_seconds:g}))"),
    }
    if spec.panic is not None:
        panic = _window(max(spec.panic.window_seconds, MIN_RATE_WINDOW_SECONDS))
        parts["panic_arrivals"] = rate("llm_proxy_arrivals_total", every, panic)
    return " or ".join(_tagged(name, expression) for name, expression in parts.items())


def _values(samples: list[Sample]) -> dict[str, float]:
    values: dict[str, float] = {}
    for sample in samples:
        name = sample.labels.get("input", "")
        if name not in INPUTS or name in values:
            raise PrometheusUnavailableError(f"SLO inputs: unexpected series "
                                             f"{dict(sample.labels)}")
        if sample.value < 0:
            raise PrometheusUnavailableError(f"SLO inputs: {name} is negative "
                                             f"({sample.value})")
        values[name] = sample.value
    return values


def _ratio(values: Mapping[str, float], numerator: str, denominator: str) -> float | None:
    bottom = values.get(denominator, 0.0)
    top = values.get(numerator)
    return None if top is None or bottom <= 0 else top / bottom


def observe(queries: Queries, spec: SloSpec, namespace: str, pods: Sequence[str],
            now: float, staleness_seconds: float = 120.0) -> SloObservation:
    """Raises PrometheusUnavailableError (or promql.QueryError) saying what is missing."""
    if not pods:
        raise PrometheusUnavailableError("SLO inputs: the target has no pods to measure "
                                         "(the metering sidecars are in the pods)")
    values = _values(queries.instant(instant_query(spec, namespace, pods, staleness_seconds),
                                     now))
    if "arrivals" not in values:
        raise PrometheusUnavailableError(
            f"SLO inputs: no llm_proxy_arrivals_total series for the target's pods over "
            f"{_window(spec.window_seconds)} (is the metering sidecar scraped? a pod needs "
            "two scrapes inside the window)")
    recent: tuple[float, ...] = ()
    seasonal: tuple[float, ...] = ()
    if spec.forecast is not None:
        recent = _rates(queries, spec, namespace, pods, now)
        if spec.forecast.method == FORECAST_SEASONAL_NAIVE:
            seasonal = _rates(queries, spec, namespace, pods,
                              now - spec.forecast.season_seconds + spec.lead_time_seconds)
    return SloObservation(
        arrival_rate_per_second=values["arrivals"],
        mean_prompt_tokens=_ratio(values, "prompt", "responses"),
        mean_output_tokens=_ratio(values, "output", "responses"),
        prefill_tokens_per_second=_ratio(values, "timed_prompt", "prefill_seconds"),
        decode_tokens_per_second=_ratio(values, "timed_output", "decode_seconds"),
        panic_arrival_rate_per_second=values.get("panic_arrivals"),
        in_flight_requests=values.get("in_flight"),
        recent_rates_per_second=recent, seasonal_rates_per_second=seasonal)


def _rates(queries: Queries, spec: SloSpec, namespace: str, pods: Sequence[str],
           end: float) -> tuple[float, ...]:
    """The arrival rate every step over the history ending at `end`: the longest gap-free
    run of points ending at `end` (a gap means no data, not no arrivals)."""
    assert spec.forecast is not None
    step, history = spec.forecast.step_seconds, spec.forecast.history_seconds
    window = _window(max(step, MIN_RATE_WINDOW_SECONDS))
    query = f"sum(rate(llm_proxy_arrivals_total{{{_matchers(namespace, pods)}}}[{window}]))"
    series = queries.range(query, end - history, end, step)
    if len(series) > 1:
        raise PrometheusUnavailableError(f"SLO inputs: {len(series)} series for {query[:120]}")
    points = series[0].points if series else ()
    run: list[float] = []
    expected = end
    for timestamp, value in reversed(points):
        if not math.isclose(timestamp, expected, abs_tol=step / 2) or value < 0:
            break
        run.append(value)
        expected -= step
    return tuple(reversed(run))
