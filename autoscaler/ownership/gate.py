"""Writes behind the writer Lease: only the target's writer (the cloud daemon or one edge
agent, `autoscaler.ownership.rules`) writes its scale, its state and its Events.

`WriterGate` steps one `LeaseKeeper` per target once per pass. The wrappers consult it:
not the writer -> `StandbyError` (scale) or silence (state, Events); the writer but unable
to renew (the API refuses writes: the MetaServer while the cloud link is down) ->
`TransientError`, after `on_offline` kept the wish (the edge agent's journal).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Protocol

from algorithms.state import ControllerState
from autoscaler.errors import AutoscalerError, StandbyError, TransientError
from autoscaler.kube.scale import ScaleRead
from autoscaler.kube.writer import EventTarget
from autoscaler.ownership.lease import LeaseClient, LeaseKeeper
from autoscaler.ownership.rules import Candidate


def target_key(namespace: str, ref: Any) -> str:
    return f"{namespace}/{ref.kind}/{ref.name}"


def lease_name(key: str) -> str:
    return f"eas-writer-{hashlib.sha256(key.encode()).hexdigest()[:16]}"


@dataclass
class WriterGate:
    """One LeaseKeeper per target, stepped once per pass."""

    make_client: Callable[[str], LeaseClient]
    candidate: Candidate
    keepers: dict[str, LeaseKeeper] = field(default_factory=dict)
    # Targets whose last Lease step failed transiently: the API is unreachable or refuses
    # writes (MetaServer offline), so nobody can prove ownership now.
    offline: dict[str, str] = field(default_factory=dict)
    # The error of each target's last Lease step that failed (for /metrics).
    failures: dict[str, AutoscalerError] = field(default_factory=dict)

    def step(self, key: str, now: float, healthy: bool) -> str:
        keeper = self.keepers.get(key)
        if keeper is None:
            keeper = LeaseKeeper(self.make_client(lease_name(key)), self.candidate)
            self.keepers[key] = keeper
        try:
            kind = keeper.step(now, healthy).kind
        except TransientError as exc:
            self.offline[key] = str(exc)
            self.failures[key] = exc
            return f"offline: {exc}"  # the grant runs out by itself at the renew deadline
        except AutoscalerError as exc:
            self.offline.pop(key, None)
            self.failures[key] = exc
            return f"error: {exc}"
        self.offline.pop(key, None)
        self.failures.pop(key, None)
        return kind

    def may_write(self, key: str, now: float) -> bool:
        keeper = self.keepers.get(key)
        return keeper is not None and keeper.may_write(now)

    def writing(self, key: str, now: float) -> AbstractContextManager[bool]:
        return nullcontext(self.may_write(key, now))


class Gate(Protocol):
    """Who may write for a target key: a `WriterGate` (per-target writer Leases, with the
    edge agents) or a `ShardCoordinator` (which replica owns the target's shard). The
    wrappers below stack: each checks its own gate."""

    @property
    def offline(self) -> Mapping[str, str]: ...

    def may_write(self, key: str, now: float) -> bool: ...

    def writing(self, key: str, now: float) -> AbstractContextManager[bool]:
        """Admit one write: True if it may go, held until the write is answered."""
        ...


class ScaleApi(Protocol):
    def get(self, namespace: str, ref: Any) -> ScaleRead: ...

    def update(self, namespace: str, ref: Any, read: ScaleRead, replicas: int) -> ScaleRead: ...


# (target key, now, scale read, wanted replicas, why it was not written) -> None
OfflineHook = Callable[[str, float, ScaleRead, int, str], None]
WrittenHook = Callable[[str, float, int], None]


@dataclass
class GatedScale:
    """`gate=None`: no ownership check, only the hooks (a single writer that journals)."""

    inner: ScaleApi
    gate: Gate | None
    now: Callable[[], float]
    on_offline: OfflineHook | None = None
    on_written: WrittenHook | None = None
    standby: str = "another controller holds the writer Lease"

    def get(self, namespace: str, ref: Any) -> ScaleRead:
        return self.inner.get(namespace, ref)

    def update(self, namespace: str, ref: Any, read: ScaleRead, replicas: int) -> ScaleRead:
        key = target_key(namespace, ref)
        now = self.now()
        if self.gate is None:
            return self._write(key, now, namespace, ref, read, replicas)
        with self.gate.writing(key, now) as allowed:
            if allowed:
                return self._write(key, now, namespace, ref, read, replicas)
            reason = self.gate.offline.get(key)
            if reason is None:
                raise StandbyError(f"{key}: {self.standby}")
            # Ownership cannot be renewed, so nothing is written; the wish is kept.
            if self.on_offline is not None:
                self.on_offline(key, now, read, replicas, f"offline: {reason}")
            raise TransientError(f"{key}: offline ({reason}); not written")

    def _write(self, key: str, now: float, namespace: str, ref: Any, read: ScaleRead,
               replicas: int) -> ScaleRead:
        try:
            written = self.inner.update(namespace, ref, read, replicas)
        except TransientError as exc:
            if self.on_offline is not None:
                self.on_offline(key, now, read, replicas, f"write refused: {exc}")
            raise
        if self.on_written is not None:
            self.on_written(key, now, replicas)
        return written


class StateSaver(Protocol):
    def owns(self, managed: Any, now: float) -> bool: ...

    def load(self, managed: Any) -> ControllerState | None: ...

    def save(self, managed: Any, state: ControllerState, report: dict[str, Any]) -> None: ...

    def must_save(self, saved: ControllerState | None, state: ControllerState) -> bool: ...


@dataclass
class GatedStore:
    """State saved only by the target's writer. A standby does not own the state: the
    reconciler reloads the writer's state every pass, so a takeover continues from the
    writer's windows and policy budgets, not from the standby's own unacted memory."""

    inner: StateSaver
    gate: Gate
    now: Callable[[], float]

    def owns(self, managed: Any, now: float) -> bool:
        key = _target(managed)
        return key is None or self.gate.may_write(key, now)

    def load(self, managed: Any) -> ControllerState | None:
        return self.inner.load(managed)

    def save(self, managed: Any, state: ControllerState, report: dict[str, Any]) -> None:
        key = _target(managed)
        if key is None:  # an invalid spec: no target, no writer to ask
            self.inner.save(managed, state, report)
            return
        with self.gate.writing(key, self.now()) as allowed:
            if allowed:
                self.inner.save(managed, state, report)

    def must_save(self, saved: ControllerState | None, state: ControllerState) -> bool:
        return self.inner.must_save(saved, state)


def _target(managed: Any) -> str | None:
    spec = managed.spec
    return None if spec is None else target_key(managed.namespace, spec.scale_target_ref)


class EventSink(Protocol):
    def record(self, target: EventTarget, event_type: str, reason: str, message: str,
               now: float) -> None: ...


@dataclass
class GatedEvents:
    """Events only from the target's writer: a standby reports nothing."""

    inner: EventSink
    gate: Gate
    owners: Callable[[str], str]  # event key (autoscaler key) -> target key, "" if unknown

    def record(self, target: EventTarget, event_type: str, reason: str, message: str,
               now: float) -> None:
        key = self.owners(target.key)
        if not key:
            self.inner.record(target, event_type, reason, message, now)
            return
        with self.gate.writing(key, now) as allowed:
            if allowed:
                self.inner.record(target, event_type, reason, message, now)
