"""Named, embedded scenarios: everything needed to replay without a cluster or a file.

`llamaedge` (the default): the seed document's LlamaEdge Deployment (qwen-2-0.5b on
WasmEdge, 3000m CPU request = limit, one inference at a time) under the bundled Azure LLM
code-completion trace (CC-BY-4.0, see autoscaler/data/ATTRIBUTION.md), with the seed's HPA
(CPU 50 %, 1..10), the `kubectl autoscale` default target (CPU 80 %), a tuned spec, a spec
scaling on requests in flight per pod, the SLO recommender as deployed by
deploy/examples/llamaedge-slo (TTFT 5 s for 95 % of requests; tests keep the two equal), and
the oracle.

`sedna`: the seed's Sedna JointInferenceService: edge worker (50m request, 500m limit,
1..2 at 50 %) and cloud worker (1024m, 1..5 at 20 %), each under a CPU demand series shaped
after the seed's `kubectl get hpa -w` readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.slo.model import SLO_METRIC_NAME
from autoscaler.replay.model import DemandSeries, RequestTrace
from autoscaler.replay.run import Policy, policy_from_object, spec_from_object
from autoscaler.replay.settings import PodLifecycle, SimulationSettings
from autoscaler.replay.traces import read_azure_llm_csv

LLAMAEDGE_NAME = "wasmedge-qwen-2-0-5b-allminilm-2"
_TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": LLAMAEDGE_NAME}


def _cpu_hpa(name: str, percent: int, low: int, high: int, target: dict[str, str],
             behavior: dict[str, Any] | None = None) -> Policy:
    spec: dict[str, Any] = {
        "scaleTargetRef": target, "minReplicas": low, "maxReplicas": high,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}}}]}
    if behavior is not None:
        spec["behavior"] = behavior
    return Policy.hpa(*spec_from_object({"metadata": {"name": name}, "spec": spec}, name))


SEED_HPA = _cpu_hpa("seed-cpu50", 50, 1, 10, _TARGET)
UPSTREAM_DEFAULT_HPA = _cpu_hpa("kubectl-default-cpu80", 80, 1, 10, _TARGET)
TUNED_HPA = _cpu_hpa("tuned-cpu40-fast", 40, 1, 10, _TARGET, behavior={
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Percent", "value": 300, "periodSeconds": 15},
                             {"type": "Pods", "value": 4, "periodSeconds": 15}]},
    "scaleDown": {"stabilizationWindowSeconds": 120,
                  "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]}})


def _in_flight_hpa(name: str, per_pod: str, low: int, high: int, target: dict[str, str]
                   ) -> Policy:
    """Scale on requests in flight per pod, as the metering proxy exports them: the honest
    signal for servers that run one inference at a time."""
    spec: dict[str, Any] = {
        "scaleTargetRef": target, "minReplicas": low, "maxReplicas": high,
        "metrics": [{"type": "Pods", "pods": {
            "metric": {"name": "llm_proxy_requests_in_flight"},
            "target": {"type": "AverageValue", "averageValue": per_pod}}}]}
    return Policy.hpa(*spec_from_object({"metadata": {"name": name}, "spec": spec}, name))


IN_FLIGHT_HPA = _in_flight_hpa("inflight-1-per-pod", "1", 1, 10, _TARGET)

# The ElasticAutoscaler spec of deploy/examples/llamaedge-slo/elasticautoscaler.yaml (a test
# keeps them equal): the seed's 1..10 pods sized by the SLO recommender for a time to first
# token of at most 5 s for 95 % of the requests.
LLAMAEDGE_SLO_SPEC: dict[str, Any] = {
    "maxReplicas": 10,
    "metrics": [{"external": {"metric": {"name": SLO_METRIC_NAME},
                              "target": {"averageValue": "1", "type": "AverageValue"}},
                 "type": "External"}],
    "minReplicas": 1,
    "scaleTargetRef": _TARGET,
    "sloRecommender": {
        "ttftSeconds": 5, "attainment": 0.95, "routing": "random", "windowSeconds": 60,
        "leadTimeSeconds": 60, "pod": {"slots": 1},
        "forecast": {"method": "holt", "historySeconds": 600, "stepSeconds": 15},
        "panic": {"windowSeconds": 30, "threshold": 2}},
}
SLO_HPA = policy_from_object({"metadata": {"name": "slo-ttft5s-p95"},
                              "spec": LLAMAEDGE_SLO_SPEC}, "slo-ttft5s-p95")


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    workload: DemandSeries | RequestTrace
    policies: tuple[Policy, ...]
    settings: SimulationSettings
    reference: str  # for the decision log, e.g. Deployment/wasmedge-...


def bundled_llm_trace_path() -> Path:
    return Path(str(resources.files("autoscaler") / "data" / "AzureLLMInferenceTrace_code.csv"))


def llamaedge(settings: SimulationSettings | None = None, rate_scale: float = 1.0
              ) -> Scenario:
    trace = read_azure_llm_csv(bundled_llm_trace_path(), rate_scale=rate_scale)
    return Scenario(
        name="llamaedge",
        description=("seed LlamaEdge qwen-2-0.5b Deployment (3000m CPU, 1 inference at a "
                     "time) under the Azure LLM code trace (57 min, 8,819 requests)"),
        workload=trace,
        policies=(SEED_HPA, UPSTREAM_DEFAULT_HPA, TUNED_HPA, IN_FLIGHT_HPA, SLO_HPA,
                  Policy.oracle()),
        settings=settings or SimulationSettings(),
        reference=f"Deployment/{LLAMAEDGE_NAME}")


def _sedna_demand(base_cores: float, burst_cores: float, seed: int) -> DemandSeries:
    """30 minutes: a steady video stream with bursts of hard examples (a few minutes each)."""
    rng = np.random.default_rng(seed)
    t = np.arange(1800)
    bursts = ((t // 300) % 2 == 1).astype(float)
    values = base_cores + burst_cores * bursts + rng.normal(0.0, base_cores * 0.05, len(t))
    return DemandSeries(0.0, 1.0, np.maximum(values, 0.0), "cores", "synthetic sedna")


def sedna(worker: str = "cloud", settings: SimulationSettings | None = None) -> Scenario:
    """One worker of the Sedna JointInferenceService example."""
    base = settings or SimulationSettings()
    if worker == "edge":
        name = "helmet-detection-inference-example-deployment-edge"
        lifecycle = PodLifecycle(cpu_request_milli=50, cpu_limit_milli=500, startup_seconds=20)
        hpa = _cpu_hpa(f"hpa-{name}", 50, 1, 2, {"apiVersion": "apps/v1",
                                                 "kind": "Deployment", "name": name})
        workload = _sedna_demand(0.35, 0.4, seed=1)
    else:
        name = "helmet-detection-inference-example-deployment-cloud"
        lifecycle = PodLifecycle(cpu_request_milli=1024, cpu_limit_milli=1024,
                                 startup_seconds=30)
        hpa = _cpu_hpa(f"hpa-{name}", 20, 1, 5, {"apiVersion": "apps/v1",
                                                 "kind": "Deployment", "name": name})
        workload = _sedna_demand(0.4, 1.2, seed=2)
    return Scenario(name=f"sedna-{worker}",
                    description=f"Sedna JointInferenceService {worker} worker ({name})",
                    workload=workload, policies=(hpa, Policy.oracle()),
                    settings=replace(base, lifecycle=lifecycle),
                    reference=f"Deployment/{name}")


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "llamaedge": llamaedge, "sedna-edge": lambda: sedna("edge"),
    "sedna-cloud": lambda: sedna("cloud")}
