"""`autoscaler replay` / `autoscaler demo` end to end: real files in, real files out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autoscaler.cli import main
from autoscaler.replay.scenarios import SCENARIOS
from autoscaler.replay.settings import SCENARIO_NAMES

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
    for policy in ("hpa:cpu50", "hpa:cpu90", "fixed:4", "oracle"):
        assert policy in table
    summaries = {s["policy"]: s for s in json.loads((out / "summary.json").read_text())}
    # 9 cores for 240 s and 2 cores otherwise: the oracle needs 3 pods then 1.
    assert summaries["oracle"]["replica_seconds"] == 240 * 3 + 360 * 1
    assert summaries["fixed:4"]["violation_seconds"] == 0
    assert summaries["hpa:cpu50"]["scale_events"] >= 1
    rows = (tmp_path / "t.jsonl").read_text().splitlines()
    assert len(rows) == 4 * 600
    assert (out / "replay.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    log = (out / "decisions.log").read_text()
    assert "above target" in log and "hpa:cpu50" in log


def test_kubectl_watch_trace_is_replayed_open_loop(capsys: pytest.CaptureFixture[str]) -> None:
    seed = Path(__file__).resolve().parent / "data" / "seed" / \
        "elastic-inference-design.txt"
    assert main(["replay", "--trace", str(seed), "--format", "kubectl-watch"]) == 0
    text = capsys.readouterr().out
    # Fed the readings alone (every pod ready), 37%/20% at 3 replicas asks for 5 (6 capped
    # at max 5): the recorded 4 needed unready pods the watch output does not show.
    assert "37%/20%  3  92s  4  5  DIFFERS" in text
    assert "recorded transitions differ" in text


@pytest.mark.parametrize(("args", "message"), [
    pytest.param(["--policy", "fixed:0"], "fixed:N needs a whole number N >= 1",
                 id="fixed-zero"),
    pytest.param(["--policy", "missing.yaml"], "missing.yaml: cannot read", id="no-file"),
    pytest.param(["--format", "prometheus"], "demand.csv", id="wrong-format"),
])
def test_bad_arguments_name_the_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        args: list[str], message: str) -> None:
    trace, _ = _files(tmp_path)
    assert main(["replay", "--trace", str(trace), "--out-dir", str(tmp_path), *args]) == 2
    assert message in capsys.readouterr().err


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
                                                "hpa:inflight-1-per-pod", "oracle"]
    assert all(s["arrived"] == 8819 for s in summaries)


def test_scenario_names_listed_for_the_cli_match_the_scenarios() -> None:
    assert tuple(sorted(SCENARIOS)) == SCENARIO_NAMES
