"""The daemon's HTTP side: Prometheus `/metrics`, `/healthz` (alive) and `/readyz` (caches
synced and a pass completed recently), and the metrics themselves.

Conventions (https://prometheus.io/docs/practices/naming/): base units in the names
(`_seconds`, `_ratio`), counters end in `_total`, `autoscaler_build_info` is 1; label values
come from `autoscaler.control.metric_labels`. Every
per-autoscaler series carries `namespace` and `name` and is removed when the autoscaler
goes away (spec deleted, or no longer managed by this process: `retain`). Label values are
bounded: condition reasons are upstream's fixed set (anything else is "Other"), error classes
are the project's error tree (`autoscaler/errors.py`), operations a fixed list.

Per autoscaler (labels `namespace`, `name`, plus those in brackets):
* `autoscaler_desired_replicas`, `autoscaler_current_replicas`: status.desiredReplicas and
  currentReplicas; `autoscaler_min_replicas`, `autoscaler_max_replicas`: the spec's bounds.
* `autoscaler_metric_current_value`, `autoscaler_metric_target_value` [metric_type,
  metric_name, target_type]: Value and AverageValue targets in the metric's base unit
  (cores, bytes, ...); `autoscaler_metric_current_utilization_ratio`,
  `autoscaler_metric_target_utilization_ratio` [same]: Utilization targets, 0.5 = 50 % of
  the request. What `kubectl get hpa` TARGETS shows; no current value while the metric
  is unavailable (kubectl: <unknown>).
* `autoscaler_condition` [type, status]: 1 for the condition's status (true, false,
  unknown), 0 for the other two, like kube-state-metrics'
  `kube_horizontalpodautoscaler_status_condition`; `autoscaler_condition_reason`
  [type, reason]: 1 for the current reason.
* `autoscaler_rescales_total` [direction, reason]: scale writes attempted (up or down; the
  AbleToScale reason after them: SucceededRescale, FailedUpdateScale, DryRun).
* `autoscaler_errors_total` [operation, error_class]: failures by operation (OPERATIONS)
  and class of the error tree.
* `autoscaler_writer_lease_held`, `autoscaler_writer_lease_transitions_total` [transition]:
  the target's writer Lease as this process holds it (`--writer-leases`, the edge agent).

Per shard (`--shards`, label `shard`): `autoscaler_shard_owned` (1 while this replica holds
the shard's Lease), `autoscaler_shard_managed_autoscalers` (the held shards' autoscalers);
`autoscaler_shard_members` (live replicas seen), `autoscaler_shard_transitions_total`
[transition: acquired, released, lost].

Per process: `autoscaler_reconcile_duration_seconds` (histogram), `autoscaler_passes_total`,
`autoscaler_managed_autoscalers`, `autoscaler_parked_autoscalers`,
`autoscaler_invalid_specs`, `autoscaler_build_info{version, python}` (1); the edge agent
adds its journal's (`autoscaler.edge.journal_monitor`).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import platform
import threading
from collections.abc import Callable, Iterable, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from algorithms.plan import NotAttempted, Outcome, Plan
from algorithms.state import ControllerState
from algorithms.status import ABLE_TO_SCALE
from autoscaler.control.metric_labels import (
    CONDITION_STATUSES,
    Key,
    Labels,
    bounded_reason,
    error_class,
    metric_values,
    unavailable_class,
)
from autoscaler.errors import (
    AutoscalerError,
)
from autoscaler.specs.model import ManagedSpec


def _version() -> str:
    try:
        return importlib.metadata.version("edge-autoscaler")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


class DaemonMetrics:
    """The process's metrics. Thread-safe: workers record their autoscalers concurrently."""

    def __init__(self) -> None:
        registry = self.registry = CollectorRegistry()
        key = ("namespace", "name")
        per_metric = (*key, "metric_type", "metric_name", "target_type")
        self.desired = Gauge("autoscaler_desired_replicas",
                             "Replicas the autoscaler wants (status.desiredReplicas)", key,
                             registry=registry)
        self.current = Gauge("autoscaler_current_replicas",
                             "Replicas of the scale target when last read "
                             "(status.currentReplicas)", key, registry=registry)
        self.min = Gauge("autoscaler_min_replicas", "spec.minReplicas", key,
                         registry=registry)
        self.max = Gauge("autoscaler_max_replicas", "spec.maxReplicas", key,
                         registry=registry)
        self.metric_current = Gauge(
            "autoscaler_metric_current_value",
            "Current value of a Value or AverageValue metric, in its base unit (cores, "
            "bytes, ...); absent while the metric is unavailable", per_metric,
            registry=registry)
        self.metric_target = Gauge(
            "autoscaler_metric_target_value",
            "Target of a Value or AverageValue metric, in its base unit", per_metric,
            registry=registry)
        self.utilization_current = Gauge(
            "autoscaler_metric_current_utilization_ratio",
            "Current average utilization of a Utilization metric (0.5 = 50 % of the "
            "request); absent while the metric is unavailable", per_metric,
            registry=registry)
        self.utilization_target = Gauge(
            "autoscaler_metric_target_utilization_ratio",
            "Target average utilization of a Utilization metric (0.5 = 50 % of the request)",
            per_metric, registry=registry)
        self.condition = Gauge(
            "autoscaler_condition",
            "1 for the condition's status (true, false, unknown), 0 for the others",
            (*key, "type", "status"), registry=registry)
        self.condition_reason = Gauge(
            "autoscaler_condition_reason",
            "1 for the condition's current reason (upstream's reasons; others are Other)",
            (*key, "type", "reason"), registry=registry)
        self.rescales = Counter(
            "autoscaler_rescales",
            "Scale writes attempted, by direction and the AbleToScale reason after them "
            "(SucceededRescale, FailedUpdateScale, DryRun)",
            (*key, "direction", "reason"), registry=registry)
        self.errors = Counter(
            "autoscaler_errors",
            "Failures by operation and class of the project's error tree",
            (*key, "operation", "error_class"), registry=registry)
        self.lease_held = Gauge(
            "autoscaler_writer_lease_held",
            "1 while this process holds the target's writer Lease (--writer-leases, edge)",
            key, registry=registry)
        self.lease_transitions = Counter(
            "autoscaler_writer_lease_transitions",
            "Writer Lease acquired or released by this process", (*key, "transition"),
            registry=registry)
        self.reconcile_seconds = Histogram(
            "autoscaler_reconcile_duration_seconds", "One autoscaler's pass",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=registry)
        self.passes = Counter("autoscaler_passes", "Controller passes", registry=registry)
        self.managed = Gauge("autoscaler_managed_autoscalers",
                             "Autoscalers this process manages (invalid ones included)",
                             registry=registry)
        self.parked = Gauge("autoscaler_parked_autoscalers",
                            "Autoscalers backing off after permanent failures",
                            registry=registry)
        self.invalid = Gauge("autoscaler_invalid_specs", "Specs rejected by validation",
                             registry=registry)
        self.shard_owned = Gauge(
            "autoscaler_shard_owned",
            "1 while this replica holds the shard's Lease, 0 otherwise (--shards)", ("shard",),
            registry=registry)
        self.shard_autoscalers = Gauge(
            "autoscaler_shard_managed_autoscalers",
            "Autoscalers of each shard this replica holds (--shards)", ("shard",),
            registry=registry)
        self.shard_members = Gauge(
            "autoscaler_shard_members",
            "Replicas this one sees live, itself included (--shards)", registry=registry)
        self.shard_transitions = Counter(
            "autoscaler_shard_transitions",
            "Shard Leases acquired, released, or lost to another replica (--shards)",
            ("transition",), registry=registry)
        Info("autoscaler_build", "The running build", registry=registry).info(
            {"version": _version(), "python": platform.python_version()})
        self._lock = threading.Lock()
        # Every labelled child per autoscaler, so that it can be removed.
        self._series: dict[Key, dict[Any, set[Labels]]] = {}

    # --- per autoscaler ------------------------------------------------------------------

    def record(self, managed: ManagedSpec, plan: Plan | None, outcome: Outcome | None,
               state: ControllerState | None) -> None:
        """After one pass: replicas, metric values and conditions from the status (as
        `kubectl get hpa` shows them), and the rescale if one was attempted."""
        if state is None:
            return
        key = (managed.namespace, managed.name)
        status, spec = state.status, managed.spec
        conditions: dict[Labels, float] = {}
        reasons: dict[Labels, float] = {}
        for condition in status.conditions:
            state_label = condition.status.lower()
            for value in CONDITION_STATUSES:
                conditions[(condition.type, value)] = float(value == state_label)
            reasons[(condition.type, bounded_reason(condition.reason))] = 1.0
        values: tuple[dict[Labels, float], ...] = ({}, {}, {}, {})
        bounds: dict[Labels, float] = {}
        if spec is not None:
            values = metric_values(spec, status)
            bounds = {(): float(spec.min_replicas if spec.min_replicas is not None else 1)}
        with self._lock:
            self._replace(self.desired, key, {(): status.desired_replicas})
            self._replace(self.current, key, {(): status.current_replicas})
            self._replace(self.min, key, bounds)
            self._replace(self.max, key, {(): spec.max_replicas} if spec is not None else {})
            for family, series in zip((self.metric_current, self.metric_target,
                                       self.utilization_current, self.utilization_target),
                                      values, strict=True):
                self._replace(family, key, series)
            self._replace(self.condition, key, conditions)
            self._replace(self.condition_reason, key, reasons)
            if plan is not None and plan.rescale and outcome is not None \
                    and not isinstance(outcome, NotAttempted):
                up = plan.current_replicas is None or plan.target_replicas > \
                    plan.current_replicas
                able = status.condition(ABLE_TO_SCALE)
                reason = bounded_reason(able.reason if able is not None else "")
                self._child(self.rescales, key, ("up" if up else "down", reason)).inc()

    def error(self, namespace: str, name: str, operation: str,
              error: BaseException | str) -> None:
        """One failure of `operation` (OPERATIONS); a string is a metric's
        `MetricUnavailable` message (see `unavailable_class`)."""
        cls = unavailable_class(operation, error) if isinstance(error, str) \
            else error_class(error)
        with self._lock:
            self._child(self.errors, (namespace, name), (operation, cls)).inc()

    def lease(self, namespace: str, name: str, kind: str, held: bool,
              failure: AutoscalerError | None) -> None:
        """One step of the target's writer Lease (`WriterGate.step`'s answer)."""
        key = (namespace, name)
        with self._lock:
            self._replace(self.lease_held, key, {(): float(held)})
            if kind in ("acquire", "release"):
                transition = "acquired" if kind == "acquire" else "released"
                self._child(self.lease_transitions, key, (transition,)).inc()
            if failure is not None:
                self._child(self.errors, key, ("lease", error_class(failure))).inc()

    def shards(self, owned: Iterable[int], members: int, autoscalers: Mapping[int, int],
               shard_count: int) -> None:
        """After a shard step or pass: every shard's ownership, the owned ones' sizes."""
        held = set(owned)
        with self._lock:
            for shard in range(shard_count):
                label = f"{shard:02d}"
                self.shard_owned.labels(label).set(float(shard in held))
                if shard in held:
                    self.shard_autoscalers.labels(label).set(autoscalers.get(shard, 0))
                else:
                    with contextlib.suppress(KeyError):  # not held before either
                        self.shard_autoscalers.remove(label)
            self.shard_members.set(members)

    def shard_transition(self, transition: str) -> None:
        self.shard_transitions.labels(transition).inc()

    def retain(self, present: Iterable[Key]) -> None:
        """Remove every series of the autoscalers not in `present` (deleted, or no longer
        managed here). Called every pass, so a reconcile that finished after its spec went
        away leaves its series for one pass at most."""
        keep = set(present)
        with self._lock:
            for key in [k for k in self._series if k not in keep]:
                for family, children in self._series.pop(key).items():
                    for labels in children:
                        family.remove(*key, *labels)

    def _child(self, family: Any, key: Key, labels: Labels) -> Any:
        self._series.setdefault(key, {}).setdefault(family, set()).add(labels)
        return family.labels(*key, *labels)

    def _replace(self, family: Any, key: Key, values: Mapping[Labels, float]) -> None:
        """The autoscaler's children of `family` become exactly `values`."""
        known = self._series.setdefault(key, {}).setdefault(family, set())
        for labels in known - set(values):
            family.remove(*key, *labels)
        known.intersection_update(values)
        for labels, value in values.items():
            self._child(family, key, labels).set(value)


MAX_CONNECTIONS = 16
READ_TIMEOUT_SECONDS = 5.0


class BoundedServer(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS handled at once (more are closed at once: probes and scrapes
    retry), each with a read timeout, so idle or slow clients cannot pin threads."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]
                 ) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def serve(address: str, metrics: DaemonMetrics, ready: Callable[[], bool]
          ) -> ThreadingHTTPServer:
    """Start serving on `host:port` (":8080" = all interfaces) in a daemon thread."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT_SECONDS  # the socket's: a silent client is dropped
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif self.path == "/readyz":
                ok = ready()
                self._send(200 if ok else 503, b"ok\n" if ok else b"not ready\n",
                           "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would drown the decision log

    server = BoundedServer((host or "0.0.0.0", int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    return server
