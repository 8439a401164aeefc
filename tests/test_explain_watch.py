"""The hidden-state search behind `autoscaler replay --format kubectl-watch`
(`autoscaler.replay.explain_watch`): each recorded transition the readings alone do not
reproduce is explained by the smallest hidden state under which `decide` does.

The expectations are derived by hand from upstream's replica calculator (see the comments'
arithmetic) in the open-loop model: 1000m request per pod, the counted pods' total CPU
anywhere in [p * 10 * counted, (p + 1) * 10 * counted - 1] milli (so the truncated
utilization int(total * 100 / requests) is the shown p %), unready pods and pods without a
sample filled in at 0 % on a scale-up, pods without a sample at 100 % on a scale-down,
tolerance 0.1, legacy path (behavior null): the max of the last 300 s of recommendations,
then at most max(2 * current, 4) and min/maxReplicas.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from algorithms.decide import decide
from autoscaler.cli import main
from autoscaler.replay import explain_watch
from autoscaler.replay.explain_watch import (
    MAX_CANDIDATES,
    Budget,
    Explanation,
    Transition,
    explain,
)
from autoscaler.replay.open_loop import (
    compare,
    explain_comparisons,
    format_comparisons,
    open_loop_summary,
    spec_for_row,
    write_summary,
)
from autoscaler.replay.traces import read_kubectl_watch

SEED = Path(__file__).resolve().parent / "data" / "seed" / "elastic-inference-design.txt"
CLOUD = "hpa-helmet-detection-inference-example-deployment-cloud"
EDGE = "hpa-helmet-detection-inference-example-deployment-edge"
# The seed's last cloud row (12%/20% at 4, 2m16s) has no next row; the later `kubectl get po`
# shows the four pods outlived it (tests/test_seed_traces.py: observed_next_replicas), so a
# row recording 4 at the next sync makes it a transition too.
CLOUD_AFTER_LAST = (f"{CLOUD} Deployment/helmet-detection-inference-example-deployment-cloud "
                    "12%/20% 1 5 4 2m31s\n")


def seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def explanations_of(text: str) -> list[Explanation]:
    return explain_comparisons(compare(read_kubectl_watch(text)))


def seed_explanations() -> dict[tuple[str, float], Explanation]:
    """The seed's watch rows plus the 2m31s cloud row, keyed by (HPA, age)."""
    lines = [line for line in seed_text().splitlines() if line.startswith("hpa-")]
    text = "\n".join(lines) + "\n" + CLOUD_AFTER_LAST
    return {(e.transition.row.name, e.transition.row.age_seconds): e
            for e in explanations_of(text)}


def splits(explanation: Explanation) -> set[tuple[int, int, int | None]]:
    return {(c.hidden.not_ready, c.hidden.missing, c.hidden.window)
            for c in explanation.found if not c.hidden.warming}


# (HPA, age, differs from the readings alone, smallest size, the smallest states as
#  (not Ready, without a sample, window), the warming variant agrees, proposal, AbleToScale)
SEED_CASES = [
    # 37%/20% at 3 -> recorded 4. Readings alone: int(1110*100/3000) = 37 -> 1.85 ->
    # ceil(3 * 1.85) = ceil(5.55) = 6 -> maxReplicas 5. One pod not counted: the other two
    # use 740..759m (37% of 2000m); filled in at 0% the three average int(740*100/3000) = 24
    # .. int(759*100/3000) = 25 -> ceil(3 * 1.2) = ceil(3.6) = 4 .. ceil(3 * 1.25) = 4; a
    # pod without a sample is filled in at 0% as well on a scale-up. The window (4 at 77s)
    # alone does not do: max(4, 6) = 6 -> 5.
    pytest.param(CLOUD, 92, True, 1, {(1, 0, None), (0, 1, None)}, True, 4,
                 "SucceededRescale", id="cloud-92s-37pct-3to4-one-pod-not-counted"),
    # 37%/20% at 4 stays 4. One not counted: 1110..1139m over 4000m -> 27..28% -> ceil(4 *
    # 1.35) = 6 -> 5. Two not counted: 740..759m over 4000m -> 18% -> 0.90: inside the 10%
    # tolerance (and below 1 where the counted pods alone were above: a flip) -> 4.
    pytest.param(CLOUD, 106, True, 2, {(2, 0, None), (1, 1, None), (0, 2, None)}, True, 4,
                 "ReadyForNewScale", id="cloud-106s-37pct-stays4-two-pods-not-counted"),
    # 18%/20% at 4 stays 4: nothing hidden. From the recorded decisions the window holds
    # 3 and 4s, and ceil(4 * 0.9) = ceil(3.6) = 4. The readings alone give 5 only because
    # their window holds their own 8 of 106s (ceil(4 * 1.85) = ceil(7.4) = 8 -> 5).
    pytest.param(CLOUD, 121, True, 0, {(0, 0, None)}, False, 4, "ReadyForNewScale",
                 id="cloud-121s-18pct-stays4-nothing-hidden"),
    # 12%/20% at 4 stays 4: ceil(4 * 0.6) = ceil(2.4) = 3, but the 300 s window holds the 4s
    # recommended at 92, 106 and 121 s: ScaleDownStabilized -> 4.
    pytest.param(CLOUD, 136, True, 0, {(0, 0, None)}, False, 3, "ScaleDownStabilized",
                 id="cloud-136s-12pct-stays4-downscale-window"),
    # 348%/50% and 535%/50% at 2 stay 2: ceil(2 * 6.96) = ceil(13.92) = 14 and ceil(2 * 10.7)
    # = ceil(21.4) = 22, capped at maxReplicas 2: the readings alone agree.
    pytest.param(EDGE, 92, False, 0, {(0, 0, None)}, False, 14, "ReadyForNewScale",
                 id="edge-92s-348pct-stays2-max-replicas"),
    pytest.param(EDGE, 106, False, 0, {(0, 0, None)}, False, 22, "ReadyForNewScale",
                 id="edge-106s-535pct-stays2-max-replicas"),
]


@pytest.mark.parametrize(("hpa", "age", "differs", "size", "states", "warming", "proposal",
                          "able"), SEED_CASES)
def test_seed_transitions_are_explained(hpa: str, age: float, differs: bool, size: int,
                                        states: set[tuple[int, int, int | None]],
                                        warming: bool, proposal: int, able: str) -> None:
    explanation = seed_explanations()[(hpa, age)]
    assert explanation.transition.differs == differs
    assert explanation.explained and not explanation.capped
    assert {c.hidden.size for c in explanation.found} == {size}
    assert splits(explanation) == states
    assert any(c.hidden.warming for c in explanation.found) == warming
    for candidate in explanation.found:
        assert candidate.replicas == explanation.transition.recorded_next
        assert candidate.shown_percent == explanation.transition.row.current_percent
        assert candidate.proposal == proposal
        assert candidate.conditions()["AbleToScale"] == able


SEED_SENTENCES = [
    pytest.param(92, ["Explained by 1 of the 3 pods not counted: 1 not Ready, or 1 without a "
                      "metrics sample",
                      "counts as not Ready: same result",
                      "The other 2 show 37%; the uncounted pod counts as idle on a scale-up, "
                      "the calculator proposes 4, and the controller scales 3 -> 4."],
                 id="cloud-92s"),
    pytest.param(106, ["Explained by 2 of the 4 pods not counted: 2 not Ready, or 1 not Ready "
                       "and 1 without a metrics sample, or 2 without a metrics sample",
                       "the calculator proposes 4, and the controller keeps 4."],
                 id="cloud-106s"),
    pytest.param(121, ["Nothing hidden is needed at this sync",
                       "their window held 8, recommended at 106s",
                       "the calculator proposes 4 (18%/20% = 0.90), and the controller "
                       "keeps 4."], id="cloud-121s"),
    pytest.param(136, ["Nothing hidden is needed at this sync",
                       "the calculator proposes 3 (12%/20% = 0.60), the stabilization "
                       "window's highest recommendation in the last 300 s is 4 (recommended "
                       "at 92s, 106s, 121s), and the controller keeps 4."], id="cloud-136s"),
]


@pytest.mark.parametrize(("age", "fragments"), SEED_SENTENCES)
def test_seed_sentences(age: float, fragments: list[str]) -> None:
    sentence = seed_explanations()[(CLOUD, age)].sentence
    assert sentence.startswith(f"{CLOUD} at {age:g}s: ")
    for fragment in fragments:
        assert fragment in sentence


# ------------------------------------------------------------------------ crafted traces

NO_STATE_EXPLAINS = "u Deployment/u 50%/50% 1 10 4 60s\nu Deployment/u 50%/50% 1 10 10 75s\n"

# (trace, the HPA's transition explained?, smallest states, outcome of the closest)
CRAFTED = [
    # First row 10%/50% at 6 -> recorded 4. A fresh controller seeds its window with 6 and
    # keeps 6 (ceil(6 * 0.2) = ceil(1.2) = 2, max(6, 2) = 6). Pods not counted cannot raise
    # a 10% reading to 4 pods' worth; the window holding 4 from the sync at 285 s, before
    # the trace, does: max(4, 2) = 4.
    pytest.param("d Deployment/d 10%/50% 1 10 6 5m\nd Deployment/d 10%/50% 1 10 4 5m15s\n",
                 True, {(0, 0, 4)}, None, id="first-row-scale-down-by-window-before-trace"),
    # 30%/50% at 4, 9 minutes after the first row (the window is empty again): counted
    # alone ceil(4 * 0.6) = ceil(2.4) = 3; one not-Ready pod is left out: ceil(3 * 0.6) =
    # ceil(1.8) = 2. One pod without a sample is filled in at 100% on a scale-down:
    # int((900 + 1000) * 100 / 4000) = 47 -> ceil(4 * 0.94) = ceil(3.76) = 4: kept.
    pytest.param("m Deployment/m 30%/50% 1 10 4 60s\nm Deployment/m 30%/50% 1 10 4 10m\n"
                 "m Deployment/m 30%/50% 1 10 4 10m15s\n",
                 True, {(0, 1, None)}, None, id="held-scale-down-by-a-pod-without-sample"),
    # 50%/50% at 4 -> recorded 10: the ratio is exactly 1 whatever is hidden (no fill-in at a
    # ratio of 1) -> 4; the window holding 10 from before the trace gives max(10, 4) = 10,
    # then the legacy rate limit max(2 * 4, 4) = 8. Nothing reaches 10.
    pytest.param(NO_STATE_EXPLAINS, False, set(), [8, 4], id="no-state-explains-4-to-10"),
    # <unknown>: no pod's utilization is known, the metric fails and the size is kept.
    pytest.param("k Deployment/k <unknown>/50% 1 5 3 60s\nk Deployment/k <unknown>/50% 1 5 4 "
                 "75s\n", False, set(), [3], id="unknown-metric-no-state-explains-3-to-4"),
]


@pytest.mark.parametrize(("text", "explained", "states", "closest"), CRAFTED)
def test_crafted_traces(text: str, explained: bool,
                        states: set[tuple[int, int, int | None]],
                        closest: list[int] | None) -> None:
    (explanation,) = [e for e in explanations_of(text) if e.transition.differs]
    assert explanation.explained == explained
    assert splits(explanation) == states
    if closest is not None:
        assert [c.replicas for c in explanation.closest] == closest
        assert "No hidden state explains it" in explanation.sentence
        assert "Closest: (1) " in explanation.sentence


def test_no_state_explains_names_the_closest_candidates() -> None:
    (explanation,) = [e for e in explanations_of(NO_STATE_EXPLAINS) if e.transition.differs]
    assert explanation.sentence == (
        "u at 60s: 50%/50% at 4 replicas, recorded 10 next, the readings alone give 4. No "
        "hidden state explains it: 60 candidates tried (up to 3 of the 4 pods not counted, "
        "with and without the window holding 10 before the trace), none gives 10. Closest: "
        "(1) the stabilization window holding 10 from the sync at 45s, before the trace "
        "gives 8: the calculator proposes 4 (50%/50% = 1.00), the stabilization window's "
        "highest recommendation in the last 300 s is 10 (recommended at 45s), the scale-up "
        "rate limit stops it at 8, and the controller scales 4 -> 8; (2) nothing hidden "
        "gives 4: the calculator proposes 4 (50%/50% = 1.00), and the controller keeps 4.")
    # 4 sizes (0..3 pods not counted) x 2 (with and without the window) x the splits of k
    # pods into not Ready / without a sample (k + 1) x 3 totals: 3 * 2 * (1+2+3+4) = 60.
    assert explanation.tried == 60


# ----------------------------------------------------------------------- the bounds


def test_the_search_goes_through_decide(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every candidate is one `decide` call; a told sentence adds at most one more (the
    no-tolerance counterfactual, only where the calculator kept the size)."""
    calls = []
    real = decide

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(explain_watch, "decide", counting)
    explanations = seed_explanations().values()
    tried = sum(e.tried for e in explanations)
    told = sum(1 for e in explanations if e.transition.differs)
    assert tried <= len(calls) <= tried + told


def test_the_seed_search_is_deterministic() -> None:
    """(Its speed is a figure, not a test: ~4 ms on the seed, see the module docstring.)"""
    trace = read_kubectl_watch(SEED)
    first = explain_comparisons(compare(trace))
    second = explain_comparisons(compare(trace))
    assert [e.sentence for e in first] == [e.sentence for e in second]
    assert [e.json() for e in first] == [e.json() for e in second]


def test_a_large_row_is_capped_per_transition() -> None:
    """10,000 pods at 50%/50% recorded to go to 1: hopeless, and cut by the pods budget
    (400,000 pods evaluated) long before the 512-candidate cap."""
    text = ("h Deployment/d 50%/50% 1 10000 10000 1h\n"
            "h Deployment/d 50%/50% 1 10000 1 1h15s\n")
    (explanation,) = explanations_of(text)
    assert explanation.capped and not explanation.explained
    assert explanation.tried <= MAX_CANDIDATES
    assert "cut by the search's bounds" in explanation.sentence


def test_many_candidates_hit_the_per_transition_cap() -> None:
    """40 pods: the splits of up to 39 uncounted pods far exceed 512 candidates."""
    text = "h Deployment/d 50%/50% 1 100 40 1h\nh Deployment/d 50%/50% 1 100 90 1h15s\n"
    (explanation,) = explanations_of(text)
    assert explanation.tried == MAX_CANDIDATES and explanation.capped


def test_a_spent_budget_leaves_the_rest_unsearched() -> None:
    """A budget of 3 candidates: the first HPA's transition takes them (nothing hidden, at
    the three totals), the second's is reported as not searched."""
    comparisons = compare(read_kubectl_watch(
        "a Deployment/a 37%/20% 1 5 3 92s\na Deployment/a 37%/20% 1 5 4 106s\n"
        "b Deployment/b 37%/20% 1 5 3 92s\nb Deployment/b 37%/20% 1 5 4 106s\n"))
    transitions = [Transition(c.row, spec_for_row(c.row), c.recorded_next, c.ours, c.differs)
                   for c in comparisons]
    explanations = explain(transitions, Budget(candidates=3))
    assert [(e.searched, e.tried, e.capped) for e in explanations] == [(True, 3, True),
                                                                        (False, 0, False)]
    assert explanations[1].sentence == ("b at 92s: not searched, the trace's budget (5,000 "
                                        "candidates, 400,000 pods evaluated) is spent.")
    text = format_comparisons(comparisons, explanations)
    assert "- 1 more differing transitions not searched" in text
    assert text.endswith("0 of 2 differing transitions explained by hidden state")


# ------------------------------------------------------------------------- the CLI


def test_cli_prints_the_explanations_and_the_summary_holds_them(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", "--trace", str(SEED), "--format", "kubectl-watch",
                 "--out-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    diff_line = "3 of 5 recorded transitions differ from the spec fed the recorded readings alone"
    assert diff_line in out
    after = out.split(diff_line, 1)[1]
    assert after.lstrip().startswith("Why: the smallest hidden state")
    assert "at most 512 candidates per transition" in after
    assert (f"- {CLOUD} at 92s: 37%/20% at 3 replicas, recorded 4 next, the readings alone "
            "give 5. Explained by 1 of the 3 pods not counted") in after
    assert f"- {CLOUD} at 106s: 37%/20% at 4 replicas" in after
    assert f"- {CLOUD} at 121s: 18%/20% at 4 replicas" in after
    last, wrote = after.rstrip().rsplit("\n", 1)
    assert last.endswith("3 of 3 differing transitions explained by hidden state")
    assert wrote == f"wrote {tmp_path / 'out' / 'summary.json'}"
    written = json.loads((tmp_path / "out" / "summary.json").read_text(encoding="utf-8"))
    assert written["explained"] == 3
    # The JSON of the same run holds the same sentences, each printed after "- ".
    comparisons = compare(read_kubectl_watch(SEED))
    summary = json.loads(write_summary(tmp_path / "summary.json", comparisons,
                                       source=str(SEED)).read_text(encoding="utf-8"))
    assert summary == json.loads(json.dumps(open_loop_summary(comparisons, source=str(SEED))))
    assert [(r["age_seconds"], r["recorded_next"], r["readings_alone"], r["differs"])
            for r in summary["rows"] if r["hpa"] == CLOUD] == [
        (92, 4, 5, True), (106, 4, 5, True), (121, 4, 5, True), (136, None, 5, False)]
    assert (summary["transitions"], summary["differing"], summary["explained"]) == (5, 3, 3)
    assert summary["search"] == {"candidates_per_transition": 512,
                                 "candidates_per_trace": 5000,
                                 "pods_evaluated_per_trace": 400000}
    for entry in summary["explanations"]:
        assert f"- {entry['sentence']}\n" in out
    first = summary["explanations"][0]
    assert (first["targets"], first["replicas"], first["recorded_next"],
            first["readings_alone"]) == ("37%/20%", 3, 4, 5)
    assert [(s["not_ready"], s["missing"], s["warming"], s["proposal"])
            for s in first["smallest"]] == [(1, 0, False, 4), (1, 0, True, 4), (0, 1, False, 4)]
    assert first["smallest"][0]["counted_cpu_milli"] == 740  # 2 pods x 370m = 37% of 2000m


@pytest.mark.parametrize(("text", "fragment"), [
    pytest.param("h Deployment/d 37%/20% 5 2 3 92s\n", "MINPODS 5 is above MAXPODS 2",
                 id="minpods-above-maxpods"),
    pytest.param("h Deployment/d 37%/0% 1 5 3 92s\n",
                 "the utilization target must be at least 1%", id="target-zero"),
    pytest.param("h Deployment/d 37%/20% 1 5 10001 92s\n", "REPLICAS 10001 is above 10000",
                 id="replicas-above-max"),
    pytest.param("h Deployment/d 37%/20% 1 5 92s\n", "expected the columns", id="short-row"),
    pytest.param("h d 37%/20% 1 5 3 92s\n", "REFERENCE 'd' is not Kind/name", id="reference"),
])
def test_hostile_rows_keep_their_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        text: str, fragment: str) -> None:
    trace = tmp_path / "watch.txt"
    trace.write_text(text, encoding="utf-8")
    assert main(["replay", "--trace", str(trace), "--format", "kubectl-watch"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "watch.txt:1: " in err and fragment in err
    assert err.count("\n") == 1


def test_hostile_but_valid_rows_stay_bounded(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The largest rows the parser allows: 10,000 replicas at 999999999%."""
    trace = tmp_path / "watch.txt"
    trace.write_text("h Deployment/d 999999999%/1% 1 10000 10000 1h\n"
                     "h Deployment/d 999999999%/1% 1 10000 1 1h15s\n", encoding="utf-8")
    assert main(["replay", "--trace", str(trace), "--format", "kubectl-watch",
                 "--out-dir", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "No hidden state explains it" in out
    assert "capped at maxReplicas 10000" in out
