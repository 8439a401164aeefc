"""The SLO recommender: how many pods keep `attainment` of requests within the TTFT target.

Sizing (see `algorithms.slo.sizing` for the criterion and the search): the arrival rate
sized for is the observed (stable window) rate, raised by a forecast `leadTimeSeconds` ahead
and by Knative's panic rule; it is never lowered by either, so both only ever add pods. The
answer is the smallest pod count meeting the target in the queueing model of the routing,
at most maxReplicas; 0 only when nothing arrives, nothing is forecast and nothing is in
flight.

Requests in flight: a pod is kept while any request is in flight (scaling to zero would
cut it off), but in flight is NOT a floor of ceil(in_flight / slots) pods. A new pod helps
only after the lead time (~60 s, scheduling and the model load) while a request in flight is
done within its service time (~2-7 s), so such a floor would add pods for requests that are
gone when the pods are ready, and it reads one noisy gauge sample. Backlogs built by a burst
are the panic rule's job (the short window's rate); the count is reported in `details()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from algorithms.slo.errors import SloUnavailable
from algorithms.slo.forecast import Forecast, forecast_rate
from algorithms.slo.inputs import (
    ServiceTime,
    check_observation,
    check_replicas,
    check_spec,
    service_time,
)
from algorithms.slo.model import SloObservation, SloSpec
from algorithms.slo.queueing import (
    Fleet,
    fleet_utilization,
    fleet_wait_tail,
    mean_wait_seconds,
    queue_for,
)
from algorithms.slo.recommendation import (
    MODE_FORECAST,
    MODE_PANIC,
    MODE_STABLE,
    Outcome,
    PanicCheck,
    Recommendation,
    describe,
)
from algorithms.slo.sizing import Sizing, Target, smallest_pods

__all__ = ["MODE_FORECAST", "MODE_PANIC", "MODE_STABLE", "Recommendation", "recommend"]


@dataclass(frozen=True, slots=True)
class _Model:
    """The fleet (without its pod count), the target and the cap: everything sizing needs."""

    template: Fleet
    target: Target
    max_pods: int

    def size(self, rate: float) -> Sizing:
        return smallest_pods(self.template, rate, self.target, self.max_pods)


def _model(spec: SloSpec, service: ServiceTime | None, max_replicas: int) -> _Model | None:
    if service is None:
        return None
    budget = spec.ttft_seconds - service.prefill_seconds
    # Prefill alone at or over the target: no wait is short enough; size so that (almost)
    # nobody waits at all, P(W > 0) <= 1 - attainment, the limit of the criterion at t -> 0.
    target = Target(max(0.0, budget), 1.0 - spec.attainment)
    template = Fleet(spec.routing, 0, spec.pod.slots, service.service_seconds, spec.service_scv)
    return _Model(template, target, max_replicas)


def _forecast(spec: SloSpec, observation: SloObservation) -> Forecast | None:
    if spec.forecast is None:
        return None
    return forecast_rate(spec.forecast, spec.lead_time_seconds,
                         observation.recent_rates_per_second,
                         observation.seasonal_rates_per_second)


def _panic(spec: SloSpec, observation: SloObservation, current_replicas: int,
           model: _Model | None) -> PanicCheck | None:
    rate = observation.panic_arrival_rate_per_second
    if spec.panic is None or rate is None:
        return None
    pods = 0 if model is None else model.size(rate).pods
    return PanicCheck(rate, pods, spec.panic.threshold * current_replicas)


def _sized_rate(observed: float, forecast: Forecast | None,
                panic: PanicCheck | None) -> tuple[float, str]:
    """max(observed, forecast, triggered panic) and which one it was (ties: stable)."""
    rate, mode = observed, MODE_STABLE
    if forecast is not None and forecast.rate_per_second is not None \
            and forecast.rate_per_second > rate:
        rate, mode = forecast.rate_per_second, MODE_FORECAST
    if panic is not None and panic.triggered and panic.rate_per_second > rate:
        rate, mode = panic.rate_per_second, MODE_PANIC
    return rate, mode


def _service(spec: SloSpec, observation: SloObservation, needed: bool) -> ServiceTime | None:
    """The service time; without arrivals a missing input is no error (nothing to size)."""
    try:
        return service_time(spec, observation)
    except SloUnavailable:
        if needed:
            raise
        return None


def _outcome(model: _Model | None, rate: float, pods: int, budget: float | None) -> Outcome:
    if model is None or rate <= 0.0:
        return Outcome(0.0, 0.0, 0.0, 1.0)
    fleet = replace(model.template, pods=pods)
    waiting = fleet_wait_tail(fleet, rate, 0.0)
    mean_wait = mean_wait_seconds(queue_for(fleet, rate)) if pods > 0 else math.inf
    within = 0.0 if budget is None or budget < 0.0 else \
        1.0 - fleet_wait_tail(fleet, rate, budget)
    return Outcome(fleet_utilization(fleet, rate), waiting, mean_wait, within)


def recommend(spec: SloSpec, observation: SloObservation, current_replicas: int,
              max_replicas: int) -> Recommendation:
    """The replica count for `llm_slo_replicas`; SloUnavailable when it cannot be known."""
    check_spec(spec)
    check_observation(observation)
    check_replicas(current_replicas, max_replicas)
    observed = observation.arrival_rate_per_second
    forecast = _forecast(spec, observation)
    peak = max(observed, observation.panic_arrival_rate_per_second or 0.0,
               (forecast.rate_per_second or 0.0) if forecast is not None else 0.0)
    service = _service(spec, observation, needed=peak > 0.0)
    model = _model(spec, service, max_replicas)
    panic = _panic(spec, observation, current_replicas, model)
    rate, mode = _sized_rate(observed, forecast, panic)
    sizing = model.size(rate) if model is not None else Sizing(0, True)
    in_flight = observation.in_flight_requests
    keep_one = 1 if in_flight is not None and in_flight > 0.0 else 0
    replicas = min(max(sizing.pods, keep_one), max_replicas)
    budget = None if service is None else spec.ttft_seconds - service.prefill_seconds
    feasible = (budget is None or budget >= 0.0) and (rate <= 0.0 or sizing.meets)
    result = Recommendation(
        replicas=replicas, arrival_rate_per_second=rate, observed_rate_per_second=observed,
        mode=mode, outcome=_outcome(model, rate, replicas, budget), feasible=feasible,
        spec=spec, service=service, current_replicas=current_replicas,
        max_replicas=max_replicas, panic=panic, forecast=forecast, in_flight_requests=in_flight)
    return replace(result, message=describe(result))
