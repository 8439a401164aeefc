"""`autoscaler run`: wire the Kubernetes adapters, spec sources and the loop together."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import structlog
from kubernetes import client

from autoscaler.clock import Clock, FakeClock, SystemClock
from autoscaler.control.loop import Loop
from autoscaler.control.reconcile import Reconciler, ScaleApi
from autoscaler.control.record import EventSink, Recorder
from autoscaler.control.stores import StateStore
from autoscaler.kube.client import connect
from autoscaler.kube.metrics_api import MetricsApiPass
from autoscaler.kube.pods import PodCache
from autoscaler.kube.scale import ScaleClient
from autoscaler.kube.targets import TargetCache
from autoscaler.kube.writer import EventRecorder
from autoscaler.ownership.gate import GatedEvents, GatedScale, WriterGate
from autoscaler.ownership.lease import LeaseClient
from autoscaler.ownership.rules import Candidate
from autoscaler.ownership.shard_leases import ShardCoordinator
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
    ShardedSpecs,
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
    # One of several replicas: reconcile only the shards held through Leases (shards.py).
    shards: bool = False
    lease_duration_seconds: float = 15.0
    renew_deadline_seconds: float = 10.0
    lease_retry_seconds: float = 2.0
    max_clock_skew_seconds: float = 2.0

    @property
    def holder_identity(self) -> str:
        return self.identity or os.environ.get("POD_NAME") or socket.gethostname()

    def candidate(self) -> Candidate:
        return Candidate(self.holder_identity, "cloud", self.lease_duration_seconds,
                         self.renew_deadline_seconds, self.max_clock_skew_seconds)


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
    return WriterGate(lambda name: LeaseClient(api_client, options.state_namespace, name,
                                               options.request_timeout_seconds),
                      options.candidate())


def _shards(api_client: client.ApiClient, options: DaemonOptions) -> ShardCoordinator | None:
    if not options.shards:
        return None
    if not options.watch_targets:
        log.warning("--shards with --scale-reads get: the AmbiguousSelector check sees only "
                    "this replica's autoscalers (the others' selectors come from the watch)")
    return ShardCoordinator(api_client, options.state_namespace, options.candidate(),
                            options.request_timeout_seconds, options.lease_retry_seconds)


@dataclass(frozen=True)
class Gates:
    writer: WriterGate | None  # --writer-leases: one writer per target with edge agents
    shards: ShardCoordinator | None  # --shards: one replica per shard


@dataclass(frozen=True)
class Writers:
    scale: ScaleApi
    stores: dict[str, StateStore]
    events: EventSink


def _writers(api_client: client.ApiClient, options: DaemonOptions, gates: Gates,
             targets: TargetCache | None, clock: Clock, owners: Callable[[str], str]
             ) -> Writers:
    """The scale, state and Event writers, each behind every gate in use: only the
    target's writer (this daemon or an edge agent) and only the replica holding its shard
    writes."""
    timeout = options.request_timeout_seconds
    scale: ScaleApi = ScaleClient(api_client, timeout, targets)
    events: EventSink = EventRecorder(api_client, timeout)
    stores = state_stores(api_client, options.state_namespace, timeout)
    if gates.writer is not None:
        scale = GatedScale(scale, gates.writer, clock.now)
        stores = gated_stores(stores, gates.writer, clock.now)
        events = GatedEvents(events, gates.writer, owners)
    if gates.shards is not None:
        scale = GatedScale(scale, gates.shards, clock.now,
                           standby="another replica holds the target's shard Lease")
        stores = gated_stores(stores, gates.shards, clock.now)
        events = GatedEvents(events, gates.shards, owners)
    return Writers(scale, stores, events)


def _start_shards(shards: ShardCoordinator, loop: Loop, clock: Clock) -> None:
    """Step the shard Leases on their own thread; a change of the owned set wakes the loop
    (a newly held shard's autoscalers are due at once)."""
    shards.on_change = loop.wake
    shards.on_transition = lambda transition, _shard: loop.metrics.shard_transition(
        transition)
    shards.start(clock)


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
    if options.writer_leases or options.shards:
        # Names the replica in the apiserver's audit log (and the fake server's request log).
        api_client.user_agent = f"edge-autoscaler ({options.holder_identity})"
    pods = PodCache(api_client, options.namespaces)
    specs = SpecSources(api_client, SpecSourceOptions(options.namespaces, options.spec_dir,
                                                      options.crd, options.sedna))
    timeout = options.request_timeout_seconds
    clock = clock or SystemClock()
    gate = _cloud_gate(api_client, options)
    # Scale reads from watched Deployments/StatefulSets/ReplicaSets (no GET per pass).
    targets = TargetCache(api_client, options.namespaces) if options.watch_targets else None
    shards = _shards(api_client, options)
    writers = _writers(api_client, options, Gates(gate, shards), targets, clock,
                       target_of(specs.collect))
    reconciler = Reconciler(
        scale=writers.scale, pods=pods, stores=writers.stores,
        recorder=Recorder(writers.events, dry_run=options.dry_run,
                          on_decision=dry_run_printer(out, options.every_sync)),
        dry_run=options.dry_run, prometheus=_prometheus(options),
        sync_period_seconds=options.sync_period_seconds)

    managed = specs.collect
    sharded = None
    if shards is not None:
        sharded = ShardedSpecs(specs.collect, shards, clock.now, reconciler,
                               targets.selector if targets is not None else None)
        managed = sharded
        shards.before_release = sharded.flush  # the next holder restores windows exactly

    def begin_pass() -> MetricsApiPass:
        if gate is not None:
            # This pass's autoscalers (sharded: as the loop just took them, not re-filtered).
            current = sharded.mine if sharded is not None else specs.collect()
            step_leases(gate, reconciler, current, clock.now())
        if sharded is not None:
            sharded.peek_selectors()
        return MetricsApiPass(api_client, timeout)

    loop = Loop(reconciler=reconciler, specs=managed, metrics_pass=begin_pass,
                clock=clock, sync_period_seconds=options.sync_period_seconds,
                workers=options.workers, stop=stop)
    caches: list[Cache] = [pods, *specs.caches]
    if shards is not None:
        _start_shards(shards, loop, clock)
    try:
        run_loop(loop, caches, options.metrics_addr, options.once)
    finally:
        if shards is not None:
            shards.release_all()
        if targets is not None:
            targets.stop()
    problem = once_failure(loop, caches) if options.once else ""
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 1
    return 0
