"""deploy/examples/llamaedge-inflight: the seed's LlamaEdge Deployment with the llm-proxy sidecar,
scaled on requests in flight per pod through Prometheus. Validated offline like
tests/test_deploy_manifests.py (kubernetes-validate, strict; the CRD's own schema), and pinned:
the LLM container is the seed's, the sidecar's flags parse with the real CLI and agree with
the ports, Service and scrape annotations, and the autoscaler can actually scale up.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from test_deploy_manifests import EXTENSION_FIELDS, K8S_VERSIONS, _validator

from autoscaler.llmproxy.cli import build_parser
from autoscaler.llmproxy.metrics import ProxyMetrics
from autoscaler.specs.sources import from_custom_resource

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "examples" / "llamaedge-inflight"
SEED = ROOT / "deploy" / "examples" / "llamaedge"
QWEN = "wasmedge-qwen-2-0-5b-allminilm-2"
Doc = dict[str, Any]


def _load(path: Path) -> Doc:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert isinstance(doc, dict)
    return doc


def _pod(path: Path = EXAMPLE / "deployment.yaml") -> Doc:
    pod = _load(path)["spec"]["template"]["spec"]
    assert isinstance(pod, dict)
    return pod


def _container(name: str) -> Doc:
    (container,) = [c for c in _pod()["containers"] if c["name"] == name]
    assert isinstance(container, dict)
    return container


def _proxy_args() -> Any:
    args = _container("llm-proxy")["args"]
    assert args[0] == "llm-proxy"
    return build_parser().parse_args(args[1:])


def _ports(container: Doc) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("name", ["deployment.yaml", "service.yaml"])
def test_builtin_kinds_validate(name: str, version: str) -> None:
    kubernetes_validate.validate(_load(EXAMPLE / name), version, strict=True)


def test_elastic_autoscaler_validates_against_the_crd() -> None:
    _validator().validate(_load(EXAMPLE / "elasticautoscaler.yaml"))


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_elastic_autoscaler_spec_is_an_hpa_spec(version: str) -> None:
    doc = _load(EXAMPLE / "elasticautoscaler.yaml")
    hpa = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
           "metadata": {"name": doc["metadata"]["name"]},
           "spec": {k: v for k, v in doc["spec"].items() if k not in EXTENSION_FIELDS}}
    kubernetes_validate.validate(hpa, version, strict=True)


def test_llm_container_and_placement_are_the_seeds() -> None:
    seed, pod = _pod(SEED / "deployment.yaml"), copy.deepcopy(_pod())
    (seed_container,) = seed["containers"]
    assert _container("qwen-2-0-5b-container") == seed_container
    assert {c["name"] for c in pod.pop("containers")} == {"qwen-2-0-5b-container", "llm-proxy"}
    seed.pop("containers")
    assert pod == seed
    deployment = _load(EXAMPLE / "deployment.yaml")
    assert deployment["metadata"]["name"] == QWEN
    assert "replicas" not in deployment["spec"]


def test_sidecar_runs_the_project_image() -> None:
    base = _load(ROOT / "deploy" / "base" / "deployment.yaml")
    (daemon,) = base["spec"]["template"]["spec"]["containers"]
    assert _container("llm-proxy")["image"] == daemon["image"]


def test_sidecar_flags_agree_with_the_ports() -> None:
    args = _proxy_args()
    assert args.listen == ("0.0.0.0", _ports(_container("llm-proxy"))["proxy"])
    assert args.upstream == f"http://127.0.0.1:{_ports(_container('qwen-2-0-5b-container'))['http']}"


def test_service_reaches_the_pods_through_the_proxy() -> None:
    service = _load(EXAMPLE / "service.yaml")
    labels = _load(EXAMPLE / "deployment.yaml")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [{"name": "http", "port": 8080, "targetPort": "proxy",
                                         "protocol": "TCP"}]


def test_prometheus_scrapes_the_proxy_metrics() -> None:
    annotations = _load(EXAMPLE / "deployment.yaml")["spec"]["template"]["metadata"][
        "annotations"]
    args = _proxy_args()
    assert annotations == {"prometheus.io/scrape": "true",
                           "prometheus.io/port": str(args.listen[1]),
                           "prometheus.io/path": args.metrics_path}


def _in_flight_metric() -> Doc:
    doc = _load(EXAMPLE / "elasticautoscaler.yaml")
    (metric,) = doc["spec"]["metrics"]
    assert isinstance(metric, dict)
    return metric


def test_autoscaler_scales_the_deployment_on_in_flight_requests() -> None:
    doc = _load(EXAMPLE / "elasticautoscaler.yaml")
    spec = doc["spec"]
    assert doc["metadata"] == {"name": QWEN, "namespace": "default"}
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": QWEN}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 10)
    assert spec["metricsSource"] == "prometheus"
    assert _in_flight_metric() == {"type": "Pods", "pods": {
        "metric": {"name": "llm_proxy_requests_in_flight"},
        "target": {"type": "AverageValue", "averageValue": "1"}}}


def test_the_metric_is_one_the_proxy_exports() -> None:
    name = _in_flight_metric()["pods"]["metric"]["name"]
    assert f"\n{name} " in ProxyMetrics().exposition().decode()


def test_in_flight_can_exceed_the_target() -> None:
    """Otherwise the autoscaler could never scale up: with --max-concurrency N the proxy holds
    the rest of the queue itself, and in flight per pod never exceeds N."""
    ceiling = _proxy_args().max_concurrency or math.inf
    assert ceiling > float(_in_flight_metric()["pods"]["target"]["averageValue"])


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _load(EXAMPLE / "kustomization.yaml")
    assert kustomization["apiVersion"] == "kustomize.config.k8s.io/v1beta1"
    files = {p.name for p in EXAMPLE.glob("*.yaml") if p.name != "kustomization.yaml"}
    assert sorted(kustomization["resources"]) == sorted(files)


def test_the_example_autoscaler_parses_with_its_promql() -> None:
    """The daemon's own spec parser accepts the example, query included."""
    doc = yaml.safe_load((Path(__file__).resolve().parents[1] / "deploy" / "examples"
                          / "llamaedge-inflight" / "elasticautoscaler.yaml").read_text())
    managed = from_custom_resource(doc)
    assert managed.errors == ()
    assert "llm_proxy_requests_in_flight" in managed.metric_queries
