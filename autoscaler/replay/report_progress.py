"""A one-line progress bar for long replays, on stderr and only on a terminal."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from autoscaler.replay.model import DecisionRecord, StepChunk, Summary
from autoscaler.replay.report_decisions import format_age

_BAR_WIDTH = 30


def _is_tty(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty()) if callable(isatty) else False


class ProgressBar:
    """ReplaySink drawing `policy [#####.....] 45.0%  26d/58d` for the policy now running.

    Redraws at most once per `min_interval` seconds of `clock` (a monotonic clock, injected
    for tests), so a replay pushing thousands of chunks a second does not spend its time on
    the terminal. A policy's summary finishes its line at 100% with a newline, leaving one
    line per policy. With `enabled=None` the bar shows only if `stream` is a TTY, so logs
    and pipes get nothing; when disabled it writes nothing at all.
    """

    def __init__(self, total_seconds: float, stream: TextIO | None = None,
                 enabled: bool | None = None, *,
                 clock: Callable[[], float] = time.monotonic,
                 min_interval: float = 0.1) -> None:
        self._stream = sys.stderr if stream is None else stream
        self.enabled = _is_tty(self._stream) if enabled is None else enabled
        self._total = max(float(total_seconds), 0.0)
        self._clock = clock
        self._min_interval = min_interval
        self._first_t: dict[str, float] = {}
        self._done: dict[str, float] = {}
        self._last_draw: float | None = None
        self._line_open = False
        self._last_width = 0

    def render(self, policy: str, done_seconds: float) -> str:
        fraction = min(done_seconds / self._total, 1.0) if self._total > 0 else 1.0
        filled = round(fraction * _BAR_WIDTH)
        bar = "#" * filled + "." * (_BAR_WIDTH - filled)
        return (f"{policy} [{bar}] {100.0 * fraction:5.1f}%  "
                f"{format_age(done_seconds)}/{format_age(self._total)}")

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        if not self.enabled or len(chunk.t_seconds) == 0:
            return
        first = self._first_t.setdefault(policy, float(chunk.t_seconds[0]))
        # Steps are one second long: the last step ends one second after it starts.
        self._done[policy] = float(chunk.t_seconds[-1]) + 1.0 - first
        now = self._clock()
        if self._last_draw is not None and now - self._last_draw < self._min_interval:
            return
        self._last_draw = now
        self._draw(self.render(policy, self._done[policy]))

    def on_summary(self, summary: Summary) -> None:
        if not self.enabled:
            return
        done = max(self._done.get(summary.policy, 0.0), summary.duration_seconds)
        self._draw(self.render(summary.policy, done))
        self._end_line()

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        pass

    def close(self) -> None:
        """End an unfinished line so whatever prints next starts on its own line."""
        if self.enabled:
            self._end_line()

    def _draw(self, line: str) -> None:
        # Pad over the previous line's tail when this one is shorter.
        self._stream.write("\r" + line.ljust(self._last_width))
        self._stream.flush()
        self._last_width = len(line)
        self._line_open = True

    def _end_line(self) -> None:
        if self._line_open:
            self._stream.write("\n")
            self._stream.flush()
        self._line_open = False
        self._last_width = 0
