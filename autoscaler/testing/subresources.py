"""The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.

For apps/v1 workloads the selector comes from `spec.selector` (like the apiserver's scale
registry). A kind made by creating a CRD serves the CRD's `subresources.scale` paths as the
apiextensions-apiserver does (`scaleFromCustomResource`: a missing spec value is a 500, a
missing status value 0, a missing selector ""; a value of the wrong type a 500); a kind from
`register_kind` reads `.spec.replicas`, `.status.replicas`, `.status.selector` leniently.
"""

from __future__ import annotations

from typing import Any

from autoscaler.testing.errors import ApiError, bad_request, invalid
from autoscaler.testing.kinds import Kind, ScalePaths
from autoscaler.testing.selectors import selector_string

JSON = dict[str, Any]

_SCALE_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def apply_defaults(kind: Kind, obj: JSON) -> None:
    """API defaulting the scale view depends on: apps/v1 workloads default to 1 replica."""
    if kind.group == "apps" and isinstance(obj.get("spec"), dict):
        obj["spec"].setdefault("replicas", 1)


def _internal(message: str) -> ApiError:
    return ApiError(500, "InternalError", f"Internal error occurred: {message}")


def _fields(path: str) -> list[str]:
    return path.removeprefix(".").split(".")


def _nested(obj: JSON, path: str) -> tuple[Any, bool]:
    """apimachinery's `unstructured.NestedFieldNoCopy`: (value, found); a non-object on the
    way is an error, a null on the way is "not found"."""
    value: Any = obj
    fields = _fields(path)
    for depth, field in enumerate(fields):
        if value is None:
            return None, False
        if not isinstance(value, dict):
            raise _internal(f".{'.'.join(fields[:depth + 1])} accessor error: {value} is not "
                            "a map[string]interface{}")
        if field not in value:
            return None, False
        value = value[field]
    return value, True


def _nested_int(obj: JSON, path: str) -> tuple[int, bool]:
    value, found = _nested(obj, path)
    if not found:
        return 0, False
    if isinstance(value, bool) or not isinstance(value, int) or not -2**63 <= value < 2**63:
        raise _internal(f"{path} accessor error: {value} is not an int64")
    return (value + 2**31) % 2**32 - 2**31, True  # int32(...)


def _custom_scale(paths: ScalePaths, obj: JSON) -> JSON:
    spec_replicas, found = _nested_int(obj, paths.spec)
    if not found:
        raise _internal(f'the spec replicas field "{paths.spec}" does not exist')
    status_replicas, _ = _nested_int(obj, paths.status)
    selector = ""
    if paths.selector:
        value, found = _nested(obj, paths.selector)
        if found and not isinstance(value, str):
            raise _internal(f"{paths.selector} accessor error: {value} is not a string")
        selector = value if found else ""
    scale_status: JSON = {"replicas": status_replicas}
    if selector:
        scale_status["selector"] = selector
    meta = {k: v for k, v in obj["metadata"].items() if k in _SCALE_META}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
            "spec": {"replicas": spec_replicas}, "status": scale_status}


def scale_of(kind: Kind, obj: JSON) -> JSON:
    if kind.scale_paths is not None:
        return _custom_scale(kind.scale_paths, obj)
    spec, status = obj.get("spec") or {}, obj.get("status") or {}
    if kind.group == "apps":
        selector = selector_string(spec.get("selector"))
    else:
        found = status.get("selector")
        selector = found if isinstance(found, str) else ""
    scale_status: JSON = {"replicas": status.get("replicas", 0)}
    if selector:
        scale_status["selector"] = selector
    meta = {k: v for k, v in obj["metadata"].items() if k in _SCALE_META}
    return {"kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
            "spec": {"replicas": spec.get("replicas", 0)}, "status": scale_status}


def apply_scale(kind: Kind, parent: JSON, scale: Any) -> JSON:
    """The parent with the Scale's `spec.replicas`; the Scale's resourceVersion is the
    precondition (the store answers 409 when it is stale)."""
    if not isinstance(scale, dict):
        raise bad_request("a Scale object is required")
    name = parent["metadata"]["name"]
    replicas = (scale.get("spec") or {}).get("replicas", 0)
    if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
        raise invalid("Scale", "autoscaling", name, f"spec.replicas: Invalid value: {replicas}: "
                      "must be greater than or equal to 0")
    wanted = (scale.get("metadata") or {}).get("name")
    if wanted and wanted != name:
        raise bad_request(f"the name of the object ({wanted}) does not match the name on the "
                          f"URL ({name})")
    if kind.scale_paths is None:
        parent.setdefault("spec", {})["replicas"] = replicas
    else:  # unstructured.SetNestedField: missing objects on the way are created
        *parents, last = _fields(kind.scale_paths.spec)
        target = parent
        for field in parents:
            if target.get(field) is None:
                target[field] = {}
            if not isinstance(target[field], dict):
                raise _internal(f"{kind.scale_paths.spec}: {field} is not a map")
            target = target[field]
        target[last] = replicas
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        parent["metadata"]["resourceVersion"] = rv
    return parent
