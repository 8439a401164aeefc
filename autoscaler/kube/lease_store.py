"""A JSON document per key in the annotation of a Lease in the daemon's namespace: the home
of controller state for autoscalers that have no status of their own (YAML files, Sedna).
The RBAC already grants leases there; the Lease's spec is left empty (it is not a lock)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from autoscaler.errors import boundary

ANNOTATION = "edgeautoscaler.io/state"
LEGACY_ANNOTATION = "edgeautoscaler.io/history"  # 0.1.0: the history alone
KEY_ANNOTATION = "edgeautoscaler.io/autoscaler"
MAX_DOCUMENT_BYTES = 200_000  # an annotation set is limited to 256 KiB in total


def lease_name(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"eas-history-{digest}"


class LeaseAnnotationStore:
    def __init__(self, api_client: client.ApiClient, namespace: str,
                 timeout_seconds: float = 10.0) -> None:
        self.coordination = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.timeout = timeout_seconds

    def load(self, key: str) -> Any:
        """The stored document, or None when there is none (no Lease, no annotation)."""
        with boundary(f"read state of {key} (Lease {self.namespace}/{lease_name(key)})"):
            try:
                response: Any = self.coordination.read_namespaced_lease(
                    lease_name(key), self.namespace, _preload_content=False,
                    _request_timeout=self.timeout)
            except ApiException as exc:
                if exc.status == 404:
                    return None
                raise
            lease = json.loads(response.data)
            annotations = (lease.get("metadata") or {}).get("annotations") or {}
            raw = annotations.get(ANNOTATION)
            if raw:
                return json.loads(raw)
            legacy = annotations.get(LEGACY_ANNOTATION)
            return {"history": json.loads(legacy)} if legacy else None

    def save(self, key: str, document: Any) -> None:
        text = json.dumps(document, separators=(",", ":"))
        if len(text) > MAX_DOCUMENT_BYTES:
            raise ValueError(f"state of {key} is {len(text)} bytes, over {MAX_DOCUMENT_BYTES}")
        metadata = {"name": lease_name(key), "namespace": self.namespace,
                    "annotations": {ANNOTATION: text, KEY_ANNOTATION: key}}
        with boundary(f"save state of {key} (Lease {self.namespace}/{lease_name(key)})"):
            try:
                self.coordination.patch_namespaced_lease(
                    lease_name(key), self.namespace, {"metadata": metadata},
                    _content_type="application/merge-patch+json",
                    _request_timeout=self.timeout)
            except ApiException as exc:
                if exc.status != 404:
                    raise
                body: Any = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                             "metadata": metadata, "spec": {}}
                self.coordination.create_namespaced_lease(self.namespace, body,
                                                          _request_timeout=self.timeout)
