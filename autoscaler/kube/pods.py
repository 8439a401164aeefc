"""Pods as the controller sees them: a watch-fed cache (the pod informer) of `PodInfo`s."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass

from kubernetes import client

from algorithms.labels import Selector
from algorithms.pods import PodInfo
from autoscaler.errors import AutoscalerError
from autoscaler.kube.cache import WatchCache
from autoscaler.kube.convert import pod_info
from autoscaler.kube.core import CoreApi


@dataclass(frozen=True)
class PodIndex:
    """One cache generation's pods by namespace and by (namespace, label, value), each in
    the cache's order (what a scan of the cache would give)."""

    generation: int
    by_namespace: Mapping[str, tuple[PodInfo, ...]]
    by_label: Mapping[tuple[str, str, str], tuple[PodInfo, ...]]

    @staticmethod
    def of(generation: int, items: list[tuple[str, PodInfo]]) -> PodIndex:
        by_namespace: dict[str, list[PodInfo]] = {}
        by_label: dict[tuple[str, str, str], list[PodInfo]] = {}
        for namespace, info in items:
            by_namespace.setdefault(namespace, []).append(info)
            for label, value in info.labels.items():
                by_label.setdefault((namespace, label, value), []).append(info)
        return PodIndex(generation, {k: tuple(v) for k, v in by_namespace.items()},
                        {k: tuple(v) for k, v in by_label.items()})

    def candidates(self, namespace: str, selector: Selector | None) -> tuple[PodInfo, ...]:
        """A superset of the selected pods, in cache order: the smallest bucket of one of
        the selector's `key=value` requirements, else the namespace."""
        best: tuple[PodInfo, ...] | None = None
        for requirement in selector.requirements if selector is not None else ():
            if requirement.operator == "=" and len(requirement.values) == 1:
                bucket = self.by_label.get((namespace, requirement.key,
                                            requirement.values[0]), ())
                if best is None or len(bucket) < len(best):
                    best = bucket
        return best if best is not None else self.by_namespace.get(namespace, ())


class PodCache:
    """One watch per namespace given, or one over all namespaces."""

    def __init__(self, api_client: client.ApiClient, namespaces: tuple[str, ...] = (),
                 node_name: str = "") -> None:
        self._indexes: dict[int, PodIndex] = {}
        self._index_lock = threading.Lock()
        core = CoreApi(api_client)  # not CoreV1Api: see autoscaler.kube.core
        # The edge agent only needs its own node's pods: let the server filter them.
        extra = {"field_selector": f"spec.nodeName={node_name}"} if node_name else {}
        if namespaces:
            self.caches = {ns: WatchCache(f"pods/{ns}", core.list_namespaced_pod, (ns,),
                                          pod_info, list_kwargs=extra) for ns in namespaces}
        else:
            self.caches = {"": WatchCache("pods", core.list_pod_for_all_namespaces, (),
                                          pod_info, list_kwargs=extra)}

    @property
    def synced(self) -> bool:
        return all(cache.synced for cache in self.caches.values())

    @property
    def last_error(self) -> AutoscalerError | None:
        return next((c.last_error for c in self.caches.values() if c.last_error is not None),
                    None)

    def start(self) -> None:
        for cache in self.caches.values():
            cache.start()

    def stop(self) -> None:
        for cache in self.caches.values():
            cache.stop()

    def wait_synced(self, timeout: float) -> bool:
        return all(cache.wait_synced(timeout) for cache in self.caches.values())

    def pods(self, namespace: str, selector: Selector | None = None) -> tuple[PodInfo, ...]:
        """The cached pods; raises (AutoscalerError) while the cache has never listed.

        Through a label index (rebuilt when the cache changed, so once per change, not per
        call): a selector with an equality requirement scans only the pods carrying that
        label, not the namespace. 1,000 autoscalers of 10 pods in 10 namespaces: 10 label
        checks per call instead of 1,000."""
        cache = self.caches.get(namespace) or self.caches.get("")
        if cache is None:
            return ()
        cache.require_synced()
        index = self._index(cache)
        candidates = index.candidates(namespace, selector)
        if selector is None:
            return candidates
        return tuple([p for p in candidates if selector.matches(p.labels)])

    def _index(self, cache: WatchCache[PodInfo]) -> PodIndex:
        with self._index_lock:
            index = self._indexes.get(id(cache))
            if index is None or index.generation != cache.generation:
                index = self._indexes[id(cache)] = PodIndex.of(*cache.snapshot())
            return index
