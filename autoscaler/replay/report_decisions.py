"""Decision log in the shape of `kubectl get hpa -w`, with the policy and reason added.

kubectl prints a line when the HPA object changes; the controller only writes status when
it differs from the last one, so by default a sync identical to the previous one for the
same policy (same metric, replicas and reason) prints nothing, as it would in a real watch.
"""

from __future__ import annotations

from typing import TextIO

from autoscaler.replay.model import DecisionRecord, StepChunk, Summary

_MINUTE = 60
_HOUR = 60 * _MINUTE
_DAY = 24 * _HOUR
_YEAR = 365 * _DAY

HEADERS = ("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE",
           "POLICY", "REASON")
# kubectl's tabwriter pads columns with three spaces.
_GAP = "   "
# Minimum widths so that lines printed one at a time still line up in the usual cases.
_MIN_WIDTHS = {"TARGETS": len("<unknown>/100%"), "REPLICAS": len("10->10"), "AGE": len("10m10s")}


def format_age(seconds: float) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, which kubectl uses for AGE.

    Two to three significant figures: `92s`, `2m1s`, `15m`, `3h5m`, `8h`, `3d4h`, `9d`,
    `2y3d`. Go truncates toward zero; a clock skew of up to a second reads as `0s`.
    """
    nanos = round(seconds * 1e9)
    whole_seconds = int(nanos / 1e9)  # Go's int(d.Seconds()) truncates toward zero
    if whole_seconds < -1:
        return "<invalid>"
    if whole_seconds < 0:
        return "0s"
    if whole_seconds < 2 * _MINUTE:
        return f"{whole_seconds}s"
    return _format_minutes_and_up(nanos // 1_000_000_000)


def _format_minutes_and_up(total: int) -> str:
    minutes = total // _MINUTE
    if minutes < 10:
        return _two_units(minutes, "m", total % _MINUTE, "s")
    if minutes < 3 * 60:
        return f"{minutes}m"
    hours = total // _HOUR
    if hours < 8:
        return _two_units(hours, "h", minutes % 60, "m")
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return _two_units(days, "d", hours % 24, "h")
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return _two_units(days // 365, "y", days % 365, "d")
    return f"{days // 365}y"


def _two_units(major: int, major_unit: str, minor: int, minor_unit: str) -> str:
    if minor == 0:
        return f"{major}{major_unit}"
    return f"{major}{major_unit}{minor}{minor_unit}"


def format_targets(current_percent: int | None, target_percent: int | None,
                   metric: str | None = None) -> str:
    """TARGETS cell: `37%/20%`, `<unknown>/20%`; with `metric`, kubectl 1.30+'s `cpu: 37%/20%`."""
    if current_percent is None and target_percent is None:
        return "<none>"
    current = "<unknown>" if current_percent is None else f"{current_percent}%"
    # kubectl prints <auto> for a utilization target it cannot read.
    target = "<auto>" if target_percent is None else f"{target_percent}%"
    cell = f"{current}/{target}"
    return f"{metric}: {cell}" if metric else cell


def format_replicas(record: DecisionRecord) -> str:
    if record.desired_replicas == record.current_replicas:
        return str(record.current_replicas)
    return f"{record.current_replicas}->{record.desired_replicas}"


class DecisionLogWriter:
    """ReplaySink printing decisions as `kubectl get hpa -w` lines plus POLICY and REASON.

    AGE is the time since `start_seconds` (the replay's start stands in for the HPA's
    creation). Columns only ever widen, so a streamed log stays aligned.
    """

    def __init__(self, stream: TextIO, name: str, reference: str, min_replicas: int,
                 max_replicas: int, *, metric: str | None = None, start_seconds: float = 0.0,
                 every_sync: bool = False) -> None:
        self._stream = stream
        self._fixed = (name, reference)
        self._limits = (str(min_replicas), str(max_replicas))
        self._metric = metric
        self._start = start_seconds
        self._every_sync = every_sync
        self._widths = [max(len(h), _MIN_WIDTHS.get(h, 0)) for h in HEADERS]
        self._widths[0] = max(self._widths[0], len(name))
        self._widths[1] = max(self._widths[1], len(reference))
        self._header_written = False
        self._last: dict[str, tuple[object, ...]] = {}

    def format_line(self, policy: str, record: DecisionRecord) -> str:
        targets = record.targets if record.targets is not None else format_targets(
            record.current_percent, record.target_percent, self._metric)
        cells = (*self._fixed, targets,
                 *self._limits, format_replicas(record),
                 format_age(record.t_seconds - self._start), policy, record.reason)
        return self._align(cells)

    def _align(self, cells: tuple[str, ...]) -> str:
        for i, cell in enumerate(cells[:-1]):
            self._widths[i] = max(self._widths[i], len(cell))
        padded = [cell.ljust(width) for cell, width in zip(cells, self._widths, strict=True)]
        padded[-1] = cells[-1]  # no trailing spaces after the free-text last column
        return _GAP.join(padded).rstrip()

    def on_decision(self, policy: str, record: DecisionRecord) -> None:
        state = (record.current_percent, record.target_percent, record.targets,
                 record.current_replicas, record.desired_replicas, record.reason)
        if not self._every_sync and self._last.get(policy) == state:
            return
        self._last[policy] = state
        line = self.format_line(policy, record)
        if not self._header_written:
            # After the first line, so the header takes the widths that line needed.
            self._stream.write(self._align(HEADERS) + "\n")
            self._header_written = True
        self._stream.write(line + "\n")

    def on_chunk(self, policy: str, chunk: StepChunk) -> None:
        pass

    def on_summary(self, summary: Summary) -> None:
        pass
