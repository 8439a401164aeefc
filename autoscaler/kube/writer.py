"""Writes other than the scale: the ElasticAutoscaler status and Kubernetes Events.

Status goes through the status subresource as a JSON merge patch (only our fields).
Events follow upstream's reasons and messages (`SuccessfulRescale`: "New size: 4; reason:
cpu resource utilization (percentage of request) above target") and, like client-go's
recorder, a repeat of the same event within 10 minutes bumps the count instead of
creating a new object.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client

from autoscaler.errors import boundary
from autoscaler.kube.core import CoreApi
from autoscaler.rfc3339 import format_time

COMPONENT = "edge-autoscaler"
DEDUP_SECONDS = 600.0
SEEN_LIMIT = 1000
MERGE_PATCH = "application/merge-patch+json"


class StatusWriter:
    """The status subresource of one custom resource kind, as JSON merge patches."""

    def __init__(self, api_client: client.ApiClient, group: str, version: str, plural: str,
                 kind: str, timeout_seconds: float = 10.0) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.group, self.version, self.plural, self.kind = group, version, plural, kind
        self.timeout = timeout_seconds

    def patch_status(self, namespace: str, name: str, status: dict[str, Any]) -> None:
        with boundary(f"update status of {self.kind} {namespace}/{name}"):
            self.custom.patch_namespaced_custom_object_status(
                self.group, self.version, namespace, self.plural, name, {"status": status},
                _content_type=MERGE_PATCH, _request_timeout=self.timeout)


@dataclass(frozen=True)
class EventTarget:
    """The object an Event is about (`involvedObject`) and the key deduplication uses."""

    key: str
    namespace: str
    name: str
    kind: str
    api_version: str
    uid: str = ""

    def involved(self) -> dict[str, Any]:
        out = {"apiVersion": self.api_version, "kind": self.kind, "name": self.name,
               "namespace": self.namespace}
        if self.uid:
            out["uid"] = self.uid
        return out


@dataclass
class _Seen:
    name: str
    count: int
    first: float
    last: float


class EventRecorder:
    def __init__(self, api_client: client.ApiClient, timeout_seconds: float = 10.0) -> None:
        self.core = CoreApi(api_client)  # not CoreV1Api: see autoscaler.kube.core
        self.timeout = timeout_seconds
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}

    def record(self, target: EventTarget, event_type: str, reason: str, message: str,
               now: float) -> None:
        key = (target.key, event_type, reason, message)
        seen = self._seen.get(key)
        with boundary(f"record event {reason} for {target.key}"):
            if seen is not None and now - seen.last < DEDUP_SECONDS:
                seen.count += 1
                seen.last = now
                self.core.patch_namespaced_event(
                    seen.name, target.namespace,
                    {"count": seen.count, "lastTimestamp": format_time(now)},
                    _content_type=MERGE_PATCH, _request_timeout=self.timeout)
                return
            body: Any = {"apiVersion": "v1", "kind": "Event",
                    "metadata": {"generateName": f"{target.name}.", "namespace":
                                 target.namespace},
                    "involvedObject": target.involved(), "reason": reason, "message": message,
                    "type": event_type, "source": {"component": COMPONENT}, "count": 1,
                    "firstTimestamp": format_time(now), "lastTimestamp": format_time(now),
                    "reportingComponent": COMPONENT}
            created = self.core.create_namespaced_event(
                target.namespace, body, _request_timeout=self.timeout)
            self._forget_old(now)
            self._seen[key] = _Seen(str(created["metadata"]["name"]), 1, now, now)

    def _forget_old(self, now: float) -> None:
        """Entries past the dedup window can never be bumped again: keep memory bounded."""
        if len(self._seen) >= SEEN_LIMIT:
            for key in [k for k, v in self._seen.items() if now - v.last >= DEDUP_SECONDS]:
                del self._seen[key]
