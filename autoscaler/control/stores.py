"""Where an autoscaler's controller state lives between passes and across restarts.

Each spec source owns its state's home, behind one small interface: an ElasticAutoscaler
keeps it in its own status (what `kubectl describe` shows), YAML-file and Sedna autoscalers
in a Lease annotation. When to save is decided by `algorithms.state.needs_save` (plus, for
a status users read, upstream's rule: write whenever the status differs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from algorithms.state import ControllerState, needs_save
from autoscaler.errors import InputError
from autoscaler.rfc3339 import format_time
from autoscaler.specs.model import ManagedSpec
from autoscaler.state_codec import history_to_dict, state_from_document, state_to_document
from autoscaler.status_codec import status_to_dict

# Merge patches keep what they do not mention: optional fields are sent as null to clear.
_CLEARABLE = ("observedGeneration", "lastScaleTime", "currentMetrics", "conditions")


class StateStore(Protocol):
    def owns(self, managed: ManagedSpec, now: float) -> bool: ...

    def load(self, managed: ManagedSpec) -> ControllerState | None: ...

    def save(self, managed: ManagedSpec, state: ControllerState,
             report: dict[str, Any]) -> None: ...

    def must_save(self, saved: ControllerState | None, state: ControllerState) -> bool: ...


class StatusPatcher(Protocol):
    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None: ...


class Annotations(Protocol):
    def load(self, key: str) -> Any: ...

    def save(self, key: str, document: Any) -> None: ...


def status_body(state: ControllerState, report: dict[str, Any]) -> dict[str, Any]:
    """The ElasticAutoscaler status: upstream's HPA status fields, the history, and the
    report (reference, targets, explanation)."""
    body: dict[str, Any] = dict.fromkeys(_CLEARABLE)
    body.update(status_to_dict(state.status, format_time))
    body.update(report)
    body["history"] = history_to_dict(state)
    return body


@dataclass
class StatusStore:
    """ElasticAutoscaler: the state is the CR's status, read from the watch cache."""

    writer: StatusPatcher

    def owns(self, managed: ManagedSpec, now: float) -> bool:
        return True

    def load(self, managed: ManagedSpec) -> ControllerState | None:
        if managed.state_error:
            raise InputError(f"{managed.origin}: persisted state unusable: "
                             f"{managed.state_error}")
        return managed.state

    def save(self, managed: ManagedSpec, state: ControllerState,
             report: dict[str, Any]) -> None:
        self.writer.patch_status(managed.namespace, managed.name, status_body(state, report))

    def must_save(self, saved: ControllerState | None, state: ControllerState) -> bool:
        # Users read this status: like upstream, write whenever it differs.
        return saved is None or state.status != saved.status or needs_save(saved, state)


@dataclass
class LeaseStateStore:
    """YAML-file and Sedna autoscalers: the state in a Lease annotation per autoscaler."""

    annotations: Annotations

    def owns(self, managed: ManagedSpec, now: float) -> bool:
        return True

    def load(self, managed: ManagedSpec) -> ControllerState | None:
        document = self.annotations.load(managed.key)
        return None if document is None else state_from_document(document)

    def save(self, managed: ManagedSpec, state: ControllerState,
             report: dict[str, Any]) -> None:
        self.annotations.save(managed.key, state_to_document(state))

    def must_save(self, saved: ControllerState | None, state: ControllerState) -> bool:
        return needs_save(saved, state)
