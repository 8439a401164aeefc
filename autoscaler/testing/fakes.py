"""Thin in-process fakes of the reconciler's collaborators (no HTTP). They record what the
reconciler asked for so tests can count writes; failures are injected as data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from algorithms.labels import Selector
from algorithms.observation import (
    MetricData,
    MetricUnavailable,
    PodResourceUsage,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.pods import PodInfo
from autoscaler.errors import AutoscalerError
from autoscaler.kube.scale import ScaleRead
from autoscaler.specs.model import ManagedSpec


@dataclass
class FakeScale:
    replicas: int
    selector: str
    fail_get: AutoscalerError | None = None
    fail_update: AutoscalerError | None = None
    updates: list[int] = field(default_factory=list)
    version: int = 1

    def get(self, namespace: str, ref: Any) -> ScaleRead:
        if self.fail_get is not None:
            raise self.fail_get
        return ScaleRead(ScaleObservation(self.replicas, self.replicas, self.selector),
                         str(self.version), {})

    def update(self, namespace: str, ref: Any, read: ScaleRead, replicas: int) -> ScaleRead:
        if self.fail_update is not None:
            raise self.fail_update
        self.updates.append(replicas)
        self.replicas = replicas
        self.version += 1
        return self.get(namespace, ref)


@dataclass
class FakePods:
    by_namespace: dict[str, list[PodInfo]] = field(default_factory=dict)

    def pods(self, namespace: str, selector: Selector | None = None) -> tuple[PodInfo, ...]:
        found = self.by_namespace.get(namespace, [])
        return tuple(p for p in found if selector is None or selector.matches(p.labels))


@dataclass
class FakeMetrics:
    """metrics.k8s.io for one pass: usage per pod, or an outage."""

    usage: dict[str, PodResourceUsage] = field(default_factory=dict)
    unavailable: str = ""
    calls: int = 0

    def for_pods(self, namespace: str, pod_names: set[str]) -> MetricData:
        self.calls += 1
        if self.unavailable:
            return MetricUnavailable(self.unavailable)
        return ResourceMetricsData({k: v for k, v in self.usage.items() if k in pod_names})


@dataclass
class FakeEvents:
    recorded: list[tuple[str, str, str]] = field(default_factory=list)

    def record(self, managed: ManagedSpec, event_type: str, reason: str, message: str,
               now: float) -> None:
        self.recorded.append((event_type, reason, message))


@dataclass
class FakeStatuses:
    written: list[dict[str, Any]] = field(default_factory=list)

    def patch_status(self, managed: ManagedSpec, status: dict[str, Any]) -> None:
        self.written.append(status)
