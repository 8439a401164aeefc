"""Kind `reconcile` (placeholder until implemented)."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autoscaler.conformance.result import Outcome


def run(case: Mapping[str, Any]) -> Outcome:
    return Outcome(False, "reconcile", "not implemented")
