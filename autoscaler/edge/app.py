"""`autoscaler edge`: the agent a DaemonSet runs on every edge node.

Same spec sources, reconciler and loop as the cloud daemon, with the edge's own inputs and
guards: the API through the node's MetaServer (`--metaserver http://127.0.0.1:10550`; with
KubeEdge's `requireAuthorization`, `https://`: TLS verified with the cluster CA and the pod's
service-account token, see `metaserver_connection`) or a kubeconfig; only this node's pods
(field selector on spec.nodeName); pod CPU from the node's cgroups; a Lease per target so
only one of cloud daemon and agent writes a scale; writes refused while offline are
journaled (fsync'd) and the latest decision is written once at reconnect. Each pass first
steps every target's Lease (healthy = local CPU samples exist).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import structlog
from kubernetes import client

from algorithms.labels import SelectorError, parse_selector
from algorithms.observation import MetricUnavailable
from autoscaler.clock import Clock, FakeClock, SystemClock
from autoscaler.control.loop import Loop
from autoscaler.control.reconcile import Reconciler
from autoscaler.control.record import Recorder
from autoscaler.control.server import DaemonMetrics
from autoscaler.edge.agent import (
    JournalHooks,
    LocalCpuMetrics,
    NodeLocalSpecs,
    RateSampler,
    SummarySampler,
    summary_fetcher,
)
from autoscaler.edge.cgroups import CGROUP_ROOT, CpuSampler
from autoscaler.edge.journal import Journal
from autoscaler.edge.journal_monitor import JournalMetrics, JournalMonitor
from autoscaler.errors import AutoscalerError, UsageError
from autoscaler.kube.client import (
    SERVICE_ACCOUNT_CA,
    SERVICE_ACCOUNT_TOKEN,
    Connection,
    connect,
    plain_http,
    tls_with_token,
)
from autoscaler.kube.pods import PodCache
from autoscaler.kube.scale import ScaleClient
from autoscaler.kube.writer import EventRecorder
from autoscaler.ownership.gate import GatedEvents, GatedScale, WriterGate
from autoscaler.ownership.lease import LeaseClient
from autoscaler.ownership.rules import Candidate
from autoscaler.runtime.process import Cache, configure_logging, once_failure, run_loop
from autoscaler.runtime.specsources import SpecSourceOptions, SpecSources
from autoscaler.runtime.wiring import gated_stores, state_stores, step_leases, target_of
from autoscaler.specs.model import ManagedSpec

log = structlog.get_logger("autoscaler.edge")

COMPACT_AFTER_ENTRIES = 1000


@dataclass(frozen=True)
class EdgeOptions:
    node_name: str
    journal: Path
    metaserver: str | None = None  # http://127.0.0.1:10550 (plain HTTP, node-local) or https://
    metaserver_ca: Path | None = None  # https: default the pod's service-account ca.crt
    metaserver_token_file: Path | None = None  # https: default the service-account token
    kubeconfig: str | None = None
    namespaces: tuple[str, ...] = ()
    spec_dir: Path | None = None
    crd: bool = True
    sedna: bool = False
    cgroup_root: Path = CGROUP_ROOT
    stats_url: str = ""  # the kubelet/edged Summary API instead of cgroups
    lease_namespace: str = "edge-autoscaler"
    identity: str = ""
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    max_clock_skew_seconds: float = 2.0
    sync_period_seconds: float = 15.0
    metrics_addr: str | None = None
    once: bool = False
    now: float | None = None
    log_format: str = "auto"
    log_level: str = "info"  # debug | info | warning | error
    request_timeout_seconds: float = 10.0


def api_client_for(options: EdgeOptions) -> client.ApiClient:
    if options.metaserver:
        return metaserver_connection(options).api_client
    return connect(options.kubeconfig, in_cluster=None).api_client


def metaserver_connection(options: EdgeOptions) -> Connection:
    """http:// is edgecore's MetaServer without authorization: plain HTTP, no credentials.
    https:// is the MetaServer with `requireAuthorization` (KubeEdge >= 1.13): its serving
    certificate (kubelet-serving signer, IP SAN 127.0.0.1) is verified, always, with the CA
    (default: the pod's service-account ca.crt, the cluster CA), and each request carries the
    pod's service-account token, re-read from its file so a rotated token is used at once."""
    url = options.metaserver or ""
    overrides = options.metaserver_ca is not None or options.metaserver_token_file is not None
    if not url.startswith("https://"):
        if overrides:
            raise UsageError(f"--metaserver {url}: --metaserver-ca and --metaserver-token-file "
                             "need an https:// MetaServer")
        return plain_http(url)
    try:
        return tls_with_token(url, options.metaserver_ca or SERVICE_ACCOUNT_CA,
                              options.metaserver_token_file or SERVICE_ACCOUNT_TOKEN)
    except UsageError as exc:
        raise UsageError(f"--metaserver {url}: {exc}: mount the pod's service account "
                         "(automountServiceAccountToken) or pass --metaserver-ca / "
                         "--metaserver-token-file") from None


@dataclass
class EdgeAgent:
    loop: Loop
    pods: PodCache
    specs: SpecSources
    journal: Journal
    gate: WriterGate


def build_edge(options: EdgeOptions, clock: Clock) -> EdgeAgent:
    api = api_client_for(options)
    timeout = options.request_timeout_seconds
    pods = PodCache(api, options.namespaces, node_name=options.node_name)
    specs = SpecSources(api, SpecSourceOptions(options.namespaces, options.spec_dir,
                                               options.crd, options.sedna))
    sampler: RateSampler = CpuSampler(options.cgroup_root)
    if options.stats_url:
        sampler = SummarySampler(summary_fetcher(options.stats_url))
    metrics = LocalCpuMetrics(sampler,
                              lambda ns: {p.uid: p.name for p in pods.pods(ns) if p.uid})
    candidate = Candidate(options.identity or options.node_name, "edge",
                          options.lease_duration_seconds, options.renew_deadline_seconds,
                          options.max_clock_skew_seconds)
    gate = WriterGate(lambda name: LeaseClient(api, options.lease_namespace, name, timeout),
                      candidate)
    journal = Journal(options.journal)
    hooks = JournalHooks(journal)
    scale_client = ScaleClient(api, timeout)
    reconciler = Reconciler(
        scale=GatedScale(scale_client, gate, clock.now, hooks.offline, hooks.written),
        pods=pods,
        stores=gated_stores(state_stores(api, options.lease_namespace, timeout), gate,
                            clock.now),
        recorder=Recorder(GatedEvents(EventRecorder(api, timeout), gate,
                                      target_of(specs.collect))),
        sync_period_seconds=options.sync_period_seconds)

    def local_pods(namespace: str, selector: str) -> int:
        try:
            return len(pods.pods(namespace, parse_selector(selector)))
        except (SelectorError, AutoscalerError):
            return 0

    local = NodeLocalSpecs(scale_client, local_pods)

    def node_specs() -> list[ManagedSpec]:
        now = clock.now()
        return [m for m in specs.collect() if local.keep(m, now)]

    daemon_metrics = DaemonMetrics()
    # Repairs, compaction (every read scans the file: keep it bounded) and the gauges; never
    # fatal: a damaged or full journal is reported and retried, the node keeps scaling.
    journal_monitor = JournalMonitor(journal, JournalMetrics(daemon_metrics.registry),
                                     options.node_name, clock.now,
                                     EventRecorder(api, timeout), COMPACT_AFTER_ENTRIES)

    def begin_pass() -> LocalCpuMetrics:
        now = clock.now()
        journal_monitor.begin_pass()
        metrics.begin_pass(now)
        # Healthy for a target = we have CPU samples for some of its local pods.
        step_leases(gate, reconciler, node_specs(), now, lambda managed: _healthy(
            metrics, pods, managed.namespace, local.selector(managed.key)))
        return metrics

    loop = Loop(reconciler=reconciler, specs=node_specs, metrics_pass=begin_pass,
                clock=clock, sync_period_seconds=options.sync_period_seconds, workers=1,
                metrics=daemon_metrics)
    return EdgeAgent(loop, pods, specs, journal, gate)


def _healthy(metrics: LocalCpuMetrics, pods: PodCache, namespace: str, selector: str) -> bool:
    try:
        local = pods.pods(namespace, parse_selector(selector))
    except (SelectorError, AutoscalerError):
        return False
    answer = metrics.for_pods(namespace, {p.name for p in local})
    return not isinstance(answer, MetricUnavailable)


def run_edge(options: EdgeOptions, out: TextIO = sys.stdout) -> int:
    configure_logging(options.log_format, sys.stderr, options.log_level)
    if not options.node_name:
        print("error: --node-name is required (the DaemonSet passes $(NODE_NAME))",
              file=sys.stderr)
        return 2
    clock: Clock = FakeClock(options.now) if options.now is not None else SystemClock()
    agent = build_edge(options, clock)
    log.info("edge agent starting", node=options.node_name, metaserver=options.metaserver,
             journal=str(options.journal))
    caches: list[Cache] = [agent.pods, *agent.specs.caches]
    try:
        run_loop(agent.loop, caches, options.metrics_addr, options.once)
    finally:
        agent.journal.close()
    problem = once_failure(agent.loop, caches) if options.once else ""
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0
