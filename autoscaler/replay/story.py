"""The replay's closing sentences: what the tables above say, in plain words.

Pure formatting: from the run's summaries, its settings and (when known) its policies, a
few sentences, every number taken from the summaries and formatted as the tables show it,
none written in advance. For an LLM request trace (3-6 sentences): the policy with the best
attainment and its replica-hours, the cheapest within `within_points` of it, whether any
policy reached the attainment target (and the ceiling the unavoidable requests set), how
the upstream default (CPU 80 %) did, why CPU cannot see an inference server's queue (with
the run's CPU policies against the ones scaling on other metrics) and what the oracle's
bound costs. For a demand series (1-2 sentences): the fewest violation seconds and the
cheapest close to it, and the oracle.

Every sentence is guarded by what it needs (a second policy, an oracle, a CPU policy, a
policy's spec), so each is true of any run, and only the summaries' policies are named.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from algorithms.spec import CONTAINER_RESOURCE, RESOURCE, UTILIZATION, MetricSpec
from autoscaler.replay.model import RequestMetrics, Summary
from autoscaler.replay.run import Policy
from autoscaler.replay.settings import SimulationSettings

WITHIN_POINTS = 1.0  # "about as good as the best": this many percentage points
UPSTREAM_DEFAULT_CPU_PERCENT = 80  # an HPA without metrics, and `kubectl autoscale`'s


def _percent(share: float) -> str:
    return f"{100.0 * share:.2f}%"


def _hours(summary: Summary) -> str:
    return f"{summary.replica_hours:,.2f}"


def _points(a: float, b: float) -> str:
    """The gap between two shares as their percentages are shown (2.07 between 14.04% and
    11.97%, whatever the digits after)."""
    return f"{abs(round(100.0 * a, 2) - round(100.0 * b, 2)):.2f}"


def _within(points: float) -> str:
    return f"{points:g} point" + ("" if points == 1 else "s")


def _span(values: Sequence[float], fmt: Callable[[float], str]) -> str:
    """`8.54` or `8.54 to 9.36`: the smallest and largest of `values`."""
    low, high = fmt(min(values)), fmt(max(values))
    return low if low == high else f"{low} to {high}"


def _names(summaries: Sequence[Summary]) -> str:
    names = [s.policy for s in summaries]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _mean_pods(summary: Summary) -> float:
    if not summary.duration_seconds:
        return 0.0
    return summary.replica_seconds / summary.duration_seconds


def is_oracle(summary: Summary) -> bool:
    """`oracle` and `oracle<=N` (names no HPA or fixed policy can take)."""
    return (summary.oracle is not None or summary.policy == "oracle"
            or summary.policy.startswith("oracle<="))


def _policy_of(summary: Summary, policies: Sequence[Policy]) -> Policy | None:
    """The policy a summary comes from (a partitioned run suffixes ` (cloud only)`...)."""
    for policy in policies:
        if summary.policy == policy.name or summary.policy.startswith(policy.name + " ("):
            return policy
    return None


def _metric_name(metric: MetricSpec) -> str:
    for source in (metric.pods, metric.object, metric.external):
        if source is not None:
            return source.metric.name
    if metric.resource is not None:
        return metric.resource.name
    return metric.container_resource.name if metric.container_resource is not None else ""


def _is_cpu(metric: MetricSpec) -> bool:
    return metric.type in (RESOURCE, CONTAINER_RESOURCE) and _metric_name(metric) == "cpu"


def _cpu_only(policy: Policy | None) -> bool:
    return (policy is not None and policy.spec is not None and policy.slo is None
            and bool(policy.spec.metrics) and all(_is_cpu(m) for m in policy.spec.metrics))


def _cpu_utilization(policy: Policy | None) -> int | None:
    """The target of a policy scaling on one CPU utilization metric, else None."""
    if not _cpu_only(policy):
        return None
    assert policy is not None and policy.spec is not None
    targets = [m.resource.target if m.resource is not None else
               m.container_resource.target if m.container_resource is not None else None
               for m in policy.spec.metrics]
    if len(targets) != 1 or targets[0] is None or targets[0].type != UTILIZATION:
        return None
    return targets[0].average_utilization


def _other_metrics(policy: Policy | None) -> list[str]:
    """The names of the metrics a policy scales on besides CPU ([] for CPU-only ones)."""
    if policy is None or policy.spec is None or _cpu_only(policy):
        return []
    return [_metric_name(m) for m in policy.spec.metrics if not _is_cpu(m)]


def story(summaries: Sequence[Summary], settings: SimulationSettings,
          policies: Sequence[Policy] = (), within_points: float = WITHIN_POINTS) -> str:
    """The closing sentences, one a line ("" for no summaries)."""
    if not summaries:
        return ""
    measured = [s for s in summaries if s.requests is not None]
    if measured:
        return "\n".join(_request_story(measured, settings, policies, within_points))
    return "\n".join(_series_story(list(summaries), within_points))


def _attainment(summary: Summary) -> float:
    assert summary.requests is not None
    return summary.requests.attainment


def _best(summaries: Sequence[Summary], score: Callable[[Summary], float]) -> Summary:
    """The highest score; among equals the fewest replica-seconds, then the first."""
    return max(summaries, key=lambda s: (score(s), -s.replica_seconds))


def _cheapest_close(summaries: Sequence[Summary], best: Summary,
                    score: Callable[[Summary], float], within_points: float) -> Summary:
    close = [s for s in summaries if score(s) >= score(best) - within_points / 100.0]
    return min(close, key=lambda s: (s.replica_seconds, -score(s)))


def _request_story(measured: list[Summary], settings: SimulationSettings,
                   policies: Sequence[Policy], within_points: float) -> list[str]:
    first = measured[0].requests
    assert first is not None
    deployable = [s for s in measured if not is_oracle(s)] or measured
    best = _best(deployable, _attainment)
    lines = [_best_sentence(best, deployable, measured, within_points),
             _target_sentence(measured, first)]
    default = _upstream_default(deployable, best, policies)
    if default:
        lines.append(default)
    lines += _cpu_sentences(deployable, settings, policies)
    bound = _bound_sentence(measured, best)
    if bound:
        lines.append(bound)
    return lines


def _best_sentence(best: Summary, deployable: list[Summary], measured: list[Summary],
                   within_points: float) -> str:
    first = measured[0].requests
    assert first is not None
    requests = best.requests
    assert requests is not None
    got = (f"{_percent(requests.attainment)} of the requests ({requests.met_slo:,} of "
           f"{requests.arrived:,}) got their first token within {first.slo_ttft_seconds:g} s, "
           f"at {_hours(best)} replica-hours")
    if len(deployable) == 1:
        return f"With {best.policy}, {got}."
    mixed = any(is_oracle(s) for s in measured) and not is_oracle(best)
    among = "Of the deployable policies, " if mixed else ""
    text = f"{among}{best.policy} had the best attainment: {got}"
    cheap = _cheapest_close(deployable, best, _attainment, within_points)
    within = _within(within_points)
    if cheap is best:
        return f"{text}; no policy within {within} of it was cheaper."
    return (f"{text}; within {within} of it, {cheap.policy} was the cheapest: "
            f"{_percent(_attainment(cheap))} at {_hours(cheap)} replica-hours.")


def _target_sentence(measured: list[Summary], first: RequestMetrics) -> str:
    target = _percent(first.attainment_target)
    reached = [s for s in measured if _attainment(s) >= first.attainment_target]
    if not reached:
        top = _best(measured, _attainment)
        text = (f"No policy reached the {target} target (the best: {top.policy}, "
                f"{_percent(_attainment(top))})")
        if first.ceiling < first.attainment_target:
            text += (f", and none could: {first.unavoidable:,} of {first.arrived:,} requests "
                     f"have a prefill alone above {first.slo_ttft_seconds:g} s, so attainment "
                     f"is at most {_percent(first.ceiling)}")
        return text + "."
    ready = [s for s in reached if not is_oracle(s)]
    if not ready:
        return (f"Only {_names(reached)} reached the {target} target; no deployable policy "
                "did.")
    cheapest = min(ready, key=lambda s: s.replica_seconds)
    if len(ready) == 1:
        return (f"{cheapest.policy} reached the {target} target at {_hours(cheapest)} "
                "replica-hours.")
    return (f"{len(ready)} policies reached the {target} target; the cheapest, "
            f"{cheapest.policy}, at {_hours(cheapest)} replica-hours.")


def _upstream_default(deployable: list[Summary], best: Summary, policies: Sequence[Policy]
                      ) -> str | None:
    default = next((s for s in deployable if _cpu_utilization(_policy_of(s, policies))
                    == UPSTREAM_DEFAULT_CPU_PERCENT), None)
    if default is None:
        return None
    text = (f"The upstream default, CPU {UPSTREAM_DEFAULT_CPU_PERCENT} % ({default.policy}), "
            f"gave {_percent(_attainment(default))} at {_hours(default)} replica-hours")
    if default is best:
        return text + ", the best here."
    gap = _attainment(best) - _attainment(default)
    if gap <= 0:
        return text + ", as good as the best."
    return text + f": {_points(_attainment(best), _attainment(default))} points below the best."


def _cpu_sentences(deployable: list[Summary], settings: SimulationSettings,
                   policies: Sequence[Policy]) -> list[str]:
    cpu = [s for s in deployable if _cpu_only(_policy_of(s, policies))]
    if not cpu or settings.lifecycle.cpu_request_milli <= 0:
        return []
    capacity, lifecycle = settings.capacity, settings.lifecycle
    slots = capacity.concurrency
    inference = "inference" if slots == 1 else "inferences"
    ceiling = 100.0 * lifecycle.cpu_limit_milli / lifecycle.cpu_request_milli
    why = (f"CPU cannot see a LlamaEdge queue: a pod serving {slots} {inference} at a time "
           f"uses its whole CPU limit whether 1 or {capacity.max_queue_per_pod} requests "
           f"wait for it, so utilization stops at {ceiling:.0f}% of the request")
    targets = [t for s in cpu if (t := _cpu_utilization(_policy_of(s, policies)))]
    if targets:
        target = max(targets)
        why += f", {ceiling / target:.2f} times a CPU {target} % target"
    lines = [why + ", however long the queue."]
    others = [s for s in deployable if _other_metrics(_policy_of(s, policies))]
    pods = f"averaged {_span([_mean_pods(s) for s in cpu], lambda v: f'{v:.2f}')} pods"
    dropped = f"dropped {_span([s.dropped for s in cpu], lambda v: f'{v:,.0f}')} requests"
    waited = (f"had requests waiting for a slot in "
              f"{_span([s.underprovisioned_share for s in cpu], _percent)} of the seconds")
    who = f"{cpu[0].policy} (CPU)" if len(cpu) == 1 else "the CPU policies"
    if not others:
        lines.append(f"Here {who} {waited}, {pods} and {dropped}.")
        return lines
    metrics: list[str] = []
    for summary in others:
        for name in _other_metrics(_policy_of(summary, policies)):
            if name not in metrics:
                metrics.append(name)
    lines.append(
        f"Here {who} {pods} and {dropped}; those scaling on "
        f"{' or '.join(metrics)} averaged "
        f"{_span([_mean_pods(s) for s in others], lambda v: f'{v:.2f}')} pods and dropped "
        f"{_span([s.dropped for s in others], lambda v: f'{v:,.0f}')}.")
    return lines


def _bound(summary: Summary) -> int | None:
    if summary.oracle is not None and summary.oracle.bound_pods is not None:
        return summary.oracle.bound_pods
    text = summary.policy.removeprefix("oracle<=")
    return int(text) if summary.policy.startswith("oracle<=") and text.isdigit() else None


def _bound_sentence(measured: list[Summary], best: Summary) -> str | None:
    free = next((s for s in measured if is_oracle(s) and _bound(s) is None), None)
    held = next((s for s in measured if is_oracle(s) and _bound(s) is not None), None)
    oracle = "the oracle (every request known in advance, pods Ready at once)"
    if free is not None:
        text = (f"Unbounded, {oracle} gave {_percent(_attainment(free))} with up to "
                f"{free.max_replicas:,} pods ({_hours(free)} replica-hours)")
        if held is not None:
            text += (f"; held to {_bound(held)} pods it gave {_percent(_attainment(held))} "
                     f"({_hours(held)} replica-hours)")
            cost = _attainment(free) - _attainment(held)
            text += (f": the {_bound(held)}-pod bound costs "
                     f"{_points(_attainment(free), _attainment(held))} points" if cost > 0
                     else f": the {_bound(held)}-pod bound costs nothing here")
    elif held is not None:
        text = (f"Held to {_bound(held)} pods, {oracle} gave {_percent(_attainment(held))} "
                f"({_hours(held)} replica-hours)")
    else:
        return None
    if held is not None and not is_oracle(best):
        gap = _attainment(held) - _attainment(best)
        text += (f", and {best.policy} came within "
                 f"{_points(_attainment(held), _attainment(best))} points of the bounded "
                 "oracle" if gap > 0 else f", and {best.policy} did as well as the bounded "
                 "oracle")
    return text + "."


def _violation(summary: Summary) -> float:
    return -summary.violation_share


def _series_story(summaries: list[Summary], within_points: float) -> list[str]:
    deployable = [s for s in summaries if not is_oracle(s)] or summaries
    best = _best(deployable, _violation)
    text = (f"{best.policy} violated in {best.violation_seconds:,.0f} s "
            f"({_percent(best.violation_share)} of the run) at {_hours(best)} replica-hours")
    if len(deployable) > 1:
        text = "Fewest violation seconds: " + text
        cheap = _cheapest_close(deployable, best, _violation, within_points)
        text += (f"; no policy within {_within(within_points)} of it was cheaper" if cheap is best
                 else f"; within {_within(within_points)} of it, {cheap.policy} was the "
                      f"cheapest: {_percent(cheap.violation_share)} at {_hours(cheap)} "
                      "replica-hours")
    lines = [text + "."]
    oracles = [s for s in summaries if is_oracle(s)]
    if oracles and oracles != deployable:
        first, *rest = oracles
        text = (f"Knowing the demand in advance, {first.policy} violated in "
                f"{_percent(first.violation_share)} of the run at {_hours(first)} "
                "replica-hours")
        if rest:
            text += " (" + "; ".join(f"{s.policy}: {_percent(s.violation_share)} at "
                                     f"{_hours(s)}" for s in rest) + ")"
        lines.append(text + ".")
    return lines
