"""The edge agent's upkeep of its journal, once per pass, never fatal.

Each pass: repair (quarantine invalid lines, cut a torn tail), compact when the journal has
grown, refresh the gauges. Whatever fails (ENOSPC, EIO, the lock busy) is logged and
counted, and tried again next pass: a damaged or full journal must not stop the node from
scaling. Repairs are reported by log, by counter and, best effort, by a Warning Event on the
node (the MetaServer refuses it while offline: the log and the counter remain).

Metrics (the daemon's conventions, `autoscaler.control.server` and `.metric_labels`):
`autoscaler_edge_journal_pending_decisions` (targets whose latest journaled decision is not
yet written: the backlog), `autoscaler_edge_journal_entries` (decisions in the file),
`autoscaler_edge_journal_quarantined_lines_total`, and
`autoscaler_edge_journal_errors_total{operation, error_class}` (upkeep that failed: read,
compact, crash; the class of the project's error tree).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge

from autoscaler.control.metric_labels import error_class
from autoscaler.edge.journal import Journal, Repair, Scan
from autoscaler.errors import AutoscalerError, PermanentError
from autoscaler.kube.writer import EventTarget

log = structlog.get_logger("autoscaler.edge.journal")

QUARANTINE_REASON = "JournalLinesQuarantined"


class EventSink(Protocol):
    def record(self, target: EventTarget, event_type: str, reason: str, message: str,
               now: float) -> None: ...


@dataclass
class JournalMetrics:
    registry: CollectorRegistry
    pending: Gauge = field(init=False)
    entries: Gauge = field(init=False)
    quarantined: Counter = field(init=False)
    errors: Counter = field(init=False)

    def __post_init__(self) -> None:
        self.pending = Gauge("autoscaler_edge_journal_pending_decisions",
                             "Targets whose latest journaled decision is not yet written "
                             "(the node was offline): the backlog",
                             registry=self.registry)
        self.entries = Gauge("autoscaler_edge_journal_entries",
                             "Decisions in the journal (written or not)",
                             registry=self.registry)
        self.quarantined = Counter("autoscaler_edge_journal_quarantined_lines",
                                   "Invalid journal lines moved to the quarantine file",
                                   registry=self.registry)
        self.errors = Counter("autoscaler_edge_journal_errors",
                              "Journal upkeep that failed and will be retried next pass, by "
                              "operation and class of the project's error tree",
                              ["operation", "error_class"], registry=self.registry)


@dataclass
class JournalMonitor:
    journal: Journal
    metrics: JournalMetrics
    node: str
    now: Callable[[], float]
    events: EventSink | None = None
    compact_after_lines: int = 1000
    # Lines right after the last compaction (0 again after a restart: compacts once more).
    _compacted_to: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.journal.on_repair = self.repaired

    def begin_pass(self) -> None:
        """Never raises: the loop calls it outside its per-autoscaler error handling."""
        try:
            self._upkeep()
        except AutoscalerError as exc:
            self._failed("read", exc)
        except Exception as exc:  # a bug: report it whole, like the loop's crashed reconcile
            log.exception("journal upkeep crashed", error=f"{type(exc).__name__}: {exc}")
            # Like the loop's crashed reconcile: a bug counts as a permanent failure.
            self.metrics.errors.labels(operation="crash",
                                       error_class=PermanentError.__name__).inc()

    def _upkeep(self) -> None:
        self.journal.repair()
        state = self.journal.read()
        # Twice what the last compaction kept: more targets than the threshold must not
        # make every pass rewrite the file.
        if state.lines > max(self.compact_after_lines, 2 * self._compacted_to):
            try:
                self._compacted_to = self.journal.compact()
                state = self.journal.read()
            except AutoscalerError as exc:
                self._failed("compact", exc)
        self._gauges(state)

    def repaired(self, repair: Repair) -> None:
        self.metrics.quarantined.inc(repair.quarantined)
        if not repair.bad_lines:  # a torn tail: what a crash leaves, nothing to alert on
            log.info("journal torn tail cut", detail=repair.describe())
            return
        log.warning("journal lines quarantined", detail=repair.describe(),
                    quarantine=str(repair.quarantine), lines=repair.bad_lines,
                    error=repair.error or None)
        self._event(repair.describe()[:1000])

    def _gauges(self, state: Scan) -> None:
        latest = {e.key: e for e in state.entries}
        self.metrics.pending.set(sum(1 for e in latest.values() if not e.applied))
        self.metrics.entries.set(len(state.entries))

    def _failed(self, operation: str, exc: AutoscalerError) -> None:
        self.metrics.errors.labels(operation=operation, error_class=error_class(exc)).inc()
        log.warning("journal upkeep failed; retrying next pass", operation=operation,
                    error=str(exc))

    def _event(self, message: str) -> None:
        if self.events is None:
            return
        # kubelet's convention for Node events: namespace "default", uid = the node name.
        target = EventTarget(key=f"Node/{self.node}", namespace="default", name=self.node,
                             kind="Node", api_version="v1", uid=self.node)
        try:
            self.events.record(target, "Warning", QUARANTINE_REASON, message, self.now())
        except AutoscalerError as exc:
            log.info("journal event not recorded", error=str(exc))
