"""Pods as the controller sees them: a watch-fed cache (the pod informer) of `PodInfo`s."""

from __future__ import annotations

from kubernetes import client

from algorithms.labels import Selector
from algorithms.pods import PodInfo
from autoscaler.errors import AutoscalerError
from autoscaler.kube.cache import WatchCache
from autoscaler.kube.convert import pod_info


class PodCache:
    """One watch per namespace given, or one over all namespaces."""

    def __init__(self, api_client: client.ApiClient, namespaces: tuple[str, ...] = (),
                 node_name: str = "") -> None:
        core = client.CoreV1Api(api_client)
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
        """The cached pods; raises (AutoscalerError) while the cache has never listed."""
        cache = self.caches.get(namespace) or self.caches.get("")
        if cache is None:
            return ()
        cache.require_synced()
        infos = cache.items(namespace)
        if selector is None:
            return tuple(infos)
        return tuple(p for p in infos if selector.matches(p.labels))
