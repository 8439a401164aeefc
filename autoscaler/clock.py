"""Time for the I/O layer. The pure layer never reads a clock; the daemon reads this one
once per pass and passes `now` down."""

from __future__ import annotations

import math
import threading
import time
from pathlib import Path
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float: ...

    def wait(self, seconds: float, stop: threading.Event,
             alarm: threading.Event | None = None) -> bool:
        """Sleep up to `seconds`; True if `stop` was set meanwhile. `alarm`, when given, is
        set on news and whenever `stop` is (the caller sees to it): the system clock wakes
        on it early; clocks that are data ignore it (their time moves as the test says)."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.time()

    def wait(self, seconds: float, stop: threading.Event,
             alarm: threading.Event | None = None) -> bool:
        (alarm or stop).wait(max(0.0, seconds))
        return stop.is_set()


class FakeClock:
    """Time as data: `wait` advances the clock instead of sleeping."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds

    def wait(self, seconds: float, stop: threading.Event,
             alarm: threading.Event | None = None) -> bool:
        self.t += max(0.0, seconds)
        return stop.is_set()


class FileClock:
    """Time read from a file, for driving a *running process* through time as data (an
    end-to-end test kills and restarts the daemon mid-window without waiting for real
    windows). The file holds Unix seconds; after each pass the process writes that time to
    `<file>.done` and waits until the file holds a later time (or `stop`)."""

    POLL_SECONDS = 0.01

    def __init__(self, path: Path) -> None:
        self.path = path
        self.done = path.with_name(path.name + ".done")
        self._last = -math.inf

    def now(self) -> float:
        while True:
            try:
                self._last = float(self.path.read_text(encoding="utf-8").strip())
                return self._last
            except (OSError, ValueError):
                time.sleep(self.POLL_SECONDS)  # being rewritten: read again

    def wait(self, seconds: float, stop: threading.Event,
             alarm: threading.Event | None = None) -> bool:
        reached = self._last
        self.done.write_text(f"{reached!r}\n", encoding="utf-8")
        while not stop.is_set():
            if self.now() > reached:
                return False
            time.sleep(self.POLL_SECONDS)
        return True
