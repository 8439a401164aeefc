"""Per-metric proposals -> max across metrics (upstream `computeReplicasForMetrics`).

The invalid-metric rule: if every metric failed, or some failed and the valid ones would
scale *down*, the pass refuses to act (ScalingActive=False with the first failure). A
broken metric can then never be the reason for shrinking a workload, while a working metric
can still scale it up. Before any metric: the selector must be set, parse, and not select
pods owned by another autoscaler (AmbiguousSelector).
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.config import ControllerConfig
from algorithms.events import WARNING, PlannedEvent
from algorithms.labels import Selector, SelectorError, parse_selector
from algorithms.metrics import MetricContext, MetricResult, compute_replicas_for_metric
from algorithms.observation import MetricUnavailable, Observation, ScaleObservation
from algorithms.pods import PodInfo
from algorithms.replicas import Tolerances
from algorithms.spec import EXTERNAL, OBJECT, HorizontalPodAutoscalerSpec
from algorithms.status import MetricStatus


@dataclass(frozen=True, slots=True)
class Proposals:
    """`replicas` is -1 when the pass must not act; then `reason`/`message` say why."""

    replicas: int
    metric_name: str = ""
    results: tuple[MetricResult, ...] = ()
    reason: str = ""
    message: str = ""
    error: str = ""
    selector_event: PlannedEvent | None = None  # upstream's Warning for a selector problem

    @property
    def statuses(self) -> tuple[MetricStatus, ...]:
        return tuple([r.status for r in self.results])


def tolerances_for(spec: HorizontalPodAutoscalerSpec, config: ControllerConfig) -> Tolerances:
    """`tolerancesForHpa`: behavior.scaleUp/scaleDown.tolerance override the flag (KEP-4951)."""
    base = config.tolerances
    behavior = spec.behavior
    if behavior is None or not config.feature_gates.hpa_configurable_tolerance:
        return base
    down, up = base.scale_down, base.scale_up
    if behavior.scale_down is not None and behavior.scale_down.tolerance is not None:
        down = behavior.scale_down.tolerance.as_float()
    if behavior.scale_up is not None and behavior.scale_up.tolerance is not None:
        up = behavior.scale_up.tolerance.as_float()
    return Tolerances(scale_down=down, scale_up=up)


def has_object_or_external(spec: HorizontalPodAutoscalerSpec) -> bool:
    return any(m.type in (OBJECT, EXTERNAL) for m in spec.metrics)


def select_pods(scale: ScaleObservation, observation: Observation
                ) -> tuple[PodInfo, ...] | Proposals:
    """The target's pods, or a refusal (InvalidSelector / AmbiguousSelector)."""
    if scale.selector == "":
        return Proposals(-1, reason="InvalidSelector",
                         message="the HPA target's scale is missing a selector",
                         error="selector is required",
                         selector_event=PlannedEvent(WARNING, "SelectorRequired",
                                                     "selector is required"))
    try:
        selector = parse_selector(scale.selector)
    except SelectorError as exc:
        text = f"couldn't convert selector into a corresponding internal selector object: {exc}"
        return Proposals(-1, reason="InvalidSelector", message=text, error=text,
                         selector_event=PlannedEvent(WARNING, "InvalidSelector", text))
    pods = matching_pods(selector, observation.pods)
    owners = other_owners(pods, observation)
    if owners:
        # Upstream prints the selecting HPAs' keys as a Go slice (its order is a map's; we
        # sort), this one included: "... multiple HPAs: [ns/a ns/b]".
        listed = " ".join(sorted({*owners, observation.name} - {""}))
        text = f"pods by selector {scale.selector} are controlled by multiple HPAs: [{listed}]"
        return Proposals(-1, reason="AmbiguousSelector", message=text, error=text,
                         selector_event=PlannedEvent(WARNING, "AmbiguousSelector", text))
    return pods


def matching_pods(selector: Selector, pods: tuple[PodInfo, ...]) -> tuple[PodInfo, ...]:
    """The pods `selector` selects, in order."""
    requirements = selector.requirements
    if len(requirements) == 1 and requirements[0].operator == "=":
        # A Deployment's usual `app=name`: one dict lookup per pod, no call.
        key, value = requirements[0].key, requirements[0].values[0]
        return tuple([p for p in pods if p.labels.get(key) == value])
    return tuple([p for p in pods if selector.matches(p.labels)])


def other_owners(pods: tuple[PodInfo, ...], observation: Observation) -> list[str]:
    """The other autoscalers whose selectors select any of `pods` (AmbiguousSelector)."""
    owners = []
    for name, other in observation.other_selectors:
        try:
            parsed = parse_selector(other) if other else None
        except SelectorError:
            parsed = None  # upstream registers an unparsable selector as Nothing()
        if parsed is not None and any(parsed.matches(p.labels) for p in pods):
            owners.append(name)
    return owners


def compute_replicas_for_metrics(spec: HorizontalPodAutoscalerSpec, scale: ScaleObservation,
                                 observation: Observation, config: ControllerConfig,
                                 now: float) -> Proposals:
    selected = select_pods(scale, observation)
    if isinstance(selected, Proposals):
        return selected
    ctx = MetricContext(spec_replicas=scale.spec_replicas, status_replicas=scale.status_replicas,
                        pods=selected, tolerances=tolerances_for(spec, config),
                        rules=config.readiness, now=now)
    results = []
    for index, metric in enumerate(spec.metrics):
        data = (observation.metrics[index] if index < len(observation.metrics)
                else MetricUnavailable("no data observed for this metric"))
        results.append(compute_replicas_for_metric(metric, data, ctx))
    return _max_across(tuple(results), scale.spec_replicas)


def _max_across(results: tuple[MetricResult, ...], spec_replicas: int) -> Proposals:
    if not results:
        # Upstream would set a condition with an empty type here; API defaulting normally
        # prevents it (an empty list becomes CPU 80%). Say what is wrong instead.
        text = "the HPA has no metrics to compute a replica count from"
        return Proposals(-1, reason="InvalidMetricSourceType", message=text, error=text)
    replicas = 0
    metric_name = ""
    failures = [r for r in results if r.failed]
    for result in results:
        if result.failed:
            continue
        # Upstream's `replicas == 0 || proposal > replicas`: while the maximum is 0, every
        # later metric proposing 0 takes over, so the *last* one of them is named.
        if replicas == 0 or result.replicas > replicas:
            replicas, metric_name = result.replicas, result.metric_name
    error = ""
    if failures:
        error = (f"invalid metrics ({len(failures)} invalid out of {len(results)}), first error "
                 f"is: {failures[0].failure_message}")
    if len(failures) >= len(results) or (failures and replicas < spec_replicas):
        first = failures[0] if failures else None
        return Proposals(-1, results=results,
                         reason=first.failure_reason if first else "",
                         message=first.failure_message if first else "", error=error)
    return Proposals(replicas, metric_name, results, error=error)
