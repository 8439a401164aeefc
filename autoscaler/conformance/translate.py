"""Conformance case JSON -> the pure layer's types. Every bad field raises CaseFormatError
naming the field, so a malformed case is reported precisely and the run goes on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from algorithms.config import ControllerConfig, FeatureGates
from algorithms.defaults import default_behavior
from algorithms.errors import SpecError
from algorithms.goints import ZERO_TIME
from algorithms.history import ScaleEvent, TimestampedRecommendation
from algorithms.observation import PodResourceUsage, ResourceMetricsData
from algorithms.pods import ContainerInfo, PodInfo, ReadinessRules
from algorithms.quantity import QuantityError, milli_value
from algorithms.replicas import Tolerances
from algorithms.spec import HorizontalPodAutoscalerBehavior
from algorithms.spec_codec import parse_behavior
from algorithms.state import ControllerState
from autoscaler.errors import InputError


class CaseFormatError(InputError):
    """A case does not follow FORMAT.md; `field` is the JSON path inside the case."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"field {field}: {message}")
        self.field = field


def need(obj: Mapping[str, Any], key: str, kind: type | tuple[type, ...], path: str) -> Any:
    if not isinstance(obj, Mapping):
        raise CaseFormatError(path, f"must be an object, got {type(obj).__name__}")
    if key not in obj:
        raise CaseFormatError(f"{path}.{key}" if path else key, "missing")
    return check(obj[key], kind, f"{path}.{key}" if path else key)


def check(value: Any, kind: type | tuple[type, ...], path: str) -> Any:
    if kind in (int, float, (int, float)) and isinstance(value, bool):
        raise CaseFormatError(path, f"must be a number, got {value!r}")
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise CaseFormatError(path, f"must be {names}, got {type(value).__name__} {value!r}")
    return value


def milli(value: Any, path: str) -> int:
    check(value, str, path)
    try:
        return milli_value(value)
    except QuantityError as exc:
        raise CaseFormatError(path, str(exc)) from exc


def time_field(value: Any, path: str) -> float:
    """`null` is Go's zero time, a real instant (FORMAT.md)."""
    if value is None:
        return ZERO_TIME
    return float(check(value, (int, float), path))


def optional_time(value: Any, path: str) -> float | None:
    return None if value is None else float(check(value, (int, float), path))


def _containers(raw: Any, path: str) -> tuple[ContainerInfo, ...]:
    out = []
    for i, item in enumerate(check(raw, list, path)):
        ipath = f"{path}[{i}]"
        requests = need(item, "requests", dict, ipath) if "requests" in item else {}
        out.append(ContainerInfo(
            name=need(item, "name", str, ipath),
            requests_milli={k: milli(v, f"{ipath}.requests.{k}") for k, v in requests.items()},
            restart_policy=item.get("restart_policy")))
    return tuple(out)


def pods(raw: Any, path: str = "pods") -> tuple[PodInfo, ...]:
    out = []
    for i, item in enumerate(check(raw, list, path)):
        ipath = f"{path}[{i}]"
        ready = item.get("ready")
        if ready not in ("True", "False", "Unknown", None):
            raise CaseFormatError(f"{ipath}.ready", f"must be True/False/Unknown/null, "
                                                    f"got {ready!r}")
        out.append(PodInfo(
            name=need(item, "name", str, ipath),
            phase=need(item, "phase", str, ipath),
            ready=ready,
            ready_transition_time=time_field(item.get("ready_transition_time"),
                                             f"{ipath}.ready_transition_time"),
            start_time=optional_time(item.get("start_time"), f"{ipath}.start_time"),
            deleting=bool(check(item.get("deleting", False), bool, f"{ipath}.deleting")),
            labels=dict(check(item.get("labels", {}), dict, f"{ipath}.labels")),
            containers=_containers(item.get("containers", []), f"{ipath}.containers"),
            init_containers=_containers(item.get("init_containers", []),
                                        f"{ipath}.init_containers")))
    return tuple(out)


def resource_metrics(raw: Any, path: str = "pod_metrics") -> ResourceMetricsData:
    items: dict[str, PodResourceUsage] = {}
    for name, item in check(raw, dict, path).items():
        ipath = f"{path}.{name}"
        containers = {
            cname: {res: milli(q, f"{ipath}.containers.{cname}.{res}")
                    for res, q in check(usage, dict, f"{ipath}.containers.{cname}").items()}
            for cname, usage in need(item, "containers", dict, ipath).items()}
        items[name] = PodResourceUsage(
            timestamp=time_field(item.get("timestamp"), f"{ipath}.timestamp"),
            window_seconds=float(need(item, "window", (int, float), ipath)),
            containers=containers)
    return ResourceMetricsData(items)


def tolerances(controller: Mapping[str, Any]) -> Tolerances:
    raw = controller.get("tolerance", 0.1)
    if isinstance(raw, Mapping):
        return Tolerances(scale_down=float(need(raw, "scale_down", (int, float),
                                                "controller.tolerance")),
                          scale_up=float(need(raw, "scale_up", (int, float),
                                              "controller.tolerance")))
    value = float(check(raw, (int, float), "controller.tolerance"))
    return Tolerances(scale_down=value, scale_up=value)


def readiness(controller: Mapping[str, Any]) -> ReadinessRules:
    return ReadinessRules(
        cpu_initialization_period_seconds=float(check(
            controller.get("cpu_initialization_period", 300.0), (int, float),
            "controller.cpu_initialization_period")),
        delay_of_initial_readiness_status_seconds=float(check(
            controller.get("delay_of_initial_readiness_status", 30.0), (int, float),
            "controller.delay_of_initial_readiness_status")))


def history(raw: Any, path: str = "history") -> ControllerState:
    """The case's controller memory (recommendations and scale events; no status)."""
    if raw is None:
        return ControllerState(recommendations=None)
    check(raw, dict, path)
    recs_raw = raw.get("recommendations")
    recs = None if recs_raw is None else tuple(
        TimestampedRecommendation(need(r, "replicas", int, f"{path}.recommendations[{i}]"),
                                  float(need(r, "timestamp", (int, float),
                                             f"{path}.recommendations[{i}]")))
        for i, r in enumerate(check(recs_raw, list, f"{path}.recommendations")))
    return ControllerState(recommendations=recs,
                           scale_up_events=_events(raw.get("scale_up_events", []),
                                                   f"{path}.scale_up_events"),
                           scale_down_events=_events(raw.get("scale_down_events", []),
                                                     f"{path}.scale_down_events"))


def _events(raw: Any, path: str) -> tuple[ScaleEvent, ...]:
    return tuple(
        ScaleEvent(need(e, "replica_change", int, f"{path}[{i}]"),
                   float(need(e, "timestamp", (int, float), f"{path}[{i}]")),
                   bool(check(e.get("outdated", False), bool, f"{path}[{i}].outdated")))
        for i, e in enumerate(check(raw, list, path)))


def behavior(raw: Any, path: str = "behavior") -> HorizontalPodAutoscalerBehavior | None:
    """Verbatim behavior JSON, API-defaulted (idempotent on already-defaulted input)."""
    if raw is None:
        return None
    try:
        return default_behavior(parse_behavior(raw, path))
    except SpecError as exc:
        raise CaseFormatError(path, str(exc)) from exc


def controller_config(raw: Any) -> ControllerConfig:
    controller = check(raw if raw is not None else {}, dict, "controller")
    gates = check(controller.get("feature_gates", {}), dict, "controller.feature_gates")
    defaults = FeatureGates()

    def number(key: str, default: float) -> float:
        return float(check(controller.get(key, default), (int, float), f"controller.{key}"))

    return ControllerConfig(
        tolerances=tolerances(controller), readiness=readiness(controller),
        downscale_stabilization_window_seconds=number("downscale_stabilization_window", 300.0),
        scale_up_limit_factor=number("scale_up_limit_factor", 2.0),
        scale_up_limit_minimum=number("scale_up_limit_minimum", 4.0),
        feature_gates=FeatureGates(
            hpa_scale_to_zero=bool(gates.get("HPAScaleToZero", defaults.hpa_scale_to_zero)),
            hpa_configurable_tolerance=bool(gates.get("HPAConfigurableTolerance",
                                                      defaults.hpa_configurable_tolerance)),
            hpa_generation=bool(gates.get("HPAGeneration", defaults.hpa_generation))))
