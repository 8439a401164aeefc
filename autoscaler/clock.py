"""Time for the I/O layer. The pure layer never reads a clock; the daemon reads this one
once per pass and passes `now` down."""

from __future__ import annotations

import threading
import time
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        """Sleep up to `seconds`; True if `stop` was set meanwhile."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        return stop.wait(max(0.0, seconds))


class FakeClock:
    """Time as data: `wait` advances the clock instead of sleeping."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def wait(self, seconds: float, stop: threading.Event) -> bool:
        self.t += max(0.0, seconds)
        return stop.is_set()
