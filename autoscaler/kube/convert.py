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


def _requests(container: Mapping[str, Any], where: str) -> dict[str, int]:
    raw = ((container.get("resources") or {}).get("requests")) or {}
    out = {}
    for resource, quantity in raw.items():
        try:
            out[str(resource)] = milli_value(str(quantity))
        except QuantityError as exc:
            raise ConversionError(f"{where}.resources.requests.{resource}: {exc}") from exc
    return out


def _containers(items: Any, where: str, init: bool) -> tuple[ContainerInfo, ...]:
    out = []
    for index, container in enumerate(items or []):
        path = f"{where}[{index}]"
        out.append(ContainerInfo(
            name=str(container.get("name", "")),
            requests_milli=_requests(container, path),
            restart_policy=container.get("restartPolicy") if init else None))
    return tuple(out)


def _ready_condition(status: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "Ready":
            return condition  # type: ignore[no-any-return]
    return None


def pod_info(pod: Mapping[str, Any]) -> PodInfo:
    """A v1 Pod -> PodInfo: what groupPods and the request sums read, nothing more."""
    metadata = pod.get("metadata") or {}
    spec = pod.get("spec") or {}
    status = pod.get("status") or {}
    name = str(metadata.get("name", ""))
    where = f"pod {metadata.get('namespace', '')}/{name}"
    ready = _ready_condition(status)
    transition = parse_time(ready.get("lastTransitionTime")) if ready else None
    return PodInfo(
        name=name,
        phase=str(status.get("phase", "Unknown")),
        ready=None if ready is None else str(ready.get("status")),
        ready_transition_time=ZERO_TIME if transition is None else transition,
        start_time=parse_time(status.get("startTime")),
        deleting=metadata.get("deletionTimestamp") is not None,
        labels=dict(metadata.get("labels") or {}),
        containers=_containers(spec.get("containers"), f"{where} spec.containers", False),
        init_containers=_containers(spec.get("initContainers"),
                                    f"{where} spec.initContainers", True),
        host_network=bool(spec.get("hostNetwork", False)),
        owner=_controller(metadata), uid=str(metadata.get("uid", "")))


def _controller(metadata: Mapping[str, Any]) -> str:
    for ref in metadata.get("ownerReferences") or []:
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
        total += float(number) * units[unit]
        number = ""
        index += len(unit)
    if number:
        raise ConversionError(f"{where}: window {text!r} lacks a unit")
    return total


def pod_usage(item: Mapping[str, Any]) -> tuple[str, PodResourceUsage]:
    """One PodMetrics item -> (pod name, usage in milli per container per resource)."""
    metadata = item.get("metadata") or {}
    name = str(metadata.get("name", ""))
    where = f"PodMetrics {metadata.get('namespace', '')}/{name}"
    timestamp = parse_time(item.get("timestamp"))
    if timestamp is None:
        raise ConversionError(f"{where}: timestamp missing")
    containers: dict[str, dict[str, int]] = {}
    for container in item.get("containers") or []:
        usage = {}
        for resource, quantity in (container.get("usage") or {}).items():
            try:
                usage[str(resource)] = milli_value(str(quantity))
            except QuantityError as exc:
                raise ConversionError(f"{where} container {container.get('name')}: "
                                      f"{exc}") from exc
        containers[str(container.get("name", ""))] = usage
    return name, PodResourceUsage(timestamp, _window_seconds(item.get("window"), where),
                                  containers)
