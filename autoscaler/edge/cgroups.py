"""Pod CPU read on the node itself, for when metrics-server is out of reach (edge offline).

Primary source: cgroup v2 `cpu.stat` (`usage_usec`, a cumulative counter) of each pod cgroup
under the kubelet's kubepods hierarchy, for both cgroup drivers:

    systemd:  kubepods.slice/kubepods-pod<uid_>.slice                       (Guaranteed)
              kubepods.slice/kubepods-<qos>.slice/kubepods-<qos>-pod<uid_>.slice
              .../<pod>/cri-containerd-<id>.scope                           (containers)
    cgroupfs: kubepods/pod<uid>, kubepods/<qos>/pod<uid>, .../<pod>/<id>

(systemd unit names cannot hold "-" inside a component, so the UID's dashes become "_").
`CpuSampler` turns two readings into average cores over the interval, like metrics-server:
timestamp = second reading, window = interval, so the HPA's readiness rules apply unchanged.
The caller passes the clock reading; this module only reads files.

Alternative source: the kubelet/edged Summary API (`/stats/summary`), parsed purely by
`parse_stats_summary`; its cumulative counters feed the same sampler.
"""

from __future__ import annotations

import errno
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithms.observation import PodResourceUsage, ResourceMetricsData
from autoscaler.errors import InputError, TransientError
from autoscaler.rfc3339 import parse_time

CGROUP_ROOT = Path("/sys/fs/cgroup")
QOS_CLASSES = ("guaranteed", "burstable", "besteffort")
POD_CGROUP_CONTAINER = "(pod cgroup)"  # the one "container" when names are unknown

_STAT_LINE = re.compile(r"([a-z_]+) ([0-9]+)", re.ASCII)
_CONTAINER = re.compile(r"(?:(?:cri-containerd|docker|crio)-)?([0-9a-f]{12,})(?:\.scope)?",
                        re.ASCII)


class LocalMetricsError(TransientError):
    """A local metrics source is malformed; the message names the file and line (or path)."""


@dataclass(frozen=True, slots=True)
class PodCgroup:
    uid: str
    qos: str
    driver: str
    path: Path


@dataclass(frozen=True, slots=True)
class PodCpuSample:
    """Cumulative CPU of one pod (and its containers, by container id) at one moment."""

    uid: str
    usage_usec: int
    containers_usage_usec: Mapping[str, int]
    sampled_at_seconds: float


@dataclass(frozen=True, slots=True)
class PodCpuRate:
    """Average CPU over [timestamp - window, timestamp]: one PodMetrics item's worth."""

    uid: str
    usage_nanocores: int
    containers_usage_nanocores: Mapping[str, int]
    timestamp_seconds: float
    window_seconds: float

    @property
    def usage_cores(self) -> float:
        return self.usage_nanocores / 1e9


def find_pod_cgroups(root: Path = CGROUP_ROOT) -> list[PodCgroup]:
    """Every pod cgroup under `root`, whichever driver and QoS class placed it."""
    found: list[PodCgroup] = []
    for driver, qos, parent, pattern in _pod_parents(root):
        for name, path in _subdirs(parent):
            match = pattern.fullmatch(name)
            if match:
                found.append(PodCgroup(match[1].replace("_", "-"), qos, driver, path))
    return found


def _pod_parents(root: Path) -> Iterator[tuple[str, str, Path, re.Pattern[str]]]:
    """(driver, QoS class, parent directory, pod directory name pattern) of every layout."""
    for qos in QOS_CLASSES:
        # Guaranteed pods sit directly under the top; the others under their QoS directory.
        if qos == "guaranteed":
            yield ("systemd", qos, root / "kubepods.slice",
                   re.compile(r"kubepods-pod([0-9a-f_]+)\.slice", re.ASCII))
            yield "cgroupfs", qos, root / "kubepods", re.compile(r"pod([0-9a-f-]+)", re.ASCII)
        else:
            yield ("systemd", qos, root / "kubepods.slice" / f"kubepods-{qos}.slice",
                   re.compile(rf"kubepods-{qos}-pod([0-9a-f_]+)\.slice", re.ASCII))
            yield ("cgroupfs", qos, root / "kubepods" / qos,
                   re.compile(r"pod([0-9a-f-]+)", re.ASCII))


def _subdirs(parent: Path) -> Iterator[tuple[str, Path]]:
    try:
        children = sorted(parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return
    for child in children:
        if child.is_dir():
            yield child.name, child


def read_usage_usec(cpu_stat: Path) -> int:
    """`usage_usec` from a cgroup v2 cpu.stat; FileNotFoundError if the cgroup is gone."""
    usage: int | None = None
    for number, line in enumerate(cpu_stat.read_text().splitlines(), start=1):
        match = _STAT_LINE.fullmatch(line)
        if not match:
            raise LocalMetricsError(f"{cpu_stat}:{number}: expected '<key> <integer>', "
                                    f"got {line!r}")
        if match[1] == "usage_usec":
            usage = int(match[2])
    if usage is None:
        raise LocalMetricsError(f"{cpu_stat}: no usage_usec line")
    return usage


def _vanished(exc: OSError) -> bool:
    # A cgroup removed under us: the directory is gone, or (mid-removal) its files say ENODEV.
    return isinstance(exc, FileNotFoundError) or exc.errno == errno.ENODEV


def sample_pod(pod: PodCgroup, now: float) -> PodCpuSample | None:
    """One pod's reading, or None if its cgroup vanished (the pod is *missing*, never 0)."""
    try:
        usage = read_usage_usec(pod.path / "cpu.stat")
        children = [(m[1], path) for name, path in _subdirs(pod.path)
                    if (m := _CONTAINER.fullmatch(name))]
    except OSError as exc:
        if _vanished(exc):
            return None
        raise
    containers: dict[str, int] = {}
    for container_id, path in children:
        try:
            containers[container_id] = read_usage_usec(path / "cpu.stat")
        except OSError as exc:  # a container that just exited: the pod reading still holds
            if not _vanished(exc):
                raise
    return PodCpuSample(pod.uid, usage, containers, now)


def sample_pods(root: Path, now: float) -> dict[str, PodCpuSample]:
    """A reading of every pod on the node, by UID."""
    samples = (sample_pod(pod, now) for pod in find_pod_cgroups(root))
    return {s.uid: s for s in samples if s is not None}


def _nanocores(delta_usec: int, window_seconds: float) -> int:
    return round(delta_usec * 1000 / window_seconds)


def cpu_rate(previous: PodCpuSample, current: PodCpuSample) -> PodCpuRate | None:
    """Average usage between two readings; None when time or the counter went backwards
    (a reset, e.g. a recreated cgroup): a negative or garbage rate must never reach the HPA."""
    window = current.sampled_at_seconds - previous.sampled_at_seconds
    delta = current.usage_usec - previous.usage_usec
    if window <= 0 or delta < 0:
        return None
    containers: dict[str, int] = {}
    for cid, usage in current.containers_usage_usec.items():
        before = previous.containers_usage_usec.get(cid)
        if before is not None and usage >= before:  # new or reset containers: next time
            containers[cid] = _nanocores(usage - before, window)
    return PodCpuRate(current.uid, _nanocores(delta, window), containers,
                      current.sampled_at_seconds, window)


class CpuSampler:
    """Keeps the previous reading per pod; each `sample(now)` returns rates since then."""

    def __init__(self, root: Path = CGROUP_ROOT) -> None:
        self.root = root
        self._previous: dict[str, PodCpuSample] = {}

    def sample(self, now: float) -> dict[str, PodCpuRate]:
        return self.update(sample_pods(self.root, now))

    def update(self, current: Mapping[str, PodCpuSample]) -> dict[str, PodCpuRate]:
        """Rates for pods seen both times; the new readings become the baseline (so a reset
        costs one interval, and vanished pods are forgotten)."""
        rates: dict[str, PodCpuRate] = {}
        for uid, sample in current.items():
            previous = self._previous.get(uid)
            rate = cpu_rate(previous, sample) if previous is not None else None
            if rate is not None:
                rates[uid] = rate
        self._previous = dict(current)
        return rates


def _milli(nanocores: int) -> int:
    return -(-nanocores // 1_000_000)  # rounds up, like resource.Quantity.MilliValue()


def to_resource_metrics(rates: Mapping[str, PodCpuRate], pod_names: Mapping[str, str],
                        container_names: Mapping[str, str] | None = None
                        ) -> ResourceMetricsData:
    """Rates by UID -> metrics.k8s.io-shaped data by pod name (UID -> name from the API).

    With `container_names` (container id -> name, from the pods' containerStatuses) only
    named containers count, which drops the sandbox (pause) cgroup as metrics-server does; a
    pod with none is missing. Without it each pod reports its pod-level cgroup.
    """
    pods: dict[str, PodResourceUsage] = {}
    for uid, rate in rates.items():
        name = pod_names.get(uid)
        if name is None:
            continue
        if container_names is None:
            usage = {POD_CGROUP_CONTAINER: {"cpu": _milli(rate.usage_nanocores)}}
        else:
            usage = {container_names[cid]: {"cpu": _milli(nanocores)}
                     for cid, nanocores in rate.containers_usage_nanocores.items()
                     if cid in container_names}
        if usage:
            pods[name] = PodResourceUsage(rate.timestamp_seconds, rate.window_seconds, usage)
    return ResourceMetricsData(pods)


def runtime_container_id(status_container_id: str) -> str:
    """`containerd://<id>` (a pod's containerStatuses[].containerID) -> `<id>`."""
    return status_container_id.rpartition("://")[2]


# --- the kubelet/edged Summary API alternative ---------------------------------------------

@dataclass(frozen=True, slots=True)
class SummaryCpu:
    time_seconds: float
    usage_nanocores: int | None  # the kubelet's own rate over its housekeeping interval
    usage_core_nanoseconds: int | None  # cumulative: feeds `CpuSampler.update`


@dataclass(frozen=True, slots=True)
class SummaryPod:
    uid: str
    cpu: SummaryCpu | None  # pod level, when the kubelet reports it
    containers: Mapping[str, SummaryCpu]  # by container name; those without cpu omitted

    def to_sample(self) -> PodCpuSample | None:
        """The cumulative counters as a reading (containers keyed by name)."""
        if self.cpu is None or self.cpu.usage_core_nanoseconds is None:
            return None
        containers = {name: c.usage_core_nanoseconds // 1000
                      for name, c in self.containers.items()
                      if c.usage_core_nanoseconds is not None}
        return PodCpuSample(self.uid, self.cpu.usage_core_nanoseconds // 1000, containers,
                            self.cpu.time_seconds)


def _need(value: Mapping[str, Any], key: str, kind: type, path: str) -> Any:
    if not isinstance(value, Mapping):
        raise LocalMetricsError(f"stats summary {path}: expected object, got {value!r}")
    item = value.get(key)
    if not isinstance(item, kind) or isinstance(item, bool):
        raise LocalMetricsError(f"stats summary {path}.{key}: expected {kind.__name__}, "
                                f"got {item!r}")
    return item


def _summary_cpu(raw: Any, path: str) -> SummaryCpu | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        raise LocalMetricsError(f"stats summary {path}: expected object, got {raw!r}")
    try:
        time_seconds = parse_time(_need(raw, "time", str, path))
    except InputError as exc:
        raise LocalMetricsError(f"stats summary {path}.time: {exc}") from exc
    if time_seconds is None:
        raise LocalMetricsError(f"stats summary {path}.time: empty")
    counters = [raw.get(key) for key in ("usageNanoCores", "usageCoreNanoSeconds")]
    for key, value in zip(("usageNanoCores", "usageCoreNanoSeconds"), counters, strict=True):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)):
            raise LocalMetricsError(f"stats summary {path}.{key}: expected int, got {value!r}")
    return SummaryCpu(time_seconds, counters[0], counters[1])


def parse_stats_summary(document: Mapping[str, Any]) -> dict[tuple[str, str], SummaryPod]:
    """`/stats/summary` JSON -> {(namespace, name): SummaryPod}; errors name the JSON path."""
    pods = document.get("pods", [])
    if not isinstance(pods, list):
        raise LocalMetricsError(f"stats summary pods: expected list, got {pods!r}")
    out: dict[tuple[str, str], SummaryPod] = {}
    for index, pod in enumerate(pods):
        path = f"pods[{index}]"
        ref = _need(pod, "podRef", Mapping, path)
        key = (_need(ref, "namespace", str, f"{path}.podRef"),
               _need(ref, "name", str, f"{path}.podRef"))
        containers: dict[str, SummaryCpu] = {}
        for cindex, container in enumerate(pod.get("containers") or []):
            cpath = f"{path}.containers[{cindex}]"
            name = _need(container, "name", str, cpath)
            cpu = _summary_cpu(container.get("cpu"), f"{cpath}.cpu")
            if cpu is not None:
                containers[name] = cpu
        out[key] = SummaryPod(_need(ref, "uid", str, f"{path}.podRef"),
                              _summary_cpu(pod.get("cpu"), f"{path}.cpu"), containers)
    return out
