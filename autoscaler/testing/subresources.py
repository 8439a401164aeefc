"""The `scale` subresource: an `autoscaling/v1` Scale view of a workload's replicas.

For apps/v1 workloads the selector comes from `spec.selector` (like the apiserver's scale
registry); for custom resources it is read from `.status.selector`, the CRD's conventional
`labelSelectorPath` (other `specReplicasPath`/`statusReplicasPath` values are not emulated).
"""

from __future__ import annotations

from typing import Any

from autoscaler.testing.errors import bad_request, invalid
from autoscaler.testing.kinds import Kind
from autoscaler.testing.selectors import selector_string

JSON = dict[str, Any]

_SCALE_META = ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")


def apply_defaults(kind: Kind, obj: JSON) -> None:
    """API defaulting the scale view depends on: apps/v1 workloads default to 1 replica."""
    if kind.group == "apps" and isinstance(obj.get("spec"), dict):
        obj["spec"].setdefault("replicas", 1)


def scale_of(kind: Kind, obj: JSON) -> JSON:
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
    parent.setdefault("spec", {})["replicas"] = replicas
    rv = (scale.get("metadata") or {}).get("resourceVersion")
    if rv:
        parent["metadata"]["resourceVersion"] = rv
    return parent
