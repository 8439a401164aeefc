"""One autoscaler the daemon manages, whatever its source (CRD, YAML file, Sedna JIS)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from algorithms.history import History
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.status import HPAStatus

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
    generation: int | None = None
    status: HPAStatus = field(default_factory=HPAStatus)
    history: History = field(default_factory=History)
    origin: str = ""  # e.g. the file path, or the JointInferenceService name
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
