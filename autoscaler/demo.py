"""`autoscaler demo`: the seed's LlamaEdge HPA driven by `decide()` on a scripted load, in-process.

The seed document's Deployment (qwen-2-0.5b on WasmEdge, 3000m CPU request = limit) and
its HPA (CPU 50 %, 1..10) under a 20-minute demand script: quiet, a burst, quiet again. The
pod model is deliberately small: a new pod is Running-not-ready for `load_seconds` (model
load), then Ready; ready pods share the demand evenly, each capped at its 3-core limit;
metrics are sampled like metrics-server (a 30 s window ending a few seconds before the
sync). Output is `kubectl get hpa -w` style, one line per sync, with the decision's reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from algorithms.config import ControllerConfig
from algorithms.decide import Decision, decide
from algorithms.defaults import set_defaults
from algorithms.history import History
from algorithms.observation import (
    Observation,
    PodResourceUsage,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.pods import ContainerInfo, PodInfo
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.spec_codec import parse_spec
from algorithms.status import HPAStatus

NAME = "wasmedge-qwen-2-0-5b-allminilm-2"
SEED_HPA_SPEC = {
    "maxReplicas": 10, "minReplicas": 1,
    "metrics": [{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": NAME},
}
REQUEST_MILLI = 3000
CONTAINER = "qwen-2-0-5b-container"


def scripted_demand_cores(t: float) -> float:
    """Cores of inference work offered at second t: quiet, a 6-minute burst, quiet."""
    if t < 120:
        return 0.6
    if t < 480:
        return 12.0
    return 1.0


@dataclass(frozen=True, slots=True)
class DemoSettings:
    duration_seconds: float = 1200.0
    load_seconds: float = 40.0
    metric_lag_seconds: float = 5.0
    window_seconds: float = 30.0


def _pods(created: list[float], now: float, settings: DemoSettings) -> tuple[PodInfo, ...]:
    out = []
    for index, born in enumerate(created):
        ready = now >= born + settings.load_seconds
        out.append(PodInfo(
            name=f"{NAME}-{index}", start_time=born,
            ready="True" if ready else "False",
            ready_transition_time=born + settings.load_seconds if ready else born,
            labels={"app": NAME},
            containers=(ContainerInfo(CONTAINER, {"cpu": REQUEST_MILLI}),)))
    return tuple(out)


def _usage(pods: tuple[PodInfo, ...], demand_cores: float, sample_time: float
           ) -> ResourceMetricsData:
    ready = [p for p in pods if p.ready == "True"]
    share = int(demand_cores * 1000 / len(ready)) if ready else 0
    items = {}
    for pod in pods:
        # A loading pod burns CPU too (model load): exactly why upstream distrusts its sample.
        milli = min(share, REQUEST_MILLI) if pod.ready == "True" else REQUEST_MILLI
        items[pod.name] = PodResourceUsage(sample_time, 30.0, {CONTAINER: {"cpu": milli}})
    return ResourceMetricsData(items)


def _age(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _line(decision: Decision, spec: HorizontalPodAutoscalerSpec, t: float) -> str:
    metrics = decision.status.current_metrics
    current = (f"{metrics[0].current.average_utilization}%" if metrics and
               metrics[0].current.average_utilization is not None else "<unknown>")
    target = decision.desired_replicas if decision.rescale else decision.current_replicas
    conditions = {c.type: c for c in decision.status.conditions}
    why = conditions.get("ScalingLimited") or conditions.get("ScalingActive")
    able = conditions.get("AbleToScale")
    reason = (f"{decision.reason}" if decision.rescale else
              f"{able.reason if able else ''}; {why.reason if why else ''}")
    return (f"hpa  Deployment/{NAME}  {current}/50%  {spec.min_replicas}  {spec.max_replicas}"
            f"  {decision.current_replicas:>2} -> {target:>2}  {_age(t):>6}"
            f"  {reason}")


def run(out: TextIO, settings: DemoSettings = DemoSettings(),
        demand: Callable[[float], float] = scripted_demand_cores) -> int:
    spec = set_defaults(parse_spec(SEED_HPA_SPEC))
    config = ControllerConfig()
    created = [-3600.0]  # the Deployment has been serving for an hour when the demo starts
    history, status = History(), HPAStatus()
    t = config.sync_period_seconds
    replica_seconds = 0.0
    short_seconds = 0.0
    print("NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE  REASON", file=out)
    while t <= settings.duration_seconds:
        pods = _pods(created, t, settings)
        sample = t - settings.metric_lag_seconds
        obs = Observation(scale=ScaleObservation(len(created), len(created), f"app={NAME}"),
                          pods=pods, metrics=(_usage(pods, demand(sample), sample),),
                          status=status)
        decision = decide(spec, obs, history, t, config)
        print(_line(decision, spec, t), file=out)
        history, status = decision.history, decision.status
        ready = sum(1 for p in pods if p.ready == "True")
        replica_seconds += len(created) * config.sync_period_seconds
        if demand(t) > ready * REQUEST_MILLI / 1000:
            short_seconds += config.sync_period_seconds
        if decision.rescale:
            created = created[:decision.desired_replicas] + [
                t] * (decision.desired_replicas - len(created))
        t += config.sync_period_seconds
    print(f"\nreplica-seconds: {replica_seconds:,.0f}; seconds with demand above ready "
          f"capacity: {short_seconds:,.0f} of {settings.duration_seconds:,.0f}", file=out)
    return 0
