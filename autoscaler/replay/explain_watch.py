"""Why a recorded `kubectl get hpa -w` transition differs from the spec fed the readings alone:
the smallest hidden state under which `decide` reproduces it.

A watch row shows REPLICAS and the utilization of the pods the controller *counted*; it does
not show which pods were counted, nor what the stabilization window held. The open-loop
replay (`autoscaler.replay.open_loop`) models every pod as ready with the shown utilization
and carries its own decisions forward. Here each transition is replayed again, from the
state the *recorded* decisions leave behind, under hidden states from the smallest up:

* pods not counted, of the `replicas` shown (at least one stays counted, or kubectl would
  print `<unknown>`): *not Ready* (started inside the CPU initialization period, so its
  sample is distrusted), or *without a metrics sample*. Upstream treats a pod that is Ready
  but for less than one metrics window, inside its CPU initialization period, exactly like a
  not-Ready one: that variant is run through `decide` too and reported when it agrees;
* on an HPA's first row only: the stabilization window held a recommendation equal to the
  recorded next size from the sync one period before the trace (a fresh controller instead
  seeds the current size, which is what the readings alone assume);
* the counted pods' CPU anywhere in the range that truncates to the shown percent (its low
  end, middle and high end are tried): with pods filled in, the exact total can matter.

Size = pods not counted + 1 for the window. Every candidate is one `decide` call with a
1000m request per pod; it explains the transition when its shown utilization is the row's
and its target is the recorded next size. The search stops at the first size that explains,
keeping every state of that size that does; a transition nothing explains is reported with
the closest candidates (the smallest state per outcome, nearest outcomes first). Each HPA
starts from a fresh controller and carries forward the state of the explanation found (or
of the closest candidate); a transition the readings alone reproduce is only replayed
(nothing hidden, one free candidate) unless that fails.

Bounds: at most `MAX_CANDIDATES` (512) candidates per transition, and per trace
`MAX_TRACE_CANDIDATES` (5,000) candidates and `MAX_POD_EVALUATIONS` (400,000) pods summed
over them (telling a transition costs one more): about a second at most. Transitions left
when the budget is spent are reported as not searched. Not searched at all: scale events
(behavior policies' rate limits), Pending or failing pods, requests other than 1000m.

Worked example (the seed's cloud HPA, 37%/20% at 3 replicas, recorded 4 next): all three
counted, ceil(3 * 37/20) = ceil(5.55) = 6, capped at maxReplicas 5. One pod not counted:
two pods at 740m..759m of 2000m show 37%; filled in at 0% on a scale-up the utilization is
int(740 * 100 / 3000) = 24 .. int(759 * 100 / 3000) = 25, so ceil(3 * 1.2) = ceil(3.6) = 4
.. ceil(3 * 1.25) = 4: the recorded 4.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from algorithms.config import ControllerConfig
from algorithms.decide import decide
from algorithms.history import TimestampedRecommendation
from algorithms.observation import (
    Observation,
    PodResourceUsage,
    ResourceMetricsData,
    ScaleObservation,
)
from algorithms.plan import NotAttempted, Plan, Written, settle
from algorithms.pods import ContainerInfo, PodInfo
from algorithms.replicas import Tolerances
from algorithms.spec import HorizontalPodAutoscalerSpec
from algorithms.state import ControllerState
from autoscaler.replay.model import HpaWatchRow

REQUEST_MILLI = 1000
SAMPLE_WINDOW_SECONDS = 15.0
OLD_POD_SECONDS = 3600.0  # counted pods: started long before, Ready since 10 s after that
YOUNG_POD_SECONDS = 20.0  # not-counted pods: started this long before the sync
WARMING_READY_SECONDS = 5.0  # the warming variant: Ready this long, under one sample window
MAX_CANDIDATES = 512  # per transition
MAX_TRACE_CANDIDATES = 5_000  # per trace
MAX_POD_EVALUATIONS = 400_000  # per trace: the pods of every candidate, summed
CLOSEST_SHOWN = 3
CONFIG = ControllerConfig()  # the open-loop replay's controller flags


@dataclass(frozen=True)
class Hidden:
    """One hidden state: pods not counted, and a recommendation the window held before the
    trace (None: the fresh controller's seed). `warming`: the not-Ready pods are realized as
    Ready-but-warming pods instead."""

    not_ready: int = 0
    missing: int = 0
    window: int | None = None
    warming: bool = False

    @property
    def size(self) -> int:
        return self.not_ready + self.missing + (self.window is not None)

    @property
    def uncounted(self) -> int:
        return self.not_ready + self.missing


@dataclass(frozen=True)
class Transition:
    """A row, the spec it is replayed with, what was recorded next and what the readings
    alone gave (`ours`). `recorded_next` is None for an HPA's last row."""

    row: HpaWatchRow
    spec: HorizontalPodAutoscalerSpec
    recorded_next: int | None
    ours: int
    differs: bool
    alone_history: ControllerState | None = None  # the readings alone's state before it


@dataclass(frozen=True)
class Candidate:
    hidden: Hidden
    counted_milli: int | None  # the counted pods' CPU; None when no pod has a sample
    history: ControllerState  # what the window held before this sync
    plan: Plan
    order: int  # rank in the search order

    @property
    def replicas(self) -> int:
        return self.plan.target_replicas

    @property
    def proposal(self) -> int | None:
        results = self.plan.metric_results
        if not results or results[0].failed:
            return None
        return results[0].replicas

    @property
    def shown_percent(self) -> int | None:
        metrics = self.plan.state.status.current_metrics
        return metrics[0].current.average_utilization if metrics else None

    @property
    def state_after(self) -> ControllerState:
        now = self.plan.state.observed_at or 0.0
        return settle(self.plan, Written() if self.plan.rescale else NotAttempted(), now)

    def conditions(self) -> dict[str, str]:
        """The conditions once the decision is carried out (a rescale written)."""
        return {c.type: c.reason for c in self.state_after.status.conditions}


@dataclass(frozen=True)
class Explanation:
    transition: Transition
    found: tuple[Candidate, ...] = ()  # every smallest hidden state that reproduces it
    closest: tuple[Candidate, ...] = ()  # when nothing does: the nearest outcomes
    tried: int = 0
    capped: bool = False  # the per-transition cap or the trace's budget cut the search
    searched: bool = True
    window_tried: bool = False  # the window before the trace was a candidate (first rows)
    most_uncounted: int = 0  # the most pods not counted in a candidate tried
    sentence: str = field(default="", compare=False)

    @property
    def explained(self) -> bool:
        return bool(self.found)

    def json(self) -> dict[str, Any]:
        t = self.transition
        return {
            "hpa": t.row.name, "age_seconds": t.row.age_seconds, "targets": _targets(t.row),
            "replicas": t.row.replicas, "recorded_next": t.recorded_next,
            "readings_alone": t.ours, "searched": self.searched,
            "explained": self.explained,
            "smallest": [_candidate_json(c) for c in self.found],
            "closest": [_candidate_json(c) for c in self.closest],
            "candidates_tried": self.tried, "candidate_cap": MAX_CANDIDATES,
            "capped": self.capped, "sentence": self.sentence,
        }


# ------------------------------------------------------------------------ observations


class PodSet:
    """The pods of one row, built once and reused by every candidate: counted pods first,
    then the not-Ready (or warming) ones, then those without a sample."""

    def __init__(self, row: HpaWatchRow, now: float) -> None:
        self.row, self.now = row, now
        self.labels = {"hpa": row.name}
        self.containers = (ContainerInfo("c", {"cpu": REQUEST_MILLI}),)
        self.names = [f"{row.name}-{i}" for i in range(row.replicas)]
        self.old = [PodInfo(name=n, start_time=now - OLD_POD_SECONDS,
                            ready_transition_time=now - OLD_POD_SECONDS + 10,
                            labels=self.labels, containers=self.containers)
                    for n in self.names]
        self._young: dict[tuple[int, bool], PodInfo] = {}
        self.untrusted = PodResourceUsage(now - 1, SAMPLE_WINDOW_SECONDS, {"c": {"cpu": 0}})

    def _uncounted(self, index: int, warming: bool) -> PodInfo:
        key = (index, warming)
        if key not in self._young:
            start = self.now - YOUNG_POD_SECONDS
            self._young[key] = replace(
                self.old[index], start_time=start,
                ready="True" if warming else "False",
                ready_transition_time=self.now - WARMING_READY_SECONDS if warming else start)
        return self._young[key]

    def observation(self, hidden: Hidden, counted_milli: int | None) -> Observation:
        n = len(self.names)
        counted = n - hidden.uncounted
        pods = list(self.old)
        samples: dict[str, PodResourceUsage] = {}
        if counted_milli is not None and counted > 0:
            base, extra = divmod(counted_milli, counted)
            usages = (PodResourceUsage(self.now - 1, SAMPLE_WINDOW_SECONDS,
                                       {"c": {"cpu": base + 1}}),
                      PodResourceUsage(self.now - 1, SAMPLE_WINDOW_SECONDS,
                                       {"c": {"cpu": base}}))
            samples = {name: usages[i >= extra] for i, name in enumerate(self.names[:counted])}
        for i in range(counted, counted + hidden.not_ready):
            pods[i] = self._uncounted(i, hidden.warming)
            samples[self.names[i]] = self.untrusted
        return Observation(scale=ScaleObservation(n, n, f"hpa={self.row.name}"),
                           pods=tuple(pods), metrics=(ResourceMetricsData(samples),))


def counted_range(row: HpaWatchRow, counted: int) -> tuple[int, int] | None:
    """The counted pods' total CPU (milli) whose truncated utilization is the shown percent:
    int(total * 100 / (counted * 1000)) == percent."""
    if row.current_percent is None or counted <= 0:
        return None
    requests = counted * REQUEST_MILLI
    low = -(-row.current_percent * requests // 100)
    high = -(-(row.current_percent + 1) * requests // 100) - 1
    return low, high


def observation(row: HpaWatchRow, now: float) -> Observation:
    """The readings alone: every pod counted, each at exactly the shown percent."""
    span = counted_range(row, row.replicas)
    return PodSet(row, now).observation(Hidden(), None if span is None else span[0])


def _totals(row: HpaWatchRow, counted: int) -> list[int | None]:
    span = counted_range(row, counted)
    if span is None:
        return [None]
    low, high = span
    return list(dict.fromkeys((low, (low + high) // 2, high)))


# ---------------------------------------------------------------------------- the search


class Budget:
    """What is left of a trace's search: candidates, and pods summed over them (one decide
    call costs ~60 us plus ~2 us per pod, so the defaults stay under about a second)."""

    def __init__(self, candidates: int = MAX_TRACE_CANDIDATES,
                 pods: int = MAX_POD_EVALUATIONS) -> None:
        self.candidates, self.pods = candidates, pods

    @property
    def spent(self) -> bool:
        return self.candidates <= 0 or self.pods <= 0

    def charge(self, replicas: int) -> None:
        self.candidates -= 1
        self.pods -= replicas

    def spend(self, replicas: int) -> bool:
        if self.candidates < 1 or self.pods < replicas:
            return False
        self.charge(replicas)
        return True


def _hidden_states(row: HpaWatchRow, window: int | None) -> Iterator[Hidden]:
    """By size, then the window last, then the more not-Ready pods first."""
    most = row.replicas - 1 if row.current_percent is not None and row.replicas > 0 else 0
    windows: list[int | None] = [None] if window is None else [None, window]
    for size in range(most + len(windows)):
        for held in windows:
            pods = size - (held is not None)
            if not 0 <= pods <= most:
                continue
            for not_ready in range(pods, -1, -1):
                yield Hidden(not_ready, pods - not_ready, held)


def _history(hidden: Hidden, chain: ControllerState, at: float) -> ControllerState:
    if hidden.window is None:
        return chain
    held = TimestampedRecommendation(hidden.window, at)
    return replace(chain, recommendations=(held, *(chain.recommendations or ())))


def search(transition: Transition, chain: ControllerState, first: bool, budget: Budget
           ) -> Explanation:
    """The smallest hidden states reproducing `transition`, from `chain` (the state the
    recorded decisions before it leave); or, when none does, the closest candidates: the
    smallest state per outcome, nearest outcomes first."""
    row, recorded = transition.row, transition.recorded_next
    assert recorded is not None
    now = row.age_seconds
    # A transition the readings alone already reproduce only carries the chain forward: its
    # first candidate (nothing hidden) costs what the open-loop replay paid for it, not budget.
    free = not transition.differs
    if budget.spent and not free:
        return Explanation(transition, searched=False, sentence=_unsearched(transition))
    if not free:
        budget.pods -= row.replicas  # building the pods costs about one evaluation
    pods = PodSet(row, now)
    window_at = now - CONFIG.sync_period_seconds
    window = recorded if first and window_at >= 0 else None
    tried: list[Candidate] = []
    found: list[Candidate] = []
    capped = False
    found_size: int | None = None

    def run(hidden: Hidden, total: int | None) -> Candidate | None:
        nonlocal capped
        if not (free and not tried) and (len(tried) >= MAX_CANDIDATES
                                         or not budget.spend(row.replicas)):
            capped = True
            return None
        history = _history(hidden, chain, window_at)
        plan = decide(transition.spec, pods.observation(hidden, total), history, now, CONFIG)
        candidate = Candidate(hidden, total, history, plan, len(tried))
        tried.append(candidate)
        return candidate

    def reproduces(candidate: Candidate) -> bool:
        return (candidate.replicas == recorded
                and candidate.shown_percent == row.current_percent)

    for hidden in _hidden_states(row, window):
        if capped or (found_size is not None and hidden.size > found_size):
            break
        for total in _totals(row, row.replicas - hidden.uncounted):
            candidate = run(hidden, total)
            if candidate is None:
                break
            if reproduces(candidate):
                found.append(candidate)
                found_size = hidden.size
                if hidden.not_ready:  # the same pods Ready but warming: reported if equal
                    warming = run(replace(hidden, warming=True), total)
                    if warming is not None and reproduces(warming):
                        found.append(warming)
                break
    closest: list[Candidate] = []
    if not found:  # the smallest state per outcome, nearest outcomes first
        for candidate in sorted(tried, key=lambda c: (abs(c.replicas - recorded), c.replicas,
                                                      c.hidden.size, c.order)):
            if len(closest) < CLOSEST_SHOWN and all(c.replicas != candidate.replicas
                                                    for c in closest):
                closest.append(candidate)
    explanation = Explanation(transition, tuple(found), tuple(closest), len(tried), capped,
                              window_tried=window is not None,
                              most_uncounted=max((c.hidden.uncounted for c in tried), default=0))
    if not tried:
        return replace(explanation, searched=False, sentence=_unsearched(transition))
    if not transition.differs:  # only differing transitions are told
        return explanation
    budget.charge(row.replicas)  # the sentence's counterfactual decide call
    return replace(explanation, sentence=_sentence(explanation, pods))


def explain(transitions: Sequence[Transition], budget: Budget | None = None
            ) -> list[Explanation]:
    """Every transition with a recorded next size, in order; each HPA's rows are replayed
    from a fresh controller, carrying the state of the explanation found (or of the closest
    candidate) forward. Once the budget is spent the rest are returned unsearched."""
    budget = budget or Budget()
    out: list[Explanation] = []
    chains: dict[str, ControllerState] = {}
    for transition in transitions:
        if transition.recorded_next is None:
            continue
        name = transition.row.name
        if out and not out[-1].searched:  # the budget is spent: the chain is broken
            out.append(Explanation(transition, searched=False,
                                   sentence=_unsearched(transition)))
            continue
        explanation = search(transition, chains.get(name, ControllerState()),
                             name not in chains, budget)
        out.append(explanation)
        if explanation.searched:
            chains[name] = (explanation.found or explanation.closest)[0].state_after
    return out


# ---------------------------------------------------------------------------- sentences


def _targets(row: HpaWatchRow) -> str:
    current = "<unknown>" if row.current_percent is None else f"{row.current_percent}%"
    return f"{current}/{row.target_percent}%"


def _seconds(value: float) -> str:
    return f"{value:g}s"


def _pods_phrase(not_ready: int, missing: int) -> str:
    parts = []
    if not_ready:
        parts.append(f"{not_ready} not Ready")
    if missing:
        parts.append(f"{missing} without a metrics sample")
    return " and ".join(parts)


def _fill_phrase(row: HpaWatchRow, hidden: Hidden) -> str:
    if row.current_percent is None or not hidden.uncounted:
        return ""
    if row.current_percent > row.target_percent:
        return ("the uncounted pod counts" if hidden.uncounted == 1
                else "the uncounted pods count") + " as idle on a scale-up, "
    if row.current_percent < row.target_percent and hidden.missing:
        return ("pods without a sample count as fully used on a scale-down"
                + (" and not-Ready ones are left out, " if hidden.not_ready else ", "))
    if hidden.not_ready and row.current_percent < row.target_percent:
        return "not-Ready pods are left out on a scale-down, "
    return ""


def _inside_tolerance(candidate: Candidate, transition: Transition, pods: PodSet) -> bool:
    """Counterfactual through decide: with no tolerance band, would the proposal move?"""
    strict = replace(CONFIG, tolerances=Tolerances(0.0, 0.0))
    plan = decide(transition.spec, pods.observation(candidate.hidden, candidate.counted_milli),
                  candidate.history, pods.now, strict)
    results = plan.metric_results
    return bool(results) and not results[0].failed and results[0].replicas != candidate.proposal


def _window_seconds(spec: HorizontalPodAutoscalerSpec) -> float:
    down = spec.behavior.scale_down if spec.behavior is not None else None
    if down is not None and down.stabilization_window_seconds is not None:
        return float(down.stabilization_window_seconds)
    return CONFIG.downscale_stabilization_window_seconds


def window_high(history: ControllerState, transition: Transition
                ) -> tuple[int, list[float]] | None:
    """The highest recommendation `history` holds inside the downscale window at this
    sync, and when it was made (for the sentences; the decision itself is decide's)."""
    cutoff = transition.row.age_seconds - _window_seconds(transition.spec)
    inside = [r for r in history.recommendations or () if r.timestamp > cutoff]
    if not inside:
        return None
    high = max(r.replicas for r in inside)
    return high, sorted({r.timestamp for r in inside if r.replicas == high})


def _held_by(candidate: Candidate, transition: Transition, value: int) -> str:
    window = _window_seconds(transition.spec)
    held = window_high(candidate.history, transition)
    times = held[1] if held is not None and held[0] == value else []
    when = f" (recommended at {', '.join(_seconds(t) for t in times)})" if times else ""
    if transition.spec.behavior is None:
        return (f"the stabilization window's highest recommendation in the last {window:g} s "
                f"is {value}{when}")
    return f"the {window:g} s scale-down stabilization window still holds {value}{when}"


def mechanism(candidate: Candidate, transition: Transition, pods: PodSet) -> str:
    """What `decide` did under this hidden state, read off its plan."""
    row, plan = transition.row, candidate.plan
    current = row.replicas
    action = (f"scales {current} -> {plan.target_replicas}" if plan.rescale
              else f"keeps {current}")
    proposal = candidate.proposal
    if proposal is None:
        why = plan.reason if plan.reason and not plan.metric_results else (
            "no usable metric (" + candidate.conditions().get("ScalingActive", "") + ")")
        return f"{why[:1].lower()}{why[1:]}, and the controller {action}"
    said = f"the calculator proposes {proposal}"
    notes = []
    if not candidate.hidden.uncounted and row.current_percent is not None:
        notes.append(f"{row.current_percent}%/{row.target_percent}% = "
                     f"{row.current_percent / row.target_percent:.2f}")
    if proposal == current and _inside_tolerance(candidate, transition, pods):
        down = row.current_percent is not None and row.current_percent < row.target_percent
        tolerance = CONFIG.tolerances.scale_down if down else CONFIG.tolerances.scale_up
        notes.append(f"inside the {tolerance:.0%} tolerance")
    if notes:
        said += f" ({', '.join(notes)})"
    steps = [said]
    normalized = plan.normalized
    if normalized is not None:
        stabilized = normalized.stabilized
        if stabilized.reason == "ScaleDownStabilized":
            steps.append(_held_by(candidate, transition, stabilized.replicas))
        elif stabilized.reason == "ScaleUpStabilized":
            steps.append(f"the scale-up stabilization window still holds {stabilized.replicas}")
        limit = normalized.limited
        if normalized.scaling_limited:
            steps.append({
                "TooManyReplicas": f"capped at maxReplicas {row.max_replicas}",
                "TooFewReplicas": f"raised to minReplicas {row.min_replicas}",
                "ScaleUpLimit": f"the scale-up rate limit stops it at {limit.replicas}",
                "ScaleDownLimit": f"the scale-down rate limit stops it at {limit.replicas}",
            }.get(limit.reason, f"limited to {limit.replicas} ({limit.reason})"))
    return ", ".join(steps) + f", and the controller {action}"


def _window_phrase(row: HpaWatchRow, held: int) -> str:
    return (f"the stabilization window holding {held} from the sync at "
            f"{_seconds(row.age_seconds - CONFIG.sync_period_seconds)}, before the trace")


def describe(hidden: Hidden, row: HpaWatchRow) -> str:
    """One hidden state in words."""
    parts = []
    if hidden.uncounted:
        parts.append(f"{hidden.uncounted} of the {row.replicas} pods not counted "
                     f"({_pods_phrase(hidden.not_ready, hidden.missing)})")
    if hidden.window is not None:
        parts.append(_window_phrase(row, hidden.window))
    return " and ".join(parts) or "nothing hidden"


def _alternatives(found: Sequence[Candidate], row: HpaWatchRow) -> str:
    """Every smallest state found, in words: the pod splits as alternatives."""
    states = [c.hidden for c in found if not c.hidden.warming]
    first = states[0]
    parts = []
    if first.uncounted:
        splits = ", or ".join(_pods_phrase(h.not_ready, h.missing) for h in states
                              if h.window == first.window)
        parts.append(f"{first.uncounted} of the {row.replicas} pods not counted: {splits}")
    if first.window is not None:
        parts.append(_window_phrase(row, first.window))
    text = ", with ".join(parts)
    if any(c.hidden.warming for c in found):
        text += (f" (a pod Ready for less than one {SAMPLE_WINDOW_SECONDS:g} s metrics window "
                 f"within its first {CONFIG.readiness.cpu_initialization_period_seconds:g} s, "
                 "the CPU initialization period, counts as not Ready: same result)")
    return text


def _sentence(explanation: Explanation, pods: PodSet) -> str:
    t = explanation.transition
    row = t.row
    head = (f"{row.name} at {_seconds(row.age_seconds)}: {_targets(row)} at {row.replicas} "
            f"replicas, recorded {t.recorded_next} next, the readings alone give {t.ours}.")
    if explanation.found:
        best = explanation.found[0]
        if best.hidden.size == 0:
            alone = "carried their own earlier decisions forward, which were not recorded"
            held = None if t.alone_history is None else window_high(t.alone_history, t)
            if held is not None and held[0] != t.recorded_next:
                alone += (f" (their window held {held[0]}, recommended at "
                          f"{', '.join(_seconds(x) for x in held[1])})")
            return (f"{head} Nothing hidden is needed at this sync: the readings alone "
                    f"{alone}; from the recorded decisions before it, "
                    f"{mechanism(best, t, pods)}.")
        counted = row.replicas - best.hidden.uncounted
        shown = (f" The other {counted} show {row.current_percent}%; "
                 if best.hidden.uncounted and row.current_percent is not None else " ")
        rest = _fill_phrase(row, best.hidden) + mechanism(best, t, pods)
        if shown == " ":
            rest = rest[:1].upper() + rest[1:]
        return f"{head} Explained by {_alternatives(explanation.found, row)}.{shown}{rest}."
    most = explanation.most_uncounted
    space = (f"up to {most} of the {row.replicas} pods not counted" if most
             else "no pod's utilization shown" if row.current_percent is None
             else "every pod counted")
    if explanation.window_tried:
        space += f", with and without the window holding {t.recorded_next} before the trace"
    cut = ", cut by the search's bounds" if explanation.capped else ""
    near = "; ".join(f"({i}) {describe(c.hidden, row)} gives {c.replicas}: "
                     f"{mechanism(c, t, pods)}" for i, c in enumerate(explanation.closest, 1))
    return (f"{head} No hidden state explains it: {explanation.tried} candidates tried "
            f"({space}{cut}), none gives {t.recorded_next}. Closest: {near}.")


BUDGET_WORDS = (f"the trace's budget ({MAX_TRACE_CANDIDATES:,} candidates, "
                f"{MAX_POD_EVALUATIONS:,} pods evaluated) is spent")


def _unsearched(transition: Transition) -> str:
    row = transition.row
    return f"{row.name} at {_seconds(row.age_seconds)}: not searched, {BUDGET_WORDS}."


def _candidate_json(candidate: Candidate) -> dict[str, Any]:
    hidden = candidate.hidden
    return {
        "not_ready": hidden.not_ready, "missing": hidden.missing,
        "warming": hidden.warming, "window_recommendation": hidden.window,
        "counted_cpu_milli": candidate.counted_milli, "proposal": candidate.proposal,
        "replicas": candidate.replicas, "conditions": candidate.conditions(),
    }


def header() -> str:
    return ("Why: the smallest hidden state (not shown by kubectl) under which decide "
            "reproduces each differing transition, from the state the recorded decisions "
            "leave; searched: pods not counted (not Ready, or without a metrics sample) and "
            f"the stabilization window before the trace; at most {MAX_CANDIDATES} candidates "
            f"per transition, {MAX_TRACE_CANDIDATES:,} candidates and "
            f"{MAX_POD_EVALUATIONS:,} pods evaluated per trace.")
