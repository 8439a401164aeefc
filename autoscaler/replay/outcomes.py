"""Request-level outcomes of one LLM run, folded into `RequestMetrics` in bounded memory.

The engine reports each request as it accepts or drops it; the tally keeps the TTFTs and
latencies of the current chunk in plain lists (a numpy call per request would cost more
than the simulation) and folds them into counts and histograms at the end of each chunk.
"""

from __future__ import annotations

import numpy as np

from autoscaler.replay.model import FloatArray, RequestMetrics
from autoscaler.replay.quantiles import Quantiles
from autoscaler.replay.settings import SLO


class RequestTally:
    def __init__(self, slo: SLO, prefill_seconds: FloatArray) -> None:
        self.slo = slo
        self.prefill_seconds = prefill_seconds  # of every request of the trace
        self.ttft = Quantiles()
        self.latency = Quantiles()
        self.arrived = 0
        self.met = 0
        self.dropped = 0
        self.unavoidable = 0
        self._ttfts: list[float] = []
        self._latencies: list[float] = []

    def accept(self, ttft: float, latency: float) -> None:
        self._ttfts.append(ttft)
        self._latencies.append(latency)

    def drop(self) -> None:
        self.dropped += 1

    def fold(self, first: int, last: int) -> None:
        """Requests [first, last) of the trace have all been accepted or dropped."""
        self.arrived += last - first
        limit = self.slo.ttft_seconds
        # Prefill alone above the threshold: late even on an idle pod.
        self.unavoidable += int(np.count_nonzero(self.prefill_seconds[first:last] > limit))
        if self._ttfts:
            ttfts = np.array(self._ttfts)
            self.met += int(np.count_nonzero(ttfts <= limit))
            self.ttft.add(ttfts)
            self.latency.add(np.array(self._latencies))
            self._ttfts, self._latencies = [], []

    def metrics(self) -> RequestMetrics:
        ttft, latency = self.ttft, self.latency
        return RequestMetrics(
            slo_ttft_seconds=self.slo.ttft_seconds, attainment_target=self.slo.attainment,
            arrived=self.arrived, met_slo=self.met, dropped=self.dropped,
            unavoidable=self.unavoidable, ttft_p50_seconds=ttft.quantile(0.5),
            ttft_p95_seconds=ttft.quantile(0.95), ttft_p99_seconds=ttft.quantile(0.99),
            latency_p50_seconds=latency.quantile(0.5),
            latency_p95_seconds=latency.quantile(0.95),
            latency_p99_seconds=latency.quantile(0.99))
