"""What the controller sees of the simulated cluster at a sync: pods and CPU samples.

metrics-server: scrapes at `scrape_offset + k * resolution`; the controller reads the newest
scrape at or before the sync, each pod's sample being its average usage over the `window`
before the scrape. A pod that has not run a whole window yet has no sample (it is *missing*,
as with the real metrics-server). Prometheus: `rate()` over the window, evaluated at the
sync, from the first and last scrape inside the window (needs two samples).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from algorithms.observation import (
    MetricData,
    MetricUnavailable,
    PodResourceUsage,
    PodsMetricData,
    ResourceMetricsData,
)
from algorithms.slo.model import SLO_METRIC_NAME, SloSpec
from algorithms.spec import EXTERNAL, PODS, RESOURCE, MetricSpec
from autoscaler.replay.settings import MetricsPipeline
from autoscaler.replay.sim_pods import CONTAINER, SimPod
from autoscaler.replay.slo_observe import slo_replicas

SCRAPE_OFFSET_SECONDS = 10.0  # scrapes at 10, 25, 40 ... s: a sync at 15 s sees a 5 s old one


class UsageSource(Protocol):
    def usage_cores(self, pod: SimPod, a: float, b: float) -> float: ...


IN_FLIGHT_METRIC = "llm_proxy_requests_in_flight"


def in_flight_metrics(engine: object, pods: list[SimPod], now: float) -> MetricData:
    """The metering proxy's gauge per running pod, read by Prometheus at the sync."""
    counter = getattr(engine, "in_flight", None)
    if counter is None:
        return MetricUnavailable(f"{IN_FLIGHT_METRIC} exists only for LLM request traces")
    return PodsMetricData({p.name: counter(p, now) * 1000 for p in pods if p.is_running(now)})


def latest_scrape(now: float, resolution: float) -> float:
    return SCRAPE_OFFSET_SECONDS + math.floor((now - SCRAPE_OFFSET_SECONDS) / resolution) \
        * resolution


def cpu_metrics(engine: UsageSource, pods: list[SimPod], now: float,
                pipeline: MetricsPipeline) -> ResourceMetricsData:
    items: dict[str, PodResourceUsage] = {}
    res, window = pipeline.resolution_seconds, pipeline.window_seconds
    last = latest_scrape(now, res)
    if pipeline.kind == "prometheus":
        first = last - math.floor((window - 1e-9) / res) * res  # oldest scrape in the window
        for pod in pods:
            if pod.started <= first < last:
                cores = engine.usage_cores(pod, first, last)
                items[pod.name] = PodResourceUsage(now, window, {CONTAINER: {"cpu":
                                                                             round(cores * 1000)}})
        return ResourceMetricsData(items)
    for pod in pods:
        if pod.started <= last - window:
            cores = engine.usage_cores(pod, last - window, last)
            items[pod.name] = PodResourceUsage(last, window, {CONTAINER: {"cpu":
                                                                          round(cores * 1000)}})
    return ResourceMetricsData(items)


@dataclass(frozen=True)
class SloContext:
    """What the `llm_slo_replicas` metric needs beside the cluster: the spec's block."""

    slo: SloSpec
    max_replicas: int


def metric_data(metrics: tuple[MetricSpec, ...], engine: UsageSource, pods: list[SimPod],
                now: float, pipeline: MetricsPipeline, slo: SloContext | None = None
                ) -> tuple[MetricData, ...]:
    """One entry per metric spec; what the simulator does not model is reported unavailable
    (the pipeline then treats it like any failing metric source)."""
    cpu: ResourceMetricsData | None = None
    out: list[MetricData] = []
    for metric in metrics:
        if slo is not None and metric.type == EXTERNAL and metric.external is not None \
                and metric.external.metric.name == SLO_METRIC_NAME:
            out.append(slo_replicas(engine, slo.slo, pods, now, slo.max_replicas).data)
            continue
        if metric.type == RESOURCE and metric.resource is not None \
                and metric.resource.name == "cpu":
            cpu = cpu or cpu_metrics(engine, pods, now, pipeline)
            out.append(cpu)
        elif metric.type == PODS and metric.pods is not None \
                and metric.pods.metric.name == IN_FLIGHT_METRIC:
            out.append(in_flight_metrics(engine, pods, now))
        else:
            out.append(MetricUnavailable(f"the simulator does not model {metric.type} metrics"
                                         f" other than {IN_FLIGHT_METRIC} and "
                                         f"{SLO_METRIC_NAME} (with sloRecommender)"))
    return tuple(out)
