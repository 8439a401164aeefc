"""Library API: run several policies side by side on one workload.

    from autoscaler.replay.run import Policy, replay
    summaries = replay(workload, [Policy.hpa("seed", spec), Policy.fixed(3), Policy.oracle()],
                       SimulationSettings(), sink)

`oracle` runs the oracle (autoscaler.replay.oracle, .oracle_llm) and, when the run has HPA
policies, `oracle<=M` too: M is their largest maxReplicas.

Every HPA policy runs the same `algorithms.decide` as the daemon, on its own simulated
cluster fed with the same trace (and the same random seed), so differences are the specs'.

Policy files are untrusted input: read through `autoscaler.safeload` (at most 8 MiB,
duplicate keys, alias bombs and deep nesting refused), and every policy simulates at most
MAX_REPLICAS (10,000) pods: `fixed:N` and a spec's maxReplicas are bounded by it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from algorithms.defaults import set_defaults
from algorithms.errors import SpecError
from algorithms.slo.model import SloSpec
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.spec_codec import parse_spec
from algorithms.validation import check_spec
from autoscaler.errors import InputError
from autoscaler.replay.cluster import Controller, Engine, run_cluster
from autoscaler.replay.fluid import FluidEngine
from autoscaler.replay.limits import MAX_REPLICAS
from autoscaler.replay.llm import LLMEngine
from autoscaler.replay.model import (
    DemandSeries,
    HpaWatchTrace,
    ReplaySink,
    RequestTrace,
    Summary,
    Workload,
)
from autoscaler.replay.oracle import oracle_demand
from autoscaler.replay.oracle_llm import oracle_routed
from autoscaler.replay.settings import SimulationSettings
from autoscaler.safeload import DEFAULT as YAML_LIMITS
from autoscaler.safeload import load_yaml_documents
from autoscaler.specs.parse import EXTENSION_FIELDS, checked_slo


class PolicyError(InputError):
    """A policy argument or spec file is unusable; the message names it."""


@dataclass(frozen=True)
class Policy:
    name: str
    spec: HorizontalPodAutoscalerSpec | None = None
    fixed_replicas: int | None = None
    is_oracle: bool = False
    oracle_bound: int | None = None  # oracle<=N: at most N pods
    slo: SloSpec | None = None  # spec.sloRecommender (answers the llm_slo_replicas metric)

    @staticmethod
    def hpa(name: str, spec: HorizontalPodAutoscalerSpec, slo: SloSpec | None = None
            ) -> Policy:
        return Policy(name=f"hpa:{name}", spec=spec, slo=slo)

    @staticmethod
    def fixed(replicas: int) -> Policy:
        return Policy(name=f"fixed:{replicas}", fixed_replicas=replicas)

    @staticmethod
    def oracle(bound: int | None = None) -> Policy:
        name = "oracle" if bound is None else f"oracle<={bound}"
        return Policy(name=name, is_oracle=True, oracle_bound=bound)


def with_bounded_oracles(policies: list[Policy]) -> list[Policy]:
    """Each unbounded oracle followed by `oracle<=M`, M the largest maxReplicas of the HPA
    policies in the run (unless given already): what the bound alone costs."""
    bound = max((p.spec.max_replicas for p in policies if p.spec is not None), default=None)
    if bound is None or any(p.oracle_bound == bound for p in policies):
        return policies
    out: list[Policy] = []
    for policy in policies:
        out.append(policy)
        if policy.is_oracle and policy.oracle_bound is None:
            out.append(Policy.oracle(bound))
    return out


def spec_from_object(raw: Any, where: str) -> tuple[str, HorizontalPodAutoscalerSpec]:
    """An autoscaling/v2 HorizontalPodAutoscaler (or a bare spec) -> (name, defaulted and
    validated spec). Errors name the file and every bad field."""
    policy = policy_from_object(raw, where)
    assert policy.spec is not None
    return policy.name.removeprefix("hpa:"), policy.spec


def policy_from_object(raw: Any, where: str) -> Policy:
    """An autoscaling/v2 HorizontalPodAutoscaler, an ElasticAutoscaler (the daemon's
    extension fields: `sloRecommender` is used, the others only matter in a cluster) or a
    bare spec -> the policy. Errors name the file and every bad field."""
    if not isinstance(raw, dict):
        raise PolicyError(f"{where}: expected a HorizontalPodAutoscaler object, got "
                          f"{type(raw).__name__}")
    body = raw.get("spec", raw) if "kind" in raw or "spec" in raw else raw
    name = _name(raw, where)
    core = {k: v for k, v in body.items() if k not in EXTENSION_FIELDS} \
        if isinstance(body, dict) else body
    try:
        spec = set_defaults(parse_spec(core))
        check_spec(spec)
    except SpecError as exc:
        raise PolicyError(f"{where}: {exc}") from exc
    if spec.max_replicas > MAX_REPLICAS:
        raise PolicyError(f"{where}: spec.maxReplicas {spec.max_replicas} is above "
                          f"{MAX_REPLICAS}, the most pods the replay simulates")
    slo, errors = checked_slo(body, spec)
    if errors:
        raise PolicyError(f"{where}: {'; '.join(errors)}")
    return Policy.hpa(name, spec, slo)


def _name(raw: dict[Any, Any], where: str) -> str:
    metadata = raw.get("metadata")
    if metadata is None:
        return Path(where).stem
    if not isinstance(metadata, dict):
        raise PolicyError(f"{where}: metadata must be a mapping (metadata: {{name: ...}}), "
                          f"got {type(metadata).__name__}")
    name = metadata.get("name")
    if name is not None and not isinstance(name, str):
        raise PolicyError(f"{where}: metadata.name must be a string, got "
                          f"{type(name).__name__}")
    return name or Path(where).stem


def load_spec_file(path: Path) -> list[Policy]:
    try:
        with path.open("rb") as handle:
            # One byte over the limit is enough to refuse: a 2 GiB file is never read whole.
            data = handle.read(YAML_LIMITS.max_bytes + 1)
    except OSError as exc:
        raise PolicyError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > YAML_LIMITS.max_bytes:
        raise PolicyError(f"{path}: larger than {YAML_LIMITS.max_bytes} bytes (an HPA spec "
                          "is a few KiB)")
    try:
        documents = load_yaml_documents(data, str(path))
    except InputError as exc:
        raise PolicyError(exc.message) from None
    if not documents:
        raise PolicyError(f"{path}: no YAML document found")
    return [policy_from_object(d, str(path)) for d in documents]


_FIXED = re.compile(r"fixed:([0-9]{1,9})")
_BOUNDED_ORACLE = re.compile(r"oracle<=([0-9]{1,9})")


def parse_policy(text: str) -> list[Policy]:
    """`fixed:N`, `oracle`, `oracle<=N`, or a YAML file of one or more HPAs."""
    if text == "oracle":
        return [Policy.oracle()]
    if text.startswith("oracle<="):
        match = _BOUNDED_ORACLE.fullmatch(text.strip())
        bound = int(match[1]) if match else -1
        if not 1 <= bound <= MAX_REPLICAS:
            raise PolicyError(f"policy {text[:40]!r}: oracle<=N needs a whole number N >= 1 "
                              f"and <= {MAX_REPLICAS}")
        return [Policy.oracle(bound)]
    if text.startswith("fixed:"):
        match = _FIXED.fullmatch(text.strip())
        replicas = int(match[1]) if match else -1
        if not 1 <= replicas <= MAX_REPLICAS:
            raise PolicyError(f"policy {text[:40]!r}: fixed:N needs a whole number N >= 1 "
                              f"and <= {MAX_REPLICAS}")
        return [Policy.fixed(replicas)]
    return load_spec_file(Path(text))


def make_engine(workload: Workload, settings: SimulationSettings) -> Engine:
    if isinstance(workload, DemandSeries):
        return FluidEngine(workload, settings)
    if isinstance(workload, RequestTrace):
        return LLMEngine(workload, settings)
    raise PolicyError("a kubectl get hpa -w trace is replayed open-loop (autoscaler replay "
                      "--format kubectl-watch), not through the cluster simulator")


def replay(workload: DemandSeries | RequestTrace | HpaWatchTrace, policies: list[Policy],
           settings: SimulationSettings, sink: ReplaySink) -> list[Summary]:
    summaries = []
    for policy in with_bounded_oracles(policies):
        if policy.is_oracle:
            bound = policy.oracle_bound
            if isinstance(workload, DemandSeries):
                summaries.append(oracle_demand(workload, settings, sink, policy.name, bound))
            elif isinstance(workload, RequestTrace):
                summaries.append(oracle_routed(workload, settings, sink, policy.name, bound))
            continue
        if policy.spec is not None:
            initial = settings.initial_replicas or policy.spec.min_replicas or 1
            # With a partition, each HPA runs twice: cloud only, and with the edge fallback.
            variants = [("", False)] if settings.partition is None else [
                (" (cloud only)", False), (" (+edge fallback)", True)]
            for suffix, fallback in variants:
                summaries.append(run_cluster(
                    policy.name + suffix, make_engine(workload, settings), settings, initial,
                    Controller(policy.spec, edge_fallback=fallback, slo=policy.slo), sink))
        else:
            summaries.append(run_cluster(policy.name, make_engine(workload, settings),
                                         settings, policy.fixed_replicas or 1, None, sink))
    return summaries
