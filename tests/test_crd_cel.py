"""The CRD's CEL rules (x-kubernetes-validations), evaluated offline, and their agreement with
the daemon's own validation.

Every rule of deploy/base/crd-elasticautoscalers.yaml is collected with its schema path and
evaluated by cel-python (celpy) against the matching sub-objects of an ElasticAutoscaler, with
`self` typed as the apiserver types it (integer -> int, number -> double, int-or-string -> int
or string, unknown fields pruned, null fields dropped). The Kubernetes quantity library
(`quantity()`, `isQuantity()`, `sign()`, `compareTo()`) is supplied here on top of
`algorithms.quantity`, the project's port of `resource.ParseQuantity`.

The CRD's verdict is the OpenAPI schema (jsonschema, strict as kubectl's field validation),
the list-map key uniqueness the apiserver enforces, and every CEL rule. The daemon's verdict
is `autoscaler.specs.sources.from_custom_resource` (checked_spec, checked_slo and the extension
fields). They must agree, except where a named reason below says why not; for those the one
direction that still holds is asserted.

Static checks stand in for the apiserver's CEL compiler where celpy is more lenient: every
`self....` field a rule names exists in the schema, every fieldPath resolves, every reason is
one the apiserver accepts, and a coarse cost model keeps the rules inside the apiserver's
static budget (10M per rule times the lists' maxItems, 100M in all).
"""

from __future__ import annotations

import contextlib
import copy
import functools
import math
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import celpy
import jsonschema  # type: ignore[import-untyped]
import pytest
import yaml
from celpy import celtypes
from celpy.evaluation import CELEvalError, CELFunction, Result
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from strategies import valid_specs

from algorithms.quantity import QuantityError, parse_quantity
from algorithms.spec_codec import spec_to_dict
from autoscaler.specs.sources import from_custom_resource

ROOT = Path(__file__).resolve().parent.parent
CRD_PATH = ROOT / "deploy" / "base" / "crd-elasticautoscalers.yaml"
Doc = dict[str, Any]
INT32_MAX = 2**31 - 1

# The reasons the apiserver accepts for a rule (apiextensions validation).
REASONS = {"FieldValueRequired", "FieldValueForbidden", "FieldValueInvalid",
           "FieldValueDuplicate"}


# --- the CRD ---------------------------------------------------------------------------------


@functools.cache
def _crd() -> Doc:
    doc = yaml.safe_load(CRD_PATH.read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def _schema() -> Doc:
    (version,) = _crd()["spec"]["versions"]
    schema = version["schema"]["openAPIV3Schema"]
    assert isinstance(schema, dict)
    return schema


def _nodes(node: Doc, path: str = "") -> Iterator[tuple[str, Doc]]:
    """(schema path, node): `.spec.metrics[].object.target`, `{}` for additionalProperties."""
    yield path, node
    for name, sub in node.get("properties", {}).items():
        yield from _nodes(sub, f"{path}.{name}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


@dataclass(frozen=True)
class Rule:
    node: str  # schema path of the node the rule sits on
    rule: str
    message: str
    field_path: str
    reason: str

    @property
    def key(self) -> str:
        return f"{self.node or '.'}{self.field_path}: {self.message}"


def _rules_of(node: Doc, path: str) -> list[Rule]:
    return [Rule(path, r["rule"], r.get("message", ""), r.get("fieldPath", ""),
                 r.get("reason", "FieldValueInvalid"))
            for r in node.get("x-kubernetes-validations", [])]


@functools.cache
def _all_rules() -> tuple[Rule, ...]:
    return tuple(rule for path, node in _nodes(_schema()) for rule in _rules_of(node, path))


def _resolve(node: Doc, dotted: str) -> Doc | None:
    """The schema node `dotted` (".a.b") names below `node`, or None."""
    for name in (p for p in dotted.split(".") if p):
        props = node.get("properties", {})
        if name not in props:
            return None
        node = props[name]
    return node


# --- the Kubernetes quantity library for celpy -----------------------------------------------


class CelQuantity(celtypes.StringType):
    """A parsed quantity: the string it was written as, and its exact value."""

    amount: Fraction

    def __new__(cls, text: str, amount: Fraction) -> CelQuantity:
        made = str.__new__(cls, text)
        made.amount = amount
        return made


def _quantity(text: celtypes.Value) -> Result:
    if not isinstance(text, celtypes.StringType):
        return CELEvalError(f"quantity() of {type(text).__name__}")
    try:
        return CelQuantity(str(text), parse_quantity(str(text)).value)
    except QuantityError as exc:
        return CELEvalError(str(exc))


def _is_quantity(text: celtypes.Value) -> Result:
    return celtypes.BoolType(isinstance(_quantity(text), CelQuantity))


def _sign(q: celtypes.Value) -> Result:
    if not isinstance(q, CelQuantity):
        return CELEvalError("sign() needs a quantity")
    return celtypes.IntType((q.amount > 0) - (q.amount < 0))


def _compare_to(a: celtypes.Value, b: celtypes.Value) -> Result:
    if not isinstance(a, CelQuantity) or not isinstance(b, CelQuantity):
        return CELEvalError("compareTo() needs two quantities")
    return celtypes.IntType((a.amount > b.amount) - (a.amount < b.amount))


FUNCTIONS: dict[str, CELFunction] = {
    "quantity": _quantity, "isQuantity": _is_quantity, "sign": _sign,
    "compareTo": _compare_to,
}


@functools.cache
def _program(text: str) -> celpy.Runner:
    # celpy.Environment() raises the interpreter's recursion limit for good; put it back, as
    # Hypothesis warns about a limit changed under it (and our rules are shallow).
    limit = sys.getrecursionlimit()
    try:
        env = celpy.Environment()
        return env.program(env.compile(text), functions=FUNCTIONS)
    finally:
        sys.setrecursionlimit(limit)


# --- typing `self` as the apiserver does --------------------------------------------------------


class _MismatchError(Exception):
    """The value does not have the schema's type: the schema refuses the object. Such a
    field (or list item) is left out of its parent's CEL value, and the rules of its own node
    fail."""


def to_cel(node: Doc, value: Any) -> celtypes.Value:
    if node.get("x-kubernetes-int-or-string") is True:
        if isinstance(value, int) and not isinstance(value, bool):
            return celtypes.IntType(value)
        if isinstance(value, str):
            return celtypes.StringType(value)
        raise _MismatchError(value)
    kind = node.get("type")
    if kind == "object" and isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        out = celtypes.MapType()
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else None)
            if sub is not None and item is not None:  # unknown fields are pruned
                with contextlib.suppress(_MismatchError):  # left out: the schema refuses it
                    out[celtypes.StringType(key)] = to_cel(sub, item)
        return out
    if kind == "array" and isinstance(value, list):
        items = celtypes.ListType()
        for item in value:
            with contextlib.suppress(_MismatchError):
                items.append(to_cel(node["items"], item))
        return items
    if kind == "string" and isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, bool):
        if kind == "boolean":
            return celtypes.BoolType(value)
        raise _MismatchError(value)
    if kind == "integer" and isinstance(value, int):
        return celtypes.IntType(value)
    if kind == "number" and isinstance(value, (int, float)):
        return celtypes.DoubleType(float(value))
    raise _MismatchError(value)


@dataclass(frozen=True)
class Failure:
    rule: Rule
    path: str  # the instance's path plus the rule's fieldPath
    error: str = ""  # an evaluation error (an error refuses the object too)

    def __str__(self) -> str:
        return f"{self.path}: {self.rule.message}" + (f" [{self.error}]" if self.error else "")


def _instances(node: Doc, value: Any, schema_path: str = "", path: str = ""
               ) -> Iterator[tuple[Doc, str, str, Any]]:
    """(schema node, schema path, instance path, value) for every value the schema types."""
    yield node, schema_path, path, value
    if node.get("type") == "object" and isinstance(value, dict):
        props, extra = node.get("properties", {}), node.get("additionalProperties")
        for key, item in value.items():
            if item is None:
                continue
            if key in props:
                yield from _instances(props[key], item, f"{schema_path}.{key}", f"{path}.{key}")
            elif isinstance(extra, dict):
                yield from _instances(extra, item, f"{schema_path}{{}}", f"{path}.{key}")
    elif node.get("type") == "array" and isinstance(value, list):
        for index, item in enumerate(value):
            yield from _instances(node["items"], item, f"{schema_path}[]", f"{path}[{index}]")


def _passes(rule: Rule, self_value: celtypes.Value) -> tuple[bool, str]:
    try:
        result = _program(rule.rule).evaluate({"self": self_value})
    except CELEvalError as exc:
        return False, str(exc.args[0] if exc.args else exc)
    if isinstance(result, CELEvalError):
        return False, str(result.args[0] if result.args else result)
    if not isinstance(result, celtypes.BoolType):
        return False, f"not a bool: {result!r}"
    return bool(result), ""


def cel_failures(doc: Doc) -> list[Failure]:
    """Every rule that refuses `doc` (a whole ElasticAutoscaler object)."""
    failures: list[Failure] = []
    for node, schema_path, path, value in _instances(_schema(), _drop_nulls(doc)):
        rules = _rules_of(node, schema_path)
        if not rules:
            continue
        try:
            self_value = to_cel(node, value)
        except _MismatchError as exc:
            failures += [Failure(r, path.lstrip(".") + r.field_path, f"type {exc}")
                         for r in rules]
            continue
        for rule in rules:
            ok, error = _passes(rule, self_value)
            if not ok:
                failures.append(Failure(rule, path.lstrip(".") + rule.field_path, error))
    return failures


def _drop_nulls(value: Any) -> Any:
    """The apiserver prunes null fields of non-nullable schemas before validating."""
    if isinstance(value, dict):
        return {k: _drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


# --- the CRD's whole verdict: schema, list-map keys, CEL -------------------------------------


def _json_schema(node: Any) -> Any:
    """openAPIV3Schema as JSON Schema draft 4; objects closed, as kubectl's strict field
    validation refuses unknown fields; int-or-string as integer or string."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out: Doc = {}
    for key, value in node.items():
        if key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            out[key] = {name: _json_schema(sub) for name, sub in value.items()}
        elif key in {"items", "additionalProperties"}:
            out[key] = _json_schema(value)
        else:
            out[key] = value
    if node.get("x-kubernetes-int-or-string") is True:
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node and node.get("x-kubernetes-preserve-unknown-fields") is not True:
        out["additionalProperties"] = False
    return out


@functools.cache
def _validator() -> Any:
    schema = _json_schema(_schema())
    jsonschema.Draft4Validator.check_schema(schema)
    return jsonschema.Draft4Validator(schema)


def schema_errors(doc: Doc) -> list[tuple[str, str, str]]:
    """(path, keyword, message) for every OpenAPI schema error, and list-map duplicates."""
    doc = _drop_nulls(doc)
    errors = [(".".join(str(p) for p in e.absolute_path), str(e.validator), e.message)
              for e in _validator().iter_errors(doc)]
    for node, _, path, value in _instances(_schema(), doc):
        keys = node.get("x-kubernetes-list-map-keys")
        if node.get("x-kubernetes-list-type") == "map" and isinstance(value, list) and keys:
            seen = set()
            for index, item in enumerate(value):
                key = tuple(str(item.get(k)) for k in keys) if isinstance(item, dict) else ()
                if key in seen:
                    errors.append((f"{path.lstrip('.')}[{index}]", "Duplicate value", str(key)))
                seen.add(key)
    return errors


def crd_refusals(spec: Any) -> list[str]:
    doc = _object(spec)
    return ([f"{p}: {k}: {m}" for p, k, m in schema_errors(doc)]
            + [str(f) for f in cel_failures(doc)])


def daemon_refusals(spec: Any) -> tuple[str, ...]:
    return from_custom_resource(_object(spec)).errors


def _object(spec: Any) -> Doc:
    return {"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
            "metadata": {"name": "web", "namespace": "default"}, "spec": spec}


# --- seeds -------------------------------------------------------------------------------------


def _minimal() -> Doc:
    return {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "maxReplicas": 5}


def _full() -> Doc:
    """Every metric source, both directions of behavior, every extension field."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "qwen"},
        "minReplicas": 0, "maxReplicas": 10, "dryRun": True, "syncPeriodSeconds": 30,
        "metricsSource": "prometheus",
        "metrics": [
            {"type": "Resource", "resource": {
                "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
            {"type": "ContainerResource", "containerResource": {
                "name": "memory", "container": "server",
                "target": {"type": "AverageValue", "averageValue": "1.5Gi"}}},
            {"type": "Pods", "pods": {
                "metric": {"name": "llm_requests_waiting",
                           "selector": {"matchLabels": {"app": "qwen"}}},
                "target": {"type": "AverageValue", "averageValue": "500m"}}},
            {"type": "Object", "object": {
                "describedObject": {"apiVersion": "v1", "kind": "Service", "name": "qwen"},
                "metric": {"name": "requests_per_second"},
                "target": {"type": "Value", "value": "2k"}}},
            {"type": "External", "external": {
                "metric": {"name": "queue_length"},
                "target": {"type": "AverageValue", "averageValue": 30}}},
        ],
        "behavior": {
            "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                        "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                                     {"type": "Percent", "value": 100, "periodSeconds": 15}],
                        "tolerance": "0.05"},
            "scaleDown": {"stabilizationWindowSeconds": 3600, "selectPolicy": "Disabled",
                          "policies": [{"type": "Percent", "value": 10, "periodSeconds": 1800}],
                          "tolerance": 0},
        },
        "metricQueries": [
            {"metric": "llm_requests_waiting", "query": "sum(llm_waiting{pod=~\"{{pods}}\"})"},
            {"metric": "queue_length", "query": "queue_length"},
        ],
    }


def _slo() -> Doc:
    """The recommender with every block, integers where numbers go (doubles to CEL)."""
    return {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "llm"},
        "minReplicas": 1, "maxReplicas": 10,
        "metrics": [{"type": "External", "external": {
            "metric": {"name": "llm_slo_replicas"},
            "target": {"type": "AverageValue", "averageValue": "1"}}}],
        "sloRecommender": {
            "ttftSeconds": 5, "attainment": 0.95, "routing": "random", "windowSeconds": 60,
            "leadTimeSeconds": 60, "serviceScv": 1, "pod": {"slots": 1},
            "forecast": {"method": "seasonal-naive", "historySeconds": 600, "stepSeconds": 15,
                         "seasonSeconds": 86400},
            "panic": {"windowSeconds": 30, "threshold": 2}},
    }


def _rc() -> Doc:
    return {"scaleTargetRef": {"kind": "ReplicationController", "name": "legacy"},
            "minReplicas": 2, "maxReplicas": 4,
            "behavior": {"scaleUp": {}, "scaleDown": {"tolerance": "-0"}}}


SEEDS: dict[str, Callable[[], Doc]] = {
    "minimal": _minimal, "full": _full, "slo": _slo, "rc": _rc}


def _deploy_specs() -> list[Any]:
    out = []
    for path in sorted((ROOT / "deploy").rglob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if isinstance(doc, dict) and doc.get("kind") == "ElasticAutoscaler":
                out.append(pytest.param(doc["spec"], id=str(path.relative_to(ROOT))))
    return out


# --- the table ----------------------------------------------------------------------------------


def _with(seed: str, edit: Callable[[Doc], object]) -> Doc:
    spec = SEEDS[seed]()
    edit(spec)
    return spec


def _metric(spec: Doc, index: int) -> Doc:
    metric = spec["metrics"][index]
    assert isinstance(metric, dict)
    return metric


def _set(path: str, value: Any) -> Callable[[Doc], None]:
    """An edit setting (or, with value DELETE, removing) a dotted path; [i] indexes lists."""
    def edit(spec: Doc) -> None:
        parts = [int(p) if p.isdigit() else p for p in re.split(r"\.|\[|\]\.?", path) if p]
        node: Any = spec
        for part in parts[:-1]:
            node = node[part]
        if value is DELETE:
            del node[parts[-1]]
        else:
            node[parts[-1]] = copy.deepcopy(value)
    return edit


def _edits(*edits: Callable[[Doc], None]) -> Callable[[Doc], None]:
    def edit(spec: Doc) -> None:
        for one in edits:
            one(spec)
    return edit


DELETE = object()
UTIL = {"type": "Utilization", "averageUtilization": 50}

# Named reasons the CRD and the daemon may disagree, each with the direction that still holds.
BEYOND_UPSTREAM = ("beyond-upstream: a target whose type names an unset field, or type "
                   "Utilization outside Resource/ContainerResource; the apiserver and the daemon "
                   "accept it, the controller ignores the type or fails every sync on it")
CRD_BOUND = ("crd-bound: maxItems/maxLength the CEL cost estimate needs (metrics and "
             "metricQueries <= 16, object and metric names <= 253, apiVersion <= 317, "
             "query <= 64 KiB); upstream has none")
FLOAT_QUANTITY = ("float-quantity: a YAML float as a quantity (1.5); int-or-string refuses "
                  "it, the daemon reads its repr")
INT32 = ("int32: an integer past int32; the daemon refuses it, `format: int32` is not a "
         "bound for CRDs before Kubernetes 1.36 (kubernetes/kubernetes#136091) nor in this "
         "offline schema model, and CEL is not asked to repeat it")
CRD_STRICTER = {BEYOND_UPSTREAM, CRD_BOUND, FLOAT_QUANTITY}  # daemon refuses => CRD refuses
DAEMON_STRICTER = {INT32}  # CRD refuses => daemon refuses


@dataclass(frozen=True)
class Case:
    spec: Doc
    expected: str  # "path: message" of a CEL rule, or "path: keyword" of the schema
    reason: str = ""  # the named reason the daemon judges it otherwise (it accepts, or
    # for a DAEMON_STRICTER reason refuses what the CRD accepts); "" when both refuse


def case(seed: str, edit: Callable[[Doc], object], expected: str, *, reason: str = "",
         id: str) -> Any:
    return pytest.param(Case(_with(seed, edit), expected, reason), id=id)


M0, M1, M2, M3, M4 = (f"spec.metrics[{i}]" for i in range(5))
SLO_TARGET = "llm_slo_replicas needs type AverageValue with averageValue 1 (the recommender " \
             "answers replicas)"

REFUSED_BY_CEL = [
    # spec
    case("full", _set("minReplicas", 11), "spec.maxReplicas: must be greater than or equal to "
         "`minReplicas`", id="max-below-min"),
    case("minimal", _set("minReplicas", 0), "spec.metrics: must specify at least one Object or "
         "External metric to support scaling to zero replicas", id="zero-without-metrics"),
    case("full", _edits(_set("metrics", [_full()["metrics"][0]]), _set("metricQueries", DELETE)),
         "spec.metrics: must specify "
         "at least one Object or External metric to support scaling to zero replicas",
         id="zero-with-resource-only"),
    case("slo", _set("metrics", [{"type": "Resource", "resource": {"name": "cpu",
                                                                   "target": UTIL}}]),
         "spec.metrics: spec.sloRecommender needs an External metric named llm_slo_replicas "
         "with target AverageValue 1", id="slo-without-its-metric"),
    case("slo", _set("sloRecommender", DELETE), "spec.sloRecommender: must be set: a metric "
         "names llm_slo_replicas, the recommender's metric", id="slo-metric-without-block"),
    case("full", _set("metricQueries[0].metric", "nope"), "spec.metricQueries: no Pods, Object "
         "or External metric of that name in spec.metrics", id="query-for-unknown-metric"),
    # scaleTargetRef and describedObject
    case("minimal", _set("scaleTargetRef.apiVersion", "v1"), "spec.scaleTargetRef.apiVersion: "
         "apiVersion must specify API group", id="core-group-deployment"),
    case("minimal", _set("scaleTargetRef.apiVersion", DELETE), "spec.scaleTargetRef.apiVersion: "
         "apiVersion must specify API group", id="no-api-version"),
    case("rc", _set("scaleTargetRef.apiVersion", "a/v1/x"), "spec.scaleTargetRef.apiVersion: "
         "unexpected GroupVersion string", id="two-slashes"),
    case("full", _set("metrics[3].object.describedObject.apiVersion", "/a/b"),
         f"{M3}.object.describedObject.apiVersion: unexpected GroupVersion string",
         id="described-two-slashes"),
    case("minimal", _set("scaleTargetRef.kind", ""), "spec.scaleTargetRef.kind: must not be "
         "empty", id="empty-kind"),
    case("minimal", _set("scaleTargetRef.name", ".."), "spec.scaleTargetRef.name: may not be "
         "'.' or '..'", id="dot-dot-name"),
    case("minimal", _set("scaleTargetRef.name", "a/b"), "spec.scaleTargetRef.name: may not "
         "contain '/'", id="slash-name"),
    case("full", _set("metrics[3].object.describedObject.kind", "a%b"),
         f"{M3}.object.describedObject.kind: may not contain '%'", id="percent-kind"),
    # metric sources
    case("full", _set("metrics[3].type", "Pods"), f"{M3}.pods: must populate information for "
         "the given metric source", id="type-pods-source-object"),
    case("full", _set("metrics[2].type", "Object"), f"{M2}.object: must populate information "
         "for the given metric source", id="type-object-source-pods"),
    case("full", _set("metrics[1].type", "Resource"), f"{M1}.resource: must populate "
         "information for the given metric source", id="type-resource-source-container"),
    case("full", _set("metrics[0].type", "ContainerResource"), f"{M0}.containerResource: must "
         "populate information for the given metric source", id="type-container-source-resource"),
    case("full", _set("metrics[0].type", "External"), f"{M0}.external: must populate "
         "information for the given metric source", id="type-external-source-resource"),
    case("full", _set("metrics[4].pods", _full()["metrics"][2]["pods"]),
         f"{M4}: must populate the given metric source only", id="two-sources"),
    case("full", _set("metrics[2].pods.target", {"type": "Utilization", "averageUtilization": 50,
                                                 "averageValue": "1"}),
         f"{M2}: target type Utilization is only valid for Resource and ContainerResource "
         "metrics", reason=BEYOND_UPSTREAM, id="utilization-on-pods"),
    case("full", _set("metrics[2].pods.metric.name", "llm_slo_replicas"),
         f"{M2}.type: llm_slo_replicas must be an External metric", id="slo-metric-as-pods"),
    case("slo", _set("metrics[0].external.target", {"type": "AverageValue",
                                                     "averageValue": "2"}),
         f"{M0}.external.target: {SLO_TARGET}", id="slo-metric-target-2"),
    case("slo", _set("metrics[0].external.target", {"type": "Value", "value": "1"}),
         f"{M0}.external.target: {SLO_TARGET}", id="slo-metric-target-value"),
    case("full", _set("metrics[3].object.target", {"type": "Utilization",
                                                   "averageUtilization": 5}),
         f"{M3}.object.target.averageValue: must set either a target value or averageValue",
         id="object-without-value"),
    case("full", _set("metrics[2].pods.metric.name", ""), f"{M2}.pods.metric.name: must "
         "specify a metric name", id="empty-metric-name"),
    case("full", _set("metrics[4].external.metric.name", "."), f"{M4}.external.metric.name: "
         "may not be '.' or '..'", id="dot-metric-name"),
    case("full", _set("metrics[2].pods.metric.name", "a/b"), f"{M2}.pods.metric.name: may not "
         "contain '/'", id="slash-metric-name"),
    case("full", _set("metrics[3].object.metric.name", "a%2F"), f"{M3}.object.metric.name: may "
         "not contain '%'", id="percent-metric-name"),
    case("full", _set("metrics[3].object.target.value", "0"), f"{M3}.object.target.value: must "
         "be positive", id="zero-value"),
    case("full", _set("metrics[4].external.target.averageValue", -1),
         f"{M4}.external.target.averageValue: must be positive", id="negative-int-average"),
    case("full", _set("metrics[2].pods.target.averageValue", "-0.5"),
         f"{M2}.pods.target.averageValue: must be positive", id="negative-average"),
    case("full", _set("metrics[3].object.target.value", "1e1.5"), f"{M3}.object.target.value: "
         "must be positive", id="unparsable-quantity"),
    case("full", _set("metrics[0].resource.target.averageUtilization", 0),
         f"{M0}.resource.target.averageUtilization: must be greater than 0",
         id="zero-utilization"),
    case("full", _set("metrics[1].containerResource.target.type", "Utilization"),
         f"{M1}.containerResource.target.averageUtilization: target type Utilization needs "
         "averageUtilization", reason=BEYOND_UPSTREAM, id="utilization-without-it"),
    case("full", _set("metrics[4].external.target.type", "Value"),
         f"{M4}.external.target.value: target type Value needs value", reason=BEYOND_UPSTREAM,
         id="value-without-it"),
    case("full", _set("metrics[0].resource.target", {"type": "AverageValue",
                                                     "averageUtilization": 50}),
         f"{M0}.resource.target.averageValue: target type AverageValue needs averageValue",
         reason=BEYOND_UPSTREAM, id="average-value-without-it"),
    case("full", _set("metrics[2].pods.target", {"type": "Value", "value": "1"}),
         f"{M2}.pods.target.averageValue: must specify a positive target averageValue",
         id="pods-without-average"),
    case("full", _set("metrics[0].resource.name", ""), f"{M0}.resource.name: must specify a "
         "resource name", id="empty-resource-name"),
    case("full", _set("metrics[0].resource.target", {"type": "Value", "value": "1"}),
         f"{M0}.resource.target.averageUtilization: must set either a target raw value or a "
         "target utilization", id="resource-without-target"),
    case("full", _set("metrics[0].resource.target.averageValue", "1"),
         f"{M0}.resource.target.averageValue: may not set both a target raw value and a target "
         "utilization", id="resource-both"),
    case("full", _set("metrics[1].containerResource.name", ""), f"{M1}.containerResource.name: "
         "must specify a resource name", id="empty-container-resource-name"),
    case("full", _set("metrics[1].containerResource.container", ""),
         f"{M1}.containerResource.container: must specify a container", id="empty-container"),
    case("full", _set("metrics[1].containerResource.target", {"type": "Value", "value": "1"}),
         f"{M1}.containerResource.target.averageUtilization: must set either a target raw "
         "value or a target utilization", id="container-without-target"),
    case("full", _set("metrics[1].containerResource.target.averageUtilization", 5),
         f"{M1}.containerResource.target.averageValue: may not set both a target raw value "
         "and a target utilization", id="container-both"),
    case("full", _set("metrics[1].containerResource.name", "gpu!"),
         f"{M1}.containerResource.name: must be a qualified name: an optional DNS subdomain "
         "prefix (at most 253 characters) and '/', then at most 63 alphanumeric characters, "
         "'-', '_' or '.', starting and ending with an alphanumeric character (e.g. "
         "'example.com/MyName')", id="container-resource-not-qualified"),
    case("full", _set("metrics[1].containerResource.name", "pods"),
         f"{M1}.containerResource.name: must be a standard resource for containers",
         id="container-resource-not-for-containers"),
    case("full", _set("metrics[1].containerResource.name", "requests.example.com/gpu"),
         f"{M1}.containerResource.name: doesn't follow extended resource name standard",
         id="container-resource-requests-prefix"),
    case("full", _set("metrics[1].containerResource.container", "Server"),
         f"{M1}.containerResource.container: a lowercase RFC 1123 label must consist of lower "
         "case alphanumeric characters or '-', and must start and end with an alphanumeric "
         "character (e.g. 'my-name',  or '123-abc', regex used for validation is "
         "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')", id="container-not-a-label"),
    case("full", _set("metrics[4].external.target", {"type": "Value"}),
         f"{M4}.external.target.averageValue: must set either a target value for metric or a "
         "per-pod target", id="external-without-target"),
    case("full", _set("metrics[4].external.target.value", "3"),
         f"{M4}.external.target.value: may not set both a target value for metric and a "
         "per-pod target", id="external-both"),
    # behavior
    case("full", _set("behavior.scaleUp.policies", []), "spec.behavior.scaleUp.policies: must "
         "specify at least one Policy", id="scale-up-no-policies"),
    case("full", _set("behavior.scaleDown.policies", []), "spec.behavior.scaleDown.policies: "
         "must specify at least one Policy", id="scale-down-no-policies"),
    case("full", _set("behavior.scaleUp.tolerance", "-0.1"), "spec.behavior.scaleUp.tolerance: "
         "must be greater than or equal to 0", id="negative-tolerance-up"),
    case("full", _set("behavior.scaleDown.tolerance", -1), "spec.behavior.scaleDown.tolerance: "
         "must be greater than or equal to 0", id="negative-tolerance-down"),
    # extension fields
    case("full", _set("metricQueries[0].query", " \t\u3000"), "spec.metricQueries[0].query: "
         "needs a metric name and a non-empty query", id="blank-query"),
    case("slo", _set("metricQueries", [{"metric": "llm_slo_replicas", "query": "up"}]),
         "spec.metricQueries[0].metric: computed by spec.sloRecommender from the metering "
         "proxy, not by a query", id="query-for-slo-metric"),
    case("slo", _set("sloRecommender.panic.windowSeconds", 60),
         "spec.sloRecommender.panic.windowSeconds: must be shorter than the stable window "
         "(windowSeconds, default 60 s)", id="panic-not-shorter"),
    case("slo", _edits(_set("sloRecommender.windowSeconds", DELETE),
                       _set("sloRecommender.panic.windowSeconds", 61)),
         "spec.sloRecommender.panic.windowSeconds: must be shorter than the stable window "
         "(windowSeconds, default 60 s)", id="panic-vs-default-window"),
    case("slo", _set("sloRecommender.forecast.historySeconds", 44),
         "spec.sloRecommender.forecast.historySeconds: must be at least 3 x stepSeconds (Holt "
         "needs three points)", id="history-short"),
    case("slo", _set("sloRecommender.forecast", {"stepSeconds": 300}),
         "spec.sloRecommender.forecast.historySeconds: must be at least 3 x stepSeconds (Holt "
         "needs three points)", id="history-default-short"),
    case("slo", _set("sloRecommender.forecast.seasonSeconds", 300),
         "spec.sloRecommender.forecast.seasonSeconds: must be at least historySeconds",
         id="season-short"),
]

REFUSED_BY_SCHEMA = [
    case("minimal", _set("minReplicas", -1), "spec.minReplicas: minimum", id="min-negative"),
    case("minimal", _set("maxReplicas", 0), "spec.maxReplicas: minimum", id="max-zero"),
    case("full", _set("behavior.scaleUp.policies[0].value", 0),
         "spec.behavior.scaleUp.policies.0.value: minimum", id="policy-value-zero"),
    case("full", _set("behavior.scaleDown.policies[0].periodSeconds", 1801),
         "spec.behavior.scaleDown.policies.0.periodSeconds: maximum", id="period-1801"),
    case("full", _set("behavior.scaleDown.policies[0].periodSeconds", 0),
         "spec.behavior.scaleDown.policies.0.periodSeconds: minimum", id="period-zero"),
    case("full", _set("behavior.scaleUp.selectPolicy", "Average"),
         "spec.behavior.scaleUp.selectPolicy: enum", id="select-policy"),
    case("full", _set("behavior.scaleUp.stabilizationWindowSeconds", 3601),
         "spec.behavior.scaleUp.stabilizationWindowSeconds: maximum", id="window-3601"),
    case("full", _set("behavior.scaleDown.stabilizationWindowSeconds", -1),
         "spec.behavior.scaleDown.stabilizationWindowSeconds: minimum", id="window-negative"),
    case("full", _set("behavior.scaleUp.policies[1].type", "Percentage"),
         "spec.behavior.scaleUp.policies.1.type: enum", id="policy-type"),
    case("full", _set("metrics[0].type", "Custom"), "spec.metrics.0.type: enum",
         id="metric-type"),
    case("full", _set("metrics[0].resource.target.type", "Percent"),
         "spec.metrics.0.resource.target.type: enum", id="target-type"),
    case("full", _set("metrics[3].object.target.value", "1K"),
         "spec.metrics.3.object.target.value: pattern", id="quantity-pattern"),
    case("full", _set("syncPeriodSeconds", 0), "spec.syncPeriodSeconds: minimum",
         id="sync-period-zero"),
    case("full", _set("metricsSource", "graphite"), "spec.metricsSource: enum",
         id="metrics-source"),
    case("full", _set("metricQueries[1].metric", "llm_requests_waiting"),
         "spec.metricQueries[1]: Duplicate value", id="duplicate-query"),
    case("full", _set("metricQueries[1].query", ""), "spec.metricQueries.1.query: minLength",
         id="empty-query"),
    case("full", _edits(_set("metrics", [_full()["metrics"][3]] * 17),
                        _set("metricQueries", DELETE)), "spec.metrics: maxItems",
         reason=CRD_BOUND, id="seventeen-metrics"),
    case("minimal", _set("scaleTargetRef.name", "n" * 254), "spec.scaleTargetRef.name: "
         "maxLength", reason=CRD_BOUND, id="long-name"),
    case("full", _set("metrics[4].external.target.averageValue", 1.5),
         "spec.metrics.4.external.target.averageValue: anyOf", reason=FLOAT_QUANTITY,
         id="float-quantity"),
    case("slo", _set("sloRecommender.attainment", 1), "spec.sloRecommender.attainment: maximum",
         id="attainment-1"),
    case("slo", _set("sloRecommender.ttftSeconds", 0), "spec.sloRecommender.ttftSeconds: "
         "minimum", id="ttft-zero"),
    case("slo", _set("sloRecommender.pod.slots", 1.5), "spec.sloRecommender.pod.slots: type",
         id="slots-float"),
    case("slo", _set("sloRecommender.forecast.method", "arima"),
         "spec.sloRecommender.forecast.method: enum", id="forecast-method"),
    case("slo", _set("sloRecommender.routing", "hash"), "spec.sloRecommender.routing: enum",
         id="routing"),
    case("slo", _set("sloRecommender.panic.threshold", 0.5),
         "spec.sloRecommender.panic.threshold: minimum", id="panic-threshold"),
    case("minimal", _set("replicas", 3), "spec: additionalProperties", id="unknown-field"),
]

# Accepted by the CRD, refused by the daemon: what the CRD leaves to the daemon.
ONLY_THE_DAEMON_REFUSES = [
    pytest.param(Case(_with("minimal", _set("maxReplicas", INT32_MAX + 1)), "", INT32),
                 id="max-past-int32"),
]


# --- static checks ------------------------------------------------------------------------------


def test_rules_were_found() -> None:
    rules = _all_rules()
    assert len(rules) >= 60
    assert {r.node for r in rules} >= {".spec", ".spec.metrics[]", ".spec.scaleTargetRef",
                                       ".spec.metrics[].object.target",
                                       ".spec.behavior.scaleDown.tolerance",
                                       ".spec.sloRecommender.forecast"}


@pytest.mark.parametrize("rule", _all_rules(), ids=lambda r: r.key[:90])
def test_rule_compiles_and_names_real_fields(rule: Rule) -> None:
    """celpy types nothing at compile time; the apiserver does. So: every `self.a.b` chain
    (and every chain of a comprehension variable over a list field) is a schema field, the
    fieldPath resolves, the reason is one the apiserver accepts, the message is one line."""
    _program(rule.rule)
    node = dict(_nodes(_schema()))[rule.node]
    assert rule.message and "\n" not in rule.message
    assert rule.reason in REASONS
    assert rule.field_path == "" or _resolve(node, rule.field_path) is not None, rule.field_path
    scopes = {"self": node}
    for var_list, var in re.findall(r"self((?:\.\w+)+)\.(?:exists|all|filter|map|exists_one)"
                                    r"\((\w+),", rule.rule):
        listed = _resolve(node, var_list)
        assert listed is not None and listed.get("type") == "array", var_list
        scopes[var] = listed["items"]
    for var, chain in re.findall(r"\b(\w+)((?:\.\w+)+)", rule.rule):
        if var not in scopes:
            continue
        # Drop a trailing method call: `self.name.contains(...)`.
        names = chain.split(".")[1:]
        end = rule.rule.find(var + chain) + len(var + chain)
        if rule.rule[end:end + 1] == "(":
            names = names[:-1]
        assert _resolve(scopes[var], "." + ".".join(names)) is not None, (var, chain)


def _cardinality(schema_path: str) -> float:
    """The product of maxItems of the lists above a node (inf when one has none)."""
    nodes = dict(_nodes(_schema()))
    out = 1.0
    for index in [m.start() for m in re.finditer(r"\[\]", schema_path)]:
        max_items = nodes[schema_path[:index]].get("maxItems")
        out *= math.inf if max_items is None else max_items
    return out


# The apiserver's estimator sizes an int-or-string at the 3 MB request limit; quantity() and
# isQuantity() cost a tenth of a unit per character (of a literal: its length, ignored here).
# A string searched by contains or matches
# costs (maxLength + 1) / 10 times the regex (or substring) length / 4.
REQUEST_BYTES = 3 * 1024 * 1024
QUANTITY_COST = math.ceil((REQUEST_BYTES - 2) * 0.1)
PER_RULE_LIMIT, PER_CRD_LIMIT = 10_000_000, 100_000_000


def _rule_cost(rule: Rule) -> float:
    """A coarse upper bound of the static estimate (not the apiserver's estimator): the
    quantity() calls, the string searches, and for a comprehension the lists it walks."""
    node = dict(_nodes(_schema()))[rule.node]
    cost = 1000.0 + QUANTITY_COST * len(re.findall(r"\b(?:quantity|isQuantity)\((?!')", rule.rule))
    for target, arg in re.findall(r"(self(?:\.\w+)*)\.(?:matches|contains)\((r?'[^']*')\)",
                                  rule.rule):
        searched = _resolve(node, target[len("self"):])
        assert searched is not None
        assert searched.get("maxLength") is not None, f"{target}: a search needs a maxLength"
        cost += math.ceil((searched["maxLength"] + 1) * 0.1) * math.ceil(len(arg) * 0.25)
    walks = re.findall(r"self((?:\.\w+)+)\.(?:exists|all)\(", rule.rule)
    for walked in walks:
        listed = _resolve(node, walked)
        assert listed is not None
        cost *= listed.get("maxItems", math.inf)
    return cost * _cardinality(rule.node)


def test_rules_fit_the_cost_budget() -> None:
    costs = {rule.key: _rule_cost(rule) for rule in _all_rules()}
    assert max(costs.values()) <= PER_RULE_LIMIT, max(costs.items(), key=lambda kv: kv[1])
    assert sum(costs.values()) <= PER_CRD_LIMIT, sum(costs.values())


def test_every_rule_is_refused_by_a_table_case() -> None:
    """The table exercises each rule (a rule under an anchor once per place)."""
    hit = {f.rule for p in REFUSED_BY_CEL for f in cel_failures(_object(p.values[0].spec))}
    missing = [r.key for r in _all_rules() if r not in hit]
    # Anchored duplicates (scaleUp/scaleDown, the five metric targets, the reference names)
    # count once: the same rule text and message at a sibling node was refused.
    seen = {(r.rule, r.message) for r in hit}
    assert [k for k, r in zip(missing, [r for r in _all_rules() if r not in hit], strict=True)
            if (r.rule, r.message) not in seen] == []


# --- the table against the rules ---------------------------------------------------------------


@pytest.mark.parametrize("seed", sorted(SEEDS))
def test_seeds_pass_every_rule(seed: str) -> None:
    assert crd_refusals(SEEDS[seed]()) == []
    assert daemon_refusals(SEEDS[seed]()) == ()


@pytest.mark.parametrize("spec", _deploy_specs())
def test_deploy_examples_pass_every_rule(spec: Doc) -> None:
    assert crd_refusals(spec) == []


@pytest.mark.parametrize("given_case", REFUSED_BY_CEL)
def test_cel_refuses(given_case: Case) -> None:
    failures = [str(f).split(" [", 1)[0] for f in cel_failures(_object(given_case.spec))]
    assert given_case.expected in failures


@pytest.mark.parametrize("given_case", REFUSED_BY_SCHEMA)
def test_schema_refuses(given_case: Case) -> None:
    found = [f"{p}: {k}" for p, k, _ in schema_errors(_object(given_case.spec))]
    assert given_case.expected in found


# --- agreement with the daemon ------------------------------------------------------------------


def _check_agreement(spec: Any, reasons: set[str]) -> None:
    crd, daemon = crd_refusals(spec), daemon_refusals(spec)
    if not reasons:
        assert bool(crd) == bool(daemon), (crd, daemon)
    if reasons <= CRD_STRICTER and daemon:
        assert crd, daemon
    if reasons <= DAEMON_STRICTER and crd:
        assert daemon, crd


@pytest.mark.parametrize("given_case", REFUSED_BY_CEL + REFUSED_BY_SCHEMA
                         + ONLY_THE_DAEMON_REFUSES)
def test_table_agrees_with_the_daemon(given_case: Case) -> None:
    """Both refuse, or the case names the reason they differ, and then they do differ."""
    crd, daemon = crd_refusals(given_case.spec), daemon_refusals(given_case.spec)
    assert given_case.reason == "" or given_case.reason in reasons_of(given_case.spec)
    if not given_case.reason:
        assert crd and daemon, (crd, daemon)
    elif given_case.reason in CRD_STRICTER:
        assert crd and not daemon, (crd, daemon)
    else:
        assert daemon and not crd, (crd, daemon)


def _each(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from _each(item)
    elif isinstance(value, list):
        for item in value:
            yield from _each(item)


def _targets(spec: Any) -> Iterator[tuple[str, Doc]]:
    metrics = spec.get("metrics") if isinstance(spec, dict) else None
    for metric in metrics if isinstance(metrics, list) else []:
        for source in ("object", "pods", "resource", "containerResource", "external"):
            found = metric.get(source) if isinstance(metric, dict) else None
            target = found.get("target") if isinstance(found, dict) else None
            if isinstance(target, dict):
                yield source, target


def reasons_of(spec: Any) -> set[str]:
    """The named reasons that apply to a spec (see the constants above)."""
    reasons = set()
    for source, target in _targets(spec):
        kind = target.get("type")
        if (kind == "Utilization" and (source not in ("resource", "containerResource")
                                       or "averageUtilization" not in target)) \
                or (kind == "Value" and "value" not in target) \
                or (kind == "AverageValue" and "averageValue" not in target):
            reasons.add(BEYOND_UPSTREAM)
        if any(isinstance(target.get(k), float) for k in ("value", "averageValue")):
            reasons.add(FLOAT_QUANTITY)
    if isinstance(spec, dict):
        if any(len(spec.get(k) or []) > 16 for k in ("metrics", "metricQueries")):
            reasons.add(CRD_BOUND)
        bounded = [(r"^(kind|name)$", 253), (r"^apiVersion$", 317), (r"^query$", 65536)]
        for node in _each(spec):
            if isinstance(node, dict):
                for key, value in node.items():
                    if isinstance(value, str) and any(
                            re.match(p, key) and len(value) > n for p, n in bounded):
                        reasons.add(CRD_BOUND)
        if any(isinstance(v, int) and not isinstance(v, bool) and abs(v) > INT32_MAX
               for v in _each(spec)):
            reasons.add(INT32)
        for behavior in (spec.get("behavior") or {}).values() \
                if isinstance(spec.get("behavior"), dict) else ():
            if isinstance(behavior, dict) and isinstance(behavior.get("tolerance"), float):
                reasons.add(FLOAT_QUANTITY)
    return reasons


# Values near every rule's edges, for the generated variations.
QUANTITIES: list[Any] = ["1", "0", "-1", "500m", "0.0", "-0", "+2", ".5", "1e-12", "1e1.5",
                         "1Ki", "1000m", "1.0", "2", 0, 1, 2, -1, 1.5, "1e100000"]
NAMES = ["web", "", ".", "..", "a/b", "a%b", "llm_slo_replicas", "queue_length",
         "llm_requests_waiting", "requests_per_second"]
RESOURCE_NAMES = ["cpu", "memory", "ephemeral-storage", "hugepages-2Mi", "pods",
                  "nvidia.com/gpu", "example.kubernetes.io/x", "requests.example.com/gpu",
                  "Cpu!", "", "a/b/c", "/x", "x/"]
TARGET_KEYS = ["value", "averageValue", "averageUtilization"]


def _metric_templates() -> list[Doc]:
    metrics: list[Doc] = [*_full()["metrics"], *_slo()["metrics"]]
    return metrics


Draw = st.DrawFn


def _replicas(draw: Draw, spec: Doc) -> None:
    key = draw(st.sampled_from(["minReplicas", "maxReplicas"]))
    spec[key] = draw(st.integers(-1, 12))


def _metric_type(draw: Draw, spec: Doc) -> None:
    if spec.get("metrics"):
        metric = draw(st.sampled_from(spec["metrics"]))
        metric["type"] = draw(st.sampled_from(["Object", "Pods", "Resource",
                                               "ContainerResource", "External"]))


def _metric_list(draw: Draw, spec: Doc) -> None:
    """Add a metric, drop one, or leave an explicit empty list (defaulted to CPU)."""
    metrics = spec.setdefault("metrics", [])
    action = draw(st.sampled_from(["add", "drop", "empty"]))
    if action == "add":
        metrics.append(copy.deepcopy(draw(st.sampled_from(_metric_templates()))))
    elif action == "drop" and metrics:
        del metrics[draw(st.integers(0, len(metrics) - 1))]
    elif action == "empty":
        spec["metrics"] = []


def _second_source(draw: Draw, spec: Doc) -> None:
    if spec.get("metrics"):
        metric = draw(st.sampled_from(spec["metrics"]))
        donor = draw(st.sampled_from(_metric_templates()))
        key = donor["type"][0].lower() + donor["type"][1:]
        metric[key] = copy.deepcopy(donor[key])


def _target(draw: Draw, spec: Doc) -> None:
    targets = [target for _, target in _targets(spec)]
    if not targets:
        return
    target = draw(st.sampled_from(targets))
    key = draw(st.sampled_from([*TARGET_KEYS, "type"]))
    if key == "type":
        target[key] = draw(st.sampled_from(["Utilization", "Value", "AverageValue"]))
    elif draw(st.booleans()):
        target.pop(key, None)
    else:
        target[key] = draw(st.integers(-1, 120) if key == "averageUtilization"
                           else st.sampled_from(QUANTITIES))


def _reference(draw: Draw, spec: Doc) -> None:
    where = draw(st.sampled_from(["kind", "name", "apiVersion"]))
    spec["scaleTargetRef"][where] = draw(st.sampled_from(
        [*NAMES, "v1", "apps/v1", "/v1", "a/b/c"]))
    if draw(st.booleans()):
        spec["scaleTargetRef"]["kind"] = "ReplicationController"


def _names(draw: Draw, spec: Doc) -> None:
    for metric in spec.get("metrics", []):
        for source in ("pods", "object", "external"):
            if isinstance(metric.get(source), dict) and draw(st.booleans()):
                metric[source]["metric"]["name"] = draw(st.sampled_from(NAMES))
        if isinstance(metric.get("containerResource"), dict):
            metric["containerResource"]["name"] = draw(st.sampled_from(RESOURCE_NAMES))
            metric["containerResource"]["container"] = draw(st.sampled_from(
                ["server", "", "Server", "a.b", "x" * 64]))
        if isinstance(metric.get("resource"), dict) and draw(st.booleans()):
            metric["resource"]["name"] = draw(st.sampled_from(["cpu", ""]))


def _behavior(draw: Draw, spec: Doc) -> None:
    direction = draw(st.sampled_from(["scaleUp", "scaleDown"]))
    rules = spec.setdefault("behavior", {}).setdefault(direction, {})
    field = draw(st.sampled_from(["policies", "tolerance", "stabilizationWindowSeconds",
                                  "selectPolicy"]))
    rules[field] = draw({
        "policies": st.lists(st.fixed_dictionaries({
            "type": st.sampled_from(["Pods", "Percent"]), "value": st.integers(-1, 3),
            "periodSeconds": st.sampled_from([0, 1, 15, 1800, 1801])}), max_size=2),
        "tolerance": st.sampled_from(["0", "0.1", "-0.1", "-0", 0, -1, "1e-3", 0.5]),
        "stabilizationWindowSeconds": st.sampled_from([-1, 0, 300, 3600, 3601]),
        "selectPolicy": st.sampled_from(["Max", "Min", "Disabled", "Average"]),
    }[field])


def _slo_block(draw: Draw, spec: Doc) -> None:
    if draw(st.booleans()):
        spec.pop("sloRecommender", None)
        return
    slo = spec.setdefault("sloRecommender", {})
    key = draw(st.sampled_from(["windowSeconds", "panic", "forecast"]))
    if key == "windowSeconds":
        slo[key] = draw(st.sampled_from([1, 6, 30, 60, 60.5, 3600]))
    elif key == "panic":
        slo[key] = draw(st.fixed_dictionaries({}, optional={
            "windowSeconds": st.sampled_from([1, 6, 30, 59.9, 60, 61]),
            "threshold": st.sampled_from([1, 2.5])}))
    else:
        slo[key] = draw(st.fixed_dictionaries({}, optional={
            "method": st.sampled_from(["holt", "seasonal-naive"]),
            "historySeconds": st.sampled_from([44, 45, 600, 1200.5, 86400]),
            "stepSeconds": st.sampled_from([1, 15, 15.5, 300]),
            "seasonSeconds": st.sampled_from([60, 600, 1200, 86400])}))


def _extensions(draw: Draw, spec: Doc) -> None:
    key = draw(st.sampled_from(["metricQueries", "syncPeriodSeconds", "metricsSource"]))
    spec[key] = draw({
        "metricQueries": st.lists(st.fixed_dictionaries({
            "metric": st.sampled_from(NAMES[1:]),
            "query": st.sampled_from(["up", " ", "\u3000", "\x0b", "sum(x)"])}), max_size=3),
        "syncPeriodSeconds": st.sampled_from([0, 1, 15, 3600, 3601]),
        "metricsSource": st.sampled_from(["auto", "prometheus", "metrics-api", "graphite"]),
    }[key])


MUTATIONS: list[Callable[[Draw, Doc], None]] = [
    _replicas, _metric_type, _metric_list, _second_source, _target, _reference, _names,
    _behavior, _slo_block, _extensions]


@st.composite
def variations(draw: Draw) -> Any:
    """A seed with one to three edits near the rules' edges."""
    spec = SEEDS[draw(st.sampled_from(sorted(SEEDS)))]()
    for _ in range(draw(st.integers(1, 3))):
        draw(st.sampled_from(MUTATIONS))(draw, spec)
    return spec


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(variations())
def test_variations_agree_with_the_daemon(spec: Any) -> None:
    reasons = reasons_of(spec)
    for reason in sorted(reasons):
        event(reason.split(":", 1)[0])
    event("refused" if daemon_refusals(spec) else "accepted")
    _check_agreement(spec, reasons)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_specs())
def test_valid_specs_agree_with_the_daemon(spec: Any) -> None:
    """The project's generator of valid specs: the CRD accepts each, but for named reasons."""
    raw = spec_to_dict(spec)
    reasons = reasons_of(raw)
    for reason in sorted(reasons):
        event(reason.split(":", 1)[0])
    _check_agreement(raw, reasons)
    if not reasons:
        assert crd_refusals(raw) == []
