"""`spec.sloRecommender` through every spec source: the CRD and files carry it, an invalid
block or a half-wired one makes the autoscaler invalid with field paths (never a crash,
never a silently unavailable metric), Sedna's plain autoscaling/v2 has no such block."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from algorithms.slo.model import PanicSpec, SloSpec
from autoscaler.specs.sources import (
    from_custom_resource,
    from_directory,
    from_joint_inference_service,
)

SLO_METRIC = {"type": "External", "external": {
    "metric": {"name": "llm_slo_replicas"},
    "target": {"type": "AverageValue", "averageValue": "1"}}}


def elastic(**spec: Any) -> dict[str, Any]:
    body = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
            "minReplicas": 1, "maxReplicas": 10, "metrics": [SLO_METRIC], **spec}
    return {"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
            "metadata": {"name": "llm", "namespace": "ns"}, "spec": body}


@pytest.mark.parametrize(("obj", "slo", "errors"), [
    pytest.param(elastic(sloRecommender={"ttftSeconds": 2, "panic": {}}),
                 SloSpec(ttft_seconds=2.0, panic=PanicSpec()), [], id="wired"),
    pytest.param(elastic(), None, ["spec.sloRecommender: Required value"],
                 id="metric-without-block"),
    pytest.param(elastic(sloRecommender={"attainment": 2}), None,
                 ["spec.sloRecommender.attainment: Invalid value: 2"], id="bad-field"),
    pytest.param(elastic(sloRecommender=[]), None,
                 ["spec.sloRecommender: Invalid value: []: must be an object"],
                 id="not-an-object"),
    pytest.param(elastic(sloRecommender={}, metrics=[{"type": "Resource", "resource": {
        "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]), None,
                 ["spec.metrics: Required value"], id="block-without-metric"),
    pytest.param(elastic(sloRecommender={}, metricQueries=[{
        "metric": "llm_slo_replicas", "query": "vector(3)"}]), None,
                 ["spec.metricQueries[0].metric: Invalid value: 'llm_slo_replicas': computed "
                  "by spec.sloRecommender"], id="query-for-the-recommenders-metric"),
    pytest.param(elastic(sloRecommender={"ttftSeconds": -1}, maxReplicas="x"), None,
                 ["spec.maxReplicas: Invalid value: 'x'",
                  "spec.sloRecommender.ttftSeconds: Invalid value: -1"],
                 id="errors-of-both-at-once"),
])
def test_custom_resource(obj: dict[str, Any], slo: SloSpec | None, errors: list[str]) -> None:
    managed = from_custom_resource(obj)
    assert managed.slo == slo
    assert len(managed.errors) == len(errors), managed.errors
    for got, expected in zip(managed.errors, errors, strict=True):
        assert expected in got
    assert (managed.spec is None) == bool(errors)


def test_files_carry_the_block(tmp_path: Path) -> None:
    (tmp_path / "llm.yaml").write_text(
        "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\n"
        "metadata: {name: llm}\n"
        "spec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: llm}\n"
        "  maxReplicas: 4\n"
        "  metrics: [{type: External, external: {metric: {name: llm_slo_replicas}, "
        "target: {type: AverageValue, averageValue: '1'}}}]\n"
        "  sloRecommender: {routing: least-in-flight}\n", encoding="utf-8")
    [managed] = from_directory(tmp_path)
    assert managed.errors == ()
    assert managed.slo == SloSpec(routing="least-in-flight")


def test_sedna_hpa_cannot_name_the_recommenders_metric() -> None:
    jis = {"metadata": {"name": "svc", "namespace": "ns"}, "spec": {"edgeWorker": {"hpa": {
        "minReplicas": 1, "maxReplicas": 3, "metrics": [SLO_METRIC]}}}}
    [managed] = from_joint_inference_service(jis)
    assert managed.spec is None and managed.slo is None
    assert managed.errors == ("spec.edgeWorker.hpa.sloRecommender: Required value: must be "
                              "set: spec.edgeWorker.hpa.metrics[0] names llm_slo_replicas, "
                              "the recommender's metric",)
