"""Custom resources' Scale from a watch of the resource: the CRD's scale mapping, applied here.

The apiserver serves a custom resource's `/scale` as a view of the object through the CRD's
`spec.versions[].subresources.scale` (k8s.io/apiextensions-apiserver
`pkg/registry/customresource/etcd.go`, `scaleFromCustomResource`), with the paths split on
"." after one leading "." (no array notation) and read as `unstructured.NestedInt64` /
`NestedString` read them:
- specReplicasPath: an int64 (then `int32(...)`); missing -> the GET answers 500 ("the spec
  replicas field ... does not exist"); not an integer (a float, a string, null) -> 500;
- statusReplicasPath: the same, but missing -> 0;
- labelSelectorPath: a string (the serialized selector, used as is); missing or no path ->
  ""; not a string -> 500;
- a non-object on the way along any path -> 500; a null on the way -> "missing";
- metadata.resourceVersion: the object's (a PUT of the Scale with it is a CAS on the object).
`scale_view_of(mapping)` renders the same view from a watched object, and None wherever the
GET would answer an error (or where we would reject its answer: a negative or int32-wrapped
count): the caller then GETs, and the GET gives the real error.

Which resource and which mapping, once per kind (`ScaleMappings.resolve`): API discovery
(`GET /apis/{group}/{version}`: the entry with that kind and no "/" in its name gives the
plural and whether it is namespaced, and `{plural}/scale` must be listed), then the CRD
(`GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/{plural}.{group}`, the version's
`subresources.scale`). A refusal (403, 404 of the CRD: not a CRD, e.g. an aggregated API), no
scale subresource, a cluster-scoped kind: the kind keeps the scale GET for good (one warning
naming what to grant). A transient failure, or a group or kind discovery does not show yet (a
CRD installed after the daemon started): retried after 15, 30, 60, 120 s, then given up for
good.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from kubernetes import client

from algorithms.observation import ScaleObservation
from autoscaler.errors import AutoscalerError, PermanentError, TransientError, boundary

log = structlog.get_logger("autoscaler.targets")

View = tuple[ScaleObservation, str]  # (the Scale's observation, resourceVersion)

RETRY_SECONDS = (15.0, 30.0, 60.0, 120.0)  # after the 1st..4th transient failure; then never
CRD_GROUP, CRD_VERSION, CRD_PLURAL = "apiextensions.k8s.io", "v1", "customresourcedefinitions"


@dataclass(frozen=True)
class ScaleMapping:
    """A custom resource kind's REST resource and its CRD's scale subresource paths."""

    group: str
    version: str
    kind: str
    plural: str
    spec_path: str  # specReplicasPath, e.g. ".spec.replicas"
    status_path: str  # statusReplicasPath, e.g. ".status.replicas"
    selector_path: str = ""  # labelSelectorPath ("": none: the Scale's selector is "")


class ScaleViewError(Exception):
    """The apiserver's view cannot be mirrored for this object: GET it instead."""


def _fields(path: str) -> list[str]:
    return path.removeprefix(".").split(".")


def nested(obj: Mapping[str, Any], path: str) -> tuple[Any, bool]:
    """`unstructured.NestedFieldNoCopy`: (value, found); a null on the way is not found, any
    other non-object on the way an error (ScaleViewError)."""
    value: Any = obj
    for field in _fields(path):
        if value is None:
            return None, False
        if not isinstance(value, Mapping):
            raise ScaleViewError(f"{path}: {str(value)[:40]!r} is not an object")
        if field not in value:
            return None, False
        value = value[field]
    return value, True


def _replicas(obj: Mapping[str, Any], path: str) -> tuple[int, bool]:
    """`NestedInt64` then `int32(...)`, and the count our Scale reader accepts."""
    value, found = nested(obj, path)
    if not found:
        return 0, False
    if isinstance(value, bool) or not isinstance(value, int) or not -2**63 <= value < 2**63:
        raise ScaleViewError(f"{path}: {str(value)[:40]!r} is not an integer")
    wrapped = (value + 2**31) % 2**32 - 2**31
    if wrapped < 0:
        raise ScaleViewError(f"{path}: {value} is not a replica count")  # the GET's read rejects it
    return wrapped, True


def custom_scale(mapping: ScaleMapping, item: Mapping[str, Any]) -> View:
    """The Scale the apiserver would serve for `item`, or ScaleViewError where it answers an error
    (or its answer is one our Scale reader rejects)."""
    spec_replicas, found = _replicas(item, mapping.spec_path)
    if not found:
        raise ScaleViewError(f"the spec replicas field {mapping.spec_path!r} does not exist")
    status_replicas, _ = _replicas(item, mapping.status_path)
    selector = ""
    if mapping.selector_path:
        value, found = nested(item, mapping.selector_path)
        if found and not isinstance(value, str):
            raise ScaleViewError(f"{mapping.selector_path}: {str(value)[:40]!r} is not a string")
        selector = value if found else ""
    metadata = item.get("metadata") or {}
    version = str(metadata.get("resourceVersion", "")) if isinstance(metadata, Mapping) else ""
    return ScaleObservation(spec_replicas=spec_replicas, status_replicas=status_replicas,
                            selector=selector), version


def scale_view_of(mapping: ScaleMapping) -> Callable[[Mapping[str, Any]], View | None]:
    """The watch cache's converter: the view, or None (GET it) where it cannot be mirrored."""
    def convert(item: Mapping[str, Any]) -> View | None:
        try:
            return custom_scale(mapping, item)
        except ScaleViewError:
            return None
    return convert


@dataclass
class _Pending:
    failures: int = 0
    not_before: float = 0.0
    resolving: bool = False


class ScaleMappings:
    """(apiVersion, kind) -> ScaleMapping, resolved once per kind; refusals remembered."""

    def __init__(self, custom: client.CustomObjectsApi, timeout_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.custom = custom
        self.timeout = timeout_seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._found: dict[tuple[str, str], ScaleMapping] = {}
        self._refused: dict[tuple[str, str], str] = {}  # -> why (logged once)
        self._pending: dict[tuple[str, str], _Pending] = {}

    def known(self, api_version: str, kind: str) -> ScaleMapping | None:
        """The mapping if resolved already (no request)."""
        with self._lock:
            return self._found.get((api_version, kind))

    def refused(self, api_version: str, kind: str) -> bool:
        with self._lock:
            return (api_version, kind) in self._refused

    def resolve(self, api_version: str, kind: str) -> ScaleMapping | None:
        """The mapping, or None (the scale GET) while it is unknown or for good."""
        key = (api_version, kind)
        with self._lock:
            if key in self._found or key in self._refused:
                return self._found.get(key)
            pending = self._pending.setdefault(key, _Pending())
            if pending.resolving or self.clock() < pending.not_before:
                return None
            pending.resolving = True
        try:
            mapping = self._discover(api_version, kind)
        except TransientError as exc:
            self._retry_later(key, pending, str(exc))
            return None
        except AutoscalerError as exc:
            self.refuse(key, str(exc))
            return None
        except Exception as exc:  # a malformed discovery document or CRD
            self.refuse(key, f"{type(exc).__name__}: {exc}"[:300])
            return None
        with self._lock:
            self._found[key] = mapping
            self._pending.pop(key, None)
        return mapping

    def refuse(self, key: tuple[str, str], why: str) -> None:
        """Keep the scale GET for this kind for good, with one warning saying why."""
        with self._lock:
            if key in self._refused:
                return
            self._refused[key] = why
            self._found.pop(key, None)
            self._pending.pop(key, None)
        log.warning("not watching custom resources: scale reads use GET",
                    api_version=key[0], kind=key[1], error=why)

    def _retry_later(self, key: tuple[str, str], pending: _Pending, why: str) -> None:
        with self._lock:
            pending.resolving = False
            pending.failures += 1
            if pending.failures <= len(RETRY_SECONDS):
                pending.not_before = self.clock() + RETRY_SECONDS[pending.failures - 1]
                log.info("custom resource scale mapping not resolved: retrying later",
                         api_version=key[0], kind=key[1], error=why,
                         retry_in=RETRY_SECONDS[pending.failures - 1])
                return
        self.refuse(key, f"{why} (after {pending.failures} attempts)")

    def _discover(self, api_version: str, kind: str) -> ScaleMapping:
        group, _, version = api_version.partition("/")
        if not group or not version:
            raise PermanentError(f"{api_version}: not a group/version")
        where = f"discover {kind} in {api_version}"
        try:
            resources = self._get_json(where, lambda **kw: self.custom.get_api_resources(
                group, version, **kw))
        except PermanentError as exc:
            if exc.status == 404:  # the group is not served (yet): a CRD installed later
                raise TransientError(str(exc), status=404) from exc
            raise PermanentError(str(exc), exc.status, "grant get on the non-resource URL "
                                 f"/apis/{group}/{version}, or this kind keeps the GET") from exc
        entries = [entry for entry in resources.get("resources") or []
                   if isinstance(entry, Mapping)]
        named = [entry for entry in entries
                 if entry.get("kind") == kind and "/" not in str(entry.get("name", ""))]
        if not named:
            raise TransientError(f"{where}: no such kind served (yet)")
        plural = str(named[0]["name"])
        if not named[0].get("namespaced", False):
            raise PermanentError(f"{where}: {plural} is cluster-scoped")
        if not any(entry.get("name") == f"{plural}/scale" for entry in entries):
            raise PermanentError(f"{where}: {plural} has no scale subresource")
        crd_name = f"{plural}.{group}"
        try:
            crd = self._get_json(f"read CRD {crd_name}",
                                 lambda **kw: self.custom.get_cluster_custom_object(
                                     CRD_GROUP, CRD_VERSION, CRD_PLURAL, crd_name, **kw))
        except PermanentError as exc:
            hint = {403: "grant get on customresourcedefinitions.apiextensions.k8s.io "
                         "(deploy/base/clusterrole.yaml)",
                    404: "not a CustomResourceDefinition (an aggregated API?)"
                    }.get(exc.status or 0, "")
            raise PermanentError(str(exc), exc.status, hint) from exc
        scale = _crd_scale(crd, version)
        if scale is None:
            raise PermanentError(f"CRD {crd_name} version {version}: no subresources.scale")
        return ScaleMapping(group, version, kind, plural,
                            spec_path=str(scale.get("specReplicasPath") or ""),
                            status_path=str(scale.get("statusReplicasPath") or ""),
                            selector_path=str(scale.get("labelSelectorPath") or ""))

    def _get_json(self, what: str, call: Callable[..., Any]) -> Mapping[str, Any]:
        with boundary(what):
            response = call(_preload_content=False, _request_timeout=self.timeout)
            document = json.loads(response.data)
            if not isinstance(document, Mapping):
                raise ValueError(f"answered {str(document)[:60]}")
            return document


def _crd_scale(crd: Mapping[str, Any], version: str) -> Mapping[str, Any] | None:
    spec = crd.get("spec")
    if not isinstance(spec, Mapping):
        return None
    for entry in spec.get("versions") or []:
        if isinstance(entry, Mapping) and entry.get("name") == version:
            scale = (entry.get("subresources") or {}).get("scale")
            return scale if isinstance(scale, Mapping) and scale.get("specReplicasPath") \
                else None
    return None
