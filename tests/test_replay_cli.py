"""`autoscaler replay` / `autoscaler demo` end to end: real files in, real files out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.replay.report_summary import summaries_from_json
from autoscaler.replay.scenarios import SCENARIOS
from autoscaler.replay.settings import SCENARIO_NAMES, SimulationSettings
from autoscaler.replay.story import story

SPEC = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: cpu50}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: cpu90}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 6
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 90}}
"""


def _files(tmp_path: Path) -> tuple[Path, Path]:
    trace = tmp_path / "demand.csv"
    trace.write_text("timestamp,value\n" + "".join(
        f"{t},{2.0 if t < 60 or t >= 300 else 9.0}\n" for t in range(600)))
    spec = tmp_path / "hpa.yaml"
    spec.write_text(SPEC)
    return trace, spec


def test_replay_runs_policies_side_by_side(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    trace, spec = _files(tmp_path)
    out = tmp_path / "out"
    code = main(["replay", "--trace", str(trace), "--policy", str(spec), "--policy", "fixed:4",
                 "--policy", "oracle", "--out-dir", str(out), "--timeline",
                 str(tmp_path / "t.jsonl"), "--timeline-format", "jsonl", "--no-progress"])
    assert code == 0
    table = capsys.readouterr().out
    for policy in ("hpa:cpu50", "hpa:cpu90", "fixed:4", "oracle", "oracle<=6"):
        assert policy in table
    summaries = {s["policy"]: s for s in json.loads((out / "summary.json").read_text())}
    # 9 cores for 240 s and 2 cores otherwise: the oracle needs 3 pods then 1; the HPAs'
    # maxReplicas (6) does not bind, so the bounded oracle is the same.
    assert summaries["oracle"]["replica_seconds"] == 240 * 3 + 360 * 1
    assert summaries["oracle<=6"]["replica_seconds"] == 240 * 3 + 360 * 1
    assert summaries["fixed:4"]["violation_seconds"] == 0
    assert summaries["hpa:cpu50"]["scale_events"] >= 1
    rows = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(rows) == 5 * 600
    assert (out / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = (out / "decisions.log").read_text()
    assert "above target" in log and "hpa:cpu50" in log


def _llm_trace(tmp_path: Path) -> Path:
    """60 requests over a minute, bursts of 3 at a time: 1,100-token prompts (1 s of
    prefill), one in six of 8,800 tokens (8 s: unavoidable at a 5 s TTFT SLO)."""
    lines = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
    for i in range(60):
        second, fraction = divmod(i // 3 * 3, 60)
        lines.append(f"2023-11-16 18:17:{second:02d}.{fraction + i % 3:07d},"
                     f"{8800 if i % 6 == 5 else 1100},{20 + i % 7}")
    trace = tmp_path / "llm.csv"
    trace.write_text("\n".join(lines) + "\n")
    return trace


@pytest.mark.parametrize("routing", ["random", "round-robin", "least-in-flight"])
def test_llm_replay_states_routing_and_request_metrics(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], routing: str) -> None:
    _, spec = _files(tmp_path)
    out = tmp_path / "out"
    code = main(["replay", "--trace", str(_llm_trace(tmp_path)), "--policy", str(spec),
                 "--policy", "fixed:2", "--policy", "oracle", "--routing", routing,
                 "--slo-attainment", "0.9", "--out-dir", str(out), "--no-plot",
                 "--no-progress"])
    text = capsys.readouterr().out
    assert code == 0
    assert f"routing: {routing}: " in text
    assert "requests: policy" in text and "unavoidable: 10 of 60 requests" in text
    summaries = {s["policy"]: s for s in json.loads((out / "summary.json").read_text())}
    assert set(summaries) == {"hpa:cpu50", "hpa:cpu90", "fixed:2", "oracle", "oracle<=6"}
    for summary in summaries.values():
        assert summary["routing"] == routing
        assert summary["requests"]["arrived"] == 60
        assert summary["requests"]["unavoidable"] == 10
        assert summary["requests"]["attainment_target"] == 0.9
        assert summary["requests"]["attainment"] <= summary["requests"]["ceiling"]
    oracle = summaries["oracle"]["oracle"]
    # 95 % is out of reach with 10 unavoidable requests in 60: the ceiling minus 0.5 points.
    assert (oracle["basis"], oracle["target_attainment"]) == ("ceiling", 50 / 60 - 0.005)
    assert f"oracle (k={oracle['headroom']:g}" in text
    assert summaries["oracle<=6"]["max_replicas"] <= 6
    if routing == "least-in-flight":
        assert oracle["headroom"] == 1.0
        assert summaries["oracle"]["requests"]["attainment"] == 50 / 60


def test_kubectl_watch_trace_is_replayed_open_loop(capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path) -> None:
    seed = Path(__file__).resolve().parent / "data" / "seed" / \
        "elastic-inference-design.txt"
    assert main(["replay", "--trace", str(seed), "--format", "kubectl-watch",
                 "--out-dir", str(tmp_path)]) == 0
    text = capsys.readouterr().out
    summary = json.loads((tmp_path / "summary.json").read_text(encoding="utf-8"))
    assert summary["mode"] == "open-loop" and summary["differing"] == 3
    assert summary["explained"] == 3 and len(summary["explanations"]) == 3
    for explanation in summary["explanations"]:
        assert explanation["sentence"] in text  # the same words printed and written
    assert f"wrote {tmp_path / 'summary.json'}" in text
    # Fed the readings alone (every pod ready), 37%/20% at 3 replicas asks for 5 (6 capped
    # at max 5): the recorded 4 needed unready pods the watch output does not show.
    assert "37%/20%  3  92s  4  5  DIFFERS" in text
    assert "recorded transitions differ" in text


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--policy", "fixed:0"], "fixed:N needs a whole number N >= 1",
                 id="fixed-zero"),
    pytest.param(["--policy", "missing.yaml"], "missing.yaml: cannot read", id="no-file"),
    pytest.param(["--format", "prometheus"], "demand.csv", id="wrong-format"),
    pytest.param(["--policy", "oracle<=0"], "oracle<=N needs a whole number N >= 1",
                 id="bounded-oracle-zero"),
    pytest.param(["--routing", "round-robin"], "--routing does not apply to a demand series",
                 id="routing-needs-requests"),
    pytest.param(["--slo-attainment", "0.9"], "--slo-attainment does not apply to a demand",
                 id="attainment-needs-requests"),
])
def test_bad_arguments_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], message: str) -> None:
    trace, _ = _files(tmp_path)
    assert main(["replay", "--trace", str(trace), "--out-dir", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--routing", "dns"], "--routing: invalid choice: 'dns' (choose from 'random',",
                 id="unknown-routing"),
    pytest.param(["--slo-attainment", "0"], "must be > 0 and <= 1", id="attainment-zero"),
    pytest.param(["--slo-attainment", "1.5"], "must be > 0 and <= 1", id="attainment-above"),
])
def test_request_flag_values_are_checked(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                         args: list[str], message: str) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["replay", "--trace", str(_llm_trace(tmp_path)), *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_invalid_spec_is_reported_with_field_paths(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    trace, spec = _files(tmp_path)
    spec.write_text(SPEC.replace("maxReplicas: 6", "maxReplicas: 0", 1))
    assert main(["replay", "--trace", str(trace), "--policy", str(spec)]) == 2
    assert "spec.maxReplicas" in capsys.readouterr().err


def test_demo_runs_the_embedded_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == 0
    text = capsys.readouterr().out
    assert "llamaedge" in text and "hpa:seed-cpu50" in text and "oracle" in text
    summaries = json.loads((tmp_path / "replay-out" / "summary.json").read_text())
    assert [s["policy"] for s in summaries] == ["hpa:seed-cpu50", "hpa:kubectl-default-cpu80",
                                                "hpa:tuned-cpu40-fast",
                                                "hpa:inflight-1-per-pod",
                                                "hpa:slo-ttft5s-p95", "oracle", "oracle<=10"]
    assert all(s["arrived"] == 8819 for s in summaries)
    # The output ends with the story of these numbers, after the tables and the files.
    closing = story(summaries_from_json(
        (tmp_path / "replay-out" / "summary.json").read_text()), SimulationSettings(),
        SCENARIOS["llamaedge"]().policies)
    assert text.endswith("\n\n" + closing + "\n")
    lines = closing.splitlines()
    assert 3 <= len(lines) <= 6
    assert "had the best attainment" in lines[0]
    assert lines[1].startswith("No policy reached the 95.00% target")  # 832 unavoidable
    assert any("(hpa:kubectl-default-cpu80)" in line for line in lines)
    assert any(line.startswith("CPU cannot see a LlamaEdge queue") for line in lines)
    assert "the 10-pod bound costs" in lines[-1]
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert f"```text\n{closing}\n```" in readme  # the README quotes this very story


def test_replayed_series_ends_with_its_story(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    trace, spec = _files(tmp_path)
    assert main(["replay", "--trace", str(trace), "--policy", str(spec), "--policy",
                 "oracle", "--out-dir", str(tmp_path / "out"), "--no-plot",
                 "--no-progress"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[-3] == ""
    assert lines[-2].startswith("Fewest violation seconds: hpa:cpu")
    assert lines[-1].startswith("Knowing the demand in advance, oracle violated in 0.00% of "
                                "the run")


def test_scenario_names_listed_for_the_cli_match_the_scenarios() -> None:
    assert tuple(sorted(SCENARIOS)) == SCENARIO_NAMES
