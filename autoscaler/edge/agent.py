"""The edge agent's pieces around the ordinary reconciler.

* `LocalCpuMetrics`: pod CPU from the node's own cgroups (no metrics-server: on KubeEdge it
  often cannot reach edge kubelets), sampled once per pass, shaped like metrics.k8s.io;
* `WriterGate`: one Lease per target (`autoscaler.edge.ownership`): the agent writes a
  target's scale only while it holds that target's Lease;
* `JournaledScale`: when the API refuses the write (the edge MetaServer serves reads from
  its cache but refuses writes while the cloud link is down), the decision goes to the
  fsync'd journal before the error is reported, and the next successful write for that
  target marks it applied ("what happened" is kept). The loop keeps deciding from fresh
  observations every pass, so what is written at reconnect is the latest decision, computed
  under the spec's behavior rules from the persisted history: never a stale replay.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from algorithms.observation import MetricData, MetricUnavailable
from autoscaler.edge.cgroups import (
    CpuSampler,
    LocalMetricsError,
    PodCpuRate,
    parse_stats_summary,
    to_resource_metrics,
)
from autoscaler.edge.journal import Journal
from autoscaler.edge.lease import LeaseClient, LeaseKeeper
from autoscaler.edge.ownership import Candidate
from autoscaler.errors import AutoscalerError, PermanentError, TransientError
from autoscaler.kube.scale import ScaleRead


class NotWriterError(PermanentError):
    """This agent does not hold the target's Lease: the cloud daemon is the writer."""


class RateSampler(Protocol):
    def sample(self, now: float) -> dict[str, PodCpuRate]: ...


@dataclass
class LocalCpuMetrics:
    """metrics.k8s.io's answer, from cgroups: `begin_pass` samples once, `for_pods` maps
    UIDs to the names the pod cache knows."""

    sampler: RateSampler
    pod_uids: Callable[[str], dict[str, str]]  # namespace -> {uid: pod name}
    rates: dict[str, PodCpuRate] = field(default_factory=dict)
    error: str = ""
    source_name: str = "node cgroups"  # shown in the decision's explanation

    def begin_pass(self, now: float) -> None:
        try:
            self.rates = self.sampler.sample(now)
            self.error = ""
        except (AutoscalerError, OSError) as exc:
            self.rates, self.error = {}, f"local cgroups: {exc}"

    def for_pods(self, namespace: str, pod_names: set[str]) -> MetricData:
        if self.error:
            return MetricUnavailable(self.error)
        names = {uid: name for uid, name in self.pod_uids(namespace).items()
                 if name in pod_names}
        data = to_resource_metrics(self.rates, names)
        if not data.pods:
            return MetricUnavailable("no local CPU samples yet for these pods (the first "
                                     "pass only records a baseline)")
        return data


def lease_name(target_key: str) -> str:
    return f"eas-writer-{hashlib.sha256(target_key.encode()).hexdigest()[:16]}"


@dataclass
class WriterGate:
    """One LeaseKeeper per target, stepped once per pass."""

    make_client: Callable[[str], LeaseClient]
    candidate: Candidate
    keepers: dict[str, LeaseKeeper] = field(default_factory=dict)
    # Targets whose last Lease step failed transiently: the API is unreachable or refuses
    # writes (MetaServer offline), so nobody can prove ownership now.
    offline: dict[str, str] = field(default_factory=dict)

    def step(self, target_key: str, now: float, healthy: bool) -> str:
        keeper = self.keepers.get(target_key)
        if keeper is None:
            keeper = LeaseKeeper(self.make_client(lease_name(target_key)), self.candidate)
            self.keepers[target_key] = keeper
        try:
            kind = keeper.step(now, healthy).kind
        except TransientError as exc:
            self.offline[target_key] = str(exc)
            return f"offline: {exc}"  # the grant runs out by itself at the renew deadline
        except AutoscalerError as exc:
            self.offline.pop(target_key, None)
            return f"error: {exc}"
        self.offline.pop(target_key, None)
        return kind

    def may_write(self, target_key: str, now: float) -> bool:
        keeper = self.keepers.get(target_key)
        return keeper is not None and keeper.may_write(now)


def target_key(namespace: str, ref: Any) -> str:
    return f"{namespace}/{ref.kind}/{ref.name}"


@dataclass
class JournaledScale:
    """Scale writes behind the writer Lease; with a journal (the edge agent) refused writes
    are kept for the reconnect, without one (the cloud daemon) they are just reported."""

    inner: Any  # a ScaleApi
    journal: Journal | None
    gate: WriterGate | None
    now: Callable[[], float]

    def _remember(self, key: str, now: float, read: ScaleRead, replicas: int,
                  why: str) -> None:
        if self.journal is not None:
            self.journal.record(key, now, read.observation.spec_replicas, replicas, why)

    def get(self, namespace: str, ref: Any) -> ScaleRead:
        read: ScaleRead = self.inner.get(namespace, ref)
        return read

    def update(self, namespace: str, ref: Any, read: ScaleRead, replicas: int) -> ScaleRead:
        key = target_key(namespace, ref)
        now = self.now()
        if self.gate is not None and not self.gate.may_write(key, now):
            reason = self.gate.offline.get(key)
            if reason is None:
                raise NotWriterError(f"{key}: not the writer (the Lease is held elsewhere "
                                     "or not yet acquired)")
            # Offline: ownership cannot be renewed, so nothing is written; the wish is
            # kept for the reconnect.
            self._remember(key, now, read, replicas, f"offline, journaled: {reason}")
            raise TransientError(f"{key}: offline ({reason}); decision journaled")
        try:
            written: ScaleRead = self.inner.update(namespace, ref, read, replicas)
        except TransientError as exc:
            self._remember(key, now, read, replicas, f"write refused, journaled: {exc}")
            raise
        pending = self.journal.pending(key) if self.journal is not None else None
        if pending is not None and self.journal is not None:
            self.journal.mark_applied(pending.seq, f"reconnected at {now:.0f}: wrote "
                                                   f"{replicas} (journaled wish was "
                                                   f"{pending.desired_replicas})")
        return written


@dataclass
class SummarySampler:
    """The alternative to cgroups: the kubelet/edged Summary API (`/stats/summary`), its
    cumulative CPU counters fed through the same rate maths as the cgroup readings."""

    fetch: Callable[[], Mapping[str, Any]]  # returns the Summary API document
    sampler: CpuSampler = field(default_factory=lambda: CpuSampler(Path("/nonexistent")))

    def sample(self, now: float) -> dict[str, PodCpuRate]:
        try:
            pods = parse_stats_summary(self.fetch())
        except (OSError, ValueError) as exc:
            raise LocalMetricsError(f"stats summary: {exc}") from exc
        samples = {}
        for pod in pods.values():
            sample = pod.to_sample()
            if sample is not None:
                samples[sample.uid] = sample
        return self.sampler.update(samples)


def summary_fetcher(url: str, timeout_seconds: float = 5.0) -> Callable[[], Mapping[str, Any]]:
    """GET the Summary API (node-local, e.g. edged on http://127.0.0.1:10350/stats/summary)."""
    def fetch() -> Mapping[str, Any]:
        with urllib.request.urlopen(url, timeout=timeout_seconds) as response:
            document: Mapping[str, Any] = json.loads(response.read())
        return document
    return fetch


@dataclass
class GatedStatuses:
    """Status writes only by the target's writer: with a cloud daemon and edge agents on one
    autoscaler, the one holding the Lease reports, the other stays quiet."""

    inner: Any  # a StatusSink
    gate: WriterGate
    now: Callable[[], float]

    def patch_status(self, managed: Any, status: dict[str, Any]) -> None:
        spec = managed.spec
        if spec is None or self.gate.may_write(target_key(managed.namespace,
                                                          spec.scale_target_ref), self.now()):
            self.inner.patch_status(managed, status)


@dataclass
class NodeLocalSpecs:
    """The autoscalers whose target has pods on this node (the only ones an edge agent
    manages). The target's selector comes from its scale subresource, re-read at most every
    `ttl_seconds`."""

    scale: Any  # a ScaleApi
    local_pods: Callable[[str, str], int]  # (namespace, selector) -> pods on this node
    ttl_seconds: float = 60.0
    _selectors: dict[str, tuple[float, str]] = field(default_factory=dict)

    def keep(self, managed: Any, now: float) -> bool:
        spec = managed.spec
        if spec is None:
            return False
        cached = self._selectors.get(managed.key)
        if cached is None or now - cached[0] > self.ttl_seconds:
            try:
                selector = self.scale.get(managed.namespace,
                                          spec.scale_target_ref).observation.selector
            except AutoscalerError:
                selector = cached[1] if cached is not None else ""
            cached = (now, selector)
            self._selectors[managed.key] = cached
        return bool(cached[1]) and self.local_pods(managed.namespace, cached[1]) > 0

    def selector(self, key: str) -> str:
        cached = self._selectors.get(key)
        return cached[1] if cached is not None else ""
