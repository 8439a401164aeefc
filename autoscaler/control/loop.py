"""The control loop: which autoscalers are due, one clock read per pass, bounded workers,
retry and backoff.

Each autoscaler is synced every `sync_period_seconds` (its own `spec.syncPeriodSeconds` or
the flag), at most a deterministic per-autoscaler jitter of 10 % of the period late. A pass
reads the clock once (rounded to microseconds: what the persisted state can carry exactly),
creates one metrics.k8s.io cache (one LIST per namespace), and runs the due autoscalers on at
most `workers` threads of one persistent pool. SIGTERM sets `stop`: the pass in flight
finishes and `run` returns.

**When passes run.** Between passes the loop sleeps until the earliest autoscaler's period
plus its jitter is over (no polling), or until `wake()`: the spec sources call it when an
autoscaler is added or removed or its spec changes, the shard coordinator when ownership
moves. A pass takes every autoscaler whose period is over, jitter or not: autoscalers synced
together stay together and share the pass's LISTs (were each rescheduled at its own start
plus its jitter, they would drift apart, each into a pass and a LIST per namespace of its
own). So each autoscaler syncs every period to period + 10 %, never sooner.

**Per-pass deadline.** A pass waits for its reconciles at most `pass_deadline_seconds` (the
sync period by default). A reconcile still running then (a slow Prometheus, a hung
connection: each call is bounded by its own timeout) keeps running on its worker and is
collected by a later pass; only its own autoscaler waits (it is not started again while in
flight), the others keep their schedule.

Failures of a pass (`PassResult.failure`, classified by `autoscaler.errors`):
* transient (5xx, timeouts, dropped or refused connections): the next pass comes at the
  usual period, or later when the server sent `Retry-After`;
* permanent (403, 404, malformed objects): the key is *parked*: it backs off doubling the
  period per consecutive failure up to `PARK_MAX_PERIODS` periods, and is retried at once
  when its spec changes (a fix usually is a spec or RBAC change);
* a crash of the reconcile itself (a bug): logged with the error text and traceback, the
  key counts as failed permanently (so a bug cannot turn into a hot loop).
"""

from __future__ import annotations

import threading
import time
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

import structlog

from autoscaler.clock import Clock
from autoscaler.control.metric_sources import ResourceMetrics
from autoscaler.control.reconcile import PassResult, Reconciler
from autoscaler.control.server import DaemonMetrics
from autoscaler.errors import AutoscalerError, PermanentError, TransientError
from autoscaler.specs.model import ManagedSpec

log = structlog.get_logger("autoscaler.loop")

PARK_MAX_PERIODS = 10
MIN_SLEEP_SECONDS = 0.05  # the shortest sleep between two passes: never a busy loop


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
class Backoff:
    """Consecutive permanent failures of one key, and the spec generation they were seen at."""

    failures: int
    generation: int | None


def next_delay(period: float, failure: AutoscalerError | None, backoff: Backoff | None
               ) -> float:
    """Seconds until the key's next pass (before jitter)."""
    if isinstance(failure, TransientError) and failure.retry_after_seconds is not None:
        return max(period, failure.retry_after_seconds)
    if backoff is None:
        return period
    return period * min(2.0 ** (backoff.failures - 1), PARK_MAX_PERIODS)


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
    # When each key next forces a pass (period + jitter after its last start), and when a
    # pass running anyway takes it (period, no jitter: never sooner than its period).
    next_due: dict[str, float] = field(default_factory=dict)
    eligible: dict[str, float] = field(default_factory=dict)
    parked: dict[str, Backoff] = field(default_factory=dict)
    last_pass: float | None = None
    pass_deadline_seconds: float | None = None  # None: the sync period
    # Whether the last pass reached the API server (False when every reconcile failed to
    # connect): /readyz reports it.
    api_reachable: bool = True
    last_failure: AutoscalerError | None = None
    _pool: ThreadPoolExecutor | None = field(default=None, repr=False)
    _in_flight: dict[str, tuple[ManagedSpec, float, Future[PassResult]]] = field(
        default_factory=dict, repr=False)
    # Set by wake() and by `stop`: ends the sleep between passes.
    _alarm: threading.Event = field(default_factory=threading.Event, repr=False)

    def __post_init__(self) -> None:
        # What the reconciler and its recorder see fail goes to this loop's /metrics.
        self.reconciler.telemetry = self.metrics
        self.reconciler.recorder.telemetry = self.metrics

    def period(self, managed: ManagedSpec) -> float:
        return managed.sync_period_seconds or self.sync_period_seconds

    def run_pass(self, wait_all: bool = False) -> list[PassResult]:
        now = round(self.clock.now(), 6)
        current = list(self.specs())
        keys = {m.key for m in current}
        for gone in set(self.next_due) - keys:
            self.next_due.pop(gone, None)
            self.eligible.pop(gone, None)
            self.parked.pop(gone, None)
            self.reconciler.forget(gone)
        self.reconciler.recorder.duplicates = duplicate_targets(current)
        # Series of autoscalers gone (deleted, or no longer this process's) go too.
        self.metrics.retain((m.namespace, m.name) for m in current)
        self.metrics.managed.set(len(current))
        results = self._collect()
        due = [m for m in current if m.key not in self._in_flight and self._due(m, now)]
        self.metrics.invalid.set(sum(1 for m in current if m.spec is None))
        if not due:
            return results
        metrics = self.metrics_pass()
        pool = self._workers()
        for managed in due:
            self._in_flight[managed.key] = (managed, now, pool.submit(self._one, managed,
                                                                       metrics, now))
        futures = [f for _, _, f in self._in_flight.values()]
        deadline = None if wait_all else (self.pass_deadline_seconds or self.sync_period_seconds)
        wait(futures, timeout=deadline)
        fresh = self._collect()
        for key, (_, _, future) in self._in_flight.items():
            log.warning("reconcile still running at the pass deadline; the pass goes on",
                        autoscaler=key, deadline_seconds=deadline)
            future.add_done_callback(lambda _: self.wake())  # collect it when it ends
        self._reachability(fresh)
        self.metrics.passes.inc()
        self.last_pass = now
        return [*results, *fresh]

    def _workers(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=max(1, self.workers),
                                            thread_name_prefix="reconcile")
        return self._pool

    def _collect(self) -> list[PassResult]:
        """Results of finished reconciles (this pass's or late ones), scheduled."""
        done = []
        for key, (managed, started, future) in list(self._in_flight.items()):
            if future.done():
                del self._in_flight[key]
                result = future.result()
                self._schedule(managed, result, started)
                done.append(result)
        return done

    def _reachability(self, results: list[PassResult]) -> None:
        if not results:
            return
        self.last_failure = next((r.failure for r in results if r.failure is not None), None)
        # Unreachable: every reconcile failed without an HTTP answer (refused, dropped,
        # timed out). A 5xx or 403 is an answer: the server is there.
        self.api_reachable = any(not isinstance(r.failure, TransientError)
                                 or r.failure.status is not None for r in results)

    def close(self, timeout_seconds: float = 10.0) -> None:
        """Stop the workers: reconciles in flight get `timeout_seconds` to finish."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        pool.shutdown(wait=False, cancel_futures=True)
        futures = [f for _, _, f in self._in_flight.values()]
        if futures:
            wait(futures, timeout=timeout_seconds)

    def _due(self, managed: ManagedSpec, now: float) -> bool:
        backoff = self.parked.get(managed.key)
        if backoff is not None and backoff.generation != managed.generation:
            self.parked.pop(managed.key)  # the spec changed: try it at once
            return True
        return self.eligible.get(managed.key, now) <= now

    def _schedule(self, managed: ManagedSpec, result: PassResult, now: float) -> None:
        failure = result.failure
        backoff = self.parked.get(managed.key)
        if isinstance(failure, PermanentError):
            failures = backoff.failures + 1 if backoff is not None else 1
            backoff = self.parked[managed.key] = Backoff(failures, managed.generation)
            log.warning("parked", autoscaler=managed.key, failures=failures,
                        retry_in_seconds=next_delay(self.period(managed), failure, backoff),
                        error=str(failure))
        elif backoff is not None:
            self.parked.pop(managed.key)
            backoff = None
            log.info("unparked", autoscaler=managed.key)
        self.metrics.parked.set(len(self.parked))
        period = self.period(managed)
        eligible = self.eligible[managed.key] = now + next_delay(period, failure, backoff)
        self.next_due[managed.key] = eligible + jitter_seconds(managed.key, period)

    def _one(self, managed: ManagedSpec, metrics: ResourceMetrics, now: float) -> PassResult:
        started = time.perf_counter()
        try:
            result = self.reconciler.reconcile(managed, metrics, now)
        except Exception as exc:  # a bug: report it whole, keep the other autoscalers going
            log.exception("reconcile crashed", autoscaler=managed.key,
                          error=f"{type(exc).__name__}: {exc}")
            failure = PermanentError(f"reconcile crashed: {type(exc).__name__}: {exc}")
            self.metrics.error(managed.namespace, managed.name, "reconcile", failure)
            self.reconciler.remember(managed.key).healthy = False
            return PassResult(managed.key, failure=failure, errors=(str(exc),))
        finally:
            self.metrics.reconcile_seconds.observe(time.perf_counter() - started)
        # Failures were counted where they happened (by operation); here the outcome.
        self.metrics.record(managed, result.plan, result.outcome, result.state)
        return result

    def seconds_to_next(self) -> float:
        """Until the earliest key not in flight forces a pass (a late reconcile wakes the
        loop when it ends); the sync period when there is none (wake() cuts it short)."""
        due = [t for key, t in self.next_due.items() if key not in self._in_flight]
        if not due:
            return self.sync_period_seconds
        return max(0.0, min(due) - self.clock.now())

    def wake(self) -> None:
        """Run a pass now rather than at the next due autoscaler: the set of autoscalers or
        their ownership changed. Thread-safe; a wake during a pass brings another pass."""
        self._alarm.set()

    def run(self, once: bool = False) -> None:
        if not once:
            # `stop` ends the sleep too, whoever sets it (a signal handler, a test).
            threading.Thread(target=self._wake_on_stop, name="loop-stop", daemon=True).start()
        while not self.stop.is_set():
            self._alarm.clear()  # before the pass reads the specs: no wake is lost
            self.run_pass(wait_all=once)
            if once:
                return
            # A real clock sleeps until the next due autoscaler, wake() or stop; time as
            # data (FakeClock, FileClock) moves only as the test says and ignores wakes.
            if self.clock.wait(max(MIN_SLEEP_SECONDS, self.seconds_to_next()), self.stop,
                               self._alarm):
                return

    def _wake_on_stop(self) -> None:
        self.stop.wait()
        self._alarm.set()
