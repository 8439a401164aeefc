"""Pods as the replica calculator sees them, and upstream's pod grouping.

Mirrors `groupPods` and `calculatePodRequests` in upstream `replica_calculator.go`.
Times are float seconds on the controller's clock; Go's zero time is `ZERO_TIME`
(a real number: upstream adds offsets to zero times, and `zero + 60s` is after `zero`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

from algorithms.errors import CoreError
from algorithms.goints import wrap_int64

PENDING = "Pending"
RUNNING = "Running"
FAILED = "Failed"


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    requests_milli: Mapping[str, int] = field(default_factory=dict)
    # Only init containers: "Always" makes it a restartable (sidecar) container whose
    # requests count like a regular container's.
    restart_policy: str | None = None


@dataclass(frozen=True, slots=True)
class PodInfo:
    """What a pod lister returns, reduced to what the HPA reads."""

    name: str
    phase: str = RUNNING
    ready: str | None = "True"  # the Ready condition's status; None = no Ready condition
    ready_transition_time: float = 0.0
    start_time: float | None = 0.0  # None = status.startTime not set
    deleting: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    containers: tuple[ContainerInfo, ...] = ()
    init_containers: tuple[ContainerInfo, ...] = ()
    host_network: bool = False
    owner: str = ""  # "Kind/name" of the controlling ownerReference, "" if none
    uid: str = ""  # metadata.uid: how the node's cgroups name the pod


class PodMetric(NamedTuple):
    """One pod's value for one metric: a milli-value with its sample time and window.

    A NamedTuple, not a frozen dataclass: it is built once per pod per metric per pass,
    and frozen-dataclass construction costs several times more on that hot path.
    """

    value_milli: int
    timestamp: float = 0.0
    window_seconds: float = 0.0


@dataclass(frozen=True, slots=True)
class PodGroups:
    ready_count: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


@dataclass(frozen=True, slots=True)
class ReadinessRules:
    """Controller flags that decide whether a CPU sample of a starting pod is trusted."""

    cpu_initialization_period_seconds: float = 300.0
    delay_of_initial_readiness_status_seconds: float = 30.0


def group_pods(pods: tuple[PodInfo, ...], metrics: Mapping[str, PodMetric], resource: str,
               rules: ReadinessRules, now: float) -> PodGroups:
    """Split pods into ready / unready / missing / ignored; first matching rule wins.

    Only CPU gets the readiness rules: a starting JVM or model server burns CPU before it is
    ready, so its sample would inflate the average. Worked example (defaults 300 s / 30 s):
    a pod started 100 s ago that became Ready 20 s ago, with a 30 s metric window sampled
    now, is unready: the sample may still cover the not-ready period (now < ready + window).
    """
    ready_count = 0
    unready: set[str] = set()
    missing: set[str] = set()
    ignored: set[str] = set()
    for pod in pods:
        if pod.deleting or pod.phase == FAILED:
            ignored.add(pod.name)
            continue
        if pod.phase == PENDING:
            unready.add(pod.name)
            continue
        metric = metrics.get(pod.name)
        if metric is None:
            missing.add(pod.name)
            continue
        if resource == "cpu" and cpu_sample_untrusted(pod, metric.timestamp,
                                                      metric.window_seconds, rules, now):
            unready.add(pod.name)
            continue
        ready_count += 1
    return PodGroups(ready_count, frozenset(unready), frozenset(missing), frozenset(ignored))


def cpu_sample_untrusted(pod: PodInfo, timestamp: float, window_seconds: float,
                         rules: ReadinessRules, now: float) -> bool:
    """Whether a CPU sample taken at `timestamp` over `window_seconds` makes `pod` unready."""
    if pod.ready is None or pod.start_time is None:
        return True
    if pod.start_time + rules.cpu_initialization_period_seconds > now:
        # Still initializing: trust the sample only if a whole metric window was collected
        # after the last readiness transition.
        return (pod.ready == "False"
                or timestamp < pod.ready_transition_time + window_seconds)
    # Past initialization: ignore only pods that are unready and have never been ready.
    return (pod.ready == "False"
            and pod.start_time + rules.delay_of_initial_readiness_status_seconds
            > pod.ready_transition_time)


class RequestError(CoreError):
    """A pod lacks the request a Utilization target needs."""


def pod_requests(pods: tuple[PodInfo, ...], container: str, resource: str) -> dict[str, int]:
    """Sum of requests (milli) per pod, over regular and restartable init containers.

    `container == ""` sums every container; otherwise only the named one, which must exist.
    """
    requests: dict[str, int] = {}
    for pod in pods:
        entries = pod.containers
        if pod.init_containers:
            entries += tuple(c for c in pod.init_containers if c.restart_policy == "Always")
        total = 0
        found = False
        for entry in entries:
            if container and entry.name != container:
                continue
            found = True
            request = entry.requests_milli.get(resource)
            if request is None:
                raise RequestError(f"missing request for {resource} in container "
                                   f"{entry.name} of Pod {pod.name}")
            total += request
        if container and not found:
            raise RequestError(f"container {container} not present in pod {pod.name}")
        requests[pod.name] = wrap_int64(total)
    return requests
