"""The SLO recommender's data: its spec extension, what it observes, what it answers.

An autoscaler opts in with an External metric named `llm_slo_replicas` whose target is
`AverageValue: 1` and a `sloRecommender` block beside the autoscaling/v2 spec. The
recommender turns the observed load into a replica count; the HPA pipeline (tolerance,
stabilization, behavior policies, min/max, conditions) treats that count like any External
metric: desired = ceil(value / 1). Nothing of upstream's math changes.

Units are in the names; rates are per second; a `None` means "not known", never zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# The External metric an autoscaler names to be fed by the recommender.
SLO_METRIC_NAME = "llm_slo_replicas"

# How a Service spreads requests over the Ready pods.
ROUTING_RANDOM = "random"  # kube-proxy iptables mode: a uniformly random endpoint
ROUTING_ROUND_ROBIN = "round-robin"  # kube-proxy IPVS mode (rr scheduler)
ROUTING_LEAST_IN_FLIGHT = "least-in-flight"  # an inference gateway: fewest requests in flight
ROUTINGS = (ROUTING_RANDOM, ROUTING_ROUND_ROBIN, ROUTING_LEAST_IN_FLIGHT)

FORECAST_HOLT = "holt"  # Holt's linear trend on the recent arrival rates
FORECAST_SEASONAL_NAIVE = "seasonal-naive"  # the rate one season ago, scaled by today's level
FORECAST_METHODS = (FORECAST_HOLT, FORECAST_SEASONAL_NAIVE)


@dataclass(frozen=True, slots=True)
class PodModel:
    """One pod's inference capacity. A `None` rate is measured (the metering proxy's
    counters in the daemon, the simulated requests in replay); a set one overrides it."""

    slots: int = 1  # inferences served at once (LlamaEdge: 1)
    prefill_tokens_per_second: float | None = None
    decode_tokens_per_second: float | None = None


@dataclass(frozen=True, slots=True)
class ForecastSpec:
    """Size for the arrival rate forecast `lead_time_seconds` ahead (scale-up only: the
    forecast never lowers the recommendation below the one for the observed rate)."""

    method: str = FORECAST_HOLT
    history_seconds: float = 600.0  # how much of the recent rate series the forecast reads
    step_seconds: float = 15.0  # spacing of that series
    season_seconds: float = 86400.0  # seasonal-naive only


@dataclass(frozen=True, slots=True)
class PanicSpec:
    """Knative KPA's panic mode: when the rate over the short window would need at least
    `threshold` times the current replicas, size for the short window's rate (only ever
    upwards; scale-down stays with the stable window and the HPA's stabilization)."""

    window_seconds: float = 6.0
    threshold: float = 2.0


@dataclass(frozen=True, slots=True)
class SloSpec:
    """`spec.sloRecommender`: keep `attainment` of requests at a time to first token of at
    most `ttft_seconds`, for requests spread by `routing`, with pods that need
    `lead_time_seconds` (scheduling + model load + one sync) to help."""

    ttft_seconds: float = 5.0
    attainment: float = 0.95  # share of requests meeting ttft_seconds (0.95: p95 TTFT)
    routing: str = ROUTING_RANDOM
    window_seconds: float = 60.0  # the stable window of the arrival rate and token means
    lead_time_seconds: float = 60.0
    service_scv: float = 1.0  # squared coefficient of variation of the service time
    pod: PodModel = field(default_factory=PodModel)
    forecast: ForecastSpec | None = None
    panic: PanicSpec | None = None


@dataclass(frozen=True, slots=True)
class SloObservation:
    """What the adapters measured for one pass (the daemon through Prometheus, replay from
    its simulated requests). Rates are requests per second over `SloSpec.window_seconds`.

    `recent_rates_per_second` is the arrival rate every `ForecastSpec.step_seconds`, oldest
    first, the last one at the pass (empty without a forecast). `seasonal_rates_per_second`
    are the rates one season ago at the same spacing, ending at (pass - season + lead time)
    (empty unless the forecast is seasonal-naive).
    """

    arrival_rate_per_second: float
    mean_prompt_tokens: float | None  # None: no request finished in the window
    mean_output_tokens: float | None
    prefill_tokens_per_second: float | None  # measured; None when nothing was measured
    decode_tokens_per_second: float | None
    panic_arrival_rate_per_second: float | None = None
    in_flight_requests: float | None = None
    recent_rates_per_second: tuple[float, ...] = ()
    seasonal_rates_per_second: tuple[float, ...] = ()
