"""Checks users ask for, reported as status conditions and Warning events (never blocking
a decision that upstream would take):

* `hostNetwork` pods: scaling out adds pods, but clients hitting a node port still reach
  one pod per node, so load does not spread (the seed document's tip: use a Service);
* two autoscalers on the same workload (upstream only notices overlapping selectors);
* a selector that also matches pods of another workload (their load would be counted).
"""

from __future__ import annotations

from dataclasses import dataclass

from algorithms.pods import PodInfo
from algorithms.spec import CrossVersionObjectReference


@dataclass(frozen=True)
class Finding:
    condition: str  # condition type
    reason: str
    message: str


def _owned_by_target(pod: PodInfo, ref: CrossVersionObjectReference) -> bool | None:
    """None when we cannot tell (no owner, or a kind whose pods' owners we do not know)."""
    if not pod.owner:
        return None
    kind, _, name = pod.owner.partition("/")
    if ref.kind == "Deployment":
        # Deployment -> ReplicaSet `<deployment>-<pod-template-hash>` -> pods.
        return kind == "ReplicaSet" and name.rsplit("-", 1)[0] == ref.name
    if ref.kind in ("StatefulSet", "ReplicaSet", "ReplicationController", "DaemonSet"):
        return kind == ref.kind and name == ref.name
    return None


def check(ref: CrossVersionObjectReference, pods: tuple[PodInfo, ...],
          duplicates: tuple[str, ...]) -> list[Finding]:
    found = []
    host = [p.name for p in pods if p.host_network]
    if host:
        found.append(Finding(
            "TrafficSpreading", "HostNetworkPods",
            f"{len(host)} pod(s) of {ref.kind}/{ref.name} use hostNetwork ({', '.join(host[:3])}"
            f"{', ...' if len(host) > 3 else ''}): added replicas may not receive traffic; "
            "put the pods behind a Service"))
    foreign = [p.name for p in pods if _owned_by_target(p, ref) is False]
    if foreign:
        found.append(Finding(
            "SelectorExclusive", "ForeignPods",
            f"the selector of {ref.kind}/{ref.name} also matches pods of other workloads "
            f"({', '.join(foreign[:3])}{', ...' if len(foreign) > 3 else ''}): their usage "
            "counts in this autoscaler's average"))
    if duplicates:
        found.append(Finding(
            "SingleOwner", "DuplicateTarget",
            f"{ref.kind}/{ref.name} is also targeted by {', '.join(duplicates)}: "
            "the autoscalers would fight; upstream refuses such overlaps (AmbiguousSelector)"))
    return found
