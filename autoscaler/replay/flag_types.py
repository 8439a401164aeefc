"""argparse `type=` functions for the replay flags: each value is range-checked where it is
parsed, so a mistake is answered with the flag's name and the allowed range instead of a
traceback (or a ZeroDivisionError) deep in the simulator.
"""

from __future__ import annotations

import argparse
import math
import re
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from autoscaler.replay.from_prometheus import parse_instant
from autoscaler.replay.input_errors import UsageError
from autoscaler.replay.limits import DAY_SECONDS


def _problem(text: str) -> argparse.ArgumentTypeError:
    return argparse.ArgumentTypeError(text)


def number(low: float, high: float, *, above: bool = False) -> Callable[[str], float]:
    """A finite float in [low, high] (`above`: in (low, high])."""
    relation = ">" if above else ">="

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise _problem(f"{text[:40]!r} is not a number") from None
        if not (math.isfinite(value) and (value > low if above else value >= low)
                and value <= high):
            raise _problem(f"must be {relation} {low:g} and <= {high:g}, got {text[:40]!r}")
        return value

    return parse


def whole(low: int, high: int) -> Callable[[str], int]:
    """An integer in [low, high]."""

    def parse(text: str) -> int:
        if not re.fullmatch(r"\s*[+-]?[0-9]{1,19}\s*", text):
            raise _problem(f"{text[:40]!r} is not a whole number")
        value = int(text)
        if not low <= value <= high:
            raise _problem(f"must be >= {low} and <= {high}, got {value}")
        return value

    return parse


_DURATION = re.compile(r"([0-9]+(?:\.[0-9]*)?)\s*([smhd]?)")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": DAY_SECONDS}
MAX_SPAN_DAYS = 10 * 366


def duration(text: str) -> float:
    """Seconds, or a number with s, m, h or d: `400d`, `36h`, `5000`."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None or len(match[1]) > 12:
        raise _problem(f"{text[:40]!r} is not a duration such as 400d, 36h or 86400")
    seconds = float(match[1]) * _UNIT_SECONDS[match[2]]
    if not 1 <= seconds <= MAX_SPAN_DAYS * DAY_SECONDS:
        raise _problem(f"must be between 1 second and {MAX_SPAN_DAYS} days, got {text!r}")
    return seconds


_SIZE = re.compile(r"([0-9]{1,12})\s*([kmg]?)i?b?")
_UNIT_BYTES = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def size(text: str) -> int:
    """Bytes, or a number with K, M or G (binary): `64M`, `1G`."""
    match = _SIZE.fullmatch(text.strip().lower())
    if match is None:
        raise _problem(f"{text[:40]!r} is not a size such as 64M or 1G")
    value = int(match[1]) * _UNIT_BYTES[match[2]]
    if not 1 << 10 <= value <= 4 << 30:
        raise _problem(f"must be between 1K and 4G, got {text!r}")
    return value


def instant(text: str) -> float:
    """Unix seconds or RFC 3339 (see `from_prometheus.parse_instant`)."""
    try:
        return parse_instant(text)
    except UsageError as exc:
        raise _problem(str(exc)) from None


def partition(text: str) -> tuple[float, float]:
    """`START:END` seconds from the start of the workload, 0 <= START < END."""
    start, sep, end = text.partition(":")
    try:
        window = (float(start), float(end)) if sep else None
    except ValueError:
        window = None
    if window is None or not (math.isfinite(window[0]) and math.isfinite(window[1])
                              and 0 <= window[0] < window[1]):
        raise _problem(f"{text[:40]!r}: use START:END seconds, 0 <= START < END")
    return window


def url(text: str) -> str:
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise _problem(f"{text[:60]!r} is not an http(s):// URL")
    return text


def readable_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        raise _problem(f"{text[:200]}: no such file")
    return path


def path(text: str) -> Path:
    if not text.strip():
        raise _problem("an empty path")
    return Path(text)
