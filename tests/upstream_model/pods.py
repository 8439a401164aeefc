"""Pods as the pod lister returns them, and the pod helpers of replica_calculator.go."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .goint import ZERO_TIME, add64
from .quantity import milli


class GoError(Exception):
    """An ``error`` value returned by a Go function; ``str()`` is its ``Error()`` text."""


@dataclass(frozen=True)
class Container:
    name: str
    requests: Mapping[str, str | int | float]
    restart_policy: str | None = None


@dataclass(frozen=True)
class Pod:
    name: str
    phase: str
    ready: str | None
    """Status of the Ready condition, None when the pod has no Ready condition."""
    ready_transition_time: float
    start_time: float | None
    deleting: bool
    labels: Mapping[str, str]
    containers: tuple[Container, ...]
    init_containers: tuple[Container, ...] = field(default=())


@dataclass
class PodMetric:
    value: int
    timestamp: float = ZERO_TIME
    window: float = 0.0


PodMetricsInfo = dict[str, PodMetric]


def _time(value: Any) -> float:
    return ZERO_TIME if value is None else float(value)


def _container(obj: Mapping[str, Any]) -> Container:
    return Container(
        name=str(obj.get("name", "")),
        requests=dict(obj.get("requests") or {}),
        restart_policy=obj.get("restart_policy"),
    )


def parse_pod(obj: Mapping[str, Any]) -> Pod:
    """A FORMAT.md pod object."""
    start = obj.get("start_time")
    return Pod(
        name=str(obj["name"]),
        phase=str(obj.get("phase", "Running")),
        ready=obj.get("ready"),
        ready_transition_time=_time(obj.get("ready_transition_time")),
        start_time=None if start is None else float(start),
        deleting=bool(obj.get("deleting", False)),
        labels=dict(obj.get("labels") or {}),
        containers=tuple(_container(c) for c in obj.get("containers") or []),
        init_containers=tuple(_container(c) for c in obj.get("init_containers") or []),
    )


@dataclass
class PodGroups:
    ready_count: int
    unready: set[str]
    missing: set[str]
    ignored: set[str]


def group_pods(
    pods: Sequence[Pod],
    metrics: Mapping[str, PodMetric],
    resource: str,
    cpu_initialization_period: float,
    delay_of_initial_readiness_status: float,
    now: float,
) -> PodGroups:
    """``groupPods``."""
    groups = PodGroups(0, set(), set(), set())
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            groups.ignored.add(pod.name)
            continue
        if pod.phase == "Pending":
            groups.unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            groups.missing.add(pod.name)
            continue
        if resource == "cpu":
            if pod.ready is None or pod.start_time is None:
                unready = True
            elif pod.start_time + cpu_initialization_period > now:
                unready = pod.ready == "False" or (
                    metric.timestamp < pod.ready_transition_time + metric.window
                )
            else:
                unready = pod.ready == "False" and (
                    pod.start_time + delay_of_initial_readiness_status > pod.ready_transition_time
                )
            if unready:
                groups.unready.add(pod.name)
                continue
        groups.ready_count += 1
    return groups


def _pod_request(pod: Pod, container: str, resource: str) -> int:
    """``calculatePodRequestsFromContainers``."""
    containers = list(pod.containers) + [
        c for c in pod.init_containers if c.restart_policy == "Always"
    ]
    request = 0
    for c in containers:
        if container in ("", c.name):
            if resource not in c.requests:
                raise GoError(
                    f"missing request for {resource} in container {c.name} of Pod {pod.name}"
                )
            request = add64(request, milli(c.requests[resource]))
        if container == c.name:
            return request
    if container != "":
        raise GoError(f"container {container} not found in Pod {pod.name}")
    return request


def calculate_requests(pods: Sequence[Pod], container: str, resource: str) -> dict[str, int]:
    """``calculateRequests`` (pod-level requests are out of scope: never set)."""
    return {pod.name: _pod_request(pod, container, resource) for pod in pods}


def ready_pods_count(pods: Sequence[Pod]) -> int:
    """``getReadyPodsCount``."""
    if not pods:
        raise GoError("no pods returned by selector while calculating replica count")
    return sum(1 for p in pods if p.phase == "Running" and p.ready == "True")
