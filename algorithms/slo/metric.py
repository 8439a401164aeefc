"""The `llm_slo_replicas` External metric: the one call of the daemon and of replay.

The value is the recommended replica count in milli-units (6 replicas = 6000), so the HPA's
External math with target AverageValue 1 gives desired = ceil(6000 / 1000 / 1) = 6 and the
pipeline (tolerance, stabilization, policies, min/max) applies as to any metric. When the
recommender cannot answer, the metric is unavailable with its reason: never a zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.observation import ExternalMetricData, MetricData, MetricUnavailable
from algorithms.slo.errors import SloUnavailable
from algorithms.slo.model import SloObservation, SloSpec
from algorithms.slo.recommend import Recommendation, recommend


@dataclass(frozen=True, slots=True)
class SloMetric:
    """The metric's data for `decide`, and the recommendation behind it (None if failed)."""

    data: MetricData
    recommendation: Recommendation | None


def slo_metric(spec: SloSpec, observation: SloObservation, current_replicas: int,
               max_replicas: int) -> SloMetric:
    try:
        recommendation = recommend(spec, observation, current_replicas, max_replicas)
    except SloUnavailable as error:
        return SloMetric(MetricUnavailable(str(error)), None)
    return SloMetric(ExternalMetricData((recommendation.replicas * 1000,)), recommendation)
