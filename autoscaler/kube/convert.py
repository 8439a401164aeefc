"""Kubernetes JSON objects -> the pure layer's types. Objects stop here.

Everything is read from the raw JSON the API server sent (the official client's model
deserialization is slow for large pod lists and adds nothing we use). Times are RFC 3339
strings on the wire and float Unix seconds inside.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.goints import ZERO_TIME
from algorithms.observation import PodResourceUsage
from algorithms.pods import ContainerInfo, PodInfo
from algorithms.quantity import QuantityError, milli_value
from autoscaler.errors import InputError
from autoscaler.rfc3339 import format_time, parse_time


class ConversionError(InputError):
    """An API object lacks a field we need or carries a malformed value; names both."""


__all__ = ["ConversionError", "format_time", "parse_time"]


def _obj(value: Any, where: str) -> Mapping[str, Any]:
    """An object-valued field: {} when absent (the API omits empty ones)."""
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ConversionError(f"{where}: expected an object, got {str(value)[:60]!r}")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ConversionError(f"{where}: expected a list, got {str(value)[:60]!r}")
    return value


def _str(value: Any, where: str, default: str = "") -> str:
    if value is None:
        return default
    if not isinstance(value, str):
        raise ConversionError(f"{where}: expected a string, got {str(value)[:60]!r}")
    return value


def _quantities(raw: Any, where: str) -> dict[str, int]:
    out = {}
    for resource, quantity in _obj(raw, where).items():
        try:
            out[str(resource)] = milli_value(_str(quantity, f"{where}.{resource}"))
        except QuantityError as exc:
            raise ConversionError(f"{where}.{resource}: {exc}") from exc
    return out


def _containers(items: Any, where: str, init: bool) -> tuple[ContainerInfo, ...]:
    out = []
    for index, raw in enumerate(_list(items, where)):
        path = f"{where}[{index}]"
        container = _obj(raw, path)
        resources = _obj(container.get("resources"), f"{path}.resources")
        policy = container.get("restartPolicy") if init else None
        out.append(ContainerInfo(
            name=_str(container.get("name"), f"{path}.name"),
            requests_milli=_quantities(resources.get("requests"),
                                       f"{path}.resources.requests"),
            restart_policy=_str(policy, f"{path}.restartPolicy") if policy is not None
            else None))
    return tuple(out)


def _ready_condition(status: Mapping[str, Any], where: str) -> Mapping[str, Any] | None:
    for index, raw in enumerate(_list(status.get("conditions"), f"{where}.conditions")):
        condition = _obj(raw, f"{where}.conditions[{index}]")
        if condition.get("type") == "Ready":
            return condition
    return None


def _labels(raw: Any, where: str) -> dict[str, str]:
    labels = _obj(raw, where)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
        raise ConversionError(f"{where}: labels must map strings to strings")
    return dict(labels)


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """A v1 Pod -> PodInfo: what groupPods and the request sums read, nothing more."""
    metadata = _obj(pod.get("metadata"), "pod metadata")
    name = _str(metadata.get("name"), "pod metadata.name")
    where = f"pod {_str(metadata.get('namespace'), 'pod metadata.namespace')}/{name}"
    spec = _obj(pod.get("spec"), f"{where} spec")
    status = _obj(pod.get("status"), f"{where} status")
    ready = _ready_condition(status, f"{where} status")
    transition = parse_time(ready.get("lastTransitionTime")) if ready else None
    return PodInfo(
        name=name,
        phase=_str(status.get("phase"), f"{where} status.phase", "Unknown"),
        ready=None if ready is None else str(ready.get("status")),
        ready_transition_time=ZERO_TIME if transition is None else transition,
        start_time=parse_time(status.get("startTime")),
        deleting=metadata.get("deletionTimestamp") is not None,
        labels=_labels(metadata.get("labels"), f"{where} metadata.labels"),
        containers=_containers(spec.get("containers"), f"{where} spec.containers", False),
        init_containers=_containers(spec.get("initContainers"),
                                    f"{where} spec.initContainers", True),
        host_network=spec.get("hostNetwork") is True,
        owner=_controller(metadata, where), uid=str(metadata.get("uid", "")))


def _controller(metadata: Mapping[str, Any], where: str) -> str:
    for index, raw in enumerate(_list(metadata.get("ownerReferences"),
                                      f"{where} metadata.ownerReferences")):
        ref = _obj(raw, f"{where} metadata.ownerReferences[{index}]")
        if ref.get("controller"):
            return f"{ref.get('kind', '')}/{ref.get('name', '')}"
    return ""


def _window_seconds(value: Any, where: str) -> float:
    """metrics.k8s.io windows are Go durations: "30s", "1m0s", "15.5s"."""
    text = str(value or "0s")
    total = 0.0
    number = ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}
    index = 0
    while index < len(text):
        char = text[index]
        if char.isdigit() or char == ".":
            number += char
            index += 1
            continue
        unit = "ms" if text.startswith("ms", index) else char
        if unit not in units or not number:
            raise ConversionError(f"{where}: window {text!r} is not a duration")
        try:
            total += float(number) * units[unit]
        except ValueError:
            raise ConversionError(f"{where}: window {text!r} is not a duration") from None
        number = ""
        index += len(unit)
    if number:
        raise ConversionError(f"{where}: window {text!r} lacks a unit")
    return total


def pod_usage(item: Mapping[str, Any]) -> tuple[str, PodResourceUsage]:
    """One PodMetrics item -> (pod name, usage in milli per container per resource)."""
    metadata = _obj(item.get("metadata"), "PodMetrics metadata")
    name = _str(metadata.get("name"), "PodMetrics metadata.name")
    where = f"PodMetrics {metadata.get('namespace', '')}/{name}"
    timestamp = parse_time(item.get("timestamp"))
    if timestamp is None:
        raise ConversionError(f"{where}: timestamp missing")
    containers: dict[str, dict[str, int]] = {}
    for index, raw in enumerate(_list(item.get("containers"), f"{where} containers")):
        container = _obj(raw, f"{where} containers[{index}]")
        cname = _str(container.get("name"), f"{where} containers[{index}].name")
        containers[cname] = _quantities(container.get("usage"),
                                        f"{where} container {cname} usage")
    window = item.get("window")
    if window is not None and not isinstance(window, str):
        raise ConversionError(f"{where}: window {str(window)[:40]!r} is not a duration")
    return name, PodResourceUsage(timestamp, _window_seconds(window, where), containers)
