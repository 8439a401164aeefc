"""The per-call state of one ``reconcileAutoscaler`` run (the HPA copy, status, events)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .behavior import default_behavior
from .history import History
from .metricspec import MetricStatus
from .settings import parse_settings
from .status import Status, parse_status, set_condition


class ReconcileStop(Exception):  # noqa: N818 -- an early ``return err`` of reconcileAutoscaler
    def __init__(self, error: str) -> None:
        super().__init__(error)
        self.error = error


class ReconcileState:
    """What one call works on: ``hpa := hpaShared.DeepCopy()`` and its original status."""

    def __init__(self, histories: dict[str, History], case: Mapping[str, Any]) -> None:
        self.case = case
        self.now = float(case["now"])
        self.settings = parse_settings(case.get("controller"))
        self.hpa = copy.deepcopy(dict(case["hpa"]))
        meta = self.hpa.get("metadata") or {}
        self.namespace = str(meta.get("namespace", "test-namespace"))
        self.name = str(meta.get("name", "test-hpa"))
        self.generation = int(meta.get("generation", 0))
        self.key = f"{self.namespace}/{self.name}"
        self.history = histories.setdefault(self.key, History())
        self.spec: dict[str, Any] = self.hpa.get("spec") or {}
        self.behavior = default_behavior(self.spec.get("behavior"))
        self.original = parse_status(self.hpa.get("status"))
        self.status = parse_status(self.hpa.get("status"))
        self.events: list[dict[str, str]] = []
        self.scale: Mapping[str, Any] = case.get("scale") or {}
        ref = self.spec.get("scaleTargetRef") or {}
        self.reference = f"{ref.get('kind', '')}/{self.namespace}/{ref.get('name', '')}"

    def event(self, etype: str, reason: str, message: str) -> None:
        self.events.append({"type": etype, "reason": reason, "message": message})

    def set(self, ctype: str, cstatus: str, reason: str, message: str) -> None:
        """``setCondition`` on the HPA copy."""
        set_condition(self.status, ctype, cstatus, reason, message, self.now)

    def set_status(
        self, current: int, desired: int, metrics: list[MetricStatus] | None, rescale: bool
    ) -> None:
        """``setStatus``: rebuilds the status, keeping lastScaleTime and the conditions."""
        self.status = Status(
            current_replicas=current,
            desired_replicas=desired,
            observed_generation=self.generation if self.settings.gate("HPAGeneration") else None,
            last_scale_time=self.now if rescale else self.status.last_scale_time,
            current_metrics=metrics,
            conditions=self.status.conditions,
        )
