"""CLI conventions (issue #12): `--version`, shell completion, help on every option,
`get -o wide|json|yaml` and `get --watch`, `--log-level`, the dry-run table that prints a
line when a decision changes (`--every-sync`: every pass), decisions logged at info only
when they change. Through the real console script against the in-repo fake API server;
the watch loop and the decision log also in process, with time as data."""

from __future__ import annotations

import argparse
import io
import json
import logging
import queue
import shutil
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import pytest
import structlog
import yaml
from daemon_harness import (
    APP,
    NS,
    STEP,
    T0,
    DaemonProcess,
    autoscaler_cr,
    play_deployment_controller,
    seed_cluster,
)
from structlog.testing import capture_logs

from algorithms.plan import DryRun, Plan
from algorithms.state import ControllerState
from algorithms.status import TRUE, HPAStatus, set_condition
from autoscaler.cli import build_parser
from autoscaler.control.record import Recorder
from autoscaler.daemon.table import GetOptions, show
from autoscaler.errors import TransientError
from autoscaler.runtime.logs import scoped_logging
from autoscaler.runtime.wiring import dry_run_printer
from autoscaler.specs.model import ManagedSpec
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing import FakeApiServer, write_kubeconfig

SCRIPT = shutil.which("autoscaler", path=str(Path(sys.executable).parent))
WAIT = 30.0  # a bound on waiting for a real process, never a sleep
JSON_FIELDS = ["namespace", "name", "source", "reference", "targets", "minPods", "maxPods",
               "replicas", "desiredReplicas", "shard", "owner", "status", "errors",
               "lastScaleTime", "limitedBy", "origin", "conditions"]
BROKEN_HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: broken, namespace: default}
spec:
  maxReplicas: 0
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nowhere}
"""


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None, "the console script is not installed: pip install -e ."
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


# --- --version and completion ------------------------------------------------------------

def test_version_comes_from_the_package_metadata() -> None:
    proc = cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"autoscaler {metadata.version('edge-autoscaler')}\n"


@pytest.mark.parametrize(("shell", "marker"), [
    pytest.param("bash", "complete -o bashdefault -F _shtab_autoscaler autoscaler", id="bash"),
    pytest.param("zsh", "#compdef autoscaler", id="zsh"),
])
def test_completion_prints_the_script(shell: str, marker: str) -> None:
    proc = cli("completion", shell)
    assert proc.returncode == 0, proc.stderr
    assert marker in proc.stdout
    assert "--watch-interval" in proc.stdout and "--every-sync" in proc.stdout


def test_completion_of_an_unknown_shell_is_a_usage_error() -> None:
    proc = cli("completion", "fish")
    assert proc.returncode == 2
    assert "invalid choice: 'fish'" in proc.stderr


@pytest.mark.parametrize(("words", "expected"), [
    pytest.param(["ge"], ["get"], id="subcommand"),
    pytest.param(["get", "--wat"], ["--watch", "--watch-count", "--watch-interval"],
                 id="get-watch-options"),
    pytest.param(["get", "-o", ""], ["json", "wide", "yaml"], id="get-output-choices"),
    pytest.param(["run", "--log-level", ""], ["debug", "error", "info", "warning"],
                 id="run-log-levels"),
    pytest.param(["run", "--every"], ["--every-sync"], id="run-every-sync"),
    pytest.param(["llm-proxy", "--log-f"], ["--log-format"], id="llm-proxy-log-format"),
    pytest.param(["completion", ""], ["bash", "zsh"], id="completion-shells"),
])
def test_bash_completion_completes(words: list[str], expected: list[str]) -> None:
    """The generated script, sourced in a real bash, asked what completes the last word."""
    script = cli("completion", "bash").stdout
    quoted = " ".join(f"'{w}'" for w in ["autoscaler", *words])
    program = (f"{script}\nCOMP_WORDS=({quoted}); COMP_CWORD={len(words)}; "
               "_shtab_autoscaler; printf '%s\\n' \"${COMPREPLY[@]}\"")
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", program],
                          capture_output=True, text=True, timeout=30, check=False)
    assert proc.returncode == 0, proc.stderr
    assert sorted(proc.stdout.split()) == expected


# --- help on every option -----------------------------------------------------------------

def _commands(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
              ) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


def _options() -> list[Any]:
    """One case per argument of every (sub)command, and per subcommand (its one-line help)."""
    cases = []
    for path, parser in _commands(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction | argparse._VersionAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    cases.append(pytest.param(
                        choice.help, id=f"{' '.join(path) or 'autoscaler'}:{choice.dest}"))
                continue
            name = action.option_strings[-1] if action.option_strings else action.dest
            cases.append(pytest.param(action.help,
                                      id=f"{' '.join(path) or 'autoscaler'}:{name}"))
    return cases


@pytest.mark.parametrize("text", _options())
def test_every_option_of_every_subcommand_has_help(text: str | None) -> None:
    assert text and text != argparse.SUPPRESS and len(text.split()) >= 2


@pytest.mark.parametrize("command", [
    pytest.param(path, id=" ".join(path) or "autoscaler")
    for path, _ in _commands(build_parser())])
def test_help_of_every_subcommand_through_the_console_script(command: tuple[str, ...]
                                                             ) -> None:
    proc = cli(*command, "--help")
    assert proc.returncode == 0, proc.stderr
    parser = dict(_commands(build_parser()))[command]
    for action in parser._actions:
        for option in action.option_strings:
            assert option in proc.stdout, option


@pytest.mark.parametrize(("argv", "level"), [
    pytest.param(["run"], "info", id="run-default"),
    pytest.param(["run", "--log-level", "debug"], "debug", id="run-debug"),
    pytest.param(["edge", "--log-level", "WARNING"], "warning", id="edge-any-case"),
    pytest.param(["llm-proxy", "--log-level", "ERROR"], "error", id="llm-proxy-upper-case"),
    pytest.param(["llm-proxy"], "info", id="llm-proxy-default"),
])
def test_log_level_is_accepted_by_every_long_running_command(argv: list[str], level: str
                                                             ) -> None:
    assert build_parser().parse_args(argv).log_level == level


@pytest.mark.parametrize(("argv", "info_logged"), [
    pytest.param(["run", "--once"], True, id="run-default-info"),
    pytest.param(["run", "--once", "--log-level", "error"], False, id="run-error"),
    pytest.param(["edge", "--node-name", "n", "--once"], True, id="edge-default-info"),
    pytest.param(["edge", "--node-name", "n", "--once", "--log-level", "error"], False,
                 id="edge-error"),
])
def test_log_level_is_the_threshold_of_the_process(tmp_path: Path, argv: list[str],
                                                   info_logged: bool) -> None:
    """Against an API server that is not there: the start-up lines are info, the failure
    is the command's one error line either way."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{probe.getsockname()[1]}"
    where = ["--metaserver", closed, "--journal", str(tmp_path / "journal")] \
        if argv[0] == "edge" else ["--kubeconfig", str(write_kubeconfig(tmp_path / "kc", closed))]
    proc = cli(*argv, *where, "--log-format", "json")
    assert proc.returncode == 1
    levels = {json.loads(line)["level"] for line in proc.stderr.splitlines()
              if line.startswith("{")}
    assert ("info" in levels) is info_logged, proc.stderr
    assert "debug" not in levels
    assert proc.stderr.splitlines()[-1].startswith("error: ")


@pytest.mark.parametrize(("argv", "message"), [
    pytest.param(["run", "--log-level", "trace"], "invalid choice: 'trace'", id="bad-level"),
    pytest.param(["run", "--every-sync", "--kubeconfig", "x"], "--every-sync needs --dry-run",
                 id="every-sync-without-dry-run"),
    pytest.param(["get", "--watch-count", "1", "--kubeconfig", "x"],
                 "--watch-count needs --watch", id="watch-count-without-watch"),
    pytest.param(["get", "--watch-interval", "1", "--kubeconfig", "x"],
                 "--watch-interval needs --watch", id="watch-interval-without-watch"),
    pytest.param(["get", "-o", "xml"], "invalid choice: 'xml'", id="unknown-output"),
])
def test_misused_flags_are_usage_errors(argv: list[str], message: str) -> None:
    proc = cli(*argv)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


# --- get -o wide|json|yaml against the fake API server -------------------------------------

@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        seed_cluster(server)
        yield server


@pytest.fixture
def cluster(api: FakeApiServer, tmp_path: Path) -> list[str]:
    """One ElasticAutoscaler after a real pass (1 -> 2 at 100 %/50 %), one invalid file spec;
    returns the connection and source flags of `get`."""
    autoscaler_cr(api)
    play_deployment_controller(api, 3.0, T0)
    kubeconfig = str(write_kubeconfig(tmp_path / "kubeconfig", api.url))
    proc = cli("run", "--kubeconfig", kubeconfig, "--once", "--now", str(T0),
               "--log-format", "json")
    assert proc.returncode == 0, proc.stderr
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "broken.yaml").write_text(BROKEN_HPA)
    return ["--kubeconfig", kubeconfig, "--spec-dir", str(tmp_path / "specs")]


def _table(text: str) -> list[list[str]]:
    return [line.split("   ") for line in text.splitlines()]


def _cells(text: str) -> list[list[str]]:
    return [[cell.strip() for cell in line.split("   ") if cell.strip()] for line in
            text.splitlines()]


def check_table(out: str) -> None:
    header, row, broken = _cells(out)
    assert header == ["NAMESPACE", "NAME", "SOURCE", "REFERENCE", "TARGETS", "MINPODS",
                      "MAXPODS", "REPLICAS", "STATUS"]
    assert row == [NS, APP, "crd", f"Deployment/{APP}", "100%/50%", "1", "10", "1", "active"]
    assert broken[:8] == [NS, "broken", "file", "-", "<unknown>", "-", "-", "-"]
    assert broken[8].startswith("invalid: ") and "spec.maxReplicas" in broken[8]


def check_wide(out: str) -> None:
    header, row, broken = _cells(out)
    assert header == ["NAMESPACE", "NAME", "SOURCE", "REFERENCE", "TARGETS", "MINPODS",
                      "MAXPODS", "REPLICAS", "DESIRED", "LASTSCALE", "LIMITEDBY",
                      "CONDITIONS", "SHARD", "OWNER", "STATUS"]
    assert row == [NS, APP, "crd", f"Deployment/{APP}", "100%/50%", "1", "10", "1", "2",
                   "2027-01-15T08:00:00Z", "none",
                   "SucceededRescale,ValidMetricFound,DesiredWithinRange,NotScaledToZero",
                   "-", "-", "active"]  # unsharded: no shard, no owner
    assert broken[8:14] == ["-"] * 6 and broken[14].startswith("invalid: ")
    lines = out.splitlines()  # aligned: every column starts where its header does
    assert {line.index(" 2027-") for line in lines[1:2]} == {lines[0].index(" LASTSCALE")}


def check_objects(objects: Any) -> None:
    assert isinstance(objects, list)
    assert [list(o) for o in objects] == [JSON_FIELDS, JSON_FIELDS]  # stable, ordered keys
    found, broken = objects
    assert {k: found[k] for k in JSON_FIELDS if k != "conditions"} == {
        "namespace": NS, "name": APP, "source": "crd", "reference": f"Deployment/{APP}",
        "targets": "100%/50%", "minPods": 1, "maxPods": 10, "replicas": 1,
        "desiredReplicas": 2, "shard": None, "owner": None, "status": "active", "errors": [],
        "lastScaleTime": "2027-01-15T08:00:00Z", "limitedBy": "none",
        "origin": f"ElasticAutoscaler {NS}/{APP}"}
    assert [(c["type"], c["status"], c["reason"]) for c in found["conditions"]] == [
        ("AbleToScale", "True", "SucceededRescale"),
        ("ScalingActive", "True", "ValidMetricFound"),
        ("ScalingLimited", "False", "DesiredWithinRange"),
        ("ScaledToZero", "False", "NotScaledToZero")]
    assert all(set(c) == {"type", "status", "reason", "message", "lastTransitionTime"}
               for c in found["conditions"])
    assert broken["status"] == "invalid" and broken["conditions"] == []
    assert all(broken[k] is None for k in ("reference", "targets", "minPods", "replicas"))
    assert any("spec.maxReplicas" in e for e in broken["errors"])


@pytest.mark.parametrize(("flags", "check"), [
    pytest.param([], check_table, id="table"),
    pytest.param(["-o", "wide"], check_wide, id="wide"),
    pytest.param(["-o", "json"], lambda out: check_objects(json.loads(out)), id="json"),
    pytest.param(["--output", "yaml"], lambda out: check_objects(yaml.safe_load(out)),
                 id="yaml"),
])
def test_get_output_formats(cluster: list[str], api: FakeApiServer, flags: list[str],
                            check: Callable[[str], None]) -> None:
    api.clear_requests()
    proc = cli("get", *cluster, *flags)
    assert proc.returncode == 0, proc.stderr
    check(proc.stdout)
    assert api.writes() == []


def test_json_and_yaml_say_the_same(cluster: list[str]) -> None:
    as_json = json.loads(cli("get", *cluster, "-o", "json").stdout)
    assert yaml.safe_load(cli("get", *cluster, "-o", "yaml").stdout) == as_json


# --- get --watch ----------------------------------------------------------------------------

class Watch:
    """`get --watch` as a process: its stdout line by line, each waited for with a bound
    (a reader thread); killed, reaped and its pipes closed on exit."""

    def __init__(self, cluster: list[str], *flags: str) -> None:
        assert SCRIPT is not None
        self.proc = subprocess.Popen(
            [SCRIPT, "get", *cluster, "--watch", "--watch-interval", "0.05", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, args=(self.proc.stdout,),
                                       daemon=True)
        self.reader.start()
        self.stderr = ""

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.put(line.rstrip("\n"))

    def next(self) -> str:
        return self.lines.get(timeout=WAIT)

    def wait(self) -> int:
        code = self.proc.wait(WAIT)
        self.reader.join(WAIT)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read()
        return code

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *_: object) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(WAIT)
        self.reader.join(WAIT)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


def _set_status(api: FakeApiServer, **changes: Any) -> None:
    current = api.get("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", NS, APP)
    api.update({**current, "status": {**current["status"], **changes}})


def _delete(api: FakeApiServer) -> None:
    api.delete("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", NS, APP)


@pytest.mark.parametrize(("flags", "first_lines", "change", "check"), [
    pytest.param([], 3, lambda api: _set_status(api, currentReplicas=2, targets="40%/50%"),
                 lambda line: _cells(line)[0][4:8] == ["40%/50%", "1", "10", "2"],
                 id="table-status-change"),
    pytest.param(["-o", "wide"], 3, lambda api: _set_status(api, desiredReplicas=4),
                 lambda line: _cells(line)[0][7:9] == ["1", "4"], id="wide-desired-change"),
    pytest.param(["-o", "json"], 2, lambda api: _set_status(api, currentReplicas=2),
                 lambda line: json.loads(line)["replicas"] == 2
                 and list(json.loads(line)) == JSON_FIELDS, id="json-object-per-line"),
    pytest.param([], 3, _delete, lambda line: _cells(line)[0][:2] == [NS, APP]
                 and _cells(line)[0][-1] == "deleted", id="table-deleted"),
])
def test_get_watch_prints_a_line_per_change(
        cluster: list[str], api: FakeApiServer, flags: list[str], first_lines: int,
        change: Callable[[FakeApiServer], None], check: Callable[[str], bool]) -> None:
    with Watch(cluster, "--watch-count", "1", *flags) as watch:
        first = [watch.next() for _ in range(first_lines)]  # the view, printed at once
        change(api)
        changed = watch.next()
        assert watch.wait() == 0, watch.stderr
    assert APP in "\n".join(first)
    assert check(changed), changed
    assert watch.lines.empty()  # nothing repeats a row that did not change


@pytest.mark.parametrize("sig", [pytest.param(signal.SIGINT, id="ctrl-c"),
                                 pytest.param(signal.SIGTERM, id="sigterm")])
def test_get_watch_stops_cleanly_on_a_signal(cluster: list[str], sig: signal.Signals) -> None:
    with Watch(cluster) as watch:
        assert watch.next().startswith("NAMESPACE")
        watch.proc.send_signal(sig)
        assert watch.wait() == 0, watch.stderr
    assert "Traceback" not in watch.stderr and "error" not in watch.stderr


def _managed(replicas: int, name: str = APP) -> ManagedSpec:
    raw = {"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
           "metadata": {"name": name, "namespace": NS},
           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                       "name": name}, "maxReplicas": 10},
           "status": {"currentReplicas": replicas, "desiredReplicas": replicas}}
    return from_custom_resource(raw)


class Script:
    """A scripted `fetch`: one answer per call (an exception is raised), then the last."""

    def __init__(self, *answers: list[ManagedSpec] | Exception) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> list[ManagedSpec]:
        self.calls += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.parametrize(("answers", "count", "changes", "warnings"), [
    pytest.param([[_managed(1)], [_managed(1)], [_managed(2)]], 1, ["2"], 0,
                 id="only-the-change"),
    pytest.param([[_managed(1)], [_managed(1), _managed(1, "b")], []], 2, ["1", "deleted"], 0,
                 id="added-then-both-deleted-count-bounds"),
    pytest.param([[_managed(1)], TransientError("list failed"), [_managed(3)]], 1, ["3"], 1,
                 id="a-failed-read-is-a-warning"),
])
def test_watch_loop_with_time_as_data(answers: list[Any], count: int, changes: list[str],
                                      warnings: int) -> None:
    out, err = io.StringIO(), io.StringIO()
    code = show(Script(*answers), GetOptions(watch=True, interval_seconds=0, count=count),
                out, err)
    assert code == 0
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("NAMESPACE") and len(lines) == 2 + len(changes)
    assert [_cells(line)[0][-1] if "deleted" in line else _cells(line)[0][7]
            for line in lines[2:]] == changes
    assert err.getvalue().count("warning: list failed (still watching)") == warnings


@pytest.mark.parametrize(("output", "parse"), [
    pytest.param("json", lambda text: [json.loads(line) for line in text.splitlines()],
                 id="json-lines"),
    pytest.param("yaml", lambda text: list(yaml.safe_load_all(text)), id="yaml-documents"),
])
def test_watched_json_and_yaml_are_one_object_per_view_and_change(
        output: str, parse: Callable[[str], list[dict[str, Any]]]) -> None:
    out = io.StringIO()
    show(Script([_managed(1), _managed(1, "b")], [_managed(4), _managed(1, "b")]),
         GetOptions(output=output, watch=True, interval_seconds=0, count=1), out)
    objects = parse(out.getvalue())
    assert [(o["name"], o["replicas"]) for o in objects] == [("b", 1), (APP, 1), (APP, 4)]
    assert all(list(o) == JSON_FIELDS for o in objects)


def test_watch_loop_ends_when_stopped() -> None:
    stop = threading.Event()
    stop.set()  # what SIGINT does
    script = Script([_managed(1)])
    out = io.StringIO()
    assert show(script, GetOptions(watch=True, interval_seconds=3600), out, io.StringIO(),
                stop) == 0
    assert script.calls == 1 and len(out.getvalue().splitlines()) == 2


# --- run --dry-run: the decision table, decisions logged on change ------------------------

class DryRunDaemon(DaemonProcess):
    """The harness' daemon through the console script, stdout kept."""

    def launch(self, now: float) -> None:
        assert SCRIPT is not None
        self._set(now)
        self.done.unlink(missing_ok=True)
        self.out_path = self.log_path.with_suffix(".out")
        with self.log_path.open("ab") as log, self.out_path.open("ab") as out:
            self.proc = subprocess.Popen(
                [SCRIPT, "run", "--kubeconfig", str(self.kubeconfig), "--clock-file",
                 str(self.clock), "--log-format", "json", "--request-timeout", "3",
                 *self.args], stdout=out, stderr=log)

    def stdout(self) -> str:
        return self.out_path.read_text(encoding="utf-8")


@pytest.mark.parametrize(("flags", "shown", "levels"), [
    pytest.param([], ["1->2", "1->4"], ["info", "info"], id="print-on-change"),
    pytest.param(["--every-sync"], ["1->2", "1->2", "1->4", "1->4"], ["info", "info"],
                 id="every-sync"),
    pytest.param(["--log-level", "debug"], ["1->2", "1->4"],
                 ["info", "debug", "info", "debug"], id="debug-logs-repeats"),
    pytest.param(["--log-level", "warning"], ["1->2", "1->4"], [], id="warning-level"),
])
def test_dry_run_prints_a_table_line_when_the_decision_changes(
        api: FakeApiServer, tmp_path: Path, flags: list[str], shown: list[str],
        levels: list[str]) -> None:
    autoscaler_cr(api)
    daemon = DryRunDaemon(api, tmp_path, "--dry-run", *flags)
    try:
        for index, cores in enumerate((3.0, 3.0, 6.0, 6.0)):  # 100 %, then 200 % of 50 %
            now = T0 + index * STEP
            play_deployment_controller(api, cores, now)
            if index == 0:
                daemon.start(now)
            else:
                daemon.step(now)
    finally:
        assert daemon.stop() == 0
    assert api.writes() == []
    header, *rows = _cells(daemon.stdout())
    assert header == ["NAMESPACE", "NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS",
                      "REPLICAS", "DECISION"]
    assert [row[6] for row in rows] == shown
    assert all(row[:3] == [NS, APP, f"Deployment/{APP}"] for row in rows)
    assert rows[0][3] == "100%/50%" and rows[-1][3] == "200%/50%"
    assert all(row[7].startswith("would scale: cpu resource utilization") for row in rows)
    decisions = [e for e in daemon.logs() if e.get("event") == "decision"]
    assert [e["level"] for e in decisions] == levels


# --- the decision log and the printer in process -------------------------------------------

def _plan(target: int, reason: str = "ReadyForNewScale") -> tuple[Plan, ControllerState]:
    conditions = set_condition((), "AbleToScale", TRUE, reason, "", T0)
    state = ControllerState(status=HPAStatus(current_replicas=1, desired_replicas=target,
                                             conditions=conditions))
    return Plan(state=state, current_replicas=1, target_replicas=target,
                rescale=target != 1, reason="above target" if target != 1 else ""), state


class NoEvents:
    def record(self, *_: object) -> None:
        raise AssertionError("a dry run records no Event")


def test_a_decision_logs_at_info_when_it_changes_and_at_debug_when_it_repeats() -> None:
    managed = _managed(1)
    assert managed.spec is not None
    recorder = Recorder(NoEvents(), dry_run=True)
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG))
    try:
        with capture_logs() as logs:
            for target, reason in ((2, "ReadyForNewScale"), (2, "ReadyForNewScale"),
                                   (1, "ReadyForNewScale"), (1, "ScaleDownStabilized"),
                                   (1, "ScaleDownStabilized")):
                plan, state = _plan(target, reason)
                recorder.report(managed, managed.spec, plan, DryRun(), state, (), True, T0)
    finally:
        structlog.configure(**saved)
    assert [e["log_level"] for e in logs if e["event"] == "decision"] == [
        "info", "debug", "info", "info", "debug"]


def test_the_dry_run_printer_header_once_then_changes_only() -> None:
    out = io.StringIO()
    printer = dry_run_printer(out)
    first, other = _managed(1), _managed(1, "a-much-longer-autoscaler-name")
    for managed, target in ((first, 2), (other, 2), (first, 2), (first, 3), (other, 2)):
        plan, state = _plan(target)
        printer(managed, plan, state, True)
    printer(first, *_plan(5), False)  # not a dry-run autoscaler: never printed
    header, *rows = _cells(out.getvalue())
    assert header[:2] == ["NAMESPACE", "NAME"]
    assert [(row[1], row[6]) for row in rows] == [
        (APP, "1->2"), ("a-much-longer-autoscaler-name", "1->2"), (APP, "1->3")]


def test_llm_proxy_logs_through_the_daemon_structlog_setup() -> None:
    """Standard-library records come out as the daemon's JSON lines; everything is restored
    afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    before = (list(root.handlers), root.level, structlog.get_config())
    with scoped_logging("json", stream, "warning"):
        logging.getLogger("autoscaler.llmproxy").warning("upstream unavailable for %s", "/v1")
        logging.getLogger("autoscaler.llmproxy").info("not shown")
        structlog.get_logger("autoscaler.x").warning("structlog too")
    assert (list(root.handlers), root.level, structlog.get_config()) == before
    events = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(e["event"], e["level"]) for e in events] == [
        ("upstream unavailable for /v1", "warning"), ("structlog too", "warning")]
    assert events[0]["logger"] == "autoscaler.llmproxy" and "timestamp" in events[0]


def test_llm_proxy_command_logs_json_lines() -> None:
    """The real command, its address taken: the failure is a JSON line like the daemon's."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = int(busy.getsockname()[1])
        proc = cli("llm-proxy", "--listen", f"127.0.0.1:{port}", "--log-format", "json")
    assert proc.returncode == 1
    event = json.loads(proc.stderr.splitlines()[-1])
    assert event["level"] == "error" and event["logger"] == "autoscaler.llmproxy"
    assert f"cannot listen on 127.0.0.1:{port}" in event["event"]
