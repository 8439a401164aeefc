"""The seed document's real `kubectl` traces, verbatim, and a parser for them.

Source: `tests/data/seed/elastic-inference-design.txt` (the project's seed design document), end
of file: `kubectl get hpa -w` for the two autoscalers that Sedna's JointInferenceService
`helmet-detection-inference-example` creates (`hpa-<deployment>` for the edge and the cloud
worker), then `kubectl get po` taken a bit later, on another shell prompt. The HPA specs
and the pod resources below are transcribed from the JointInferenceService YAML of the same
document (`edgeWorker.hpa`, `cloudWorker.hpa`, the containers' `resources`). Sedna copies
`hpa.Behavior` into the HPA, and the example sets none: both autoscalers have a null
`behavior` (upstream's legacy normalization path).

Only data and parsing live here; the reasoning about what the traces imply is in
`tests/test_seed_traces.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

SOURCE_DOCUMENT = "tests/data/seed/elastic-inference-design.txt"

# Lines 297-314 of the seed document, copied verbatim (the two shell prompts included).
HPA_WATCH_TEXT = """\
[root@master-01 ~]# kubectl get hpa -w
NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE
hpa-helmet-detection-inference-example-deployment-cloud Deployment/helmet-detection-inference-example-deployment-cloud 37%/20% 1 5 3 92s
hpa-helmet-detection-inference-example-deployment-edge Deployment/helmet-detection-inference-example-deployment-edge 348%/50% 1 2 2 92s
hpa-helmet-detection-inference-example-deployment-cloud Deployment/helmet-detection-inference-example-deployment-cloud 37%/20% 1 5 4 106s
hpa-helmet-detection-inference-example-deployment-edge Deployment/helmet-detection-inference-example-deployment-edge 535%/50% 1 2 2 106s
hpa-helmet-detection-inference-example-deployment-cloud Deployment/helmet-detection-inference-example-deployment-cloud 18%/20% 1 5 4 2m1s
hpa-helmet-detection-inference-example-deployment-edge Deployment/helmet-detection-inference-example-deployment-edge 769%/50% 1 2 2 2m1s
hpa-helmet-detection-inference-example-deployment-cloud Deployment/helmet-detection-inference-example-deployment-cloud 12%/20% 1 5 4 2m16s
"""  # noqa: E501

POD_LIST_TEXT = """\
[root@master-01 jointinference]# kubectl get po
NAME READY STATUS RESTARTS AGE
helmet-detection-inference-example-deployment-cloud-7dffd47c6fl 1/1 Running 0 4m34s
helmet-detection-inference-example-deployment-cloud-7dffd4dpnnh 1/1 Running 0 2m49s
helmet-detection-inference-example-deployment-cloud-7dffd4f4dtw 1/1 Running 0 4m19s
helmet-detection-inference-example-deployment-cloud-7dffd4kcvwd 1/1 Running 0 5m20s
helmet-detection-inference-example-deployment-cloud-7dffd4shk86 1/1 Running 0 5m50s
helmet-detection-inference-example-deployment-edge-7b6575c52s7k 1/1 Running 0 5m50s
helmet-detection-inference-example-deployment-edge-7b6575c59g48 1/1 Running 0 5m20s
"""

HPA_HEADER = ("NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE")
POD_HEADER = ("NAME", "READY", "STATUS", "RESTARTS", "AGE")

CLOUD = "cloud"
EDGE = "edge"
DEPLOYMENT_PREFIX = "helmet-detection-inference-example-deployment-"


class TraceFormatError(ValueError):
    """A line does not have the shape `kubectl get` prints."""


@dataclass(frozen=True, slots=True)
class HpaRow:
    """One `kubectl get hpa` row: status.currentMetrics (utilization) and
    status.currentReplicas as of the sync that last wrote the status; `age_seconds` is the
    HPA's age when kubectl printed the row (truncated to whole seconds)."""

    line_number: int  # 1-based, within HPA_WATCH_TEXT
    name: str
    reference_kind: str
    reference_name: str
    current_utilization_percent: int | None  # None = `<unknown>`
    target_utilization_percent: int
    min_replicas: int
    max_replicas: int
    replicas: int
    age_seconds: int

    @property
    def worker(self) -> str:
        return worker_of(self.reference_name)


@dataclass(frozen=True, slots=True)
class PodRow:
    name: str
    ready_containers: int
    total_containers: int
    status: str
    restarts: int
    age_seconds: int

    @property
    def deployment(self) -> str:
        # <deployment>-<pod-template-hash>-<5 random chars>, but the apiserver cuts a
        # generateName base to 58 characters, so here the hash and the suffix are fused
        # (`...-cloud-7dffd4` + `7c6fl`, 63 characters): the deployment is all but the last
        # dash-separated part.
        return self.name.rsplit("-", 1)[0]

    @property
    def worker(self) -> str:
        return worker_of(self.deployment)


_AGE = re.compile(r"(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_TARGETS = re.compile(r"(?P<current>\d+|<unknown>)%?/(?P<target>\d+)%")


def parse_age_seconds(text: str) -> int:
    """kubectl's `HumanDuration` back to seconds: `92s`, `2m1s`, `5m`, `1h2m`, `3d4h`."""
    match = _AGE.fullmatch(text)
    if match is None or not text:
        raise TraceFormatError(f"not a kubectl age: {text!r}")
    parts = {k: int(v) if v else 0 for k, v in match.groupdict().items()}
    return ((parts["d"] * 24 + parts["h"]) * 60 + parts["m"]) * 60 + parts["s"]


def parse_targets(text: str) -> tuple[int | None, int]:
    """`37%/20%` -> (37, 20); `<unknown>/20%` -> (None, 20)."""
    match = _TARGETS.fullmatch(text)
    if match is None:
        raise TraceFormatError(f"not a single utilization target: {text!r}")
    current = match["current"]
    return (None if current == "<unknown>" else int(current)), int(match["target"])


def worker_of(deployment: str) -> str:
    if not deployment.startswith(DEPLOYMENT_PREFIX):
        raise TraceFormatError(f"not a deployment of the example: {deployment!r}")
    worker = deployment.removeprefix(DEPLOYMENT_PREFIX)
    if worker not in (CLOUD, EDGE):
        raise TraceFormatError(f"unknown worker {worker!r}")
    return worker


def _table(text: str, header: tuple[str, ...]) -> list[tuple[int, list[str]]]:
    """(line number, fields) of the data rows; the prompt line and the header are checked
    and skipped."""
    rows: list[tuple[int, list[str]]] = []
    seen_header = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.startswith("[") and "]# kubectl " in line:
            continue
        fields = line.split()
        if tuple(fields) == header:
            seen_header = True
            continue
        if not seen_header or len(fields) != len(header):
            raise TraceFormatError(f"line {number}: unexpected {line!r}")
        rows.append((number, fields))
    return rows


def parse_hpa_watch(text: str) -> tuple[HpaRow, ...]:
    rows = []
    for number, (name, reference, targets, min_pods, max_pods, replicas, age) in _table(
            text, HPA_HEADER):
        kind, _, ref_name = reference.partition("/")
        current, target = parse_targets(targets)
        rows.append(HpaRow(number, name, kind, ref_name, current, target, int(min_pods),
                           int(max_pods), int(replicas), parse_age_seconds(age)))
    return tuple(rows)


def parse_pod_list(text: str) -> tuple[PodRow, ...]:
    rows = []
    for _, (name, ready, status, restarts, age) in _table(text, POD_HEADER):
        ready_count, _, total = ready.partition("/")
        rows.append(PodRow(name, int(ready_count), int(total), status, int(restarts),
                           parse_age_seconds(age)))
    return tuple(rows)


HPA_ROWS = parse_hpa_watch(HPA_WATCH_TEXT)
POD_ROWS = parse_pod_list(POD_LIST_TEXT)


def hpa_rows(worker: str) -> tuple[HpaRow, ...]:
    return tuple(r for r in HPA_ROWS if r.worker == worker)


def pods_oldest_first(worker: str) -> tuple[PodRow, ...]:
    return tuple(sorted((p for p in POD_ROWS if p.worker == worker),
                        key=lambda p: -p.age_seconds))


# --------------------------------------------------------- the JointInferenceService spec


@dataclass(frozen=True, slots=True)
class WorkerResources:
    """The worker container's CPU request and limit (milli-CPU), from the document's YAML."""

    container: str
    cpu_request_milli: int
    cpu_limit_milli: int


# `edgeWorker.hpa` / `cloudWorker.hpa` as the HPA spec Sedna's CreateHPA builds from them
# (scaleTargetRef: apps/v1 Deployment <service>-deployment-<worker>; behavior: nil).
HPA_SPECS: dict[str, dict[str, Any]] = {
    EDGE: {
        "maxReplicas": 2, "minReplicas": 1,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                           "name": DEPLOYMENT_PREFIX + EDGE},
    },
    CLOUD: {
        "maxReplicas": 5, "minReplicas": 1,
        "metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 20}}}],
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                           "name": DEPLOYMENT_PREFIX + CLOUD},
    },
}

RESOURCES: dict[str, WorkerResources] = {
    EDGE: WorkerResources("little-model", cpu_request_milli=50, cpu_limit_milli=500),
    CLOUD: WorkerResources("big-model", cpu_request_milli=1024, cpu_limit_milli=1024),
}
