"""Simulated pods: creation, lifecycle, deletion order, and their view as `PodInfo`."""

from __future__ import annotations

from dataclasses import dataclass, field

from algorithms.pods import ContainerInfo, PodInfo
from autoscaler.replay.settings import PodLifecycle

CONTAINER = "server"


@dataclass(frozen=True)
class SimPod:
    name: str
    created: float
    lifecycle: PodLifecycle
    # Derived once: read for every pod in every second of every metric window.
    started: float = field(init=False)  # status.startTime: scheduled, container running
    ready_at: float = field(init=False)  # model loaded, Ready condition True

    def __post_init__(self) -> None:
        started = self.created + self.lifecycle.scheduling_seconds
        object.__setattr__(self, "started", started)
        object.__setattr__(self, "ready_at", started + self.lifecycle.startup_seconds)

    def is_ready(self, t: float) -> bool:
        return t >= self.ready_at

    def is_running(self, t: float) -> bool:
        return t >= self.started

    def info(self, t: float, labels: dict[str, str]) -> PodInfo:
        running = self.is_running(t)
        ready = self.is_ready(t)
        return PodInfo(
            name=self.name, phase="Running" if running else "Pending",
            ready="True" if ready else ("False" if running else None),
            ready_transition_time=self.ready_at if ready else self.started,
            start_time=self.started if running else None, labels=labels,
            containers=(ContainerInfo(CONTAINER, {"cpu": self.lifecycle.cpu_request_milli}),))


class PodSet:
    """The ReplicaSet: adds pods on scale-up, removes on scale-down like the ReplicaSet
    controller does (not-ready pods first, then the newest)."""

    def __init__(self, lifecycle: PodLifecycle, prefix: str = "pod") -> None:
        self.lifecycle = lifecycle
        self.prefix = prefix
        self.pods: list[SimPod] = []
        self._next = 0
        # A pod's PodInfo only changes at its two transitions: build each once.
        self._infos: dict[tuple[str, bool, bool], PodInfo] = {}

    def infos(self, t: float, labels: dict[str, str]) -> tuple[PodInfo, ...]:
        out = []
        for pod in self.pods:
            key = (pod.name, pod.is_running(t), pod.is_ready(t))
            info = self._infos.get(key)
            if info is None:
                info = self._infos[key] = pod.info(t, labels)
            out.append(info)
        return tuple(out)

    def add(self, t: float, count: int, warm: bool = False) -> None:
        for _ in range(count):
            created = t - (self.lifecycle.scheduling_seconds + self.lifecycle.startup_seconds
                           + 3600.0) if warm else t
            self.pods.append(SimPod(f"{self.prefix}-{self._next}", created, self.lifecycle))
            self._next += 1

    def scale_to(self, t: float, replicas: int) -> list[SimPod]:
        """Create or delete pods to reach `replicas`; returns the deleted pods."""
        if replicas > len(self.pods):
            self.add(t, replicas - len(self.pods))
            return []
        victims = sorted(self.pods, key=lambda p: (p.is_ready(t), -p.created))
        removed = victims[:len(self.pods) - replicas]
        self.pods = [p for p in self.pods if p not in removed]
        gone = {p.name for p in removed}
        self._infos = {k: v for k, v in self._infos.items() if k[0] not in gone}
        return removed

    def ready(self, t: float) -> list[SimPod]:
        return [p for p in self.pods if p.is_ready(t)]

    def __len__(self) -> int:
        return len(self.pods)
