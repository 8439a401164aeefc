"""The common case of `compute_replicas_for_metrics`, in one pass over the pods.

Domain: the spec has exactly one metric, a pod-level Resource metric with a Utilization
target; its data is a non-empty metrics.k8s.io answer; the scale's selector parses and
selects at least one pod, no other autoscaler selects any of them, no two share a name; and
every selected pod is Running, not being deleted, has a sample with the resource in every
container (so none is *missing*), a CPU sample it can be trusted for (so none is *unready*;
`group_pods`' rule), and a request for the resource in every container. Then upstream's
`GetResourceReplicas` takes its first branch (no unready, no missing pod): the utilization
of the summed usage over the summed requests, within tolerance -> current size, else
ceil(ratio x ready pods).

Anything else returns None and `decide` takes the full path, which is the reference: the
result here equals its `Proposals` field for field (tests/test_decide_fast_path.py checks
whole Plans against it). The domain is checked in the same loop that sums: no PodMetric per
pod, no per-pod sample and request dicts, no pod groups; a pod outside the domain ends the
loop at once. The full path's stages (select pods, group pods, requests, utilization ratio,
proposal) map onto the marked blocks below.
"""

from __future__ import annotations

from algorithms.config import ControllerConfig
from algorithms.labels import SelectorError, parse_selector
from algorithms.metrics import MetricResult
from algorithms.observation import Observation, ResourceMetricsData, ScaleObservation
from algorithms.pods import RUNNING, cpu_sample_untrusted
from algorithms.proposals import Proposals, matching_pods, other_owners, tolerances_for
from algorithms.replicas import MetricComputationError, ceil_int32, utilization_of_totals
from algorithms.spec import RESOURCE, HorizontalPodAutoscalerSpec
from algorithms.status import MetricStatus, MetricValueStatus


def fast_proposals(spec: HorizontalPodAutoscalerSpec, scale: ScaleObservation,
                   observation: Observation, config: ControllerConfig, now: float
                   ) -> Proposals | None:
    """`compute_replicas_for_metrics(...)` inside the domain above; None outside it."""
    # Up front, per pass: the spec, the data and the selector.
    if len(spec.metrics) != 1 or not observation.metrics or not scale.selector:
        return None
    metric = spec.metrics[0]
    source = metric.resource
    data = observation.metrics[0]
    if metric.type != RESOURCE or source is None or not isinstance(data, ResourceMetricsData):
        return None
    target = source.target
    target_utilization = target.average_utilization
    if target.average_value is not None or not target_utilization:
        return None  # a zero target fails the full path's division
    try:
        selector = parse_selector(scale.selector)
    except SelectorError:
        return None
    pods = matching_pods(selector, observation.pods)
    if not pods or other_owners(pods, observation):
        return None

    # Per pod: stay inside the domain, and sum usage and requests on the way.
    resource = source.name
    cpu = resource == "cpu"
    rules = config.readiness
    init_period = rules.cpu_initialization_period_seconds
    samples = data.pods
    usage_total = 0
    requests_total = 0
    for pod in pods:
        if pod.deleting or pod.phase != RUNNING:
            return None  # ignored (deleting, Failed), unready (Pending), or unusual
        sample = samples.get(pod.name)
        if sample is None or not sample.containers:
            return None  # missing
        for usage in sample.containers.values():
            value = usage.get(resource)
            if value is None:
                return None  # missing: pod-level usage needs every container's
            usage_total += value
        if cpu:
            # A Ready pod past its initialization period is trusted whatever the sample
            # (cpu_sample_untrusted's last branch); only the others need the whole rule.
            start = pod.start_time
            if not (pod.ready == "True" and start is not None and start + init_period <= now
                    ) and cpu_sample_untrusted(pod, sample.timestamp, sample.window_seconds,
                                               rules, now):
                return None  # unready
        for container in pod.containers:
            request = container.requests_milli.get(resource)
            if request is None:
                return None  # the full path reports the missing request
            requests_total += request
        for container in pod.init_containers:
            if container.restart_policy == "Always":  # a sidecar's request counts
                request = container.requests_milli.get(resource)
                if request is None:
                    return None
                requests_total += request
    ready = len(pods)
    if len({pod.name for pod in pods}) != ready:
        return None  # the full path keys samples and requests by name

    # GetResourceReplicas without unready or missing pods.
    try:
        utilization = utilization_of_totals(usage_total, requests_total, ready,
                                            target_utilization)
        replicas = scale.spec_replicas
        if not tolerances_for(spec, config).is_within(utilization.ratio):
            replicas = ceil_int32(utilization.ratio * float(ready))
    except MetricComputationError:
        return None  # the full path turns it into the metric's failure
    current = MetricValueStatus(None, utilization.raw_milli, utilization.utilization,
                                resource == "memory")  # memory in BinarySI, as _resource
    name = f"{resource} resource utilization (percentage of request)"
    result = MetricResult(replicas, name, MetricStatus(RESOURCE, resource, "", None, None,
                                                       current))
    # _max_across of one valid result: its proposal, no error.
    return Proposals(replicas, name, (result,))
