"""The control loop: which autoscalers are due, one clock read per pass, bounded workers.

Each autoscaler is synced every `sync_period_seconds` (its own `spec.syncPeriodSeconds` or
the flag), plus a deterministic per-autoscaler jitter of up to 10 % of the period so ten
thousand autoscalers do not all hit the API server in the same second. A pass reads the
clock once, creates one metrics.k8s.io cache (one LIST per namespace), and runs the due
autoscalers on at most `workers` threads. SIGTERM sets `stop`: the pass in flight finishes
and `run` returns.
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import structlog

from autoscaler.clock import Clock
from autoscaler.daemon.metric_sources import ResourceMetrics
from autoscaler.daemon.reconcile import PassResult, Reconciler
from autoscaler.daemon.server import DaemonMetrics
from autoscaler.specs.model import ManagedSpec

log = structlog.get_logger("autoscaler.loop")


def jitter_seconds(key: str, period: float) -> float:
    """Stable across restarts (crc32 of the key), in [0, 10 % of the period)."""
    return (zlib.crc32(key.encode()) % 1000) / 1000.0 * 0.1 * period


def duplicate_targets(specs: list[ManagedSpec]) -> dict[str, tuple[str, ...]]:
    by_target: dict[tuple[str, str, str], list[str]] = {}
    for managed in specs:
        if managed.spec is not None:
            ref = managed.spec.scale_target_ref
            by_target.setdefault((managed.namespace, ref.kind, ref.name), []).append(managed.key)
    return {key: tuple(k for k in keys if k != key)
            for keys in by_target.values() if len(keys) > 1 for key in keys}


@dataclass
class Loop:
    reconciler: Reconciler
    specs: Callable[[], Iterable[ManagedSpec]]
    metrics_pass: Callable[[], ResourceMetrics]
    clock: Clock
    sync_period_seconds: float = 15.0
    workers: int = 4
    metrics: DaemonMetrics = field(default_factory=DaemonMetrics)
    stop: threading.Event = field(default_factory=threading.Event)
    next_due: dict[str, float] = field(default_factory=dict)
    last_pass: float | None = None

    def period(self, managed: ManagedSpec) -> float:
        return managed.sync_period_seconds or self.sync_period_seconds

    def run_pass(self) -> list[PassResult]:
        now = self.clock.now()
        current = list(self.specs())
        keys = {m.key for m in current}
        for gone in set(self.next_due) - keys:
            self.next_due.pop(gone, None)
            self.reconciler.forget(gone)
        self.reconciler.duplicates = duplicate_targets(current)
        due = [m for m in current if self.next_due.get(m.key, now) <= now]
        self.metrics.invalid.set(sum(1 for m in current if m.spec is None))
        if not due:
            return []
        metrics = self.metrics_pass()
        with ThreadPoolExecutor(max_workers=max(1, self.workers)) as pool:
            results = list(pool.map(lambda m: self._one(m, metrics, now), due))
        for managed in due:
            period = self.period(managed)
            self.next_due[managed.key] = now + period + jitter_seconds(managed.key, period)
        self.metrics.passes.inc()
        self.last_pass = now
        return results

    def _one(self, managed: ManagedSpec, metrics: ResourceMetrics, now: float) -> PassResult:
        started = time.perf_counter()
        try:
            result = self.reconciler.reconcile(managed, metrics, now)
        except Exception as exc:
            log.exception("reconcile failed", autoscaler=managed.key)
            self.metrics.api_errors.labels(kind=type(exc).__name__).inc()
            return PassResult(managed.key, None, False, False, (str(exc),))
        finally:
            self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
        decision = result.decision
        if decision is not None:
            labels = {"namespace": managed.namespace, "name": managed.name}
            self.metrics.desired.labels(**labels).set(decision.status.desired_replicas)
            self.metrics.current.labels(**labels).set(decision.current_replicas)
            outcome = decision.reason if decision.rescale else next(
                (c.reason for c in decision.status.conditions if c.type == "AbleToScale"), "")
            self.metrics.decisions.labels(reason=outcome or "none").inc()
        return result

    def seconds_to_next(self) -> float:
        if not self.next_due:
            return self.sync_period_seconds
        return max(0.0, min(self.next_due.values()) - self.clock.now())

    def run(self, once: bool = False) -> None:
        while not self.stop.is_set():
            self.run_pass()
            if once:
                return
            # Wake at the next due autoscaler, but at least every second, so new specs
            # are picked up promptly.
            if self.clock.wait(min(1.0, max(0.05, self.seconds_to_next())), self.stop):
                return
