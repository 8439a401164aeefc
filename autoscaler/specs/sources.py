"""Where specs come from: ElasticAutoscaler custom resources, a directory of YAML files (for
clusters where CRDs are not allowed, e.g. a mounted ConfigMap), and Sedna
JointInferenceServices (`spec.edgeWorker.hpa` / `spec.cloudWorker.hpa`, read-only).
Each turns its objects into `ManagedSpec`s; an invalid object becomes a ManagedSpec whose
`errors` name the fields, so the daemon reports it instead of crashing or skipping silently.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from algorithms.slo.model import SLO_METRIC_NAME
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState
from autoscaler.errors import InputError
from autoscaler.safeload import Limits, load_yaml_documents
from autoscaler.specs.model import CRD, FILE, SEDNA, ManagedSpec
from autoscaler.specs.parse import checked_slo, checked_spec
from autoscaler.state_codec import parse_status, state_from_dict

GROUP, VERSION, PLURAL = "edgeautoscaler.io", "v1alpha1", "elasticautoscalers"
KIND = "ElasticAutoscaler"
SEDNA_GROUP, SEDNA_VERSION, SEDNA_PLURAL = "sedna.io", "v1alpha1", "jointinferenceservices"


def _state(raw: Any) -> tuple[ControllerState | None, str]:
    """The controller state an ElasticAutoscaler's status carries; a mangled one is never
    trusted (the daemon starts without memory, like upstream after a restart, and says so)."""
    if not raw:
        return None, ""
    try:
        status = raw if isinstance(raw, Mapping) else {}
        return state_from_dict(status.get("history"), parse_status(raw)), ""
    except InputError as exc:
        return None, f"status: {exc}"


def _field(obj: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    """An object-valued field: {} when absent, None when it is not an object."""
    value = obj.get(key)
    if value is None:
        return {}
    return value if isinstance(value, Mapping) else None


def _name(metadata: Mapping[str, Any], key: str, default: str) -> str:
    value = metadata.get(key)
    return value if isinstance(value, str) and value else default


def from_custom_resource(obj: Mapping[str, Any]) -> ManagedSpec:
    """An ElasticAutoscaler object. Never raises: whatever is malformed (metadata or spec
    that are not objects included) becomes `errors` with the field path."""
    metadata = _field(obj, "metadata")
    raw_spec = _field(obj, "spec")
    problems: list[str] = []
    if metadata is None:
        problems.append(f"metadata: Invalid value: {str(obj.get('metadata'))[:60]!r}: "
                        "must be an object")
        metadata = {}
    if raw_spec is None:
        problems.append(f"spec: Invalid value: {str(obj.get('spec'))[:60]!r}: must be an "
                        "object")
        raw_spec = {}
    for key in ("name", "namespace"):
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            problems.append(f"metadata.{key}: Invalid value: {str(value)[:60]!r}: must be a "
                            "string")
    namespace = _name(metadata, "namespace", "default")
    name = _name(metadata, "name", "")
    spec, errors = checked_spec(raw_spec)
    problems.extend(errors)
    dry_run = raw_spec.get("dryRun", False)
    if not isinstance(dry_run, bool):
        problems.append(f"spec.dryRun: Invalid value: {str(dry_run)[:60]!r}: must be a boolean")
    period = raw_spec.get("syncPeriodSeconds")
    if period is not None and (isinstance(period, bool) or not isinstance(period, int)
                               or not 1 <= period <= 3600):
        problems.append(f"spec.syncPeriodSeconds: Invalid value: {str(period)[:60]!r}: must "
                        "be an integer between 1 and 3600")
    source = raw_spec.get("metricsSource", "auto")
    if source not in ("auto", "metrics-api", "prometheus"):
        problems.append(f"spec.metricsSource: Unsupported value: {str(source)[:60]!r}: "
                        'supported values: "auto", "metrics-api", "prometheus"')
    queries, query_errors = _metric_queries(raw_spec.get("metricQueries"), spec)
    problems.extend(query_errors)
    slo, slo_errors = checked_slo(raw_spec, spec)
    problems.extend(slo_errors)
    state, state_error = _state(obj.get("status"))
    generation = metadata.get("generation")
    return ManagedSpec(
        source=CRD, namespace=namespace, name=name, spec=None if problems else spec,
        errors=tuple(problems), dry_run=dry_run is True,
        sync_period_seconds=float(period) if isinstance(period, int) else None,
        metrics_source=str(source), metric_queries=queries, slo=None if problems else slo,
        generation=generation if isinstance(generation, int) else None,
        state=state, state_error=state_error,
        origin=f"{KIND} {namespace}/{name}", raw=dict(obj),
        involved={"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND, "name": name,
                  "namespace": namespace, "uid": _name(metadata, "uid", "")})


def _metric_queries(raw: Any, spec: HorizontalPodAutoscalerSpec | None
                    ) -> tuple[dict[str, str], list[str]]:
    """`spec.metricQueries`: [{metric, query}], each naming a Pods/Object/External metric."""
    if raw is None:
        return {}, []
    if not isinstance(raw, list):
        return {}, [f"spec.metricQueries: Invalid value: {raw!r}: must be a list"]
    names = set()
    if spec is not None:
        for metric in spec.metrics:
            source = metric.pods or metric.object or metric.external
            if source is not None:
                names.add(source.metric.name)
    queries: dict[str, str] = {}
    errors = []
    for index, item in enumerate(raw):
        path = f"spec.metricQueries[{index}]"
        if not isinstance(item, Mapping) or not isinstance(item.get("metric"), str) \
                or not isinstance(item.get("query"), str) or not item["query"].strip():
            errors.append(f"{path}: Invalid value: {item!r}: needs a metric name and a "
                          "non-empty query")
            continue
        if spec is not None and item["metric"] not in names:
            errors.append(f"{path}.metric: Not found: {item['metric']!r}: no Pods, Object "
                          "or External metric of that name in spec.metrics")
        if item["metric"] in queries:
            errors.append(f"{path}.metric: Duplicate value: {item['metric']!r}")
        if item["metric"] == SLO_METRIC_NAME:
            errors.append(f"{path}.metric: Invalid value: {SLO_METRIC_NAME!r}: computed by "
                          "spec.sloRecommender from the metering proxy, not by a query")
        queries[item["metric"]] = item["query"]
    return queries, errors


def _target_of(namespace: str, name: str, spec: HorizontalPodAutoscalerSpec | None
               ) -> dict[str, str]:
    """Events of autoscalers without an API object of their own go to their target."""
    if spec is None:
        return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                "name": name, "namespace": namespace}
    ref = spec.scale_target_ref
    return {"apiVersion": ref.api_version, "kind": ref.kind, "name": ref.name,
            "namespace": namespace}


def from_hpa_document(doc: Any, origin: str, default_namespace: str = "default"
                      ) -> ManagedSpec:
    """An autoscaling/v2 HorizontalPodAutoscaler (or ElasticAutoscaler) document."""
    if not isinstance(doc, Mapping):
        return ManagedSpec(FILE, default_namespace, origin, None,
                           (f"{origin}: expected an object, got {type(doc).__name__}",),
                           origin=origin)
    metadata = _field(doc, "metadata")
    if metadata is not None:
        metadata = {**metadata, "namespace": _name(metadata, "namespace", default_namespace)}
    managed = from_custom_resource({**doc, "metadata": metadata if metadata is not None
                                    else doc.get("metadata")})
    name = managed.name or origin
    return ManagedSpec(FILE, managed.namespace, name, managed.spec,
                       tuple(f"{origin}: {e}" for e in managed.errors), managed.dry_run,
                       managed.sync_period_seconds, managed.metrics_source,
                       managed.metric_queries, slo=managed.slo,
                       generation=managed.generation, origin=origin,
                       involved=_target_of(managed.namespace, name, managed.spec))


def from_directory(directory: Path, default_namespace: str = "default") -> list[ManagedSpec]:
    """Every *.yaml / *.yml / *.json file, every document in it (Kubernetes' `..data` links
    of a mounted ConfigMap are skipped: the same files appear under their real names)."""
    found: list[ManagedSpec] = []
    try:
        paths = sorted(directory.glob("*"))
    except OSError as exc:
        return [ManagedSpec(FILE, default_namespace, directory.name, None,
                            (f"{directory}: cannot list: {exc}",), origin=str(directory))]
    for path in paths[:MAX_FILES]:
        if path.name.startswith(".") or path.suffix not in (".yaml", ".yml", ".json"):
            continue
        try:
            documents = load_yaml_documents(_read(path), str(path), FILE_LIMITS)
        except InputError as exc:
            found.append(ManagedSpec(FILE, default_namespace, path.name, None,
                                     (f"cannot read: {exc}",), origin=str(path)))
            continue
        for index, doc in enumerate(documents[:MAX_DOCUMENTS]):
            found.append(from_hpa_document(doc, f"{path}#{index}", default_namespace))
    return found


# A spec directory is a ConfigMap (1 MiB in total): these bounds are generous.
FILE_LIMITS = Limits(max_bytes=1024 * 1024)
MAX_FILES = 1000
MAX_DOCUMENTS = 1000


def _read(path: Path) -> bytes:
    """At most FILE_LIMITS.max_bytes + 1 bytes: a huge file is refused without reading it."""
    try:
        with path.open("rb") as handle:
            return handle.read(FILE_LIMITS.max_bytes + 1)
    except OSError as exc:
        raise InputError(f"{path}: {exc.strerror or exc}") from exc


def sedna_worker_deployment(service_name: str, worker: str) -> str:
    """Sedna names the worker Deployments `<service>-deployment-<edge|cloud>` (seed:
    helmet-detection-inference-example-deployment-edge); its HPA is `hpa-<deployment>`."""
    return f"{service_name}-deployment-{worker}"


def from_joint_inference_service(obj: Mapping[str, Any]) -> list[ManagedSpec]:
    """The worker HPAs of a Sedna JointInferenceService. Never raises."""
    metadata = _field(obj, "metadata") or {}
    namespace = _name(metadata, "namespace", "default")
    service = _name(metadata, "name", "")
    spec = _field(obj, "spec") or {}
    generation = metadata.get("generation")
    found = []
    for field, worker in (("edgeWorker", "edge"), ("cloudWorker", "cloud")):
        hpa = (_field(spec, field) or {}).get("hpa")
        if hpa is None:
            continue
        deployment = sedna_worker_deployment(service, worker)
        raw = {**(hpa if isinstance(hpa, Mapping) else {}), "scaleTargetRef": {
            "apiVersion": "apps/v1", "kind": "Deployment", "name": deployment}}
        checked, errors = checked_spec(raw, f"spec.{field}.hpa")
        # Sedna's hpa is plain autoscaling/v2: the recommender's metric has no block there.
        errors += checked_slo({}, checked, f"spec.{field}.hpa")[1]
        checked = checked if not errors else None
        found.append(ManagedSpec(
            source=SEDNA, namespace=namespace, name=f"hpa-{deployment}", spec=checked,
            errors=errors if isinstance(hpa, Mapping) else (
                f"spec.{field}.hpa: Invalid value: {str(hpa)[:60]!r}: must be an object",),
            generation=generation if isinstance(generation, int) else None,
            origin=f"JointInferenceService {namespace}/{service}",
            involved=_target_of(namespace, f"hpa-{deployment}", checked)))
    return found
