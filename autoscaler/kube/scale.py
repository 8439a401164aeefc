"""The scale subresource of any scalable kind: read it, and set spec.replicas.

Deployments, StatefulSets and ReplicaSets go through the typed AppsV1Api; any other kind
with a `/scale` subresource (custom resources, ReplicationControllers) through the dynamic
client, which discovers its plural name once. Writes are PUTs carrying the resourceVersion
we read, so a concurrent change answers 409 and we re-read and retry (upstream
`RetryOnConflict` with `DefaultRetry`: 5 attempts) instead of overwriting someone's edit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client, dynamic

from algorithms.observation import ScaleObservation
from algorithms.spec import CrossVersionObjectReference
from autoscaler.errors import ConflictError, boundary
from autoscaler.kube.convert import ConversionError
from autoscaler.kube.core import AppsApi
from autoscaler.kube.targets import TargetCache, replica_count

_APPS = {"Deployment": "deployment", "StatefulSet": "stateful_set",
         "ReplicaSet": "replica_set"}
CONFLICT_RETRIES = 5


@dataclass(frozen=True)
class ScaleRead:
    observation: ScaleObservation
    resource_version: str
    raw: dict[str, Any]


class ScaleClient:
    """`targets`: reads from watched workloads where fresh (autoscaler.kube.targets), the
    scale GET otherwise; writes always PUT the Scale and re-read with a GET on 409."""

    def __init__(self, api_client: client.ApiClient, timeout_seconds: float = 10.0,
                 targets: TargetCache | None = None) -> None:
        self.api_client = api_client
        self.apps = AppsApi(api_client)
        self.timeout = timeout_seconds
        self.targets = targets
        self._dynamic: dynamic.DynamicClient | None = None

    def _is_apps(self, ref: CrossVersionObjectReference) -> bool:
        return ref.kind in _APPS and ref.api_version in ("apps/v1", "")

    def _dynamic_resource(self, ref: CrossVersionObjectReference) -> Any:
        if self._dynamic is None:
            self._dynamic = dynamic.DynamicClient(self.api_client)  # type: ignore[no-untyped-call]
        return self._dynamic.resources.get(api_version=ref.api_version or "v1", kind=ref.kind)

    def get(self, namespace: str, ref: CrossVersionObjectReference) -> ScaleRead:
        if self.targets is not None:
            cached = self.targets.read(namespace, ref)
            if cached is not None:
                return ScaleRead(observation=cached[0], resource_version=cached[1], raw={})
        return self.fetch(namespace, ref)

    def fetch(self, namespace: str, ref: CrossVersionObjectReference) -> ScaleRead:
        """The scale subresource, read from the API server."""
        with boundary(f"get scale of {ref.kind}/{namespace}/{ref.name}"):
            if self._is_apps(ref):
                raw = self.apps.read_scale(ref.kind, namespace, ref.name, self.timeout)
            else:
                resource = self._dynamic_resource(ref)
                raw = resource.subresources["scale"].get(
                    name=ref.name, namespace=namespace, _request_timeout=self.timeout).to_dict()
            return _scale_read(raw)

    def update(self, namespace: str, ref: CrossVersionObjectReference, read: ScaleRead,
               replicas: int) -> ScaleRead:
        """Set spec.replicas; on 409 re-read and retry, at most CONFLICT_RETRIES times."""
        current = read
        for _attempt in range(CONFLICT_RETRIES):
            try:
                written = self._put(namespace, ref, current, replicas)
            except ConflictError:
                current = self.fetch(namespace, ref)  # never the cache: it was stale
                continue
            if self.targets is not None:
                self.targets.wrote(namespace, ref, current.resource_version)
            return written
        raise ConflictError(f"update scale of {ref.kind}/{namespace}/{ref.name}: still "
                            f"conflicting after {CONFLICT_RETRIES} attempts",
                            retry_after_seconds=1.0, status=409)

    def _put(self, namespace: str, ref: CrossVersionObjectReference, read: ScaleRead,
             replicas: int) -> ScaleRead:
        body = {"apiVersion": "autoscaling/v1", "kind": "Scale",
                "metadata": {"name": ref.name, "namespace": namespace,
                             "resourceVersion": read.resource_version},
                "spec": {"replicas": replicas}}
        with boundary(f"update scale of {ref.kind}/{namespace}/{ref.name} to {replicas}"):
            if self._is_apps(ref):
                raw = self.apps.replace_scale(ref.kind, namespace, ref.name, body,
                                              self.timeout)
            else:
                resource = self._dynamic_resource(ref)
                raw = resource.subresources["scale"].replace(
                    body=body, name=ref.name, namespace=namespace,
                    _request_timeout=self.timeout).to_dict()
            return _scale_read(raw)


def _scale_read(raw: dict[str, Any]) -> ScaleRead:
    """A Scale object; a malformed one raises (inside `boundary`: an InputError)."""
    spec = _part(raw, "spec")
    status = _part(raw, "status")
    selector = status.get("selector") or ""
    if not isinstance(selector, str):
        raise ConversionError(f"Scale status.selector: {str(selector)[:60]!r} is not a string")
    return ScaleRead(
        observation=ScaleObservation(
            spec_replicas=replica_count(spec.get("replicas"), "Scale spec.replicas"),
            status_replicas=replica_count(status.get("replicas"), "Scale status.replicas"),
            selector=selector),
        resource_version=str(_part(raw, "metadata").get("resourceVersion", "")),
        raw=raw)


def _part(raw: Any, key: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ConversionError(f"Scale: expected an object, got {str(raw)[:60]!r}")
    value = raw.get(key) or {}
    if not isinstance(value, dict):
        raise ConversionError(f"Scale {key}: expected an object, got {str(value)[:60]!r}")
    return value
