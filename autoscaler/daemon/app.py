"""`autoscaler run`: wire the Kubernetes adapters, spec sources and the loop together."""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import structlog
from kubernetes import client

from algorithms.decide import Decision
from autoscaler.clock import Clock, FakeClock, SystemClock
from autoscaler.daemon.explain import targets
from autoscaler.daemon.loop import Loop
from autoscaler.daemon.reconcile import Reconciler, spec_targets
from autoscaler.daemon.server import serve
from autoscaler.edge.agent import GatedStatuses, JournaledScale, WriterGate, target_key
from autoscaler.edge.lease import LeaseClient
from autoscaler.edge.ownership import Candidate
from autoscaler.kube.cache import WatchCache
from autoscaler.kube.client import connect
from autoscaler.kube.history_store import LeaseHistoryStore
from autoscaler.kube.metrics_api import MetricsApiPass
from autoscaler.kube.pods import PodCache
from autoscaler.kube.scale import ScaleClient
from autoscaler.kube.writer import EventRecorder, StatusWriter
from autoscaler.prometheus.source import PrometheusSettings, PrometheusSource
from autoscaler.specs import sources
from autoscaler.specs.model import ManagedSpec

log = structlog.get_logger("autoscaler.daemon")


@dataclass(frozen=True)
class DaemonOptions:
    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] = ()
    spec_dir: Path | None = None
    crd: bool = True
    sedna: bool = False
    dry_run: bool = False
    sync_period_seconds: float = 15.0
    workers: int = 4
    metrics_addr: str | None = None
    once: bool = False
    log_format: str = "auto"  # auto | json | console
    request_timeout_seconds: float = 10.0
    now: float | None = None  # only with once: a fixed clock for the single pass
    state_namespace: str = "edge-autoscaler"  # where history Leases of non-CR specs live
    prometheus_url: str | None = None
    prometheus_token_file: Path | None = None
    prometheus_ca_file: Path | None = None
    prometheus_verify_tls: bool = True
    prometheus_rate_window_seconds: float = 60.0
    # Single writer per target with edge agents (and between HA replicas): a Lease per
    # target in state_namespace, renewed while this daemon has valid metrics for it.
    writer_leases: bool = False
    identity: str = ""


def configure_logging(fmt: str, stream: TextIO) -> None:
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if console \
        else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(stream), cache_logger_on_first_use=False)


def _custom_cache(custom: client.CustomObjectsApi, group: str, version: str, plural: str,
                  namespaces: tuple[str, ...], convert: Any) -> list[WatchCache[Any]]:
    if namespaces:
        return [WatchCache(f"{plural}/{ns}", custom.list_namespaced_custom_object,
                           (group, version, ns, plural), convert) for ns in namespaces]
    return [WatchCache(plural, custom.list_cluster_custom_object, (group, version, plural),
                       convert)]


class SpecSources:
    def __init__(self, api_client: client.ApiClient, options: DaemonOptions) -> None:
        custom = client.CustomObjectsApi(api_client)
        self.options = options
        self.crds = _custom_cache(custom, sources.GROUP, sources.VERSION, sources.PLURAL,
                                  options.namespaces, sources.from_custom_resource) \
            if options.crd else []
        self.sedna = _custom_cache(custom, sources.SEDNA_GROUP, sources.SEDNA_VERSION,
                                   sources.SEDNA_PLURAL, options.namespaces,
                                   sources.from_joint_inference_service) \
            if options.sedna else []

    @property
    def caches(self) -> list[WatchCache[Any]]:
        return [*self.crds, *self.sedna]

    def collect(self) -> list[ManagedSpec]:
        found: list[ManagedSpec] = []
        for cache in self.crds:
            found.extend(cache.items())
        for cache in self.sedna:
            for specs in cache.items():
                found.extend(specs)
        if self.options.spec_dir is not None:
            found.extend(sources.from_directory(self.options.spec_dir))
        if self.options.namespaces:
            found = [m for m in found if m.namespace in self.options.namespaces]
        return found


def dry_run_printer(out: TextIO) -> Any:
    def show(managed: ManagedSpec, decision: Decision, dry_run: bool) -> None:
        if not dry_run or managed.spec is None:
            return
        target = decision.desired_replicas if decision.rescale else decision.current_replicas
        spec = managed.spec
        reasons = {c.type: c.reason for c in decision.status.conditions}
        why = decision.reason if decision.rescale else "; ".join(
            reasons[t] for t in ("AbleToScale", "ScalingActive", "ScalingLimited")
            if t in reasons)
        print(f"{managed.name}  {managed.reference}  {targets(decision, spec_targets(spec))}  "
              f"{spec.min_replicas}  {spec.max_replicas}  {decision.current_replicas}->"
              f"{target}  {'would scale' if decision.rescale else 'no change'}: {why}",
              file=out, flush=True)
    return show


def _prometheus(options: DaemonOptions) -> PrometheusSource | None:
    if not options.prometheus_url:
        return None
    return PrometheusSource(PrometheusSettings(
        url=options.prometheus_url, bearer_token_file=options.prometheus_token_file,
        ca_file=options.prometheus_ca_file, verify_tls=options.prometheus_verify_tls,
        timeout_seconds=options.request_timeout_seconds,
        rate_window_seconds=options.prometheus_rate_window_seconds))


def _cloud_gate(api_client: client.ApiClient, options: DaemonOptions) -> WriterGate | None:
    if not options.writer_leases:
        return None
    identity = options.identity or os.environ.get("POD_NAME") or socket.gethostname()
    return WriterGate(lambda name: LeaseClient(api_client, options.state_namespace, name,
                                               options.request_timeout_seconds),
                      Candidate(identity, "cloud"))


def step_cloud_leases(gate: WriterGate, reconciler: Reconciler, specs: list[ManagedSpec],
                      now: float) -> None:
    """Renew each target's Lease while the last pass had valid metrics for it (or nothing is
    known yet: the cloud has first claim); stop renewing, and hand over, when it did not."""
    for managed in specs:
        if managed.spec is None:
            continue
        memory = reconciler.memory.get(managed.key)
        active = memory.status.condition("ScalingActive") if memory is not None else None
        healthy = active is None or active.status == "True"
        gate.step(target_key(managed.namespace, managed.spec.scale_target_ref), now, healthy)


def run_daemon(options: DaemonOptions, out: TextIO = sys.stdout,
               clock: Clock | None = None) -> int:
    configure_logging(options.log_format, sys.stderr)
    if options.now is not None and not options.once:
        print("error: --now needs --once (a daemon runs on the real clock)", file=sys.stderr)
        return 2
    if clock is None and options.now is not None:
        clock = FakeClock(options.now)
    connection = connect(options.kubeconfig, options.context)
    log.info("starting", api=connection.describe(), dry_run=options.dry_run,
             namespaces=list(options.namespaces) or "all", spec_dir=str(options.spec_dir))
    api_client = connection.api_client
    pods = PodCache(api_client, options.namespaces)
    specs = SpecSources(api_client, options)
    timeout = options.request_timeout_seconds
    clock = clock or SystemClock()
    gate = _cloud_gate(api_client, options)
    scale: Any = ScaleClient(api_client, timeout)
    statuses: Any = StatusWriter(api_client, timeout)
    if gate is not None:
        # Only the target's writer (this daemon or an edge agent) writes scale and status.
        scale = JournaledScale(scale, None, gate, clock.now)
        statuses = GatedStatuses(statuses, gate, clock.now)
    reconciler = Reconciler(
        scale=scale, pods=pods,
        events=EventRecorder(api_client, timeout), statuses=statuses,
        dry_run=options.dry_run, on_decision=dry_run_printer(out),
        history_store=LeaseHistoryStore(api_client, options.state_namespace, timeout),
        prometheus=_prometheus(options))
    def begin_pass() -> MetricsApiPass:
        if gate is not None:
            step_cloud_leases(gate, reconciler, specs.collect(), clock.now())
        return MetricsApiPass(api_client, timeout)

    loop = Loop(reconciler=reconciler, specs=specs.collect, metrics_pass=begin_pass,
                clock=clock, sync_period_seconds=options.sync_period_seconds,
                workers=options.workers)
    run_loop(loop, pods, specs.caches, options.metrics_addr, options.once)
    return 0


def run_loop(loop: Loop, pods: PodCache, caches: list[WatchCache[Any]],
             metrics_addr: str | None, once: bool) -> None:
    """The process lifecycle shared by the daemon and the edge agent: SIGTERM/SIGINT stop
    the loop after the pass in flight; caches start and sync before the first pass;
    /metrics, /healthz and /readyz are served while it runs."""
    signal.signal(signal.SIGTERM, lambda *_: loop.stop.set())
    signal.signal(signal.SIGINT, lambda *_: loop.stop.set())
    pods.start()
    for cache in caches:
        cache.start()
    server = None
    if metrics_addr:
        server = serve(metrics_addr, loop.metrics,
                       ready=lambda: pods.synced and all(c.synced for c in caches))
    pods.wait_synced(30.0)
    for cache in caches:
        cache.wait_synced(30.0)
    try:
        loop.run(once=once)
    finally:
        pods.stop()
        for cache in caches:
            cache.stop()
        if server is not None:
            server.shutdown()
        log.info("stopped")
