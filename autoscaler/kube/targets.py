"""Scale reads from watched workloads: no scale GET per autoscaler per pass.

For apps/v1 Deployments, StatefulSets and ReplicaSets the apiserver's scale subresource is a
view of the object itself: spec.replicas, status.replicas, the selector rendered from
spec.selector (`metav1.LabelSelectorAsSelector(s).String()`: requirements sorted by key,
values sorted), and the object's resourceVersion (a PUT of the Scale with it is a
compare-and-swap on the object). So a watch of each kind in use answers the read the
reconciler would otherwise GET every pass: 10,000 autoscalers, 10,000 GETs fewer per pass.

When the cache may be stale the read falls back to the GET (None here):
- the kind's watch has not listed yet, or is re-listing after a failure;
- the object is not in the cache (the GET then gives the real 404);
- our own last write to the target has not reached the cache: after a write against
  resourceVersion R, a cached object still at R is the pre-write one.
A 409 on a write always re-reads with a GET (`ScaleClient.update`). Other kinds (custom
resources with a /scale subresource) are not watched: their Scale is the CRD's mapping of
arbitrary paths, so they keep the GET.

Worked example: deployment `web` at rv 41 with replicas 2. Pass 1 reads it from the cache
(rv 41) and writes 4; the write's read was rv 41, remembered. Pass 2, 15 s later: the cache
shows rv 42 (our write's event arrived): read from the cache. Had the watch been slow, the
cache would still show rv 41 = the remembered one: GET instead.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import structlog
from kubernetes import client

from algorithms.observation import ScaleObservation
from algorithms.spec import CrossVersionObjectReference
from autoscaler.errors import PermanentError
from autoscaler.kube.cache import WatchCache
from autoscaler.kube.convert import ConversionError

log = structlog.get_logger("autoscaler.targets")

WATCHED = {"Deployment": "deployment", "StatefulSet": "stateful_set",
           "ReplicaSet": "replica_set"}


def label_selector_string(selector: Any) -> str:
    """`metav1.LabelSelectorAsSelector(s).String()` of an apps/v1 `spec.selector`:
    {"matchLabels": {"app": "web"}, "matchExpressions": [{"key": "tier", "operator": "In",
    "values": ["b", "a"]}]} -> "app=web,tier in (a,b)". Empty -> "" (selects nothing useful:
    the HPA reports the missing selector)."""
    if not selector:
        return ""
    if not isinstance(selector, Mapping):
        raise ConversionError(f"spec.selector: {str(selector)[:60]!r} is not an object")
    parts: list[tuple[str, str]] = []
    for key, value in (selector.get("matchLabels") or {}).items():
        parts.append((str(key), f"{key}={value}"))
    for expression in selector.get("matchExpressions") or []:
        key = str(expression.get("key", ""))
        values = ",".join(sorted(str(v) for v in expression.get("values") or []))
        operator = expression.get("operator")
        forms = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                 "Exists": key, "DoesNotExist": f"!{key}"}
        if operator not in forms:
            raise ConversionError(f"spec.selector: unknown operator {str(operator)[:40]!r}")
        parts.append((key, forms[operator]))
    return ",".join(text for _, text in sorted(parts, key=lambda part: part[0]))


def replica_count(value: Any, where: str) -> int:
    """A replica count as the API sends it (omitted: 0); anything else a ConversionError."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 2**31 - 1:
        raise ConversionError(f"{where}: {str(value)[:40]!r} is not a replica count")
    return value


def scale_view(item: Mapping[str, Any]) -> tuple[ScaleObservation, str]:
    """(the Scale's observation, resourceVersion) of an apps/v1 workload object."""
    spec = item.get("spec") or {}
    status = item.get("status") or {}
    if not isinstance(spec, Mapping) or not isinstance(status, Mapping):
        raise ConversionError("spec/status: not objects")
    observation = ScaleObservation(
        spec_replicas=replica_count(spec.get("replicas", 1), "spec.replicas"),
        status_replicas=replica_count(status.get("replicas"), "status.replicas"),
        selector=label_selector_string(spec.get("selector")))
    return observation, str((item.get("metadata") or {}).get("resourceVersion", ""))


class TargetCache:
    """One watch per workload kind in use, started at its first read."""

    def __init__(self, api_client: client.ApiClient, namespaces: tuple[str, ...] = (),
                 timeout_seconds: float = 30.0) -> None:
        self.apps = client.AppsV1Api(api_client)
        self.namespaces = namespaces
        self.timeout = timeout_seconds
        self._lock = threading.Lock()
        self._caches: dict[tuple[str, str], WatchCache[tuple[ScaleObservation, str]]] = {}
        self._written: dict[tuple[str, str, str], str] = {}  # target -> rv we wrote over
        self._refused: set[tuple[str, str]] = set()  # (kind, scope) the API refused to list

    def read(self, namespace: str, ref: CrossVersionObjectReference
             ) -> tuple[ScaleObservation, str] | None:
        """(observation, resourceVersion) from the cache, or None: GET it."""
        if ref.kind not in WATCHED or ref.api_version not in ("apps/v1", ""):
            return None
        cache = self._cache(ref.kind, namespace)
        if cache is None or not cache.live:
            if cache is not None and isinstance(cache.last_error, PermanentError):
                self._refuse(ref.kind, namespace, cache)
            return None
        found = cache.get(namespace, ref.name)
        if found is None:
            return None
        target = (ref.kind, namespace, ref.name)
        with self._lock:
            if self._written.get(target) == found[1]:
                return None  # the cache has not seen our last write yet
            self._written.pop(target, None)
        return found

    def selector(self, namespace: str, ref: CrossVersionObjectReference) -> str | None:
        """The target's label selector as cached, or None when not cached (no read of the
        API, no effect on `read`): for the AmbiguousSelector check of autoscalers another
        replica reconciles."""
        if ref.kind not in WATCHED or ref.api_version not in ("apps/v1", ""):
            return None
        cache = self._cache(ref.kind, namespace)
        found = cache.get(namespace, ref.name) if cache is not None and cache.live else None
        return None if found is None else found[0].selector

    def wrote(self, namespace: str, ref: CrossVersionObjectReference, over: str) -> None:
        """A write to the target succeeded against resourceVersion `over`."""
        if ref.kind in WATCHED:
            with self._lock:
                self._written[(ref.kind, namespace, ref.name)] = over

    def _refuse(self, kind: str, namespace: str,
                cache: WatchCache[tuple[ScaleObservation, str]]) -> None:
        """Refused (403: no list/watch rule for the kind, or 404): stop watching it for
        good and keep the scale GET, which needs only the /scale rule."""
        cache.stop()
        with self._lock:
            self._refused.add((kind, namespace if self.namespaces else ""))
        log.warning("not watching workloads: scale reads use GET", kind=kind,
                    error=str(cache.last_error))

    def stop(self) -> None:
        with self._lock:
            caches = list(self._caches.values())
        for cache in caches:
            cache.stop()

    def _cache(self, kind: str, namespace: str
               ) -> WatchCache[tuple[ScaleObservation, str]] | None:
        scope = namespace if self.namespaces else ""
        if self.namespaces and namespace not in self.namespaces:
            return None
        with self._lock:
            if (kind, scope) in self._refused:
                return None
            cache = self._caches.get((kind, scope))
            if cache is None:
                plural = WATCHED[kind]
                if scope:
                    lister = getattr(self.apps, f"list_namespaced_{plural}")
                    cache = WatchCache(f"{plural}s/{scope}", lister, (scope,), scale_view,
                                       self.timeout)
                else:
                    lister = getattr(self.apps, f"list_{plural}_for_all_namespaces")
                    cache = WatchCache(f"{plural}s", lister, (), scale_view, self.timeout)
                self._caches[(kind, scope)] = cache
                cache.start()
        return cache
