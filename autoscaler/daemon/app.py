"""`autoscaler run`: wire the Kubernetes adapters, spec sources and the loop together."""

from __future__ import annotations

import os
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import structlog
from kubernetes import client

from autoscaler.clock import Clock, FakeClock, SystemClock
from autoscaler.control.loop import Loop
from autoscaler.control.reconcile import Reconciler, ScaleApi
from autoscaler.control.record import EventSink, Recorder
from autoscaler.kube.client import connect
from autoscaler.kube.metrics_api import MetricsApiPass
from autoscaler.kube.pods import PodCache
from autoscaler.kube.scale import ScaleClient
from autoscaler.kube.targets import TargetCache
from autoscaler.kube.writer import EventRecorder
from autoscaler.ownership.gate import GatedEvents, GatedScale, WriterGate
from autoscaler.ownership.lease import LeaseClient
from autoscaler.ownership.rules import Candidate
from autoscaler.prometheus.source import PrometheusSettings, PrometheusSource
from autoscaler.runtime.process import (
    Cache,
    configure_logging,
    once_failure,
    run_loop,
    stop_on_signals,
)
from autoscaler.runtime.specsources import SpecSourceOptions, SpecSources
from autoscaler.runtime.wiring import (
    dry_run_printer,
    gated_stores,
    state_stores,
    step_leases,
    target_of,
)

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
    watch_targets: bool = True  # --scale-reads watch: Scale from watched workloads
    metrics_addr: str | None = None
    once: bool = False
    log_format: str = "auto"  # auto | json | console
    log_level: str = "info"  # debug | info | warning | error
    every_sync: bool = False  # dry run: print every decision, not only the changed ones
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


def run_daemon(options: DaemonOptions, out: TextIO = sys.stdout,
               clock: Clock | None = None) -> int:
    stop = stop_on_signals()
    configure_logging(options.log_format, sys.stderr, options.log_level)
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
    specs = SpecSources(api_client, SpecSourceOptions(options.namespaces, options.spec_dir,
                                                      options.crd, options.sedna))
    timeout = options.request_timeout_seconds
    clock = clock or SystemClock()
    gate = _cloud_gate(api_client, options)
    # Scale reads from watched Deployments/StatefulSets/ReplicaSets (no GET per pass).
    targets = TargetCache(api_client, options.namespaces) if options.watch_targets else None
    scale: ScaleApi = ScaleClient(api_client, timeout, targets)
    events: EventSink = EventRecorder(api_client, timeout)
    stores = state_stores(api_client, options.state_namespace, timeout)
    if gate is not None:
        # Only the target's writer (this daemon or an edge agent) writes scale, state, Events.
        scale = GatedScale(scale, gate, clock.now)
        stores = gated_stores(stores, gate, clock.now)
        events = GatedEvents(events, gate, target_of(specs.collect))
    reconciler = Reconciler(
        scale=scale, pods=pods, stores=stores,
        recorder=Recorder(events, dry_run=options.dry_run,
                          on_decision=dry_run_printer(out, options.every_sync)),
        dry_run=options.dry_run, prometheus=_prometheus(options),
        sync_period_seconds=options.sync_period_seconds)

    def begin_pass() -> MetricsApiPass:
        if gate is not None:
            step_leases(gate, reconciler, specs.collect(), clock.now())
        return MetricsApiPass(api_client, timeout)

    loop = Loop(reconciler=reconciler, specs=specs.collect, metrics_pass=begin_pass,
                clock=clock, sync_period_seconds=options.sync_period_seconds,
                workers=options.workers, stop=stop)
    caches: list[Cache] = [pods, *specs.caches]
    try:
        run_loop(loop, caches, options.metrics_addr, options.once)
    finally:
        if targets is not None:
            targets.stop()
    problem = once_failure(loop, caches) if options.once else ""
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0
