"""The recommender's inputs checked, and the service time derived from tokens.

Every number must be finite and non-negative (some strictly positive); a bad one raises
`SloUnavailable` naming the field and value, e.g. "llm_slo_replicas: observation
arrivalRatePerSecond is nan (must be a finite number >= 0)". The codec already refuses bad
specs; the checks are repeated here because the daemon and replay may build specs in code.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from algorithms.slo.errors import SloUnavailable
from algorithms.slo.model import (
    FORECAST_METHODS,
    ROUTINGS,
    SLO_METRIC_NAME,
    SloObservation,
    SloSpec,
)
from algorithms.slo.sizing import MAX_SERVERS

SPEC = "sloRecommender"
SOURCE_SPEC = "spec"  # the rate was configured in sloRecommender.pod
SOURCE_MEASURED = "measured"
SOURCE_UNUSED = "unused"  # no tokens of that kind: the rate does not matter


def unavailable(reason: str) -> SloUnavailable:
    return SloUnavailable(f"{SLO_METRIC_NAME}: {reason}")


def _number(path: str, value: float, positive: bool = False) -> None:
    """Finite and >= 0 (or > 0): "sloRecommender.ttftSeconds is -1.0 (must be ... > 0)"."""
    bad = not math.isfinite(value) or value < 0.0 or (positive and value == 0.0)
    if bad:
        rule = "> 0" if positive else ">= 0"
        raise unavailable(f"{path} is {value!r} (must be a finite number {rule})")


def _optional(path: str, value: float | None, positive: bool = False) -> None:
    if value is not None:
        _number(path, value, positive)


def _series(path: str, values: Sequence[float]) -> None:
    for index, value in enumerate(values):
        _number(f"{path}[{index}]", value)


def check_spec(spec: SloSpec) -> None:
    """What the math needs of the spec (the codec's ranges are narrower)."""
    _number(f"{SPEC}.ttftSeconds", spec.ttft_seconds, positive=True)
    _number(f"{SPEC}.attainment", spec.attainment, positive=True)
    if spec.attainment > 1.0:
        raise unavailable(f"{SPEC}.attainment is {spec.attainment!r} (must be at most 1)")
    if spec.routing not in ROUTINGS:
        raise unavailable(f"{SPEC}.routing is {spec.routing!r} (supported: "
                          f"{', '.join(ROUTINGS)})")
    _number(f"{SPEC}.windowSeconds", spec.window_seconds, positive=True)
    _number(f"{SPEC}.leadTimeSeconds", spec.lead_time_seconds)
    _number(f"{SPEC}.serviceScv", spec.service_scv)
    if not 1 <= spec.pod.slots <= MAX_SERVERS:
        raise unavailable(f"{SPEC}.pod.slots is {spec.pod.slots!r} (must be from 1 to "
                          f"{MAX_SERVERS:,})")
    _optional(f"{SPEC}.pod.prefillTokensPerSecond", spec.pod.prefill_tokens_per_second, True)
    _optional(f"{SPEC}.pod.decodeTokensPerSecond", spec.pod.decode_tokens_per_second, True)
    if spec.forecast is not None:
        if spec.forecast.method not in FORECAST_METHODS:
            raise unavailable(f"{SPEC}.forecast.method is {spec.forecast.method!r} "
                              f"(supported: {', '.join(FORECAST_METHODS)})")
        _number(f"{SPEC}.forecast.historySeconds", spec.forecast.history_seconds, True)
        _number(f"{SPEC}.forecast.stepSeconds", spec.forecast.step_seconds, True)
        _number(f"{SPEC}.forecast.seasonSeconds", spec.forecast.season_seconds, True)
    if spec.panic is not None:
        _number(f"{SPEC}.panic.windowSeconds", spec.panic.window_seconds, True)
        _number(f"{SPEC}.panic.threshold", spec.panic.threshold, True)


def check_observation(observation: SloObservation) -> None:
    o, name = observation, "observation"
    _number(f"{name} arrivalRatePerSecond", o.arrival_rate_per_second)
    _optional(f"{name} meanPromptTokens", o.mean_prompt_tokens)
    _optional(f"{name} meanOutputTokens", o.mean_output_tokens)
    _optional(f"{name} prefillTokensPerSecond", o.prefill_tokens_per_second)
    _optional(f"{name} decodeTokensPerSecond", o.decode_tokens_per_second)
    _optional(f"{name} panicArrivalRatePerSecond", o.panic_arrival_rate_per_second)
    _optional(f"{name} inFlightRequests", o.in_flight_requests)
    _series(f"{name} recentRatesPerSecond", o.recent_rates_per_second)
    _series(f"{name} seasonalRatesPerSecond", o.seasonal_rates_per_second)


def check_replicas(current_replicas: int, max_replicas: int) -> None:
    if current_replicas < 0:
        raise unavailable(f"current replicas is {current_replicas} (must be >= 0)")
    if max_replicas < 0:
        raise unavailable(f"maxReplicas is {max_replicas} (must be >= 0)")


@dataclass(frozen=True, slots=True)
class ServiceTime:
    """One request's mean time on a slot, split at the first token.

    S = prompt / prefill rate + output / decode rate. Worked example: 300 prompt tokens at
    400 tokens/s and 50 output tokens at 34 tokens/s: 0.75 s + 1.47 s = 2.22 s, TTFT >= 0.75 s.
    """

    prefill_seconds: float
    decode_seconds: float
    prefill_tokens_per_second: float | None  # None: no prompt tokens, the rate is unused
    decode_tokens_per_second: float | None
    prefill_source: str  # SOURCE_*
    decode_source: str

    @property
    def service_seconds(self) -> float:
        return self.prefill_seconds + self.decode_seconds


@dataclass(frozen=True, slots=True)
class _Phase:
    """The seconds one phase takes, with the rate used and where it came from."""

    seconds: float
    rate: float | None
    source: str


def _phase(tokens: float, configured: float | None, measured: float | None, what: str,
           field: str, window_seconds: float) -> _Phase:
    """tokens / rate, the rate from the spec when set, else measured; no tokens, no rate."""
    if tokens == 0.0:
        return _Phase(0.0, None, SOURCE_UNUSED)
    if configured is not None:
        return _Phase(tokens / configured, configured, SOURCE_SPEC)
    if measured is None:
        kind = "prompt" if what == "prefill" else "completion"
        raise unavailable(f"no {what} rate measured (no {kind} tokens in the last "
                          f"{window_seconds:g} s) and {SPEC}.pod.{field} is not set")
    if measured == 0.0:
        raise unavailable(f"the measured {what} rate is 0 tokens/s and {SPEC}.pod.{field} "
                          "is not set")
    return _Phase(tokens / measured, measured, SOURCE_MEASURED)


def service_time(spec: SloSpec, observation: SloObservation) -> ServiceTime:
    """The service time, or SloUnavailable naming the first missing input."""
    window = spec.window_seconds
    prompt, output = observation.mean_prompt_tokens, observation.mean_output_tokens
    if prompt is None or output is None:
        what = "prompt" if prompt is None else "output"
        raise unavailable(f"no mean {what} length (no request finished in the last "
                          f"{window:g} s) while requests arrive")
    prefill = _phase(prompt, spec.pod.prefill_tokens_per_second,
                     observation.prefill_tokens_per_second, "prefill",
                     "prefillTokensPerSecond", window)
    decode = _phase(output, spec.pod.decode_tokens_per_second,
                    observation.decode_tokens_per_second, "decode",
                    "decodeTokensPerSecond", window)
    return ServiceTime(prefill.seconds, decode.seconds, prefill.rate, decode.rate,
                       prefill.source, decode.source)
