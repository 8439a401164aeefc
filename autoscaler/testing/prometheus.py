"""A real Prometheus server for tests: Debian's `prometheus` binary as a plain process on
127.0.0.1, with a temporary data directory and the port read from its log.

History is backfilled with `promtool tsdb create-blocks-from openmetrics`, which makes
samples queryable as soon as the server starts, so tests can ask about "the last minute"
without waiting a minute (measured here: a live first scrape comes ~5-6 s after start, and
`rate()` under-reports until its whole window holds samples).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from autoscaler.errors import PermanentError

_LISTENING = re.compile(r'msg="Listening on" address=([0-9.]+:[0-9]+)')


class PrometheusMissingError(PermanentError):
    """The binary is not installed: tests fail (never skip); .ci/run installs it."""


@dataclass(frozen=True)
class Series:
    """One OpenMetrics series: name, labels, and (unix seconds, value) samples."""

    name: str
    labels: Mapping[str, str]
    samples: tuple[tuple[float, float], ...]
    kind: str = "gauge"  # or "counter"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(series: Iterable[Series]) -> str:
    by_name: dict[str, list[Series]] = {}
    for item in series:
        by_name.setdefault(item.name, []).append(item)
    lines = []
    for name, items in by_name.items():
        family = name.removesuffix("_total") if items[0].kind == "counter" else name
        lines.append(f"# TYPE {family} {items[0].kind}")
        for item in items:
            labels = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(item.labels.items()))
            for timestamp, value in item.samples:
                lines.append(f"{name}{{{labels}}} {value} {timestamp:.3f}")
    lines.append("# EOF")
    return "\n".join(lines) + "\n"


class PrometheusProcess:
    def __init__(self, scrape_targets: Iterable[str] = (), scrape_interval: str = "1s") -> None:
        self.binary = shutil.which("prometheus")
        self.promtool = shutil.which("promtool")
        if self.binary is None or self.promtool is None:
            raise PrometheusMissingError("prometheus/promtool not found: `apt-get install "
                                    "prometheus` (.ci/run does)")
        self.workdir = Path(tempfile.mkdtemp(prefix="prom-test-"))
        self.data = self.workdir / "data"
        self.data.mkdir()
        targets = ", ".join(f'"{t}"' for t in scrape_targets)
        scrape = (f'scrape_configs:\n  - job_name: test\n    static_configs:\n'
                  f'      - targets: [{targets}]\n') if targets else "scrape_configs: []\n"
        (self.workdir / "prometheus.yml").write_text(
            f"global:\n  scrape_interval: {scrape_interval}\n  evaluation_interval: 1s\n"
            + scrape)
        self.process: subprocess.Popen[str] | None = None
        self.url = ""
        self.log_tail: tuple[str, ...] = ()

    def backfill(self, series: Iterable[Series]) -> None:
        """Write history before `start()` (the server loads blocks when it starts)."""
        source = self.workdir / "backfill.om"
        source.write_text(openmetrics(series))
        assert self.promtool is not None
        subprocess.run([self.promtool, "tsdb", "create-blocks-from", "openmetrics",
                        str(source), str(self.data)], check=True, capture_output=True,
                       timeout=120)

    def start(self, timeout_seconds: float = 30.0) -> str:
        assert self.binary is not None
        self.process = subprocess.Popen(
            [self.binary, f"--config.file={self.workdir / 'prometheus.yml'}",
             f"--storage.tsdb.path={self.data}", "--web.listen-address=127.0.0.1:0",
             "--storage.tsdb.retention.time=3650d", "--query.lookback-delta=5m"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout_seconds
        assert self.process.stderr is not None
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                if self.process.poll() is not None:
                    raise RuntimeError(f"prometheus exited with {self.process.returncode}")
                continue
            match = _LISTENING.search(line)
            if match:
                self.url = f"http://{match.group(1)}"
                # Keep reading its log: a full pipe would block the server.
                threading.Thread(target=self._drain, daemon=True).start()
                self._wait_ready(deadline)
                return self.url
        raise TimeoutError("prometheus did not report its listening address")

    def _wait_ready(self, deadline: float) -> None:
        """It listens before it has loaded its blocks, answering 503 until then."""
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except (OSError, ValueError):
                pass  # 503 (HTTPError is an OSError) or not accepting yet
            time.sleep(0.05)
        raise TimeoutError(f"prometheus at {self.url} never became ready")

    def _drain(self) -> None:
        stream = self.process.stderr if self.process is not None else None
        if stream is None:
            return
        try:
            for line in stream:
                self.log_tail = (*self.log_tail[-49:], line.rstrip())
        except ValueError:
            return  # closed by stop()/kill(): the server is gone

    def kill(self) -> None:
        """An outage: SIGKILL, no goodbye."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self.process is not None and self.process.stderr is not None:
            self.process.stderr.close()


    def __enter__(self) -> PrometheusProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)
