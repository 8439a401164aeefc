"""The autoscalers a process manages: ElasticAutoscaler and Sedna JointInferenceService
watch caches, and a directory of YAML files, assembled into one list per pass."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from autoscaler.kube.cache import WatchCache
from autoscaler.specs import sources
from autoscaler.specs.model import ManagedSpec


@dataclass(frozen=True)
class SpecSourceOptions:
    namespaces: tuple[str, ...] = ()
    spec_dir: Path | None = None
    crd: bool = True
    sedna: bool = False


def _custom_cache(custom: client.CustomObjectsApi, group: str, version: str, plural: str,
                  namespaces: tuple[str, ...], convert: Any, install: str
                  ) -> list[WatchCache[Any]]:
    missing = f"CRD {plural}.{group} not installed: {install}"
    if namespaces:
        return [WatchCache(f"{plural}/{ns}", custom.list_namespaced_custom_object,
                           (group, version, ns, plural), convert, not_found=missing)
                for ns in namespaces]
    return [WatchCache(plural, custom.list_cluster_custom_object, (group, version, plural),
                       convert, not_found=missing)]


class SpecSources:
    def __init__(self, api_client: client.ApiClient, options: SpecSourceOptions) -> None:
        custom = client.CustomObjectsApi(api_client)
        self.options = options
        self.crds = _custom_cache(custom, sources.GROUP, sources.VERSION, sources.PLURAL,
                                  options.namespaces, sources.from_custom_resource,
                                  "kubectl apply -k deploy/base (or run with --no-crd)") \
            if options.crd else []
        self.sedna = _custom_cache(custom, sources.SEDNA_GROUP, sources.SEDNA_VERSION,
                                   sources.SEDNA_PLURAL, options.namespaces,
                                   sources.from_joint_inference_service,
                                   "install Sedna, or run without --sedna") \
            if options.sedna else []

    @property
    def caches(self) -> list[WatchCache[Any]]:
        return [*self.crds, *self.sedna]

    def collect(self) -> list[ManagedSpec]:
        found: list[ManagedSpec] = []
        for cache in self.crds:
            found.extend(cache.items())
        for cache in self.sedna:
            for specs in cache.items():
                found.extend(specs)
        if self.options.spec_dir is not None:
            found.extend(sources.from_directory(self.options.spec_dir))
        if self.options.namespaces:
            found = [m for m in found if m.namespace in self.options.namespaces]
        return found
