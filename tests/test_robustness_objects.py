"""Hypothesis over malformed documents of the daemon's input kinds: spec objects and files,
API objects (Pods, PodMetrics lists, Scales), persisted controller state. Each parser returns
a value or raises the project's error: never another exception."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.errors import CoreError
from autoscaler.errors import InputError
from autoscaler.kube.convert import pod_info
from autoscaler.kube.metrics_api import _usages
from autoscaler.kube.scale import _scale_read
from autoscaler.safeload import load_json, load_yaml_documents
from autoscaler.specs.sources import (
    from_custom_resource,
    from_hpa_document,
    from_joint_inference_service,
)
from autoscaler.state_codec import state_from_document

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=24)

VALID_CR: dict[str, Any] = {
    "apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
    "metadata": {"name": "qwen", "namespace": "default", "generation": 2, "uid": "u"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "q"},
             "minReplicas": 1, "maxReplicas": 10, "syncPeriodSeconds": 15,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                 "type": "Utilization", "averageUtilization": 50}}},
                 {"type": "Pods", "pods": {"metric": {"name": "q"}, "target": {
                     "type": "AverageValue", "averageValue": "1"}}}],
             "metricQueries": [{"metric": "q", "query": "sum by (pod) (q)"}],
             "behavior": {"scaleDown": {"stabilizationWindowSeconds": 60, "policies": [
                 {"type": "Percent", "value": 50, "periodSeconds": 60}]}}},
    "status": {"currentReplicas": 2, "desiredReplicas": 2, "conditions": [
        {"type": "AbleToScale", "status": "True", "reason": "x", "message": "y",
         "lastTransitionTime": "2027-01-15T08:00:00Z"}],
        "history": {"recommendations": [{"replicas": 2, "timestamp": "2027-01-15T08:00:00Z"}],
                    "scaleUpEvents": [], "scaleDownEvents": [],
                    "observedAt": "2027-01-15T08:00:00Z", "pendingScale": None}}}
VALID_POD: dict[str, Any] = {
    "metadata": {"name": "p", "namespace": "default", "uid": "u", "labels": {"a": "b"},
                 "ownerReferences": [{"kind": "ReplicaSet", "name": "q-1"}]},
    "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "1"}}}]},
    "status": {"phase": "Running", "startTime": "2027-01-15T08:00:00Z", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": "2027-01-15T08:00:00Z"}]}}
VALID_METRICS: dict[str, Any] = {"items": [{
    "metadata": {"name": "p", "namespace": "default"}, "timestamp": "2027-01-15T08:00:00Z",
    "window": "30s", "containers": [{"name": "c", "usage": {"cpu": "250m"}}]}]}
VALID_SCALE: dict[str, Any] = {"metadata": {"resourceVersion": "7"}, "spec": {"replicas": 2},
                               "status": {"replicas": 2, "selector": "a=b"}}
PATHS = st.lists(st.integers(0, 12) | st.sampled_from(
    ["metadata", "spec", "status", "metrics", "history", "items", "containers", "usage",
     "conditions", "recommendations", "replicas", "target", "behavior", "name"]),
    min_size=1, max_size=6)


def mutate(document: Any, path: list[str | int], value: Any) -> Any:
    """`document` with the field at `path` replaced (keys and indexes as far as they go)."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(document, dict):
        key = head if isinstance(head, str) else (sorted(document)[head % len(document)]
                                                  if document else "x")
        return {**document, key: mutate(document.get(key), rest, value)}
    if isinstance(document, list) and document:
        index = (head if isinstance(head, int) else 0) % len(document)
        return [*document[:index], mutate(document[index], rest, value),
                *document[index + 1:]]
    return value


@settings(max_examples=400, deadline=None)
@given(PATHS, json_values)
def test_spec_objects_always_become_a_managed_spec(path: list[str | int], value: Any) -> None:
    document = mutate(copy.deepcopy(VALID_CR), path, value)
    managed = from_custom_resource(document)
    assert managed.spec is not None or managed.errors
    from_hpa_document(document, "f.yaml#0")
    from_joint_inference_service({"metadata": document.get("metadata"), "spec": {
        "edgeWorker": {"hpa": document.get("spec")}}})


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["pod", "metrics", "scale", "state"]), PATHS, json_values)
def test_api_objects_and_state_parse_or_name_the_field(
        kind: str, path: list[str | int], value: Any) -> None:
    """Not just "no crash" (the adapters' `boundary` would classify anything): the parsers
    themselves answer with an error that names what is wrong (InputError / CoreError), not
    a bare KeyError or TypeError from deep inside."""
    base = {"pod": VALID_POD, "metrics": VALID_METRICS, "scale": VALID_SCALE,
            "state": {"status": VALID_CR["status"], "history": VALID_CR["status"]["history"]}}
    document = mutate(copy.deepcopy(base[kind]), path, value)
    with contextlib.suppress(InputError, CoreError):
        if kind == "pod":
            pod_info(document)
        elif kind == "metrics":
            _usages(document)
        elif kind == "scale":
            _scale_read(document)
        else:
            state_from_document(document)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_yaml_and_json_bytes_parse_or_raise_input_error(data: bytes) -> None:
    for parse in (load_yaml_documents, load_json):
        with contextlib.suppress(InputError):
            parse(data, "f")
