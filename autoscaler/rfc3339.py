"""RFC 3339 times (the API's wire format) <-> float Unix seconds (the inside)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from autoscaler.errors import InputError


def parse_time(value: Any) -> float | None:
    """RFC 3339 (`2026-11-28T16:06:00Z`, optional fraction and offset) -> Unix seconds."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise InputError(f"time {value!r}: not a finite number")
        return float(value)
    if not isinstance(value, str):
        raise InputError(f"time {value!r}: not a string")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InputError(f"time {value[:60]!r}: not RFC 3339") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def format_time(seconds: float) -> str:
    """Unix seconds -> RFC 3339: whole seconds like metav1.Time, microseconds otherwise
    (persisted history must keep window edges exact across a restart)."""
    moment = datetime.fromtimestamp(seconds, UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
