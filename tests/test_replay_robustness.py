"""`autoscaler replay` answers every mistake with one line and an exit status, through the
real console script (`python -m autoscaler`), in a child process with a 1 GiB address-space
limit and a deadline: an input that used to cost gigabytes or hang fails the case instead of
the machine. The 2 GiB inputs are sparse files (no disk used). The cases start together in
a small pool (each is mostly interpreter start-up), and each test waits for its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

ADDRESS_SPACE = 1 << 30  # the interpreter with numpy, kubernetes and a replay fits in 400 MB
DEADLINE_SECONDS = 60.0
ROOT = Path(__file__).resolve().parents[1]

SPEC = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  maxReplicas: 5
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
"""
LAUGHS = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n"
    for i in range(8))
AZURE = "TIMESTAMP,ContextTokens,GeneratedTokens\n"


def prometheus(values: str, metric: str = "{}") -> str:
    return ('{"status":"success","data":{"resultType":"matrix","result":[{"metric":'
            f'{metric},"values":{values}}}]}}}}')


def sparse(path: Path) -> None:
    """2 GiB of NUL bytes that take no disk: binary garbage with no line or word end."""
    with path.open("wb") as handle:
        handle.truncate(2 << 30)


def corrupt_bz2(path: Path) -> None:
    path.write_bytes(b"BZh91AY&SY" + b"\x00garbage" * 4)  # a bzip2 header, then garbage


# Files by name; a callable writes what text cannot (sparse files, compressed bytes).
FILES: dict[str, str | Callable[[Path], None]] = {
    "ok.csv": "0,1\n1,2\n2,3\n",
    "two-days.csv": "0,1\n172800,2\n",
    "three-rows.csv": "0,1\n1,2\n2,3\n",
    "big-field.csv": "timestamp,value\n0," + "1" * 200_000 + "\n",
    "e308.csv": "0,1e308\n1,1e308\n",
    "e300.csv": "0,1e300\n1,1e300\n",
    "huge-but-valid.csv": "0,900000000\n1,900000000\n",
    "azure-3-years.csv": AZURE + "2020-01-01T00:00:00,10,10\n2023-01-01T00:00:00,10,10\n",
    "azure-0001-9999.csv": AZURE + "0001-01-01T00:00:00,1,1\n9999-12-31T23:59:59,1,1\n",
    "minute-header.csv": "HashFunction,minute_99999999999999999999\nf,1\n",
    "deep.json": "[" * 100_000 + "]" * 100_000,
    "metric-string.json": prometheus('[[0,"1"],[15,"1"]]', '"x"'),
    "far-apart.json": prometheus('[[0,"1"],[1e15,"1"]]'),
    "negative.json": prometheus('[[0,"-1"],[15,"-1"]]'),
    "big.json": prometheus("[" + ",".join(f'[{i * 15},"1"]' for i in range(200)) + "]"),
    "corrupt.bz2": corrupt_bz2,
    "watch-min-above-max.txt": "h Deployment/d 1%/2% 5 2 1 92s\n",
    "watch-target-zero.txt": "h Deployment/d 1%/0% 1 2 1 92s\n",
    "watch.txt": "h Deployment/d 40%/50% 1 5 2 92s\nh Deployment/d 90%/50% 1 5 2 107s\n",
    "meta-string.yaml": SPEC.replace("metadata: {name: web}", "metadata: web"),
    "meta-list.yaml": SPEC.replace("metadata: {name: web}", "metadata: [web]"),
    "laughs.yaml": LAUGHS,
    "duplicate.yaml": SPEC + "kind: Deployment\n",
    "hpa.yaml": SPEC,
    "sparse.bin": sparse,
    "a-directory": lambda path: path.mkdir(),
}


@dataclass(frozen=True)
class Answer:
    status: int
    stdout: str
    stderr: str


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("inputs")
    for name, content in FILES.items():
        if isinstance(content, str):
            (folder / name).write_text(content, encoding="utf-8")
        else:
            content(folder / name)
    return folder


# Sets the limit in the child, then becomes the console script (preexec_fn is unsafe with
# the pool's threads).
LIMITED = ("import os, resource, sys; "
           f"resource.setrlimit(resource.RLIMIT_AS, ({ADDRESS_SPACE}, {ADDRESS_SPACE})); "
           "os.execv(sys.executable, [sys.executable, '-m', 'autoscaler', *sys.argv[1:]])")


def replay(files: Path, out: Path, *words: str) -> Answer:
    """`python -m autoscaler replay WORDS`, `@name` standing for the input file `name`."""
    argv = [str(files / w[1:]) if w.startswith("@") else w for w in words]
    # One BLAS thread: OpenBLAS reserves address space per thread, which the limit counts.
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", LIMITED, "replay", *argv], cwd=out, env=env,
                          capture_output=True, text=True, timeout=DEADLINE_SECONDS,
                          check=False)
    return Answer(done.returncode, done.stdout, done.stderr)


CASES = [
    # trace readers
    pytest.param(["--trace", "@big-field.csv"], 2, "big-field.csv:2: not CSV: field larger",
                 id="csv-field-over-128KiB"),
    pytest.param(["--trace", "@azure-3-years.csv"], 2, "azure-3-years.csv:3: the trace spans",
                 id="azure-llm-rows-3-years-apart"),
    pytest.param(["--trace", "@azure-0001-9999.csv"], 2, "azure-0001-9999.csv:3: the trace "
                 "spans", id="azure-llm-years-0001-9999"),
    pytest.param(["--trace", "@minute-header.csv", "--format", "per-minute"], 2,
                 "minute-header.csv:1: column 'minute_99999999999999999999'",
                 id="per-minute-header-minute-99999999999999999999"),
    pytest.param(["--trace", "@e308.csv"], 2, "e308.csv:1: value 1e+308 is above the limit",
                 id="csv-two-rows-of-1e308"),
    pytest.param(["--trace", "@e300.csv"], 2, "e300.csv:1: value 1e+300 is above the limit",
                 id="csv-value-1e300"),
    pytest.param(["--trace", "@deep.json"], 2, "deep.json: not JSON: nested deeper",
                 id="prometheus-deep-nesting"),
    pytest.param(["--trace", "@metric-string.json"], 2, "'metric' must be an object of labels",
                 id="prometheus-metric-is-a-string"),
    pytest.param(["--trace", "@far-apart.json"], 2, "far-apart.json: the trace spans",
                 id="prometheus-samples-at-0-and-1e15"),
    pytest.param(["--trace", "@negative.json"], 2, "value '-1' is negative",
                 id="prometheus-negative-value"),
    pytest.param(["--trace", "@big.json", "--max-json-bytes", "1K"], 2,
                 "big.json: larger than 1024 bytes: raise --max-json-bytes",
                 id="prometheus-over-max-json-bytes"),
    pytest.param(["--trace", "@corrupt.bz2"], 2, "corrupt.bz2", id="rps-corrupt-bz2"),
    pytest.param(["--trace", "@sparse.bin", "--format", "rps"], 2,
                 "sparse.bin:1: a count longer than 64 characters", id="rps-2GiB-no-whitespace"),
    pytest.param(["--trace", "@sparse.bin", "--format", "csv"], 2,
                 "sparse.bin:1: line longer than", id="csv-2GiB-sparse"),
    pytest.param(["--trace", "@sparse.bin", "--format", "azure-llm"], 2,
                 "sparse.bin:1: line longer than", id="azure-llm-2GiB-sparse"),
    pytest.param(["--trace", "@sparse.bin", "--format", "per-minute"], 2,
                 "sparse.bin:1: line longer than", id="per-minute-2GiB-sparse"),
    pytest.param(["--trace", "@sparse.bin", "--format", "kubectl-watch"], 2,
                 "sparse.bin:1: line longer than", id="kubectl-watch-2GiB-sparse"),
    pytest.param(["--trace", "@sparse.bin", "--format", "prometheus"], 2,
                 "sparse.bin: larger than 67108864 bytes", id="prometheus-2GiB-sparse"),
    pytest.param(["--trace", "@watch-min-above-max.txt", "--format", "kubectl-watch"], 2,
                 "watch-min-above-max.txt:1: MINPODS 5 is above MAXPODS 2",
                 id="kubectl-watch-minpods-above-maxpods"),
    pytest.param(["--trace", "@watch-target-zero.txt", "--format", "kubectl-watch"], 2,
                 "watch-target-zero.txt:1: TARGETS: the utilization target must be at least 1%",
                 id="kubectl-watch-target-0-percent"),
    pytest.param(["--trace", "@two-days.csv", "--max-span", "1d"], 2,
                 "more than 86400 s (1 days): raise --max-span", id="max-span-flag"),
    pytest.param(["--trace", "@three-rows.csv", "--max-rows", "2"], 2,
                 "three-rows.csv:3: more than 2 rows: raise --max-rows", id="max-rows-flag"),
    # flags
    pytest.param(["--trace", "@ok.csv", "--policy", "fixed:99999999999999"], 2,
                 "fixed:N needs a whole number N >= 1 and <= 10000", id="fixed-99999999999999"),
    pytest.param(["--trace", "@ok.csv", "--concurrency", "0"], 2, "--concurrency: must be >= 1",
                 id="concurrency-0"),
    pytest.param(["--trace", "@ok.csv", "--prefill-tps", "0"], 2, "--prefill-tps: must be >=",
                 id="prefill-tps-0"),
    pytest.param(["--prometheus", "http://127.0.0.1:9", "--start", "0", "--end", "60",
                  "--step", "0"], 2, "--step: must be > 0", id="step-0"),
    pytest.param(["--prometheus", "http://127.0.0.1:9", "--start", "abc", "--end", "60"], 2,
                 "--start: time 'abc': use Unix seconds or RFC 3339", id="start-abc"),
    pytest.param(["--trace", "@ok.csv", "--rate-scale", "-1"], 2, "--rate-scale: must be >= 0",
                 id="negative-rate"),
    pytest.param(["--trace", "@ok.csv", "--sync-period", "-15"], 2, "--sync-period: must be",
                 id="negative-period"),
    pytest.param(["--trace", "@ok.csv", "--metric-window", "5000"], 2,
                 "--metric-window: must be >= 1 and <= 1000", id="metric-window-past-the-ring"),
    pytest.param(["--trace", "@ok.csv", "--bogus"], 2, "unrecognized arguments: --bogus",
                 id="unknown-flag"),
    # policy files
    pytest.param(["--trace", "@ok.csv", "--policy", "@meta-string.yaml"], 2,
                 "metadata must be a mapping", id="policy-metadata-string"),
    pytest.param(["--trace", "@ok.csv", "--policy", "@meta-list.yaml"], 2,
                 "metadata must be a mapping", id="policy-metadata-list"),
    pytest.param(["--trace", "@ok.csv", "--policy", "@laughs.yaml"], 2,
                 "expands to more than 200000 nodes", id="policy-billion-laughs"),
    pytest.param(["--trace", "@ok.csv", "--policy", "@duplicate.yaml"], 2,
                 "duplicate key 'kind'", id="policy-duplicate-keys"),
    # flags that do not apply to the mode
    pytest.param(["--policy", "@hpa.yaml"], 2, "--policy does not apply to a scenario",
                 id="policy-without-trace"),
    pytest.param(["--trace", "@watch.txt", "--format", "kubectl-watch", "--timeline", "x"], 2,
                 "--timeline does not apply to a kubectl-watch trace",
                 id="timeline-with-kubectl-watch"),
    pytest.param(["--scenario", "sedna-cloud", "--concurrency", "2"], 2,
                 "--concurrency does not apply to a demand series", id="llm-flag-on-demand"),
    pytest.param(["--start", "0"], 2, "--start does not apply without --prometheus URL",
                 id="prometheus-flag-without-prometheus"),
    # paths
    pytest.param(["--trace", "@missing.csv"], 2, "missing.csv: no such file",
                 id="missing-trace"),
    pytest.param(["--trace", "@a-directory"], 2, "a-directory: is a directory",
                 id="directory-as-trace"),
    pytest.param(["--trace", "@ok.csv", "--timeline", "/nonexistent/dir/t.csv"], 2,
                 "--timeline /nonexistent/dir/t.csv: directory /nonexistent/dir does not exist",
                 id="bad-timeline-path"),
    pytest.param(["--trace", "@ok.csv", "--out-dir", "@ok.csv"], 2,
                 "exists and is not a directory", id="bad-out-dir-path"),
    # runtime failure
    pytest.param(["--prometheus", "http://127.0.0.1:9", "--start", "0", "--end", "60"], 1,
                 "range query failed", id="prometheus-unreachable"),
]


@pytest.fixture(scope="module")
def answers(files: Path, tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[dict[str, Future[Answer]]]:
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        yield {str(case.id): pool.submit(replay, files, tmp_path_factory.mktemp("out"),
                                         *case.values[0])  # type: ignore[misc]
               for case in CASES}


@pytest.mark.parametrize(("words", "status", "fragment"), CASES)
def test_every_mistake_is_one_line(answers: dict[str, Future[Answer]],
                                   request: pytest.FixtureRequest, words: list[str],
                                   status: int, fragment: str) -> None:
    answer = answers[request.node.callspec.id].result()
    assert "Traceback" not in answer.stderr, answer.stderr
    assert answer.stderr.count("\n") == 1, answer.stderr
    assert answer.status == status, answer.stderr
    assert fragment in answer.stderr, answer.stderr
    assert answer.stderr.startswith(("error: ", "autoscaler replay: error: ")), answer.stderr


def _strict(text: str) -> object:
    def refuse(constant: str) -> None:
        raise AssertionError(f"{constant} in summary.json")
    return json.loads(text, parse_constant=refuse)


def test_huge_valid_demand_sums_exactly(files: Path, tmp_path: Path) -> None:
    """9e8 cores for 2 s is 3e8 pods of 3 cores a second: the oracle's replica-seconds are
    the exact integer (a float accumulator or an int64 wrap would not be), in strict JSON."""
    answer = replay(files, tmp_path, "--trace", "@huge-but-valid.csv", "--no-plot",
                    "--policy", "oracle", "--policy", "fixed:3")
    assert answer.status == 0, answer.stderr
    summaries = _strict((tmp_path / "replay-out" / "summary.json").read_text())
    assert isinstance(summaries, list)
    oracle = next(s for s in summaries if s["policy"] == "oracle")
    assert oracle["replica_seconds"] == 2 * 300_000_000
    assert isinstance(oracle["replica_seconds"], int)


def test_a_good_replay_still_runs(files: Path, tmp_path: Path) -> None:
    answer = replay(files, tmp_path, "--trace", "@ok.csv", "--policy", "@hpa.yaml",
                    "--no-plot", "--no-progress")
    assert (answer.status, answer.stderr) == (0, "")
    assert "hpa:web" in answer.stdout
    _strict((tmp_path / "replay-out" / "summary.json").read_text())
