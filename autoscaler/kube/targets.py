"""Scale reads from watched workloads: no scale GET per autoscaler per pass.

For apps/v1 Deployments, StatefulSets and ReplicaSets the apiserver's scale subresource is a
view of the object itself: spec.replicas, status.replicas, the selector rendered from
spec.selector (`metav1.LabelSelectorAsSelector(s).String()`: requirements sorted by key,
values sorted), and the object's resourceVersion (a PUT of the Scale with it is a
compare-and-swap on the object). So a watch of each kind in use answers the read the
reconciler would otherwise GET every pass: 10,000 autoscalers, 10,000 GETs fewer per pass.

Custom resources with a /scale subresource (any other `group/version` kind) are watched the
same way once their CRD's scale mapping is known (autoscaler/kube/custom_targets.py: API
discovery and the CRD, read once per kind): their Scale is the CRD's specReplicasPath,
statusReplicasPath (missing: 0) and labelSelectorPath (a string, used as is; missing: "")
applied to the watched object, as the apiserver applies them. A kind whose discovery, CRD or
list/watch is refused (or that has no scale mapping) keeps the GET for good, with one warning
naming what to grant. Core kinds (ReplicationController) keep the GET.

When the cache may be stale, or cannot say, the read falls back to the GET (None here):
- the kind's watch has not listed yet, or is re-listing after a failure;
- the object is not in the cache (the GET then gives the real 404);
- our own last write to the target has not reached the cache: after a write against
  resourceVersion R, a cached object still at R is the pre-write one;
- a custom resource whose Scale the apiserver would answer with an error (no value at
  specReplicasPath, a value of the wrong type): the GET gives that error.
A 409 on a write always re-reads with a GET (`ScaleClient.update`).

Worked example: deployment `web` at rv 41 with replicas 2. Pass 1 reads it from the cache
(rv 41) and writes 4; the write's read was rv 41, remembered. Pass 2, 15 s later: the cache
shows rv 42 (our write's event arrived): read from the cache. Had the watch been slow, the
cache would still show rv 41 = the remembered one: GET instead.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import structlog
from kubernetes import client

from algorithms.observation import ScaleObservation
from algorithms.spec import CrossVersionObjectReference
from autoscaler.errors import PermanentError
from autoscaler.kube.cache import WatchCache
from autoscaler.kube.convert import ConversionError
from autoscaler.kube.core import AppsApi
from autoscaler.kube.custom_targets import ScaleMapping, ScaleMappings, View, scale_view_of

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


def scale_view(item: Mapping[str, Any]) -> View:
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


Key = tuple[str, str, str]  # (apiVersion, kind, namespace or "" when watched cluster-wide)


class TargetCache:
    """One watch per workload kind in use, started at its first read."""

    def __init__(self, api_client: client.ApiClient, namespaces: tuple[str, ...] = (),
                 timeout_seconds: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.apps = AppsApi(api_client)
        self.namespaces = namespaces
        self.timeout = timeout_seconds
        self._lock = threading.Lock()
        self._caches: dict[Key, WatchCache[View | None]] = {}
        self._written: dict[tuple[str, str, str, str], str] = {}  # target -> rv we wrote over
        self._refused: set[Key] = set()  # (apiVersion, kind, scope) the API refused to list
        self.mappings = ScaleMappings(client.CustomObjectsApi(api_client), timeout_seconds,
                                      clock)

    def read(self, namespace: str, ref: CrossVersionObjectReference) -> View | None:
        """(observation, resourceVersion) from the cache, or None: GET it."""
        cache = self._cache(ref, namespace, discover=True)
        if cache is None or not cache.live:
            if cache is not None and isinstance(cache.last_error, PermanentError):
                self._refuse(ref, namespace, cache)
            return None
        found = cache.get(namespace, ref.name)
        if found is None:
            return None
        target = (_api_version(ref), ref.kind, namespace, ref.name)
        with self._lock:
            if self._written.get(target) == found[1]:
                return None  # the cache has not seen our last write yet
            self._written.pop(target, None)
        return found

    def selector(self, namespace: str, ref: CrossVersionObjectReference) -> str | None:
        """The target's label selector as cached, or None when not cached (no read of the
        API, no effect on `read`): for the AmbiguousSelector check of autoscalers another
        replica reconciles."""
        cache = self._cache(ref, namespace, discover=False)
        found = cache.get(namespace, ref.name) if cache is not None and cache.live else None
        return None if found is None else found[0].selector

    def wrote(self, namespace: str, ref: CrossVersionObjectReference, over: str) -> None:
        """A write to the target succeeded against resourceVersion `over`. Remembered only
        when the kind has a watch: one started later lists after the write."""
        key = (_api_version(ref), ref.kind, self._scope(namespace))
        with self._lock:
            if key in self._caches and key not in self._refused:
                self._written[(key[0], ref.kind, namespace, ref.name)] = over

    def _refuse(self, ref: CrossVersionObjectReference, namespace: str,
                cache: WatchCache[View | None]) -> None:
        """Refused (403: no list/watch rule for the kind, or 404): stop watching it for
        good and keep the scale GET, which needs only the /scale rule."""
        cache.stop()
        key = (_api_version(ref), ref.kind, self._scope(namespace))
        with self._lock:
            if key in self._refused:
                return
            self._refused.add(key)
        mapping = self.mappings.known(key[0], ref.kind)
        grant = "" if mapping is None else \
            f"grant list, watch on {mapping.plural} in API group {mapping.group}"
        log.warning("not watching workloads: scale reads use GET", kind=ref.kind,
                    api_version=key[0], error=str(cache.last_error), grant=grant or None)

    def stop(self) -> None:
        with self._lock:
            caches = list(self._caches.values())
        for cache in caches:
            cache.stop()

    def _scope(self, namespace: str) -> str:
        return namespace if self.namespaces else ""

    def _cache(self, ref: CrossVersionObjectReference, namespace: str, discover: bool
               ) -> WatchCache[View | None] | None:
        """The kind's watch (started here), or None: not watchable (now or for good), or
        (`discover` False) its custom resource mapping is not resolved yet."""
        if self.namespaces and namespace not in self.namespaces:
            return None
        api_version = _api_version(ref)
        apps = ref.kind in WATCHED and api_version == "apps/v1"
        if not apps and "/" not in api_version:
            return None  # the core group (ReplicationController): GET
        key = (api_version, ref.kind, self._scope(namespace))
        with self._lock:
            if key in self._refused:
                return None
            cache = self._caches.get(key)
        if cache is not None:
            return cache
        mapping = None
        if not apps:
            mapping = self.mappings.resolve(api_version, ref.kind) if discover \
                else self.mappings.known(api_version, ref.kind)
            if mapping is None:
                return None
        with self._lock:
            cache = self._caches.get(key)
            if cache is None:
                cache = self._apps_cache(ref.kind, key[2]) if mapping is None \
                    else self._custom_cache(mapping, key[2])
                self._caches[key] = cache
                cache.start()
        return cache

    def _apps_cache(self, kind: str, scope: str) -> WatchCache[View | None]:
        what = WATCHED[kind] + "s"
        if scope:
            return WatchCache(f"{what}/{scope}", self.apps.lister(kind, namespaced=True),
                              (scope,), scale_view, self.timeout)
        return WatchCache(what, self.apps.lister(kind, namespaced=False), (), scale_view,
                          self.timeout)

    def _custom_cache(self, mapping: ScaleMapping, scope: str) -> WatchCache[View | None]:
        custom = self.mappings.custom
        what = f"{mapping.plural}.{mapping.group}"
        convert = scale_view_of(mapping)
        if scope:
            return WatchCache(f"{what}/{scope}", custom.list_namespaced_custom_object,
                              (mapping.group, mapping.version, scope, mapping.plural),
                              convert, self.timeout)
        return WatchCache(what, custom.list_cluster_custom_object,
                          (mapping.group, mapping.version, mapping.plural), convert,
                          self.timeout)


def _api_version(ref: CrossVersionObjectReference) -> str:
    """The reference's apiVersion; an apps kind without one is apps/v1 (as before)."""
    if not ref.api_version and ref.kind in WATCHED:
        return "apps/v1"
    return ref.api_version
