"""Controller settings: kube-controller-manager's HPA flags and the feature gates that matter."""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.pods import ReadinessRules
from algorithms.replicas import Tolerances


@dataclass(frozen=True, slots=True)
class FeatureGates:
    """Upstream gates at the version read (all Beta, on by default)."""

    hpa_scale_to_zero: bool = True  # KEP-2021: minReplicas 0 with Object/External metrics
    hpa_configurable_tolerance: bool = True  # KEP-4951: behavior.scaleUp/Down.tolerance
    hpa_generation: bool = True  # status.observedGeneration


@dataclass(frozen=True, slots=True)
class ControllerConfig:
    """Defaults are kube-controller-manager's:
    --horizontal-pod-autoscaler-tolerance=0.1, -cpu-initialization-period=5m,
    -initial-readiness-delay=30s, -downscale-stabilization=5m, -sync-period=15s."""

    tolerances: Tolerances = Tolerances()
    readiness: ReadinessRules = ReadinessRules()
    downscale_stabilization_window_seconds: float = 300.0
    # Legacy path (behavior null) only: never more than max(2x, 4) replicas in one step.
    scale_up_limit_factor: float = 2.0
    scale_up_limit_minimum: float = 4.0
    feature_gates: FeatureGates = FeatureGates()
    sync_period_seconds: float = 15.0
