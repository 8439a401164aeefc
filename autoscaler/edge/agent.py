"""The edge agent's pieces around the ordinary reconciler.

* `LocalCpuMetrics`: pod CPU from the node's own cgroups (no metrics-server: on KubeEdge it
  often cannot reach edge kubelets), sampled once per pass, shaped like metrics.k8s.io;
* `JournalHooks`: when the API refuses the write (the edge MetaServer serves reads from
  its cache but refuses writes while the cloud link is down), the decision goes to the
  fsync'd journal before the error is reported, and the next successful write for that
  target marks it applied ("what happened" is kept). The loop keeps deciding from fresh
  observations every pass, so what is written at reconnect is the latest decision, computed
  under the spec's behavior rules from the persisted state: never a stale replay.
* `NodeLocalSpecs`: only the autoscalers whose target has pods on this node.

The writer Lease and the gates over scale, state and Events are in
`autoscaler.ownership.gate` (the cloud daemon uses the same ones).
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import structlog

from algorithms.observation import MetricData, MetricUnavailable
from autoscaler.edge.cgroups import (
    CpuSampler,
    LocalMetricsError,
    PodCpuRate,
    parse_stats_summary,
    to_resource_metrics,
)
from autoscaler.edge.journal import Journal, JournalError
from autoscaler.errors import AutoscalerError
from autoscaler.kube.scale import ScaleRead

log = structlog.get_logger("autoscaler.edge")


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


@dataclass
class JournalHooks:
    """`GatedScale`'s hooks for the edge agent: keep refused wishes, mark them written."""

    journal: Journal

    def offline(self, key: str, now: float, read: ScaleRead, replicas: int, why: str
                ) -> None:
        # A journal that cannot take the wish (full disk) must not turn the refused write
        # into a permanent failure: the decision is recomputed every pass anyway.
        try:
            self.journal.record(key, now, read.observation.spec_replicas, replicas,
                                f"{why}; journaled")
        except JournalError as exc:
            log.warning("decision not journaled", target=key, error=str(exc))

    def written(self, key: str, now: float, replicas: int) -> None:
        try:
            pending = self.journal.pending(key)
            if pending is not None:
                self.journal.mark_applied(pending.seq, f"reconnected at {now:.0f}: wrote "
                                                       f"{replicas} (journaled wish was "
                                                       f"{pending.desired_replicas})")
        except JournalError as exc:
            log.warning("journal entry not marked applied", target=key, error=str(exc))


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
