"""Every documented mistake through the real console script: the exit status (2 usage,
1 runtime failure), the message a person can act on, and never a traceback."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from autoscaler.testing import FakeApiServer, write_kubeconfig

SCRIPT = shutil.which("autoscaler", path=str(Path(sys.executable).parent))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:  # no ElasticAutoscaler kind registered: CRD missing
        yield server


Setup = Callable[[Path, FakeApiServer], list[str]]


def _kubeconfig(tmp: Path, url: str) -> str:
    return str(write_kubeconfig(tmp / "kc", url))


CASES: list[object] = [
    pytest.param(lambda t, a: ["run", "--once"], 2,
                 "no kubeconfig at ~/.kube/config and not in a cluster: pass --kubeconfig",
                 id="run-without-kubeconfig"),
    pytest.param(lambda t, a: ["get"], 2, "pass --kubeconfig", id="get-without-kubeconfig"),
    pytest.param(lambda t, a: (t.joinpath("bin").write_bytes(b"\x00\xff\xfe"),
                               ["run", "--once", "--kubeconfig", str(t / "bin")])[1], 2,
                 "cannot use it", id="binary-kubeconfig"),
    pytest.param(lambda t, a: ["get", "--kubeconfig",
                               _kubeconfig(t, f"http://127.0.0.1:{closed_port()}")], 1,
                 "connection failed", id="get-closed-port"),
    pytest.param(lambda t, a: ["run", "--once", "--kubeconfig",
                               _kubeconfig(t, f"http://127.0.0.1:{closed_port()}")], 1,
                 "connection failed", id="run-once-closed-port"),
    pytest.param(lambda t, a: ["run", "--once", "--kubeconfig", _kubeconfig(t, a.url)], 1,
                 "CRD elasticautoscalers.edgeautoscaler.io not installed: kubectl apply -k "
                 "deploy/base", id="crd-not-installed"),
    pytest.param(lambda t, a: ["run", "--now", "5", "--kubeconfig", "x"], 2,
                 "--now needs --once", id="now-without-once"),
    pytest.param(lambda t, a: ["run", "--prometheus-token-file", "t", "--kubeconfig", "x"], 2,
                 "--prometheus-token-file needs --prometheus-url", id="token-without-url"),
    pytest.param(lambda t, a: ["run", "--identity", "me", "--kubeconfig", "x"], 2,
                 "--identity needs --writer-leases", id="identity-without-leases"),
    pytest.param(lambda t, a: ["run", "--shards", "--once", "--kubeconfig", "x"], 2,
                 "--shards runs one of several live replicas: not with --once or --dry-run",
                 id="shards-once"),
    pytest.param(lambda t, a: ["run", "--shards", "--dry-run", "--kubeconfig", "x"], 2,
                 "--shards runs one of several live replicas", id="shards-dry-run"),
    pytest.param(lambda t, a: ["run", "--lease-duration", "30", "--kubeconfig", "x"], 2,
                 "--lease-duration needs --writer-leases or --shards",
                 id="lease-timing-without-leases"),
    pytest.param(lambda t, a: ["run", "--shards", "--lease-duration", "12", "--kubeconfig",
                               "x"], 2,
                 "--renew-deadline + 2 x --max-clock-skew must be below --lease-duration "
                 "(10 + 2 x 2 >= 12)", id="renew-deadline-too-close-to-duration"),
    pytest.param(lambda t, a: ["run", "--shards", "--lease-retry", "10", "--kubeconfig", "x"],
                 2, "--lease-retry (10) must be below --renew-deadline (10)",
                 id="retry-not-below-deadline"),
    pytest.param(lambda t, a: ["run", "--shards", "--request-timeout", "14", "--kubeconfig",
                               "x"], 2,
                 "--request-timeout (14) must be at most --lease-duration - --lease-retry "
                 "(15 - 2)", id="request-timeout-outlives-the-lease"),
    pytest.param(lambda t, a: ["run", "--sync-period", "0"], 2,
                 "must be between 1 and 3600", id="sync-period-zero"),
    pytest.param(lambda t, a: ["run", "--workers", "0"], 2, "must be between 1 and 256",
                 id="workers-zero"),
    pytest.param(lambda t, a: ["run", "--request-timeout", "abc"], 2,
                 "is not a number of seconds", id="timeout-not-a-number"),
    pytest.param(lambda t, a: ["edge", "--journal", str(t / "j")], 2, "--node-name is required",
                 id="edge-without-node-name"),
    pytest.param(lambda t, a: ["edge", "--node-name", "n", "--journal", str(t / "j"),
                               "--metaserver", f"http://127.0.0.1:{closed_port()}", "--once"],
                 1, "connection failed", id="edge-once-unreachable-metaserver"),
    pytest.param(lambda t, a: ["llm-proxy", "--upstream", "notaurl"], 2,
                 "expected an http(s) URL", id="llm-proxy-bad-upstream"),
    pytest.param(lambda t, a: ["conformance", str(t / "missing.json")], 1,
                 "cannot read case file", id="conformance-missing-file"),
]


@pytest.mark.parametrize(("setup", "status", "fragment"), CASES)
def test_documented_mistakes(tmp_path: Path, api: FakeApiServer, setup: Setup, status: int,
                             fragment: str) -> None:
    assert SCRIPT is not None, "the console script is not installed in the venv"
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG",
                                                            "KUBERNETES_SERVICE_HOST")}
    env["HOME"] = str(home)
    argv = setup(tmp_path, api)
    if argv[0] in ("run", "edge"):
        argv = [*argv, "--log-format", "json"]
    started = time.monotonic()
    proc = subprocess.run([SCRIPT, *argv], capture_output=True, text=True, env=env,
                          timeout=90, check=False)
    assert proc.returncode == status, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    # The conformance runner reports on stdout (its report); the others on stderr.
    lines = [line for line in (proc.stderr or proc.stdout).splitlines() if line.strip()]
    last = lines[-1] if argv[0] != "conformance" else lines[0]
    assert fragment in last, proc.stderr
    assert time.monotonic() - started < 60
