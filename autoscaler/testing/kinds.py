"""The resource table: which kinds the fake serves, under which plural, with which subresources.

The apiserver maps `apiVersion`+`kind` to a REST resource through discovery; the fake keeps the
same mapping in one table so seeding (`api.create(obj)`), routing and discovery agree.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

ALL_VERBS = ("create", "delete", "get", "list", "patch", "update", "watch")
READ_VERBS = ("get", "list")


@dataclass(frozen=True, slots=True)
class ScalePaths:
    """A CRD's `subresources.scale`: dotted JSON paths (`.spec.replicas`, ...)."""

    spec: str  # specReplicasPath
    status: str  # statusReplicasPath
    selector: str = ""  # labelSelectorPath ("": none)


@dataclass(frozen=True, slots=True)
class Kind:
    group: str  # "" is the core (legacy) group served under /api
    version: str
    kind: str
    plural: str
    namespaced: bool = True
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    # A CRD-defined kind's scale mapping, served exactly as the apiserver does; None: the
    # conventional .spec.replicas / .status.replicas / .status.selector, leniently.
    scale_paths: ScalePaths | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def group_version(self) -> tuple[str, str]:
        return (self.group, self.version)

    @property
    def read_only(self) -> bool:
        return "create" not in self.verbs


_WORKLOAD = ("status", "scale")

BUILTIN_KINDS = (
    Kind("", "v1", "Pod", "pods", subresources=("status",)),
    Kind("", "v1", "Event", "events"),
    Kind("", "v1", "Namespace", "namespaces", namespaced=False, subresources=("status",)),
    Kind("apps", "v1", "Deployment", "deployments", subresources=_WORKLOAD),
    Kind("apps", "v1", "StatefulSet", "statefulsets", subresources=_WORKLOAD),
    Kind("apps", "v1", "ReplicaSet", "replicasets", subresources=_WORKLOAD),
    Kind("coordination.k8s.io", "v1", "Lease", "leases"),
    Kind("events.k8s.io", "v1", "Event", "events"),
    # metrics-server serves PodMetrics read-only (and never as a watch).
    Kind("metrics.k8s.io", "v1beta1", "PodMetrics", "pods", verbs=READ_VERBS),
    Kind("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions",
         namespaced=False, subresources=("status",)),
)


class KindTable:
    """Thread-safe lookups by plural (routing) and by apiVersion+kind (seeding)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_plural: dict[tuple[str, str, str], Kind] = {}
        self._by_kind: dict[tuple[str, str], Kind] = {}
        for kind in BUILTIN_KINDS:
            self.register(kind)

    def register(self, kind: Kind) -> None:
        with self._lock:
            self._by_plural[(kind.group, kind.version, kind.plural)] = kind
            self._by_kind[(kind.api_version, kind.kind)] = kind

    def by_plural(self, group: str, version: str, plural: str) -> Kind | None:
        with self._lock:
            return self._by_plural.get((group, version, plural))

    def by_kind(self, api_version: str, kind: str) -> Kind | None:
        with self._lock:
            return self._by_kind.get((api_version, kind))

    def all(self) -> list[Kind]:
        with self._lock:
            return list(self._by_plural.values())

    def in_group_version(self, group: str, version: str) -> list[Kind]:
        return [k for k in self.all() if k.group_version == (group, version)]


def kinds_from_crd(crd: dict[str, object]) -> list[Kind]:
    """The kinds a CustomResourceDefinition serves, so creating a CRD makes its CRs routable."""
    spec = crd.get("spec")
    if not isinstance(spec, dict):
        return []
    names = spec.get("names") or {}
    kinds = []
    for version in spec.get("versions") or []:
        if not version.get("served", True):
            continue
        subresources = tuple(sorted((version.get("subresources") or {}).keys()))
        scale = (version.get("subresources") or {}).get("scale")
        paths = None if not isinstance(scale, dict) else ScalePaths(
            str(scale.get("specReplicasPath") or ""), str(scale.get("statusReplicasPath") or ""),
            str(scale.get("labelSelectorPath") or ""))
        kinds.append(Kind(spec["group"], version["name"], names["kind"], names["plural"],
                          namespaced=spec.get("scope", "Namespaced") == "Namespaced",
                          subresources=subresources, scale_paths=paths))
    return kinds
