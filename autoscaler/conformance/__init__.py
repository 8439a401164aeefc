"""The conformance runner: upstream-derived HPA cases -> the same pure pipeline the daemon runs.

`autoscaler conformance FILE...` prints one line per failing case and ends with
`N passed, N failed`. A malformed file or case is reported (file, case id, field), counted as
failed, and the run goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from autoscaler.conformance import normalize_kind, reconcile_kind, replicas_kind
from autoscaler.conformance.result import CaseResult
from autoscaler.conformance.translate import CaseFormatError
from autoscaler.errors import InputError
from autoscaler.safeload import Limits, load_json

# The shared case files are ~300 KiB; quantities are strings, so integers stay short.
CASE_FILE_LIMITS = Limits(max_bytes=64 * 1024 * 1024, max_depth=64, max_int_digits=20)

KINDS: dict[str, Callable[[Mapping[str, Any]], CaseResult]] = {
    "replicas": replicas_kind.run,
    "normalize": normalize_kind.run,
    "reconcile": reconcile_kind.run,
}


@dataclass
class Summary:
    passed: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)

    def fail(self, line: str) -> None:
        self.failed += 1
        self.failures.append(line)


def run_case(case: Any, label: str, summary: Summary) -> None:
    if not isinstance(case, Mapping):
        summary.fail(f"{label}: case must be an object, got {type(case).__name__}")
        return
    case_id = case.get("id")
    where = f"{label} case {case_id!r}" if isinstance(case_id, str) else f"{label}: field id"
    if not isinstance(case_id, str):
        summary.fail(f"{where}: missing or not a string")
        return
    kind = case.get("kind")
    runner = KINDS.get(kind) if isinstance(kind, str) else None
    if runner is None:
        summary.fail(f"{where}: unsupported kind {kind!r}")
        return
    try:
        outcome = runner(case)
    except CaseFormatError as exc:
        summary.fail(f"{where}: malformed: {exc}")
        return
    except Exception as exc:  # any failure is this case's, the run goes on
        summary.fail(f"{where}: malformed: {type(exc).__name__}: {str(exc)[:300]}")
        return
    if outcome.passed:
        summary.passed += 1
    else:
        summary.fail(f"FAIL {case_id}: expected {outcome.expected}; got {outcome.got}")


def run_file(path: Path, summary: Summary) -> None:
    try:
        with path.open("rb") as handle:
            document = load_json(handle.read(CASE_FILE_LIMITS.max_bytes + 1), str(path),
                                 CASE_FILE_LIMITS)
    except OSError as exc:
        summary.fail(f"{path}: cannot read case file: {exc.strerror or exc}")
        return
    except InputError as exc:
        summary.fail(f"{path}: cannot read case file: {str(exc).removeprefix(f'{path}: ')}")
        return
    cases = document.get("cases") if isinstance(document, Mapping) else None
    if not isinstance(cases, list):
        summary.fail(f"{path}: field cases: missing or not a list")
        return
    for index, case in enumerate(cases):
        run_case(case, f"{path}[{index}]", summary)


def run_paths(paths: Iterable[Path]) -> Summary:
    summary = Summary()
    for path in paths:
        run_file(path, summary)
    return summary


def main(paths: list[str], out: TextIO) -> int:
    summary = run_paths(Path(p) for p in paths)
    for line in summary.failures:
        print(line, file=out)
    print(f"{summary.passed} passed, {summary.failed} failed", file=out)
    return 1 if summary.failed or not (summary.passed or summary.failed) else 0
