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
from kubernetes.client.exceptions import ApiException

from autoscaler.errors import classify
from autoscaler.kube.convert import format_time
from autoscaler.specs.model import CRD, ManagedSpec
from autoscaler.specs.sources import GROUP, KIND, PLURAL, VERSION

COMPONENT = "edge-autoscaler"
DEDUP_SECONDS = 600.0
MERGE_PATCH = "application/merge-patch+json"


class StatusWriter:
    def __init__(self, api_client: client.ApiClient, timeout_seconds: float = 10.0) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.timeout = timeout_seconds

    def patch_status(self, managed: ManagedSpec, status: dict[str, Any]) -> None:
        what = f"update status of {KIND} {managed.namespace}/{managed.name}"
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP, VERSION, managed.namespace, PLURAL, managed.name, {"status": status},
                _content_type=MERGE_PATCH, _request_timeout=self.timeout)
        except (ApiException, OSError) as exc:
            raise classify(exc, what) from exc


@dataclass
class _Seen:
    name: str
    count: int
    first: float
    last: float


class EventRecorder:
    def __init__(self, api_client: client.ApiClient, timeout_seconds: float = 10.0) -> None:
        self.core = client.CoreV1Api(api_client)
        self.timeout = timeout_seconds
        self._seen: dict[tuple[str, str, str, str], _Seen] = {}

    def record(self, managed: ManagedSpec, event_type: str, reason: str, message: str,
               now: float) -> None:
        involved = _involved(managed)
        key = (managed.key, event_type, reason, message)
        seen = self._seen.get(key)
        what = f"record event {reason} for {managed.key}"
        try:
            if seen is not None and now - seen.last < DEDUP_SECONDS:
                seen.count += 1
                seen.last = now
                self.core.patch_namespaced_event(
                    seen.name, managed.namespace,
                    {"count": seen.count, "lastTimestamp": format_time(now)},
                    _content_type=MERGE_PATCH, _request_timeout=self.timeout)
                return
            body: Any = {"apiVersion": "v1", "kind": "Event",
                    "metadata": {"generateName": f"{managed.name}.", "namespace":
                                 managed.namespace},
                    "involvedObject": involved, "reason": reason, "message": message,
                    "type": event_type, "source": {"component": COMPONENT}, "count": 1,
                    "firstTimestamp": format_time(now), "lastTimestamp": format_time(now),
                    "reportingComponent": COMPONENT}
            created: Any = self.core.create_namespaced_event(
                managed.namespace, body, _request_timeout=self.timeout)
            self._seen[key] = _Seen(str(created.metadata.name), 1, now, now)
        except (ApiException, OSError) as exc:
            raise classify(exc, what) from exc


def _involved(managed: ManagedSpec) -> dict[str, Any]:
    if managed.source == CRD:
        metadata = managed.raw.get("metadata") or {}
        return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": managed.name,
                "namespace": managed.namespace, "uid": metadata.get("uid", "")}
    if managed.spec is not None:
        ref = managed.spec.scale_target_ref
        return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name,
                "namespace": managed.namespace}
    return {"kind": "HorizontalPodAutoscaler", "name": managed.name,
            "namespace": managed.namespace}
