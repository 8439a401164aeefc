"""The recommender's answer and its explanation: the replica count, the rate it sized for,
the model's predictions at that count, and one human line saying why.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.slo.forecast import Forecast
from algorithms.slo.inputs import ServiceTime
from algorithms.slo.model import SloSpec

MODE_STABLE = "stable"  # sized for the stable window's rate
MODE_PANIC = "panic"  # for the panic window's rate
MODE_FORECAST = "forecast"  # for the forecast rate


@dataclass(frozen=True, slots=True)
class PanicCheck:
    """Knative's rule: panic when the short window's rate needs >= threshold x current pods.
    2 x 3 pods: a panic rate needing 6 pods or more panics, one needing 5 does not."""

    rate_per_second: float
    pods: int
    threshold_pods: float

    @property
    def triggered(self) -> bool:
        return self.pods >= self.threshold_pods


@dataclass(frozen=True, slots=True)
class Outcome:
    """The model's predictions at the answer."""

    utilization: float  # per slot
    wait_probability: float  # P(W > 0)
    mean_wait_seconds: float
    predicted_attainment: float  # share with TTFT <= target


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The answer and why.

    `feasible`: the model meets the target at `replicas`; False when the mean prefill alone
    exceeds the TTFT target or when even maxReplicas misses it (then `replicas` is
    maxReplicas). `service` is None only when nothing arrives and the tokens are unknown;
    `service_seconds`, `prefill_seconds` and `wait_budget_seconds` (TTFT target - mean
    prefill) are None then too. `utilization` and `predicted_attainment` are the model's at
    `replicas` for `arrival_rate_per_second` (the rate sized for).
    """

    replicas: int
    arrival_rate_per_second: float  # the rate sized for
    observed_rate_per_second: float
    mode: str  # MODE_*
    outcome: Outcome
    feasible: bool
    spec: SloSpec
    service: ServiceTime | None
    current_replicas: int
    max_replicas: int
    panic: PanicCheck | None
    forecast: Forecast | None
    in_flight_requests: float | None
    message: str = ""

    @property
    def service_seconds(self) -> float | None:
        return None if self.service is None else self.service.service_seconds

    @property
    def prefill_seconds(self) -> float | None:
        return None if self.service is None else self.service.prefill_seconds

    @property
    def wait_budget_seconds(self) -> float | None:
        prefill = self.prefill_seconds
        return None if prefill is None else self.spec.ttft_seconds - prefill

    @property
    def utilization(self) -> float:
        return self.outcome.utilization

    @property
    def predicted_attainment(self) -> float:
        return self.outcome.predicted_attainment

    def details(self) -> dict[str, float | int | str | bool]:
        """The decision's explanation, camelCase; unknown values are left out."""
        out: dict[str, float | int | str | bool] = {
            "replicas": self.replicas, "mode": self.mode, "feasible": self.feasible,
            "arrivalRatePerSecond": self.arrival_rate_per_second,
            "observedRatePerSecond": self.observed_rate_per_second,
            "utilization": self.outcome.utilization,
            "waitProbability": self.outcome.wait_probability,
            "meanWaitSeconds": self.outcome.mean_wait_seconds,
            "predictedAttainment": self.outcome.predicted_attainment,
            "targetAttainment": self.spec.attainment, "ttftSeconds": self.spec.ttft_seconds,
            "routing": self.spec.routing, "slots": self.spec.pod.slots,
            "currentReplicas": self.current_replicas, "maxReplicas": self.max_replicas,
            "message": self.message}
        if self.service is not None:
            s = self.service
            out |= {"serviceSeconds": s.service_seconds, "prefillSeconds": s.prefill_seconds,
                    "waitBudgetSeconds": self.spec.ttft_seconds - s.prefill_seconds,
                    "prefillRateSource": s.prefill_source, "decodeRateSource": s.decode_source}
            if s.prefill_tokens_per_second is not None:
                out["prefillTokensPerSecond"] = s.prefill_tokens_per_second
            if s.decode_tokens_per_second is not None:
                out["decodeTokensPerSecond"] = s.decode_tokens_per_second
        if self.panic is not None:
            out |= {"panicRatePerSecond": self.panic.rate_per_second,
                    "panicPods": self.panic.pods, "panicTriggered": self.panic.triggered}
        if self.forecast is not None:
            out["forecastNote"] = self.forecast.note
            if self.forecast.rate_per_second is not None:
                out["forecastRatePerSecond"] = self.forecast.rate_per_second
        if self.in_flight_requests is not None:
            out["inFlightRequests"] = self.in_flight_requests
        return out


def _plural(count: float, word: str) -> str:
    return f"{count:g} {word}" + ("" if count == 1 else "s")


def _verdict(r: Recommendation) -> str:
    """How the answer fares against the target, in words."""
    spec, outcome = r.spec, r.outcome
    target = f"{spec.attainment * 100:g}%"
    budget = r.wait_budget_seconds
    if budget is not None and budget < 0.0:
        wanted = f"{(1.0 - spec.attainment) * 100:.3g}%"
        sized = (f"sized for at most {wanted} of requests waiting at all (model: "
                 f"{outcome.wait_probability:.1%})"
                 if outcome.wait_probability <= 1.0 - spec.attainment
                 else f"{outcome.wait_probability:.1%} of requests would wait at all, more "
                      f"than the {wanted} wanted, even at maxReplicas")
        return (f"target infeasible: the mean prefill {r.prefill_seconds:.2f} s alone exceeds "
                f"the {spec.ttft_seconds:g} s TTFT target; {sized}")
    predicts = (f"predicts {outcome.predicted_attainment:.1%} of requests within "
                f"{spec.ttft_seconds:g} s TTFT")
    if r.feasible:
        return f"{predicts} (target {target})"
    unstable = (f", utilization {outcome.utilization:.2f}: the queue grows without bound"
                if outcome.utilization >= 1.0 else "")
    return f"{predicts}, short of the {target} target even at maxReplicas{unstable}"


def _reason(r: Recommendation) -> str:
    """Why this rate: the panic rule or the forecast, when either is in play."""
    parts: list[str] = []
    if r.panic is not None and r.panic.triggered and r.mode == MODE_PANIC:
        window = r.spec.panic.window_seconds if r.spec.panic is not None else 0.0
        threshold = r.spec.panic.threshold if r.spec.panic is not None else 0.0
        parts.append(f"panic: {r.panic.rate_per_second:.2f} req/s over the last {window:g} s "
                     f"needs {_plural(r.panic.pods, 'pod')} >= {threshold:g} x "
                     f"{r.current_replicas} current")
    if r.forecast is not None:
        unused = r.mode != MODE_FORECAST and r.forecast.rate_per_second is not None
        parts.append(r.forecast.note + (f", not above {r.arrival_rate_per_second:.2f}"
                                        if unused else ""))
    return "".join(f"; {part}" for part in parts)


def describe(r: Recommendation) -> str:
    """One line, e.g. "6 pods: 2.40 req/s x 2.23 s on 1 slot each, least-in-flight, predicts
    96.1% of requests within 5 s TTFT (target 95%)"."""
    head = _plural(r.replicas, "pod")
    if r.arrival_rate_per_second <= 0.0 or r.service is None:
        window = f"{r.spec.window_seconds:g} s"
        in_flight = r.in_flight_requests or 0.0
        still = (f", {in_flight:g} still in flight" if in_flight > 0.0
                 else " and none in flight")
        return f"{head}: no requests in the last {window}{still}{_reason(r)}"
    load = (f"{r.arrival_rate_per_second:.2f} req/s x {r.service.service_seconds:.2f} s on "
            f"{_plural(r.spec.pod.slots, 'slot')} each, {r.spec.routing}")
    return f"{head}: {load}, {_verdict(r)}{_reason(r)}"
