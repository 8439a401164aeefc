"""The manifests under deploy/, validated offline.

Every document of a built-in kind is checked by kubernetes-validate (the Kubernetes OpenAPI
schemas it ships, strict: unknown fields are errors); every ElasticAutoscaler by jsonschema
against the CRD's own openAPIV3Schema. The RBAC, the daemon's security settings, the examples'
fidelity to the seed document and the kustomizations are pinned as tables. Nothing here needs a
network or a cluster (the socket is closed for the whole module), and nothing is skipped: a
missing library is an import error.
"""

from __future__ import annotations

import argparse
import copy
import functools
import importlib.resources
import json
import re
import socket
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml

from autoscaler.cli import build_parser
from autoscaler.testing.patch import json_patch

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BASE = DEPLOY / "base"
LLAMAEDGE = DEPLOY / "examples" / "llamaedge"
SEDNA = DEPLOY / "examples" / "sedna"

Doc = dict[str, Any]

# The oldest Kubernetes we target and the newest the installed kubernetes-validate knows.
K8S_VERSIONS = sorted({"1.33", ".".join(kubernetes_validate.latest_version().split(".")[:2])})

# Kinds that are not built in, each checked by its own tests below.
ELASTIC_AUTOSCALER = ("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler")
JOINT_INFERENCE_SERVICE = ("sedna.io/v1alpha1", "JointInferenceService")
KUSTOMIZATION = ("kustomize.config.k8s.io/v1beta1", "Kustomization")
# The Prometheus Operator's (deploy/monitoring), checked by tests/test_monitoring_manifests.py.
PROMETHEUS_OPERATOR_KINDS = {("monitoring.coreos.com/v1", kind)
                             for kind in ("PrometheusRule", "ServiceMonitor", "PodMonitor")}
CUSTOM_KINDS = {ELASTIC_AUTOSCALER, JOINT_INFERENCE_SERVICE, KUSTOMIZATION,
                *PROMETHEUS_OPERATOR_KINDS}

QUANTITY_PATTERN = (
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|"
    r"([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)
EXTENSION_FIELDS = {"dryRun", "syncPeriodSeconds", "metricsSource", "metricQueries",
                    "sloRecommender"}


# --- loading -------------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"})


def _documents() -> list[tuple[str, Doc]]:
    """(id, document) for every non-empty YAML document under deploy/."""
    out: list[tuple[str, Doc]] = []
    for path in _yaml_files():
        rel = path.relative_to(DEPLOY).as_posix()
        for index, doc in enumerate(yaml.safe_load_all(path.read_text(encoding="utf-8"))):
            if doc is None:
                continue
            assert isinstance(doc, dict), f"{rel}#{index}: not a mapping"
            name = doc.get("metadata", {}).get("name", "")
            out.append((f"{rel}#{index}:{doc.get('kind')}/{name}", doc))
    return out


DOCUMENTS = _documents()


def _kind(doc: Doc) -> tuple[str, str]:
    return (str(doc.get("apiVersion")), str(doc.get("kind")))


def _docs_of(kind: tuple[str, str]) -> list[Any]:
    return [pytest.param(doc, id=doc_id) for doc_id, doc in DOCUMENTS if _kind(doc) == kind]


@functools.cache
def _parse(path: Path) -> list[Any]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _load_one(path: Path) -> Doc:
    """The single document in path (a fresh copy: tests may mutate it)."""
    docs = _parse(path)
    assert len(docs) == 1, f"{path}: expected one document, found {len(docs)}"
    doc = copy.deepcopy(docs[0])
    assert isinstance(doc, dict)
    return doc


def _crd() -> Doc:
    return _load_one(BASE / "crd-elasticautoscalers.yaml")


def _crd_schema() -> Doc:
    (version,) = _crd()["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to reach the network (e.g. a schema download) fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_the_network_is_closed() -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("example.com", 443), timeout=1)


def test_documents_were_found() -> None:
    kinds = {_kind(doc) for _, doc in DOCUMENTS}
    assert {
        ("v1", "Namespace"), ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"), ("apps/v1", "Deployment"),
        ("v1", "Service"), ("autoscaling/v2", "HorizontalPodAutoscaler"),
    } | CUSTOM_KINDS <= kinds


# --- built-in kinds against the Kubernetes schemas ----------------------------------------


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", [
    pytest.param(doc, id=doc_id) for doc_id, doc in DOCUMENTS if _kind(doc) not in CUSTOM_KINDS
])
def test_builtin_kind_validates(doc: Doc, version: str) -> None:
    # SchemaNotFoundError (an unknown kind or a typo in apiVersion) fails the test too.
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize(("path", "mutate", "message"), [
    pytest.param("base/deployment.yaml", lambda d: d["spec"].update(replica=1),
                 "Additional properties are not allowed ('replica' was unexpected)",
                 id="unknown-field"),
    pytest.param("base/service.yaml", lambda d: d["spec"]["ports"][0].update(port="http"),
                 "'http' is not of type 'integer'", id="wrong-type"),
    pytest.param("base/clusterrole.yaml", lambda d: d["rules"][0].pop("verbs"),
                 "'verbs' is a required property", id="missing-required"),
    pytest.param("base/crd-elasticautoscalers.yaml",
                 lambda d: d["spec"]["versions"][0].update(subresources={"stats": {}}),
                 "Additional properties are not allowed ('stats' was unexpected)",
                 id="crd-typo"),
])
def test_kubernetes_validate_rejects(path: str, mutate: Callable[[Doc], object], message: str,
                                     version: str) -> None:
    """The validator is strict, so the test above can fail."""
    doc = copy.deepcopy(_load_one(DEPLOY / path))
    mutate(doc)
    with pytest.raises(kubernetes_validate.ValidationError) as info:
        kubernetes_validate.validate(doc, version, strict=True)
    assert info.value.message == message


# --- the CRD and ElasticAutoscaler documents ----------------------------------------------


def to_json_schema(node: Any) -> Any:
    """A CRD openAPIV3Schema as a JSON Schema (draft 4, OpenAPI 3.0's base).

    `x-kubernetes-int-or-string` becomes `anyOf: [integer, string]`; other x-kubernetes-* keys
    are dropped. Objects with `properties` get `additionalProperties: false` unless they preserve
    unknown fields: the apiserver prunes unknown fields, and kubectl's strict field validation
    (the default) rejects them, so a typo in a manifest must fail here too.
    """
    if isinstance(node, list):
        return [to_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Doc = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in {"items", "additionalProperties", "anyOf", "allOf", "oneOf", "not"}:
            out[key] = to_json_schema(value)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") is True:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node and node.get("x-kubernetes-preserve-unknown-fields") is not True:
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator() -> Any:
    schema = to_json_schema(_crd_schema())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def _schema_nodes(node: Any, path: str = "") -> Iterator[tuple[str, Doc]]:
    if not isinstance(node, dict):
        return
    yield path or ".", node
    for name, sub in node.get("properties", {}).items():
        yield from _schema_nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _schema_nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _schema_nodes(node["additionalProperties"], f"{path}{{}}")


CRD_IDENTITY = [
    pytest.param(("metadata", "name"), "elasticautoscalers.edgeautoscaler.io", id="name"),
    pytest.param(("spec", "group"), "edgeautoscaler.io", id="group"),
    pytest.param(("spec", "scope"), "Namespaced", id="scope"),
    pytest.param(("spec", "names", "kind"), "ElasticAutoscaler", id="kind"),
    pytest.param(("spec", "names", "plural"), "elasticautoscalers", id="plural"),
    pytest.param(("spec", "names", "singular"), "elasticautoscaler", id="singular"),
    pytest.param(("spec", "names", "shortNames"), ["eas"], id="short-names"),
    pytest.param(("spec", "versions", 0, "name"), "v1alpha1", id="version"),
    pytest.param(("spec", "versions", 0, "served"), True, id="served"),
    pytest.param(("spec", "versions", 0, "storage"), True, id="storage"),
    pytest.param(("spec", "versions", 0, "subresources"), {"status": {}}, id="status-subresource"),
]


@pytest.mark.parametrize(("path", "expected"), CRD_IDENTITY)
def test_crd_identity(path: tuple[str | int, ...], expected: object) -> None:
    node: Any = _crd()
    for step in path:
        node = node[step]
    assert node == expected


def test_crd_has_one_version() -> None:
    assert len(_crd()["spec"]["versions"]) == 1


def test_crd_printer_columns_mirror_kubectl_get_hpa() -> None:
    (version,) = _crd()["spec"]["versions"]
    columns = [(c["name"].upper(), c["type"], c["jsonPath"])
               for c in version["additionalPrinterColumns"]]
    assert columns == [
        ("REFERENCE", "string", ".status.reference"),
        ("TARGETS", "string", ".status.targets"),
        ("MINPODS", "integer", ".spec.minReplicas"),
        ("MAXPODS", "integer", ".spec.maxReplicas"),
        ("REPLICAS", "integer", ".status.currentReplicas"),
        ("AGE", "date", ".metadata.creationTimestamp"),
    ]


def test_crd_schema_is_structural() -> None:
    """The apiserver rejects a CRD whose schema is not structural: every node has a type,
    except int-or-string and preserve-unknown-fields nodes; no type inside anyOf/allOf."""
    for path, node in _schema_nodes(_crd_schema()):
        if node.get("x-kubernetes-int-or-string") is True:
            assert "type" not in node, path
            continue
        assert node.get("type") in {"object", "array", "string", "integer", "number",
                                    "boolean"}, path
        if node["type"] == "array":
            assert isinstance(node.get("items"), dict), path
        assert not ("properties" in node and "additionalProperties" in node), path
        assert not {"anyOf", "allOf", "oneOf", "not"} & set(node), path


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param(".spec.dryRun", {"type": "boolean", "default": False}, id="dryRun"),
    pytest.param(".spec.syncPeriodSeconds",
                 {"type": "integer", "format": "int32", "minimum": 1, "maximum": 3600},
                 id="syncPeriodSeconds"),
    pytest.param(".spec.metricsSource",
                 {"type": "string", "enum": ["metrics-api", "prometheus", "auto"],
                  "default": "auto"}, id="metricsSource"),
    pytest.param(".spec.minReplicas", {"type": "integer", "format": "int32", "minimum": 0},
                 id="minReplicas"),
    pytest.param(".spec.maxReplicas", {"type": "integer", "format": "int32", "minimum": 1},
                 id="maxReplicas"),
    pytest.param(".spec.metrics[].object.target.value",
                 {"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN},
                 id="quantity"),
    pytest.param(".spec.behavior.scaleDown.tolerance",
                 {"x-kubernetes-int-or-string": True, "pattern": QUANTITY_PATTERN},
                 id="tolerance"),
    pytest.param(".spec.behavior.scaleUp.policies",
                 {"type": "array", "x-kubernetes-list-type": "atomic"}, id="policies-atomic"),
    pytest.param(".status.currentMetrics[]",
                 {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                 id="currentMetrics"),
    pytest.param(".status.explanation",
                 {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                 id="explanation"),
    pytest.param(".status.observedGeneration", {"type": "integer", "format": "int64"},
                 id="observedGeneration"),
    pytest.param(".status.lastScaleTime", {"type": "string", "format": "date-time"},
                 id="lastScaleTime"),
    pytest.param(".status.reference", {"type": "string"}, id="reference"),
    pytest.param(".status.targets", {"type": "string"}, id="targets"),
    pytest.param(".status.history.scaleUpEvents[].outdated", {"type": "boolean"},
                 id="outdated"),
    pytest.param(".status.conditions[].lastTransitionTime",
                 {"type": "string", "format": "date-time"}, id="lastTransitionTime"),
])
def test_crd_schema_fields(path: str, expected: Doc) -> None:
    nodes = dict(_schema_nodes(_crd_schema()))
    assert path in nodes
    assert expected.items() <= nodes[path].items()


@functools.cache
def _k8s_definitions(version: str) -> Doc:
    """The autoscaling/v2 definitions shipped with kubernetes-validate (read from disk)."""
    root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
    (folder,) = [d for d in root.iterdir() if d.name.startswith(f"v{version}.")
                 and d.name.endswith("-local-strict")]
    defs = json.loads((folder / "_definitions.json").read_text(encoding="utf-8"))["$defs"]
    assert isinstance(defs, dict)
    return defs


def _same_shape(defs: Doc, k8s: Doc, crd: Doc, path: str) -> Iterator[str]:
    """Differences between a Kubernetes definition and the CRD's copy of it."""
    if "$ref" in k8s:
        name = k8s["$ref"].rsplit("/", 1)[-1]
        if name == "io.k8s.apimachinery.pkg.api.resource.Quantity":
            if crd.get("x-kubernetes-int-or-string") is not True or "pattern" not in crd:
                yield f"{path}: a Quantity must be int-or-string with the quantity pattern"
            return
        k8s = {**defs[name], **{k: v for k, v in k8s.items() if k != "$ref"}}
    k8s_type = k8s.get("type", "object")
    k8s_types = {k8s_type} if isinstance(k8s_type, str) else set(k8s_type)
    if crd.get("type") not in k8s_types - {"null"}:
        yield f"{path}: type {crd.get('type')!r}, Kubernetes has {k8s_type!r}"
    if k8s.get("format") != crd.get("format"):
        yield f"{path}: format {crd.get('format')!r}, Kubernetes has {k8s.get('format')!r}"
    if set(k8s.get("required", [])) != set(crd.get("required", [])):
        yield f"{path}: required {crd.get('required')}, Kubernetes has {k8s.get('required')}"
    for key in ("x-kubernetes-list-type", "x-kubernetes-map-type"):
        if key in k8s and k8s[key] != crd.get(key):
            yield f"{path}: {key} {crd.get(key)!r}, Kubernetes has {k8s[key]!r}"
    k8s_props = k8s.get("properties", {})
    crd_props = crd.get("properties", {})
    if set(k8s_props) != set(crd_props):
        yield f"{path}: fields {sorted(crd_props)}, Kubernetes has {sorted(k8s_props)}"
    for name in set(k8s_props) & set(crd_props):
        yield from _same_shape(defs, k8s_props[name], crd_props[name], f"{path}.{name}")
    if "items" in k8s:
        yield from _same_shape(defs, k8s["items"], crd.get("items", {}), f"{path}[]")
    if isinstance(k8s.get("additionalProperties"), dict):
        yield from _same_shape(defs, k8s["additionalProperties"],
                               crd.get("additionalProperties", {}), f"{path}{{}}")


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_crd_spec_is_the_hpa_spec_plus_extensions(version: str) -> None:
    """Field for field, types, formats, required lists and list types: spec is autoscaling/v2
    HorizontalPodAutoscalerSpec, plus dryRun, syncPeriodSeconds and metricsSource."""
    defs = copy.deepcopy(_k8s_definitions(version))
    spec = copy.deepcopy(_crd_schema()["properties"]["spec"])
    assert set(spec["properties"]) >= EXTENSION_FIELDS
    for name in EXTENSION_FIELDS:
        del spec["properties"][name]
    hpa_spec = defs["io.k8s.api.autoscaling.v2.HorizontalPodAutoscalerSpec"]
    assert list(_same_shape(defs, hpa_spec, spec, ".spec")) == []


FULL = """
apiVersion: edgeautoscaler.io/v1alpha1
kind: ElasticAutoscaler
metadata: {name: full, namespace: default, labels: {app: qwen}}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: qwen}
  minReplicas: 0
  maxReplicas: 10
  dryRun: true
  syncPeriodSeconds: 30
  metricsSource: prometheus
  metrics:
    - type: Resource
      resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
    - type: ContainerResource
      containerResource:
        name: memory
        container: server
        target: {type: AverageValue, averageValue: 1.5Gi}
    - type: Pods
      pods:
        metric:
          name: llm_requests_waiting
          selector:
            matchLabels: {app: qwen}
            matchExpressions: [{key: tier, operator: In, values: [edge]}]
        target: {type: AverageValue, averageValue: 500m}
    - type: Object
      object:
        describedObject: {apiVersion: v1, kind: Service, name: qwen}
        metric: {name: requests_per_second}
        target: {type: Value, value: 2k}
    - type: External
      external:
        metric: {name: queue_length, selector: {matchLabels: {queue: llm}}}
        target: {type: AverageValue, averageValue: 30}
  behavior:
    scaleUp:
      stabilizationWindowSeconds: 0
      selectPolicy: Max
      policies:
        - {type: Pods, value: 4, periodSeconds: 15}
        - {type: Percent, value: 100, periodSeconds: 15}
      tolerance: "0.05"
    scaleDown:
      stabilizationWindowSeconds: 3600
      selectPolicy: Disabled
      policies: [{type: Percent, value: 10, periodSeconds: 1800}]
      tolerance: 1e-1
status:
  observedGeneration: 3
  lastScaleTime: "2025-01-01T00:00:00Z"
  currentReplicas: 3
  desiredReplicas: 4
  reference: Deployment/qwen
  targets: 37%/50%
  currentMetrics:
    - type: Resource
      resource: {name: cpu, current: {averageUtilization: 37, averageValue: 1110m}}
  conditions:
    - type: AbleToScale
      status: "True"
      reason: ReadyForNewScale
      message: recommended size matches current size
      lastTransitionTime: "2025-01-01T00:00:00Z"
  history:
    recommendations: [{replicas: 4, timestamp: "2025-01-01T00:00:00Z"}]
    scaleUpEvents: [{replicaChange: 1, timestamp: "2025-01-01T00:00:00Z", outdated: false}]
    scaleDownEvents: []
  explanation: {stage: policies, proposals: [{metric: cpu, replicas: 4}]}
"""


def _full() -> Doc:
    doc = yaml.safe_load(FULL)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("doc", [
    *_docs_of(ELASTIC_AUTOSCALER),
    pytest.param(_full(), id="every-field"),
])
def test_elastic_autoscaler_validates_against_the_crd(doc: Doc) -> None:
    _validator().validate(doc)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", [
    *_docs_of(ELASTIC_AUTOSCALER),
    pytest.param(_full(), id="every-field"),
])
def test_elastic_autoscaler_spec_is_an_hpa_spec(doc: Doc, version: str) -> None:
    """Without the extension fields, the spec is a valid autoscaling/v2 HPA spec."""
    hpa = {
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": doc["metadata"]["name"]},
        "spec": {k: v for k, v in doc["spec"].items() if k not in EXTENSION_FIELDS},
    }
    kubernetes_validate.validate(hpa, version, strict=True)


def _set(path: str, value: object) -> Callable[[Doc], None]:
    """A mutation setting (or, with value DELETE, deleting) a dotted path; ints index lists."""

    def mutate(doc: Doc) -> None:
        *parents, last = [int(p) if p.isdigit() else p for p in path.split(".")]
        node: Any = doc
        for step in parents:
            node = node[step]
        if value is DELETE:
            del node[last]
        else:
            node[last] = value

    return mutate


DELETE = object()


@pytest.mark.parametrize(("mutate", "error_path"), [
    pytest.param(_set("spec.maxReplicas", DELETE), "spec", id="missing-maxReplicas"),
    pytest.param(_set("spec.scaleTargetRef", DELETE), "spec", id="missing-scaleTargetRef"),
    pytest.param(_set("spec.scaleTargetRef.name", DELETE), "spec.scaleTargetRef",
                 id="missing-target-name"),
    pytest.param(_set("spec", DELETE), "", id="missing-spec"),
    pytest.param(_set("spec.maxReplicas", 0), "spec.maxReplicas", id="maxReplicas-0"),
    pytest.param(_set("spec.minReplicas", -1), "spec.minReplicas", id="minReplicas-negative"),
    pytest.param(_set("spec.maxReplicas", "10"), "spec.maxReplicas", id="maxReplicas-string"),
    pytest.param(_set("spec.maxReplica", 10), "spec", id="unknown-field-typo"),
    pytest.param(_set("spec.behavior.scaleUp.selectPolicy", "Maximum"),
                 "spec.behavior.scaleUp.selectPolicy", id="bad-selectPolicy"),
    pytest.param(_set("spec.behavior.scaleUp.policies.0.periodSeconds", 1801),
                 "spec.behavior.scaleUp.policies.0.periodSeconds", id="periodSeconds-1801"),
    pytest.param(_set("spec.behavior.scaleUp.policies.0.periodSeconds", 0),
                 "spec.behavior.scaleUp.policies.0.periodSeconds", id="periodSeconds-0"),
    pytest.param(_set("spec.behavior.scaleDown.policies.0.value", 0),
                 "spec.behavior.scaleDown.policies.0.value", id="policy-value-0"),
    pytest.param(_set("spec.behavior.scaleDown.policies.0.type", "Replicas"),
                 "spec.behavior.scaleDown.policies.0.type", id="bad-policy-type"),
    pytest.param(_set("spec.behavior.scaleDown.policies.0.periodSeconds", DELETE),
                 "spec.behavior.scaleDown.policies.0", id="policy-missing-period"),
    pytest.param(_set("spec.behavior.scaleDown.stabilizationWindowSeconds", 3601),
                 "spec.behavior.scaleDown.stabilizationWindowSeconds",
                 id="stabilizationWindowSeconds-3601"),
    pytest.param(_set("spec.behavior.scaleUp.stabilizationWindowSeconds", -1),
                 "spec.behavior.scaleUp.stabilizationWindowSeconds",
                 id="stabilizationWindowSeconds-negative"),
    pytest.param(_set("spec.metrics.2.pods.target.averageValue", "ten"),
                 "spec.metrics.2.pods.target.averageValue", id="bad-quantity-word"),
    pytest.param(_set("spec.metrics.3.object.target.value", "1.5.0"),
                 "spec.metrics.3.object.target.value", id="bad-quantity-two-dots"),
    pytest.param(_set("spec.metrics.3.object.target.value", "2 k"),
                 "spec.metrics.3.object.target.value", id="bad-quantity-space"),
    pytest.param(_set("spec.behavior.scaleUp.tolerance", "5%"),
                 "spec.behavior.scaleUp.tolerance", id="bad-tolerance"),
    pytest.param(_set("spec.metrics.3.object.target.value", 1.5),
                 "spec.metrics.3.object.target.value", id="quantity-float-not-int-or-string"),
    pytest.param(_set("spec.metrics.0.type", "Custom"), "spec.metrics.0.type",
                 id="bad-metric-type"),
    pytest.param(_set("spec.metrics.0.type", DELETE), "spec.metrics.0", id="missing-metric-type"),
    pytest.param(_set("spec.metrics.0.resource.target.type", "Percent"),
                 "spec.metrics.0.resource.target.type", id="bad-target-type"),
    pytest.param(_set("spec.metrics.0.resource.target.averageUtilization", "50"),
                 "spec.metrics.0.resource.target.averageUtilization",
                 id="averageUtilization-string"),
    pytest.param(_set("spec.metrics.2.pods.metric.name", DELETE), "spec.metrics.2.pods.metric",
                 id="metric-missing-name"),
    pytest.param(_set("spec.metrics.1.containerResource.container", DELETE),
                 "spec.metrics.1.containerResource", id="containerResource-missing-container"),
    pytest.param(_set("spec.metrics.3.object.describedObject", DELETE), "spec.metrics.3.object",
                 id="object-missing-describedObject"),
    pytest.param(_set("spec.metricsSource", "prom"), "spec.metricsSource",
                 id="bad-metricsSource"),
    pytest.param(_set("spec.dryRun", "yes"), "spec.dryRun", id="dryRun-string"),
    pytest.param(_set("spec.syncPeriodSeconds", 0), "spec.syncPeriodSeconds",
                 id="syncPeriodSeconds-0"),
    pytest.param(_set("spec.syncPeriodSeconds", 3601), "spec.syncPeriodSeconds",
                 id="syncPeriodSeconds-3601"),
    pytest.param(_set("status.currentReplicas", "3"), "status.currentReplicas",
                 id="status-currentReplicas-string"),
    pytest.param(_set("status.conditions.0.status", DELETE), "status.conditions.0",
                 id="condition-missing-status"),
])
def test_broken_elastic_autoscaler_is_rejected(mutate: Callable[[Doc], None],
                                               error_path: str) -> None:
    doc = _full()
    _validator().validate(doc)  # the unbroken copy is fine
    mutate(doc)
    errors = list(_validator().iter_errors(doc))
    assert errors, "accepted"
    paths = {".".join(str(p) for p in e.absolute_path) for e in errors}
    assert paths == {error_path}, [e.message for e in errors]


# --- RBAC ---------------------------------------------------------------------------------

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind",
               "impersonate", "approve", "sign", "use"}

# (kind of role, apiGroup, resource) -> verbs, exactly.
RBAC_TABLE: dict[tuple[str, str, str], set[str]] = {
    ("ClusterRole", "apps", "deployments/scale"): {"get", "update", "patch"},
    ("ClusterRole", "apps", "statefulsets/scale"): {"get", "update", "patch"},
    ("ClusterRole", "apps", "replicasets/scale"): {"get", "update", "patch"},
    ("ClusterRole", "apps", "deployments"): {"get", "list", "watch"},
    ("ClusterRole", "apps", "statefulsets"): {"get", "list", "watch"},
    ("ClusterRole", "apps", "replicasets"): {"get", "list", "watch"},
    # the scale paths of a custom-resource target's CRD (autoscaler/kube/custom_targets.py)
    ("ClusterRole", "apiextensions.k8s.io", "customresourcedefinitions"): {"get"},
    ("ClusterRole", "", "pods"): {"get", "list", "watch"},
    ("ClusterRole", "metrics.k8s.io", "pods"): {"get", "list"},
    ("ClusterRole", "edgeautoscaler.io", "elasticautoscalers"): {"get", "list", "watch"},
    ("ClusterRole", "edgeautoscaler.io", "elasticautoscalers/status"): {"get", "update", "patch"},
    ("ClusterRole", "sedna.io", "jointinferenceservices"): {"get", "list", "watch"},
    ("ClusterRole", "", "events"): {"create", "patch"},
    ("ClusterRole", "events.k8s.io", "events"): {"create", "patch"},
    # list/create/update: the shard Leases (one LIST per step, POST, PUT with compare-and-swap);
    # get/patch/create: the state Leases of file and Sedna autoscalers.
    ("Role", "coordination.k8s.io", "leases"): {"get", "list", "create", "update", "patch"},
}


# The daemon's RBAC (deploy/base); the edge agent's is pinned by tests/test_edge_manifests.py.
BASE_DOCUMENTS = [(doc_id, doc) for doc_id, doc in DOCUMENTS if doc_id.startswith("base/")]


def _roles() -> list[Doc]:
    return [doc for _, doc in BASE_DOCUMENTS if _kind(doc)[0] == "rbac.authorization.k8s.io/v1"
            and _kind(doc)[1] in {"ClusterRole", "Role"}]


def _grants() -> dict[tuple[str, str, str], set[str]]:
    grants: dict[tuple[str, str, str], set[str]] = {}
    for role in _roles():
        for rule in role["rules"]:
            assert "nonResourceURLs" not in rule
            assert "resourceNames" not in rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    key = (role["kind"], group, resource)
                    grants.setdefault(key, set()).update(rule["verbs"])
    return grants


@pytest.mark.parametrize(("key", "verbs"), [
    pytest.param(key, verbs, id=f"{key[0]}:{key[1] or 'core'}/{key[2]}")
    for key, verbs in RBAC_TABLE.items()
])
def test_rbac_grants(key: tuple[str, str, str], verbs: set[str]) -> None:
    assert _grants().get(key) == verbs


def test_rbac_grants_nothing_else() -> None:
    assert set(_grants()) == set(RBAC_TABLE)


def test_rbac_has_no_wildcards() -> None:
    for role in _roles():
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert not any("*" in item for item in rule[field]), (role["kind"], rule)


def test_rbac_writes_only_scale_status_events_and_leases() -> None:
    for (_, group, resource), verbs in _grants().items():
        if verbs & WRITE_VERBS:
            assert (resource.endswith("/scale") or resource == "elasticautoscalers/status"
                    or resource in {"events", "leases"}), (group, resource, verbs)
        assert "delete" not in verbs
        assert resource not in {"secrets", "pods/exec", "pods/attach", "serviceaccounts/token"}


def test_role_for_leases_lives_in_the_daemon_namespace() -> None:
    (role,) = [r for r in _roles() if r["kind"] == "Role"]
    assert role["metadata"]["namespace"] == "edge-autoscaler"


@pytest.mark.parametrize("kind", ["ClusterRoleBinding", "RoleBinding"])
def test_bindings_bind_the_daemon_service_account(kind: str) -> None:
    (binding,) = [doc for _, doc in BASE_DOCUMENTS if doc.get("kind") == kind]
    role_kind = kind.removesuffix("Binding")
    (role,) = [r for r in _roles() if r["kind"] == role_kind]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": role_kind,
                                  "name": role["metadata"]["name"]}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "edge-autoscaler",
                                    "namespace": "edge-autoscaler"}]
    if kind == "RoleBinding":
        assert binding["metadata"]["namespace"] == role["metadata"]["namespace"]


# --- the daemon's Deployment and Service -------------------------------------------------


def _daemon() -> Doc:
    return _load_one(BASE / "deployment.yaml")


def _container() -> Doc:
    (container,) = _daemon()["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _effective_security(field: str) -> object:
    """The container's setting, else the pod's (as the kubelet resolves it)."""
    pod = _daemon()["spec"]["template"]["spec"].get("securityContext", {})
    container = _container().get("securityContext", {})
    return container.get(field, pod.get(field))


@pytest.mark.parametrize(("field", "expected"), [
    pytest.param("runAsNonRoot", True, id="runAsNonRoot"),
    pytest.param("runAsUser", 65532, id="runAsUser"),
    pytest.param("runAsGroup", 65532, id="runAsGroup"),
    pytest.param("readOnlyRootFilesystem", True, id="readOnlyRootFilesystem"),
    pytest.param("allowPrivilegeEscalation", False, id="allowPrivilegeEscalation"),
    pytest.param("capabilities", {"drop": ["ALL"]}, id="capabilities"),
    pytest.param("seccompProfile", {"type": "RuntimeDefault"}, id="seccompProfile"),
])
def test_daemon_security_context(field: str, expected: object) -> None:
    assert _effective_security(field) == expected


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param(("metadata", "name"), "edge-autoscaler", id="name"),
    pytest.param(("metadata", "namespace"), "edge-autoscaler", id="namespace"),
    pytest.param(("spec", "replicas"), 2, id="two-replicas"),
    pytest.param(("spec", "template", "spec", "serviceAccountName"), "edge-autoscaler",
                 id="service-account"),
    pytest.param(("spec", "template", "spec", "automountServiceAccountToken"), True,
                 id="token-mounted"),
    pytest.param(("spec", "template", "spec", "hostNetwork"), None, id="no-hostNetwork"),
])
def test_daemon_deployment(path: tuple[str, ...], expected: object) -> None:
    node: Any = _daemon()
    for step in path:
        node = node.get(step) if isinstance(node, dict) else None
    assert node == expected


@pytest.mark.parametrize(("path", "expected"), [
    pytest.param(("image",), "ghcr.io/example/edge-autoscaler:0.1.0", id="image"),
    pytest.param(("args",), ["run", "--metrics-addr", ":8080", "--shards",
                             "--lease-duration", "20", "--renew-deadline", "10",
                             "--lease-retry", "2", "--max-clock-skew", "2",
                             "--request-timeout", "5"], id="args"),
    pytest.param(("ports",), [{"name": "metrics", "containerPort": 8080, "protocol": "TCP"}],
                 id="ports"),
    pytest.param(("livenessProbe", "httpGet"), {"path": "/healthz", "port": "metrics"},
                 id="liveness"),
    pytest.param(("readinessProbe", "httpGet"), {"path": "/readyz", "port": "metrics"},
                 id="readiness"),
    pytest.param(("resources",), {"requests": {"cpu": "50m", "memory": "128Mi"},
                                  "limits": {"memory": "256Mi"}}, id="resources-no-cpu-limit"),
])
def test_daemon_container(path: tuple[str, ...], expected: object) -> None:
    node: Any = _container()
    for step in path:
        node = node[step]
    assert node == expected


def test_daemon_writes_only_to_tmp() -> None:
    pod = _daemon()["spec"]["template"]["spec"]
    mounts = {m["name"]: m["mountPath"] for m in _container()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert mounts == {"tmp": "/tmp"}
    assert set(volumes["tmp"]) == {"name", "emptyDir"}
    assert set(volumes) == {"tmp"}


def test_daemon_spec_dir_volume_is_documented() -> None:
    text = (BASE / "deployment.yaml").read_text(encoding="utf-8")
    assert "#   mountPath: /etc/edge-autoscaler/specs" in text
    assert "--spec-dir" in text
    assert "#   configMap:" in text


def test_daemon_cpu_limit_absence_is_explained() -> None:
    assert "No CPU limit" in (BASE / "deployment.yaml").read_text(encoding="utf-8")


def test_daemon_service_exposes_metrics_to_prometheus() -> None:
    service = _load_one(BASE / "service.yaml")
    pod_labels = _daemon()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["metadata"]["namespace"] == "edge-autoscaler"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8080, "targetPort": "metrics",
                                         "protocol": "TCP"}]
    assert service["metadata"]["annotations"] == {"prometheus.io/scrape": "true",
                                                  "prometheus.io/port": "8080",
                                                  "prometheus.io/path": "/metrics"}


def test_daemon_selector_matches_its_pods() -> None:
    spec = _daemon()["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


# --- several replicas: --shards, the leases Role, spread, disruption budget ---------------


def _pod_labels() -> dict[str, str]:
    labels = _daemon()["spec"]["template"]["metadata"]["labels"]
    assert isinstance(labels, dict)
    return labels


def _daemon_args() -> argparse.Namespace:
    """The container's args through the real parser."""
    return build_parser().parse_args(_container()["args"])


def test_daemon_runs_sharded_with_valid_lease_timing() -> None:
    args = _daemon_args()
    assert args.command == "run" and args.shards and not (args.once or args.dry_run)
    # The daemon refuses anything else at start (autoscaler/cli.py, _check_run_flags).
    assert args.renew_deadline + 2 * args.max_clock_skew < args.lease_duration
    assert args.lease_retry < args.renew_deadline
    # A write admitted just before the renew deadline is answered before a takeover.
    assert args.request_timeout < (args.lease_duration - args.renew_deadline
                                   - args.max_clock_skew)


def test_daemon_identity_and_lease_namespace_come_from_the_downward_api() -> None:
    env = {e["name"]: e.get("valueFrom") for e in _container()["env"]}
    assert env["POD_NAME"] == {"fieldRef": {"fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}
    assert "--identity" not in _container()["args"]  # $POD_NAME: unique per replica
    assert "--state-namespace" not in _container()["args"]  # $POD_NAMESPACE: the Role's


def test_lease_role_covers_what_the_shard_coordinator_calls() -> None:
    """ShardCoordinator: list (a LIST per step), create (POST), update (PUT); nothing
    deletes or watches Leases; no Lease rule is cluster-wide."""
    grants = _grants()
    leases = grants[("Role", "coordination.k8s.io", "leases")]
    assert {"list", "create", "update"} <= leases
    assert not leases & {"watch", "delete", "deletecollection"}
    assert not any(resource == "leases" for kind, _, resource in grants
                   if kind == "ClusterRole")


def test_rollout_replaces_one_replica_at_a_time() -> None:
    assert _daemon()["spec"]["strategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_replicas_spread_over_nodes() -> None:
    (spread,) = _daemon()["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert (spread["topologyKey"], spread["maxSkew"], spread["whenUnsatisfiable"]) == (
        "kubernetes.io/hostname", 1, "DoNotSchedule")
    assert spread["labelSelector"]["matchLabels"].items() <= _pod_labels().items()
    assert spread["labelSelector"]["matchLabels"] == _daemon()["spec"]["selector"]["matchLabels"]


def test_disruption_budget_keeps_one_replica() -> None:
    budget = _load_one(BASE / "poddisruptionbudget.yaml")
    assert _kind(budget) == ("policy/v1", "PodDisruptionBudget")
    assert budget["metadata"]["namespace"] == _daemon()["metadata"]["namespace"]
    assert budget["spec"]["minAvailable"] == 1 < _daemon()["spec"]["replicas"]
    assert budget["spec"]["selector"] == _daemon()["spec"]["selector"]


# --- overlays, rendered offline (the subset of kustomize they use) ------------------------

OVERLAY_HA = DEPLOY / "overlays" / "ha"


def _build(directory: Path) -> list[Doc]:
    """`kustomize build` for what this repository's kustomizations use: resources (files, or
    directories with a kustomization) and JSON 6902 patches with a target; any other field
    fails here rather than being ignored. (`kubectl kustomize deploy/overlays/ha` renders the
    same objects.)"""
    kustomization = _load_one(directory / "kustomization.yaml")
    assert set(kustomization) <= {"apiVersion", "kind", "resources", "patches"}, directory
    docs: list[Doc] = []
    for resource in kustomization["resources"]:
        path = directory / resource
        docs += _build(path) if path.is_dir() else copy.deepcopy(_parse(path))
    for patch in kustomization.get("patches", []):
        target = patch["target"]
        assert set(patch) == {"target", "patch"} and set(target) <= {
            "group", "version", "kind", "name"}
        api_version = "/".join(p for p in (target.get("group"), target["version"]) if p)
        matched = [i for i, d in enumerate(docs) if _kind(d) == (api_version, target["kind"])
                   and d["metadata"]["name"] == target["name"]]
        assert len(matched) == 1, target
        docs[matched[0]] = json_patch(docs[matched[0]], yaml.safe_load(patch["patch"]))
    return docs


def _built(kind: str, name: str = "edge-autoscaler") -> Doc:
    (doc,) = [d for d in _build(OVERLAY_HA) if d["kind"] == kind
              and d["metadata"]["name"] == name]
    return doc


def test_ha_overlay_renders_the_base_with_three_replicas() -> None:
    deployment = _built("Deployment")
    assert deployment["spec"]["replicas"] == 3
    assert _built("PodDisruptionBudget")["spec"]["minAvailable"] == 2


def test_ha_overlay_never_puts_two_replicas_on_one_node() -> None:
    pod = _built("Deployment")["spec"]["template"]["spec"]
    (rule,) = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    assert rule["labelSelector"]["matchLabels"].items() <= _pod_labels().items()
    assert pod["affinity"]["nodeAffinity"] == _daemon()["spec"]["template"]["spec"][
        "affinity"]["nodeAffinity"]  # still off the edge nodes
    assert [(c["topologyKey"], c["whenUnsatisfiable"]) for c in pod[
        "topologySpreadConstraints"]] == [("kubernetes.io/hostname", "DoNotSchedule"),
                                          ("topology.kubernetes.io/zone", "ScheduleAnyway")]


def test_ha_overlay_changes_nothing_else() -> None:
    """The same objects as the base; only the patched fields differ."""
    base = _build(BASE)
    built = _build(OVERLAY_HA)
    assert [(_kind(d), d["metadata"]["name"]) for d in built] == [
        (_kind(d), d["metadata"]["name"]) for d in base]
    for before, patched in zip(base, built, strict=True):
        after = copy.deepcopy(patched)  # the overlay's object with its patches undone
        if after["kind"] == "Deployment":
            after["spec"]["replicas"] = before["spec"]["replicas"]
            pod = after["spec"]["template"]["spec"]
            del pod["affinity"]["podAntiAffinity"]
            pod["topologySpreadConstraints"] = pod["topologySpreadConstraints"][:1]
        elif after["kind"] == "PodDisruptionBudget":
            after["spec"]["minAvailable"] = before["spec"]["minAvailable"]
        assert after == before, after["kind"]


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("kind", ["Deployment", "PodDisruptionBudget"])
def test_ha_overlay_patched_objects_validate(kind: str, version: str) -> None:
    kubernetes_validate.validate(_built(kind), version, strict=True)


# --- Dockerfile ---------------------------------------------------------------------------


def _dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    out = []
    for line in lines:
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    return out


def test_dockerfile_runtime_stage() -> None:
    instructions = _dockerfile_instructions()
    froms = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert froms == ["python:3.11-slim AS build", "python:3.11-slim AS runtime"]
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    runtime = instructions[last_from:]
    assert ("USER", "65532:65532") in runtime
    assert ("ENTRYPOINT", '["autoscaler"]') in runtime
    assert ("CMD", '["run"]') in runtime
    assert not any(re.search(r"\b(gcc|build-essential|apt-get)\b", rest) for _, rest in runtime)


def test_dockerfile_entrypoint_is_the_console_script() -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "autoscaler" in pyproject["project"]["scripts"]
    assert ("ENTRYPOINT", '["autoscaler"]') in _dockerfile_instructions()


def test_dockerfile_copies_paths_that_exist() -> None:
    for keyword, rest in _dockerfile_instructions():
        if keyword == "COPY" and not rest.startswith("--from"):
            *sources, _ = rest.split()
            for source in sources:
                assert (ROOT / source).exists(), source
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    for needed in ("pyproject.toml", "README.md", "LICENSE", "algorithms/", "autoscaler/"):
        assert f"!{needed}" in ignore


def test_the_image_builds_what_pyproject_declares() -> None:
    """The build needs the licence files pyproject names; the image gets the proxy extra
    (the LlamaEdge examples run llm-proxy from it), never the test harness or matplotlib."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    copied = {source for keyword, rest in _dockerfile_instructions() if keyword == "COPY"
              for source in rest.split()[:-1]}
    for licence in pyproject["project"]["license-files"]:
        assert licence in copied or licence.split("/")[0] in copied, licence
    args = [rest for keyword, rest in _dockerfile_instructions() if keyword == "ARG"]
    assert args == ["EXTRAS=proxy", "EXTRAS=proxy"]
    assert set(pyproject["project"]["optional-dependencies"]) >= {"proxy", "replay"}
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8")
    assert "autoscaler/testing/" in ignore.splitlines()
    assert "matplotlib" not in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").split(
        "FROM python:3.11-slim AS runtime")[1]


# --- examples -----------------------------------------------------------------------------

QWEN = "wasmedge-qwen-2-0-5b-allminilm-2"


def test_llamaedge_deployment_is_the_seeds() -> None:
    deployment = _load_one(LLAMAEDGE / "deployment.yaml")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert deployment["metadata"]["name"] == QWEN
    assert "replicas" not in deployment["spec"]
    assert container["image"] == "docker.io/secondstate/qwen-2-0.5b-allminilm-2:latest"
    assert container["resources"] == {"limits": {"cpu": "3000m"}, "requests": {"cpu": "3000m"}}
    assert pod["tolerations"] == [{"key": "node-role.kubernetes.io/edge", "operator": "Exists",
                                   "effect": "NoSchedule"}]
    (term,) = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": "kubernetes.io/hostname", "operator": "In",
                                         "values": ["edgenode"]}]


# The seed's Deployment and Service, as adapted by each LlamaEdge example.
LLAMAEDGE_EXAMPLES = [
    pytest.param(DEPLOY / "examples" / name, id=name)
    for name in ("llamaedge", "llamaedge-inflight", "llamaedge-slo", "llamaedge-wasm")
]


@pytest.mark.parametrize("example", LLAMAEDGE_EXAMPLES)
def test_llamaedge_has_no_host_network_and_no_pinned_node(example: Path) -> None:
    pod = _load_one(example / "deployment.yaml")["spec"]["template"]["spec"]
    assert pod.get("hostNetwork", False) is False
    assert "nodeName" not in pod


@pytest.mark.parametrize("example", LLAMAEDGE_EXAMPLES)
def test_llamaedge_service_selects_the_pods(example: Path) -> None:
    deployment = _load_one(example / "deployment.yaml")
    service = _load_one(example / "service.yaml")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["type"] == "ClusterIP"
    assert service["metadata"]["namespace"] == deployment["metadata"]["namespace"]
    assert service["spec"]["selector"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    port_names = {p["name"] for c in deployment["spec"]["template"]["spec"]["containers"]
                  for p in c.get("ports", [])}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= port_names


SEED_HPA_SPEC = {
    "maxReplicas": 10,
    "metrics": [{"resource": {"name": "cpu",
                              "target": {"averageUtilization": 50, "type": "Utilization"}},
                 "type": "Resource"}],
    "minReplicas": 1,
    "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": QWEN},
}


@pytest.mark.parametrize(("path", "kind"), [
    pytest.param(LLAMAEDGE / "elasticautoscaler.yaml", ELASTIC_AUTOSCALER, id="elasticautoscaler"),
    pytest.param(LLAMAEDGE / "specs" / "hpa.yaml", ("autoscaling/v2", "HorizontalPodAutoscaler"),
                 id="plain-hpa"),
])
def test_llamaedge_autoscaler_is_the_seeds_hpa(path: Path, kind: tuple[str, str]) -> None:
    doc = _load_one(path)
    assert _kind(doc) == kind
    assert doc["metadata"]["namespace"] == "default"
    assert doc["spec"] == SEED_HPA_SPEC


SEDNA_HPA = [
    pytest.param("edgeWorker", 1, 2, 50, id="edge-1..2-at-50"),
    pytest.param("cloudWorker", 1, 5, 20, id="cloud-1..5-at-20"),
]


def _sedna() -> Doc:
    doc = _load_one(SEDNA / "jointinferenceservice.yaml")
    assert _kind(doc) == JOINT_INFERENCE_SERVICE
    return doc


@pytest.mark.parametrize(("worker", "min_replicas", "max_replicas", "utilization"), SEDNA_HPA)
def test_sedna_hpa_blocks_carry_the_seeds_numbers(
    worker: str, min_replicas: int, max_replicas: int, utilization: int,
) -> None:
    assert _sedna()["spec"][worker]["hpa"] == {
        "minReplicas": min_replicas,
        "maxReplicas": max_replicas,
        "metrics": [{"resource": {"name": "cpu", "target": {"averageUtilization": utilization,
                                                            "type": "Utilization"}},
                     "type": "Resource"}],
    }


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("worker", ["edgeWorker", "cloudWorker"])
def test_sedna_worker_is_valid_kubernetes(worker: str, version: str) -> None:
    """Sedna's HPA is HorizontalPodAutoscalerSpec without scaleTargetRef (the controller fills
    it in) and each template is a PodTemplateSpec: both validate as built-in objects."""
    block = _sedna()["spec"][worker]
    assert set(block["hpa"]) <= {"minReplicas", "maxReplicas", "metrics", "behavior"}
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": f"hpa-{worker}"},
           "spec": {**block["hpa"], "scaleTargetRef": {"apiVersion": "apps/v1",
                                                       "kind": "Deployment", "name": worker}}}
    kubernetes_validate.validate(hpa, version, strict=True)
    template = {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": worker},
                "template": block["template"]}
    kubernetes_validate.validate(template, version, strict=True)


@pytest.mark.parametrize(("worker", "keys", "model"), [
    pytest.param("edgeWorker", {"model", "hardExampleMining", "template", "hpa"},
                 "helmet-detection-inference-little-model", id="edge"),
    pytest.param("cloudWorker", {"model", "template", "hpa"},
                 "helmet-detection-inference-big-model", id="cloud"),
])
def test_sedna_structure_is_the_seeds(worker: str, keys: set[str], model: str) -> None:
    doc = _sedna()
    assert doc["metadata"] == {"name": "helmet-detection-inference-example",
                               "namespace": "default"}
    assert set(doc["spec"]) == {"edgeWorker", "cloudWorker"}
    assert set(doc["spec"][worker]) == keys
    assert doc["spec"][worker]["model"] == {"name": model}


# --- kustomizations -----------------------------------------------------------------------


def _kustomizations() -> list[Any]:
    return [pytest.param(path, id=path.parent.relative_to(DEPLOY).as_posix())
            for path in sorted(DEPLOY.rglob("kustomization.yaml"))]


def test_every_manifest_directory_has_a_kustomization() -> None:
    dirs = {p.parent.relative_to(DEPLOY).as_posix() for p in DEPLOY.rglob("kustomization.yaml")}
    assert dirs == {"base", "edge", "examples/llamaedge", "examples/llamaedge-inflight",
                    "examples/llamaedge-slo", "examples/llamaedge-wasm", "examples/sedna",
                    "monitoring", "overlays/ha"}


@pytest.mark.parametrize("path", _kustomizations())
def test_kustomization_references_files_that_exist(path: Path) -> None:
    kustomization = _load_one(path)
    assert _kind(kustomization) == KUSTOMIZATION
    resources = kustomization["resources"]
    assert resources
    assert len(resources) == len(set(resources))
    for resource in resources:
        target = path.parent / resource
        assert target.is_file() or (target / "kustomization.yaml").is_file(), resource


# Files deliberately left out of their directory's kustomization, with the reason.
NOT_IN_KUSTOMIZATION = {
    # A real HPA next to the ElasticAutoscaler would make two controllers fight.
    "examples/llamaedge/specs/hpa.yaml",
}


def test_kustomizations_list_every_manifest() -> None:
    listed = set()
    for path in DEPLOY.rglob("kustomization.yaml"):
        for resource in _load_one(path)["resources"]:
            if (path.parent / resource).is_dir():
                continue  # another kustomization (an overlay's base): listed there
            listed.add((path.parent / resource).resolve().relative_to(DEPLOY).as_posix())
    manifests = {p.relative_to(DEPLOY).as_posix() for p in _yaml_files()
                 if p.name != "kustomization.yaml"}
    assert manifests - listed == NOT_IN_KUSTOMIZATION
    assert listed <= manifests


def test_base_lists_the_crd_before_any_elastic_autoscaler() -> None:
    resources = _load_one(BASE / "kustomization.yaml")["resources"]
    assert "crd-elasticautoscalers.yaml" in resources
    assert "namespace.yaml" in resources
    for path in resources:
        assert all(_kind(d) != ELASTIC_AUTOSCALER
                   for d in yaml.safe_load_all((BASE / path).read_text(encoding="utf-8")) if d)
