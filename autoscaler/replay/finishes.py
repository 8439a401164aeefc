"""What the metering proxy's counters would hold: the requests finished in each second.

The SLO recommender reads, over its window, the metered responses and their prompt and
completion tokens, and the upstream's prefill and decode seconds
(`autoscaler.prometheus.slo_inputs`). The proxy counts a response when it ends, so the
simulator adds each accepted request to the second its last token leaves. Requests
finishing after the trace's last second are never read and are not kept.

Per-second arrays, filled a dispatch batch at a time (`np.bincount` with weights over the
batch's span of seconds, one call per column): a per-request numpy call would cost more
than the simulation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from autoscaler.replay.model import FloatArray


@dataclass(frozen=True)
class Finished:
    """Totals over the requests finished in a span of seconds."""

    responses: float
    prompt_tokens: float
    output_tokens: float
    prefill_seconds: float
    decode_seconds: float


class FinishMeter:
    COLUMNS = 5  # responses, prompt tokens, output tokens, prefill s, decode s

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.table = np.zeros((self.COLUMNS, seconds))

    def add(self, ends: FloatArray, prompt: FloatArray, output: FloatArray,
            prefill: FloatArray, decode: FloatArray) -> None:
        """Requests finishing at `ends` (seconds from the trace start) with their sizes."""
        second = np.floor(ends).astype(np.int64)
        keep = (second >= 0) & (second < self.seconds)
        if not keep.all():
            second, prompt, output = second[keep], prompt[keep], output[keep]
            prefill, decode = prefill[keep], decode[keep]
        if len(second) == 0:
            return
        lo = int(second.min())
        offset = second - lo
        span = int(offset.max()) + 1  # a batch's ends span its requests' service times
        for row, weights in enumerate((None, prompt, output, prefill, decode)):
            self.table[row, lo:lo + span] += np.bincount(offset, weights=weights,
                                                         minlength=span)

    def between(self, a: int, b: int) -> Finished:
        """Totals over seconds [a, b) (clipped to the trace)."""
        a, b = max(0, a), min(self.seconds, b)
        if b <= a:
            return Finished(0.0, 0.0, 0.0, 0.0, 0.0)
        sums = self.table[:, a:b].sum(axis=1)
        return Finished(*(float(x) for x in sums))
