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
from autoscaler.control.reconcile import Reconciler
from autoscaler.control.record import Recorder
from autoscaler.control.stores import LeaseStateStore, StatusStore
from autoscaler.errors import AutoscalerError
from autoscaler.kube.scale import ScaleRead
from autoscaler.kube.writer import EventTarget
from autoscaler.specs.model import CRD, FILE, SEDNA


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
    fail: AutoscalerError | None = None  # e.g. the pods LIST is forbidden: never synced

    def pods(self, namespace: str, selector: Selector | None = None) -> tuple[PodInfo, ...]:
        if self.fail is not None:
            raise self.fail
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
    fail: AutoscalerError | None = None

    def record(self, target: EventTarget, event_type: str, reason: str, message: str,
               now: float) -> None:
        if self.fail is not None:
            raise self.fail
        self.recorded.append((event_type, reason, message))


@dataclass
class FakeStatuses:
    """An ElasticAutoscaler's status subresource: every merge patch, in order."""

    written: list[dict[str, Any]] = field(default_factory=list)
    fail: AutoscalerError | None = None

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        if self.fail is not None:
            raise self.fail
        self.written.append(status)


@dataclass
class FakeAnnotations:
    """Lease annotations by autoscaler key (the state of file and Sedna autoscalers)."""

    documents: dict[str, Any] = field(default_factory=dict)
    saves: int = 0
    fail_load: AutoscalerError | None = None
    fail_save: AutoscalerError | None = None

    def load(self, key: str) -> Any:
        if self.fail_load is not None:
            raise self.fail_load
        return self.documents.get(key)

    def save(self, key: str, document: Any) -> None:
        if self.fail_save is not None:
            raise self.fail_save
        self.documents[key] = document
        self.saves += 1


@dataclass
class FakeWorld:
    """A reconciler over the thin fakes: CR state in `statuses`, file/Sedna state in
    `annotations`, Events in `events`."""

    statuses: FakeStatuses = field(default_factory=FakeStatuses)
    annotations: FakeAnnotations = field(default_factory=FakeAnnotations)
    events: FakeEvents = field(default_factory=FakeEvents)

    def reconciler(self, scale: Any, pods: Any, dry_run: bool = False,
                   sync_period_seconds: float = 15.0) -> Reconciler:
        leases = LeaseStateStore(self.annotations)
        return Reconciler(scale=scale, pods=pods,
                          stores={CRD: StatusStore(self.statuses), FILE: leases, SEDNA: leases},
                          recorder=Recorder(self.events, dry_run=dry_run), dry_run=dry_run,
                          sync_period_seconds=sync_period_seconds)
