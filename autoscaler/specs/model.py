"""One autoscaler the daemon manages, whatever its source (CRD, YAML file, Sedna JIS)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from algorithms.slo.model import SloSpec
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState

CRD = "crd"
FILE = "file"
SEDNA = "sedna"


@dataclass(frozen=True)
class ManagedSpec:
    """`spec` is defaulted and validated; when invalid it is None and `errors` says why
    (field paths), and the daemon reports instead of acting."""

    source: str
    namespace: str
    name: str
    spec: HorizontalPodAutoscalerSpec | None
    errors: tuple[str, ...] = ()
    dry_run: bool = False
    sync_period_seconds: float | None = None
    metrics_source: str = "auto"
    metric_queries: Mapping[str, str] = field(default_factory=dict)  # metric name -> PromQL
    slo: SloSpec | None = None  # spec.sloRecommender (feeds the llm_slo_replicas metric)
    generation: int | None = None
    # What the object itself persisted (an ElasticAutoscaler's status), None when nothing
    # was or it did not parse (`state_error` says why); other sources keep it in a Lease.
    state: ControllerState | None = None
    state_error: str = ""
    origin: str = ""  # e.g. the file path, or the JointInferenceService name
    # The object Events are about (`involvedObject`): the autoscaler itself when it is an
    # API object, else its scale target. Set by the source, so nobody else branches on it.
    involved: Mapping[str, str] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.namespace}/{self.name}"

    @property
    def reference(self) -> str:
        if self.spec is None:
            return ""
        ref = self.spec.scale_target_ref
        return f"{ref.kind}/{ref.name}"
