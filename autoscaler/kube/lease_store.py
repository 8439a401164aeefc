"""History of autoscalers that have no status of their own (YAML files, Sedna JIS), kept in
a Lease per autoscaler in the daemon's namespace (the RBAC already grants leases there).

What must survive a restart is the scale events (policy budgets: "at most 50 % per minute"
must not reset when the daemon restarts) and the recommendations. Events only change on a
rescale, so the store is written then, not every pass. Recommendations need no more: a
restarted daemon records the current size as its first recommendation (upstream's
recordInitialRecommendation), which already bounds any scale-down window from below.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from algorithms.history import History
from autoscaler.errors import classify
from autoscaler.specs.parse import history_from_dict, history_to_dict

ANNOTATION = "edgeautoscaler.io/history"


def lease_name(key: str) -> str:
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return f"eas-history-{digest}"


class LeaseHistoryStore:
    def __init__(self, api_client: client.ApiClient, namespace: str,
                 timeout_seconds: float = 10.0) -> None:
        self.coordination = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.timeout = timeout_seconds

    def load(self, key: str) -> History | None:
        try:
            response: Any = self.coordination.read_namespaced_lease(
                lease_name(key), self.namespace, _preload_content=False,
                _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise classify(exc, f"read history of {key}") from exc
        except OSError as exc:
            raise classify(exc, f"read history of {key}") from exc
        lease = json.loads(response.data)
        raw = ((lease.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION)
        return history_from_dict(json.loads(raw)) if raw else None

    def save(self, key: str, history: History) -> None:
        body: Any = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                "metadata": {"name": lease_name(key), "namespace": self.namespace,
                             "annotations": {ANNOTATION: json.dumps(history_to_dict(history)),
                                             "edgeautoscaler.io/autoscaler": key}},
                "spec": {}}
        what = f"save history of {key}"
        try:
            self.coordination.patch_namespaced_lease(
                lease_name(key), self.namespace, {"metadata": body["metadata"]},
                _content_type="application/merge-patch+json", _request_timeout=self.timeout)
        except ApiException as exc:
            if exc.status != 404:
                raise classify(exc, what) from exc
            try:
                self.coordination.create_namespaced_lease(self.namespace, body,
                                                          _request_timeout=self.timeout)
            except (ApiException, OSError) as create_exc:
                raise classify(create_exc, what) from create_exc
        except OSError as exc:
            raise classify(exc, what) from exc
