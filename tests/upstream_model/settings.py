"""Controller settings (kube-controller-manager flags, test overrides and feature gates)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .calculator import Tolerances

DEFAULT_GATES = {
    "HPAScaleToZero": True,
    "HPAConfigurableTolerance": True,
    "HPAGeneration": True,
    "HPAOptimizedSelectorStore": True,
}


@dataclass(frozen=True)
class Settings:
    tolerances: Tolerances = Tolerances(0.1, 0.1)
    cpu_initialization_period: float = 300.0
    delay_of_initial_readiness_status: float = 30.0
    downscale_stabilization_window: float = 300.0
    scale_up_limit_factor: float = 2.0
    scale_up_limit_minimum: float = 4.0
    feature_gates: Mapping[str, bool] = field(default_factory=lambda: dict(DEFAULT_GATES))

    def gate(self, name: str) -> bool:
        return bool(self.feature_gates.get(name, DEFAULT_GATES.get(name, False)))


def parse_settings(obj: Mapping[str, Any] | None) -> Settings:
    """The ``controller`` object of a case; absent keys take the defaults."""
    obj = obj or {}
    tolerance = obj.get("tolerance", 0.1)
    if isinstance(tolerance, Mapping):
        tolerances = Tolerances(
            float(tolerance.get("scale_down", 0.1)), float(tolerance.get("scale_up", 0.1))
        )
    else:
        tolerances = Tolerances(float(tolerance), float(tolerance))
    gates = dict(DEFAULT_GATES)
    gates.update({str(k): bool(v) for k, v in (obj.get("feature_gates") or {}).items()})
    return Settings(
        tolerances=tolerances,
        cpu_initialization_period=float(obj.get("cpu_initialization_period", 300.0)),
        delay_of_initial_readiness_status=float(obj.get("delay_of_initial_readiness_status", 30.0)),
        downscale_stabilization_window=float(obj.get("downscale_stabilization_window", 300.0)),
        scale_up_limit_factor=float(obj.get("scale_up_limit_factor", 2.0)),
        scale_up_limit_minimum=float(obj.get("scale_up_limit_minimum", 4.0)),
        feature_gates=gates,
    )
