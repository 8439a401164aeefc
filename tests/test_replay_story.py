"""The replay's closing sentences (autoscaler.replay.story) and the demo's SLO policy."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler.replay.model import OracleChoice, RequestMetrics, Summary
from autoscaler.replay.report_summary import summaries_from_json, summaries_to_json
from autoscaler.replay.run import Policy, policy_from_object
from autoscaler.replay.scenarios import (
    IN_FLIGHT_HPA,
    LLAMAEDGE_SLO_SPEC,
    SEED_HPA,
    SLO_HPA,
    TUNED_HPA,
    UPSTREAM_DEFAULT_HPA,
    llamaedge,
)
from autoscaler.replay.settings import LLMCapacity, PodLifecycle, SimulationSettings
from autoscaler.replay.story import story

EXAMPLE = Path(__file__).resolve().parent.parent / "deploy" / "examples" / "llamaedge-slo"
SETTINGS = SimulationSettings()
POLICIES = (SEED_HPA, UPSTREAM_DEFAULT_HPA, TUNED_HPA, IN_FLIGHT_HPA, SLO_HPA,
            Policy.oracle(), Policy.oracle(10), Policy.fixed(4))
HOUR = 3600.0


# --- the demo's SLO policy is the deployable example -----------------------------------------


def _example() -> dict[str, Any]:
    text = (EXAMPLE / "elasticautoscaler.yaml").read_text(encoding="utf-8")
    (doc,) = [d for d in yaml.safe_load_all(text) if d is not None]
    assert isinstance(doc, dict)
    return doc


def test_scenario_slo_spec_is_the_deploy_examples() -> None:
    example = _example()
    assert example["spec"] == LLAMAEDGE_SLO_SPEC
    parsed = policy_from_object(example, "elasticautoscaler.yaml")
    assert (parsed.spec, parsed.slo) == (SLO_HPA.spec, SLO_HPA.slo)
    assert SLO_HPA.slo is not None and SLO_HPA.slo.ttft_seconds == 5.0


def test_llamaedge_scenario_runs_the_slo_policy_beside_the_others() -> None:
    assert llamaedge().policies == (SEED_HPA, UPSTREAM_DEFAULT_HPA, TUNED_HPA, IN_FLIGHT_HPA,
                                    SLO_HPA, Policy.oracle())


# --- hand-built runs -------------------------------------------------------------------------


def run(policy: str, met: int, replica_hours: float, arrived: int = 1000,
        unavoidable: int = 0, target: float = 0.95, dropped: int = 0,
        oracle: OracleChoice | None = None, max_replicas: int = 10,
        waiting_seconds: float = 0.0) -> Summary:
    """A request-trace summary of a one-hour run."""
    requests = RequestMetrics(slo_ttft_seconds=5.0, attainment_target=target, arrived=arrived,
                              met_slo=met, dropped=dropped, unavoidable=unavoidable)
    return Summary(policy, HOUR, replica_hours * HOUR, 0.0, waiting_seconds, 3, max_replicas,
                   float(arrived), float(arrived - dropped), float(dropped), 0.0,
                   routing="random", requests=requests, oracle=oracle)


def series(policy: str, violation_seconds: float, replica_hours: float) -> Summary:
    return Summary(policy, HOUR, replica_hours * HOUR, violation_seconds, 0.0, 2, 4, 100.0,
                   100.0, 0.0, 0.0)


def _oracle(bound: int | None = None) -> OracleChoice:
    return OracleChoice(headroom=2.0, target_attainment=0.95, basis="target", missed=True,
                        bound_pods=bound)


DEMO_LIKE = [
    run("hpa:seed-cpu50", 136, 8.89, dropped=105, waiting_seconds=2475),
    run("hpa:kubectl-default-cpu80", 120, 8.11, dropped=144, waiting_seconds=2574),
    run("hpa:inflight-1-per-pod", 134, 9.32, dropped=58),
    run("hpa:slo-ttft5s-p95", 140, 9.48, dropped=58),
    run("oracle", 901, 211.15, oracle=_oracle(), max_replicas=4512),
    run("oracle<=10", 149, 5.69, oracle=_oracle(10)),
]


def sentences(text: str) -> list[str]:
    return text.splitlines()


def test_demo_like_run_tells_the_whole_story() -> None:
    lines = sentences(story([dataclasses.replace(s, requests=dataclasses.replace(
        s.requests, unavoidable=94)) if s.requests else s for s in DEMO_LIKE],
        SETTINGS, POLICIES))
    assert lines == [
        "Of the deployable policies, hpa:slo-ttft5s-p95 had the best attainment: 14.00% of "
        "the requests (140 of 1,000) got their first token within 5 s, at 9.48 replica-hours; "
        "within 1 point of it, hpa:seed-cpu50 was the cheapest: 13.60% at 8.89 replica-hours.",
        "No policy reached the 95.00% target (the best: oracle, 90.10%), and none could: 94 "
        "of 1,000 requests have a prefill alone above 5 s, so attainment is at most 90.60%.",
        "The upstream default, CPU 80 % (hpa:kubectl-default-cpu80), gave 12.00% at 8.11 "
        "replica-hours: 2.00 points below the best.",
        "CPU cannot see a LlamaEdge queue: a pod serving 1 inference at a time uses its whole "
        "CPU limit whether 1 or 32 requests wait for it, so utilization stops at 100% of the "
        "request, 1.25 times a CPU 80 % target, however long the queue.",
        "Here the CPU policies averaged 8.11 to 8.89 pods and dropped 105 to 144 requests; "
        "those scaling on llm_proxy_requests_in_flight or llm_slo_replicas averaged 9.32 to "
        "9.48 pods and dropped 58.",
        "Unbounded, the oracle (every request known in advance, pods Ready at once) gave "
        "90.10% with up to 4,512 pods (211.15 replica-hours); held to 10 pods it gave 14.90% "
        "(5.69 replica-hours): the 10-pod bound costs 75.20 points, and hpa:slo-ttft5s-p95 "
        "came within 0.90 points of the bounded oracle.",
    ]


@pytest.mark.parametrize(("summaries", "best", "cheapest"), [
    pytest.param(DEMO_LIKE, "hpa:slo-ttft5s-p95", "hpa:seed-cpu50", id="demo-like"),
    pytest.param([run("hpa:a", 900, 5.0), run("hpa:b", 955, 7.0), run("hpa:c", 950, 6.0)],
                 "hpa:b", "hpa:c", id="cheaper-within-a-point"),
    pytest.param([run("hpa:a", 900, 5.0), run("hpa:b", 960, 7.0), run("hpa:c", 949, 6.0)],
                 "hpa:b", None, id="close-one-is-too-far"),
    pytest.param([run("fixed:4", 990, 4.0), run("hpa:b", 985, 4.0)], "fixed:4", None,
                 id="best-is-also-cheapest"),
    pytest.param([run("hpa:a", 700, 3.0), run("hpa:b", 700, 2.0)], "hpa:b", None,
                 id="a-tie-goes-to-the-cheaper"),
])
def test_best_and_cheapest_within_a_point_are_named(summaries: list[Summary], best: str,
                                                    cheapest: str | None) -> None:
    first = sentences(story(summaries, SETTINGS, POLICIES))[0]
    assert f"{best} had the best attainment" in first
    if cheapest is None:
        assert first.endswith("no policy within 1 point of it was cheaper.")
    else:
        assert f"within 1 point of it, {cheapest} was the cheapest" in first


def test_the_within_band_is_a_parameter() -> None:
    summaries = [run("hpa:a", 900, 5.0), run("hpa:b", 960, 7.0)]
    assert "hpa:a was the cheapest" in story(summaries, SETTINGS, within_points=10.0)
    assert "within 10 points of it" in story(summaries, SETTINGS, within_points=10.0)


def test_numbers_are_the_summary_fields_as_the_tables_show_them() -> None:
    best = run("hpa:b", 8123, 12345.678, arrived=9876)
    cheap = run("hpa:c", 8100, 10.004, arrived=9876)
    text = story([best, cheap], SETTINGS)
    requests = best.requests
    assert requests is not None
    assert f"{100 * requests.attainment:.2f}%" in text  # 82.25%
    assert f"({requests.met_slo:,} of {requests.arrived:,})" in text
    assert f"{best.replica_hours:,.2f} replica-hours" in text  # 12,345.68
    assert f"{100 * 8100 / 9876:.2f}% at {cheap.replica_hours:,.2f} replica-hours" in text


@pytest.mark.parametrize(("summaries", "missed"), [
    pytest.param([run("hpa:a", 949, 1.0), run("hpa:b", 700, 1.0)], True, id="just-below"),
    pytest.param([run("hpa:a", 950, 1.0), run("hpa:b", 700, 1.0)], False, id="exactly-on"),
    pytest.param([run("hpa:a", 100, 1.0), run("oracle", 960, 9.0, oracle=_oracle())], False,
                 id="only-the-oracle"),
    pytest.param([run("hpa:a", 100, 1.0)], True, id="one-policy-missing"),
    pytest.param([run("hpa:a", 1000, 1.0)], False, id="one-policy-meeting"),
    pytest.param([run("hpa:a", 0, 1.0, arrived=0)], False, id="no-requests-is-met"),
])
def test_target_missed_sentence_exactly_when_no_policy_reaches_it(summaries: list[Summary],
                                                                  missed: bool) -> None:
    text = story(summaries, SETTINGS, POLICIES)
    assert text.count("No policy reached the 95.00% target") == int(missed)
    if missed:
        top = max(s.requests.attainment for s in summaries if s.requests is not None)
        assert f"the best: {summaries[0].policy}, {100 * top:.2f}%" in text


def test_target_reached_names_the_cheapest_that_did() -> None:
    text = story([run("hpa:a", 960, 9.0), run("hpa:b", 951, 8.0), run("hpa:c", 900, 1.0)],
                 SETTINGS)
    assert "2 policies reached the 95.00% target; the cheapest, hpa:b, at 8.00 " \
           "replica-hours." in text
    only = story([run("hpa:a", 100, 1.0), run("oracle", 960, 9.0, oracle=_oracle())], SETTINGS)
    assert "Only oracle reached the 95.00% target; no deployable policy did." in only


@pytest.mark.parametrize(("unavoidable", "ceiling"), [
    pytest.param(0, None, id="none-unavoidable"),
    pytest.param(50, None, id="ceiling-above-target"),
    pytest.param(51, "at most 94.90%", id="ceiling-below-target"),
])
def test_ceiling_is_stated_when_it_keeps_the_target_out_of_reach(unavoidable: int,
                                                                 ceiling: str | None) -> None:
    text = story([run("hpa:a", 500, 1.0, unavoidable=unavoidable)], SETTINGS)
    assert ("none could" in text) == (ceiling is not None)
    if ceiling is not None:
        assert f"{unavoidable} of 1,000 requests have a prefill alone above 5 s" in text
        assert ceiling in text


def test_single_policy_without_oracle_or_spec() -> None:
    lines = sentences(story([run("fixed:4", 500, 4.0)], SETTINGS))
    assert lines == [
        "With fixed:4, 50.00% of the requests (500 of 1,000) got their first token within "
        "5 s, at 4.00 replica-hours.",
        "No policy reached the 95.00% target (the best: fixed:4, 50.00%).",
    ]


def test_no_oracle_no_oracle_sentence() -> None:
    text = story(DEMO_LIKE[:4], SETTINGS, POLICIES)
    assert "oracle" not in text and "deployable" not in text
    assert len(sentences(text)) == 5


@pytest.mark.parametrize(("summaries", "expected"), [
    pytest.param([run("hpa:a", 10, 1.0), run("oracle", 901, 9.0, oracle=_oracle(),
                                              max_replicas=40)],
                 "Unbounded, the oracle (every request known in advance, pods Ready at once) "
                 "gave 90.10% with up to 40 pods (9.00 replica-hours).", id="unbounded-only"),
    pytest.param([run("hpa:a", 10, 1.0), run("oracle<=3", 20, 3.0, oracle=_oracle(3))],
                 "Held to 3 pods, the oracle (every request known in advance, pods Ready at "
                 "once) gave 2.00% (3.00 replica-hours), and hpa:a came within 1.00 points of "
                 "the bounded oracle.", id="bounded-only"),
    pytest.param([run("hpa:a", 30, 1.0), run("oracle", 20, 9.0, oracle=_oracle()),
                  run("oracle<=3", 20, 3.0, oracle=_oracle(3))],
                 "Unbounded, the oracle (every request known in advance, pods Ready at once) "
                 "gave 2.00% with up to 10 pods (9.00 replica-hours); held to 3 pods it gave "
                 "2.00% (3.00 replica-hours): the 3-pod bound costs nothing here, and hpa:a did "
                 "as well as the bounded oracle.", id="bound-costs-nothing"),
])
def test_what_the_bound_costs(summaries: list[Summary], expected: str) -> None:
    assert sentences(story(summaries, SETTINGS))[-1] == expected


def test_upstream_default_and_cpu_sentences_need_the_policies() -> None:
    without = story(DEMO_LIKE, SETTINGS)
    assert "upstream default" not in without and "CPU" not in without
    alone = story(DEMO_LIKE[:2], SETTINGS, POLICIES)
    assert "Here the CPU policies had requests waiting for a slot in 68.75% to 71.50% of the " \
           "seconds, averaged 8.11 to 8.89 pods and dropped 105 to 144 requests." in alone
    best = story([DEMO_LIKE[1]], SETTINGS, POLICIES)
    assert "The upstream default, CPU 80 % (hpa:kubectl-default-cpu80), gave 12.00% at " \
           "8.11 replica-hours, the best here." in best
    assert "Here hpa:kubectl-default-cpu80 (CPU) had requests waiting" in best


def test_cpu_sentence_follows_the_settings() -> None:
    four = dataclasses.replace(
        SETTINGS, capacity=LLMCapacity(concurrency=4, max_queue_per_pod=8),
        lifecycle=PodLifecycle(cpu_request_milli=1000, cpu_limit_milli=2000))
    text = story(DEMO_LIKE[:1], four, POLICIES)
    assert "a pod serving 4 inferences at a time uses its whole CPU limit whether 1 or 8 " \
           "requests wait for it, so utilization stops at 200% of the request, 4.00 times a CPU " \
           "50 % target, however long the queue." in text


def test_series_story() -> None:
    summaries = [series("hpa:a", 36.0, 2.0), series("hpa:b", 20.0, 3.0),
                 series("oracle", 0.0, 0.75), series("oracle<=2", 7.0, 0.5)]
    assert sentences(story(summaries, SETTINGS, POLICIES)) == [
        "Fewest violation seconds: hpa:b violated in 20 s (0.56% of the run) at 3.00 "
        "replica-hours; within 1 point of it, hpa:a was the cheapest: 1.00% at 2.00 "
        "replica-hours.",
        "Knowing the demand in advance, oracle violated in 0.00% of the run at 0.75 "
        "replica-hours (oracle<=2: 0.19% at 0.50).",
    ]
    assert sentences(story([series("hpa:a", 0.0, 1.0)], SETTINGS)) == [
        "hpa:a violated in 0 s (0.00% of the run) at 1.00 replica-hours."]


def test_no_summaries_no_story() -> None:
    assert story([], SETTINGS) == ""


# --- any run ---------------------------------------------------------------------------------

# No name is part of another, so a name found in the text was mentioned ("oracle" is in
# every bounded oracle's name and in the sentences: generated, never looked for).
NAMES = ("hpa:alpha", "hpa:bravo", "hpa:seed-cpu50", "hpa:kubectl-default-cpu80",
         "hpa:inflight-1-per-pod", "hpa:slo-ttft5s-p95", "hpa:tuned-cpu40-fast", "fixed:4",
         "fixed:7", "oracle<=5", "oracle<=10")


@st.composite
def summaries_strategy(draw: st.DrawFn) -> list[Summary]:
    names = draw(st.lists(st.sampled_from((*NAMES, "oracle")), min_size=0, max_size=7,
                          unique=True))
    with_requests = draw(st.booleans())
    arrived = draw(st.integers(0, 10_000))
    unavoidable = draw(st.integers(0, arrived))
    target = draw(st.floats(0.01, 1.0))
    out = []
    for name in names:
        duration = draw(st.sampled_from([0.0, 1.0, 3600.0, 1e7]))
        violation = draw(st.floats(0.0, duration)) if duration else 0.0
        requests = None
        if with_requests:
            met = draw(st.integers(0, arrived - unavoidable))
            requests = RequestMetrics(5.0, target, arrived, met,
                                      draw(st.integers(0, arrived - met)), unavoidable)
        oracle = None
        if name.startswith("oracle") and with_requests and draw(st.booleans()):
            bound = int(name.removeprefix("oracle<=")) if "<=" in name else None
            oracle = OracleChoice(draw(st.floats(0.25, 64.0)), target, "target",
                                  draw(st.booleans()), bound)
        out.append(Summary(
            name, duration, draw(st.integers(0, 10**12)), violation,
            draw(st.floats(0.0, duration)) if duration else 0.0, draw(st.integers(0, 1000)),
            draw(st.integers(0, 10_000)), float(arrived), 0.0,
            draw(st.floats(0.0, 1e9)), 0.0, routing="random" if with_requests else None,
            requests=requests, oracle=oracle))
    return out


@given(summaries_strategy(), st.lists(st.sampled_from(POLICIES), max_size=8),
       st.sampled_from([0.0, 0.5, 1.0, 5.0]))
@settings(max_examples=300, deadline=None)
def test_story_never_raises_nor_names_a_policy_not_in_the_run(
        summaries: list[Summary], policies: list[Policy], within: float) -> None:
    text = story(summaries, SETTINGS, policies, within_points=within)
    present = {s.policy for s in summaries}
    for name in NAMES:
        if name not in present:
            assert name not in text
    assert (text == "") == (not summaries)
    if summaries:
        assert 1 <= len(sentences(text)) <= 6
        assert all(line.endswith(".") for line in sentences(text))
    assert not re.search(r"\bnan\b|\binf\b", text, re.IGNORECASE)


@given(summaries_strategy())
@settings(max_examples=100, deadline=None)
def test_summaries_survive_their_json(summaries: list[Summary]) -> None:
    assert summaries_from_json(summaries_to_json(summaries)) == summaries
