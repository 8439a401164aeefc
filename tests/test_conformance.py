"""The conformance runner: every shared upstream-derived case passes, and bad input is
reported precisely (file, case id, field) without stopping the run."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from autoscaler import conformance

SHARED = Path(__file__).resolve().parent / "data" / "conformance"
CASE_FILES = sorted(SHARED.glob("*.json"))


def test_shared_case_files_exist() -> None:
    # Without them the next test would pass vacuously.
    assert {p.name for p in CASE_FILES} >= {"replicas.json", "normalize.json", "reconcile.json"}


@pytest.mark.parametrize("path", [pytest.param(p, id=p.stem) for p in CASE_FILES])
def test_every_shared_case_passes(path: Path) -> None:
    summary = conformance.run_paths([path])
    assert summary.failures == []
    assert summary.passed == len(json.loads(path.read_text())["cases"])


def _write(tmp_path: Path, document: Any, name: str = "cases.json") -> Path:
    path = tmp_path / name
    path.write_text(document if isinstance(document, str) else json.dumps(document))
    return path


def _replicas_case() -> dict[str, Any]:
    cases = json.loads((SHARED / "replicas.json").read_text())["cases"]
    return dict(cases[0])


def _run(paths: list[Path]) -> tuple[int, str]:
    out = io.StringIO()
    code = conformance.main([str(p) for p in paths], out)
    return code, out.getvalue()


@pytest.mark.parametrize(("mutate", "fragment"), [
    pytest.param(lambda c: c.pop("pods"), "field pods: missing", id="missing-field"),
    pytest.param(lambda c: c.update(current_replicas="3"), "field current_replicas: must be int",
                 id="wrong-type"),
    pytest.param(lambda c: c["pods"][0].update(ready="maybe"), "field pods[0].ready",
                 id="bad-enum"),
    pytest.param(lambda c: c["pods"][0]["containers"][0]["requests"].update(cpu="1Kb"),
                 "field pods[0].containers[0].requests.cpu", id="bad-quantity"),
    pytest.param(lambda c: c.update(kind="scale"), "unsupported kind 'scale'",
                 id="unsupported-kind"),
    pytest.param(lambda c: c["metric"]["resource"].update(target=5),
                 "metric.resource.target", id="bad-metric-spec"),
])
def test_malformed_case_is_reported_and_run_goes_on(tmp_path: Path, mutate: Any,
                                                    fragment: str) -> None:
    bad = _replicas_case()
    mutate(bad)
    good = _replicas_case()
    path = _write(tmp_path, {"suite": "t", "cases": [bad, good]})
    code, out = _run([path])
    assert code == 1
    assert fragment in out
    assert f"{path}[0] case {bad['id']!r}" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed"


@pytest.mark.parametrize(("document", "fragment"), [
    pytest.param("{not json", "cannot read case file", id="bad-json"),
    pytest.param({"suite": "t"}, "field cases: missing or not a list", id="no-cases"),
    pytest.param([1, 2], "field cases: missing or not a list", id="not-an-object"),
])
def test_malformed_file_counts_as_failed(tmp_path: Path, document: Any, fragment: str) -> None:
    path = _write(tmp_path, document)
    good = _write(tmp_path, {"suite": "t", "cases": [_replicas_case()]}, "good.json")
    code, out = _run([path, good])
    assert code == 1
    assert f"{path}: {fragment}" in out
    assert out.splitlines()[-1] == "1 passed, 1 failed"


def test_wrong_expectation_fails_with_expected_and_got(tmp_path: Path) -> None:
    case = _replicas_case()
    case["expect"] = {**case["expect"], "replicas": case["expect"]["replicas"] + 1}
    code, out = _run([_write(tmp_path, {"suite": "t", "cases": [case]})])
    assert code == 1
    assert f"FAIL {case['id']}: expected replicas={case['expect']['replicas']}" in out


def test_missing_case_id_is_reported(tmp_path: Path) -> None:
    case = _replicas_case()
    del case["id"]
    code, out = _run([_write(tmp_path, {"suite": "t", "cases": [case]})])
    assert code == 1 and "field id: missing or not a string" in out


def test_cli_entry_point_prints_summary_line() -> None:
    proc = subprocess.run([sys.executable, "-m", "autoscaler", "conformance",
                           *map(str, CASE_FILES)], capture_output=True, text=True, check=False)
    total = sum(len(json.loads(p.read_text())["cases"]) for p in CASE_FILES)
    assert proc.stdout.splitlines()[-1] == f"{total} passed, 0 failed"
    assert proc.returncode == 0


@pytest.mark.parametrize(("content", "fragment"), [
    pytest.param("[" * 100_000 + "]" * 100_000, "nested deeper", id="100k-deep"),
    pytest.param('{"cases": [{"id": "x", "now": ' + "9" * 5001 + "}]}", "integer",
                 id="5001-digit-integer"),
    pytest.param("\xff\xfe not json", "line 1", id="garbage"),
])
def test_unreadable_files_are_reported_and_the_run_goes_on(
        tmp_path: Path, content: str, fragment: str) -> None:
    bad = _write(tmp_path, content, "bad.json")
    good = SHARED / "normalize.json"
    summary = conformance.run_paths([bad, good])
    assert summary.failures and fragment in summary.failures[0]
    assert summary.passed == len(json.loads(good.read_text())["cases"])


_json = st.recursive(st.none() | st.booleans() | st.integers(-10**6, 10**6)
                     | st.floats(allow_nan=False) | st.text(max_size=6),
                     lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
_CASES = [c for p in CASE_FILES for c in json.loads(p.read_text())["cases"]]


def _mutate(case: Any, path: list[str | int], value: Any) -> Any:
    """Replace (or add) the field at `path`, as far as the path exists."""
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(case, dict):
        key = head if isinstance(head, str) else (sorted(case)[head % len(case)] if case
                                                  else "x")
        return {**case, key: _mutate(case.get(key), rest, value)}
    if isinstance(case, list) and case:
        index = head if isinstance(head, int) else 0
        index %= len(case)
        return [*case[:index], _mutate(case[index], rest, value), *case[index + 1:]]
    return value


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(range(len(_CASES))),
       st.lists(st.integers(0, 50) | st.sampled_from(
           ["hpa", "spec", "status", "metrics", "pods", "scale", "behavior", "history",
            "controller", "expect", "metric", "containers", "pod_metrics"]),
           min_size=1, max_size=5),
       _json)
def test_mutated_cases_never_stop_the_run(index: int, path: list[str | int],
                                          value: Any) -> None:
    summary = conformance.Summary()
    conformance.run_case(_mutate(_CASES[index], path, value), "mutated", summary)
    assert summary.passed + summary.failed == 1
