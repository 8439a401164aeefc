"""Resource metrics from metrics.k8s.io, one LIST per namespace per pass.

Upstream lists PodMetrics per HPA with the HPA's selector. Here a pass lists each namespace
once and every autoscaler in it picks its pods by name: O(namespaces) requests per sync
instead of O(autoscalers). A failed LIST is remembered for the pass and reported to every
autoscaler of that namespace as `MetricUnavailable` (never as zero usage).
"""

from __future__ import annotations

import threading
from typing import Any

from kubernetes import client

from algorithms.observation import MetricUnavailable, PodResourceUsage, ResourceMetricsData
from autoscaler.errors import AutoscalerError, boundary
from autoscaler.kube.convert import ConversionError, pod_usage
from autoscaler.kube.decode import decode

GROUP, VERSION = "metrics.k8s.io", "v1beta1"


class MetricsApiPass:
    """Per-pass cache: create one per controller pass and share it between autoscalers."""

    def __init__(self, api_client: client.ApiClient, timeout_seconds: float = 10.0) -> None:
        self.custom = client.CustomObjectsApi(api_client)
        self.timeout = timeout_seconds
        self._namespaces: dict[str, dict[str, PodResourceUsage] | MetricUnavailable] = {}
        self.requests = 0
        # Workers of one pass ask for the same namespace at once: one LIST, the rest wait.
        self._guard = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}

    def namespace(self, namespace: str) -> dict[str, PodResourceUsage] | MetricUnavailable:
        with self._guard:
            lock = self._locks.setdefault(namespace, threading.Lock())
        with lock:
            cached = self._namespaces.get(namespace)
            if cached is None:
                cached = self._namespaces[namespace] = self._list(namespace)
            return cached

    def for_pods(self, namespace: str, pod_names: set[str]
                 ) -> ResourceMetricsData | MetricUnavailable:
        listed = self.namespace(namespace)
        if isinstance(listed, MetricUnavailable):
            return listed
        # Looked up per pod (O(the target's pods)), not filtered over the namespace's list.
        return ResourceMetricsData({name: listed[name] for name in sorted(pod_names)
                                    if name in listed})

    def _list(self, namespace: str) -> dict[str, PodResourceUsage] | MetricUnavailable:
        self.requests += 1
        try:
            with boundary(f"list {GROUP} pods in {namespace}"):
                response: Any = self.custom.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, "pods", _preload_content=False,
                    _request_timeout=self.timeout)
                return decode(response.data, _usages)
        except AutoscalerError as exc:
            return MetricUnavailable(str(exc))


def _usages(document: Any) -> dict[str, PodResourceUsage]:
    """A PodMetricsList -> usage per pod; anything malformed raises (one bad item makes the
    whole answer untrustworthy: a missing pod would be read as *missing*, not as zero)."""
    if not isinstance(document, dict) or not isinstance(document.get("items") or [], list):
        raise ConversionError(f"expected a PodMetricsList object, got {str(document)[:80]}")
    out: dict[str, PodResourceUsage] = {}
    for item in document.get("items") or []:
        if not isinstance(item, dict):
            raise ConversionError(f"expected a PodMetrics object, got {str(item)[:80]}")
        name, usage = pod_usage(item)
        out[name] = usage
    return out
