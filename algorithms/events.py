"""Kubernetes Events the controller emits, as values (the daemon records them)."""

from __future__ import annotations

from dataclasses import dataclass

NORMAL = "Normal"
WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    """An Event upstream's controller would emit (reason and message verbatim)."""

    type: str
    reason: str
    message: str
