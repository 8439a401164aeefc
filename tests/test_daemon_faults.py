"""The daemon as a long-running process (official client over HTTP, the in-repo fake API
server, time as data through `--clock-file`): restarts by SIGKILL in the middle of a window
and right after a scale write, and every fault of the matrix. Evidence is the server's
request log, the ElasticAutoscaler's status and the daemon's JSON log lines."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from daemon_harness import (
    APP,
    METRICS_PATH,
    NS,
    SCALE_PATH,
    STATUS_PATH,
    STEP,
    T0,
    DaemonProcess,
    autoscaler_cr,
    conditions,
    play_deployment_controller,
    replicas,
    seed_cluster,
    set_replicas,
    status,
)

from autoscaler.testing import FakeApiServer
from autoscaler.testing.faults import RecordedRequest

# These faults hit the scale subresource's GET, which every pass makes in `--scale-reads get`
# (upstream's pattern). The default `watch` reads Scale from watched workloads instead; its
# faults (a refused or broken watch falls back to the GET, a 409 re-reads with a GET, our
# own write never read back stale) are tested in tests/test_scale_targets.py.
GET_READS = ("--scale-reads", "get")


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        seed_cluster(server)
        yield server


@pytest.fixture
def daemon(api: FakeApiServer, tmp_path: Path) -> Iterator[DaemonProcess]:
    process = DaemonProcess(api, tmp_path, *GET_READS)
    yield process
    process.stop()


def puts(requests: list[RecordedRequest]) -> list[tuple[int, int]]:
    """(replicas asked, HTTP status) of every scale write."""
    return [(r.body["spec"]["replicas"], r.status) for r in requests
            if r.method == "PUT" and r.path == SCALE_PATH]


def writes(requests: list[RecordedRequest]) -> list[str]:
    return [f"{r.method} {r.path}" for r in requests if r.is_write]


def test_sigkill_mid_window_never_scales_down_earlier_than_upstream(
        api: FakeApiServer, tmp_path: Path) -> None:
    """The issue's scenario: 2 -> 4, steady load recommending 4, SIGKILL, restart at low
    load. Passes every 17 s (15 s period + up to 1.5 s jitter). The uninterrupted controller
    keeps 4 until its last recommendation of 4 (t=+51) leaves the 300 s window (first pass
    after: +357); upstream after a restart seeds the current size at restart (+68) and
    keeps 4 until the pass at +374."""
    set_replicas(api, 2)
    autoscaler_cr(api)
    first = DaemonProcess(api, tmp_path, *GET_READS)
    play_deployment_controller(api, 3.0, T0)
    assert puts(first.start(T0)) == [(4, 200)]
    for k in (1, 2, 3):  # 4 pods at 50 %: every pass recommends 4
        play_deployment_controller(api, 1.5, T0 + STEP * k)
        steady = first.step(T0 + STEP * k)
        assert any(r.path == SCALE_PATH for r in steady)  # a pass ran
    assert writes(steady) == []  # steady state costs no writes (the pass is coalesced)
    first.kill()
    t = T0 + STEP * 4
    play_deployment_controller(api, 0.05, t)
    second = DaemonProcess(api, tmp_path, *GET_READS)
    try:
        log = second.start(t)
        down_at = None
        while down_at is None and t < T0 + 600:
            if puts(log):
                down_at = t
                break
            t += STEP
            play_deployment_controller(api, 0.05, t)
            log = second.step(t)
        assert down_at is not None and puts(log) == [(1, 200)]
        assert T0 + 357 <= down_at <= T0 + 374, down_at - T0
        restored = [e for e in second.logs() if e.get("event") == "state restored"]
        assert restored and restored[0]["seeded"] == [4]  # passes were coalesced: seeded
    finally:
        second.stop()


HALF_PER_MINUTE = {"behavior": {"scaleDown": {
    "stabilizationWindowSeconds": 0,
    "policies": [{"type": "Percent", "value": 50, "periodSeconds": 60}]}}}


def test_sigkill_after_the_scale_write_before_the_state_save_keeps_the_budget(
        api: FakeApiServer, tmp_path: Path) -> None:
    """The policy allows halving once a minute. Killed after 8 -> 4 was written but before
    the state was saved, the restarted daemon still knows the minute's budget is spent."""
    set_replicas(api, 8)
    autoscaler_cr(api, HALF_PER_MINUTE)
    play_deployment_controller(api, 0.05, T0)
    api.delay("POST", "/events", seconds=60, times=None)  # the pass stalls after the write
    first = DaemonProcess(api, tmp_path, *GET_READS)
    first.launch(T0)
    _until(lambda: puts(api.requests) == [(4, 200)])
    first.kill()
    assert replicas(api) == 4
    announced = status(api)["history"].get("pendingScale")
    assert announced == {**announced, "fromReplicas": 8, "toReplicas": 4}
    api.clear_faults()
    play_deployment_controller(api, 0.05, T0 + 10)
    second = DaemonProcess(api, tmp_path, *GET_READS)
    try:
        assert puts(second.start(T0 + 10)) == []  # budget spent: 4 stays 4
        assert replicas(api) == 4
        history = status(api)["history"]
        assert history.get("pendingScale") is None
        assert [e["replicaChange"] for e in history["scaleDownEvents"]] == [4]
        for t in (T0 + 27, T0 + 44):
            play_deployment_controller(api, 0.05, t)
            assert puts(second.step(t)) == []
        play_deployment_controller(api, 0.05, T0 + 61)
        assert puts(second.step(T0 + 61)) == [(2, 200)]  # a minute later: halves again
    finally:
        second.stop()


def _until(check: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.01)
    raise AssertionError("condition not reached")


Fault = Callable[[FakeApiServer], None]


def _down(api: FakeApiServer) -> None:
    api.stop()  # connection refused for everything


@pytest.mark.parametrize(("inject", "condition", "reason", "error_text"), [
    pytest.param(lambda a: a.fail("PUT", SCALE_PATH, status=503, times=None),
                 "AbleToScale", "FailedUpdateScale", "HTTP 503", id="503-on-write"),
    pytest.param(lambda a: a.fail("GET", METRICS_PATH, status=500, times=None),
                 "ScalingActive", "FailedGetResourceMetric", "HTTP 500", id="metrics-5xx"),
    pytest.param(lambda a: a.drop_connection("GET", METRICS_PATH, times=None),
                 "ScalingActive", "FailedGetResourceMetric", "connection failed",
                 id="metrics-connection-dropped"),
    pytest.param(lambda a: a.drop_connection("GET", SCALE_PATH, times=None),
                 "AbleToScale", "FailedGetScale", "connection failed",
                 id="scale-read-connection-dropped"),
    pytest.param(lambda a: a.fail("GET", SCALE_PATH, status=403, times=None,
                                  reason="Forbidden"),
                 "AbleToScale", "FailedGetScale", "check the RBAC", id="403-parks"),
])
def test_fault_matrix(api: FakeApiServer, daemon: DaemonProcess, inject: Fault,
                      condition: str, reason: str, error_text: str) -> None:
    autoscaler_cr(api)
    play_deployment_controller(api, 1.5, T0)  # 50 %: nothing to do
    assert puts(daemon.start(T0)) == []
    inject(api)
    play_deployment_controller(api, 3.0, T0 + STEP)  # now it wants 2
    during = daemon.step(T0 + STEP)
    assert all(code != 200 for _, code in puts(during))  # no write landed
    assert replicas(api) == 1
    assert conditions(api)[condition] == ("False", reason)
    logged = [e for e in daemon.logs() if error_text in str(e)]
    assert logged, f"no log line carries {error_text!r}"
    if reason == "FailedUpdateScale":  # FailedRescale names the size it tried to set
        event = next(e for e in api.list("v1", "Event", NS) if e["reason"] == "FailedRescale")
        assert event["message"].startswith("New size: 2; reason: cpu resource utilization")
    api.clear_faults()
    t = T0 + STEP
    after: list[RecordedRequest] = []
    while not puts(after) and t < T0 + 10 * STEP:  # a parked key waits out its backoff
        t += STEP
        play_deployment_controller(api, 3.0, t)
        after = daemon.step(t)
    assert puts(after) == [(2, 200)]
    assert t <= T0 + (2 if reason != "FailedGetScale" or "RBAC" not in error_text else 4) \
        * STEP
    assert conditions(api)["ScalingActive"] == ("True", "ValidMetricFound")


def test_conflicts_are_reread_and_written_once(api: FakeApiServer,
                                               daemon: DaemonProcess) -> None:
    autoscaler_cr(api)
    api.conflict_next_write(SCALE_PATH, times=2)
    play_deployment_controller(api, 3.0, T0)
    assert puts(daemon.start(T0)) == [(2, 409), (2, 409), (2, 200)]


def test_api_server_down_and_back(api: FakeApiServer, daemon: DaemonProcess) -> None:
    autoscaler_cr(api)
    play_deployment_controller(api, 1.5, T0)
    daemon.start(T0)
    api.stop()  # connection refused for every request, watches broken
    daemon.step(T0 + STEP)
    daemon.step(T0 + 2 * STEP)
    refused = [e for e in daemon.logs() if "connection failed" in str(e)]
    assert refused, "the outage is not in the log"
    assert all("Connection refused" in str(e) or "connection failed" in str(e)
               for e in refused)
    api.start()  # same port
    play_deployment_controller(api, 3.0, T0 + 3 * STEP)
    # Caches relist; within a couple of passes the daemon acts again.
    t, after = T0 + 3 * STEP, daemon.step(T0 + 3 * STEP)
    while not puts(after) and t < T0 + 8 * STEP:
        t += STEP
        after = daemon.step(t)
    assert puts(after) == [(2, 200)]
    assert conditions(api)["AbleToScale"] == ("True", "SucceededRescale")
    assert daemon.proc is not None and daemon.proc.poll() is None  # never died


def test_status_write_of_a_pass_reaches_the_api(api: FakeApiServer,
                                                daemon: DaemonProcess) -> None:
    autoscaler_cr(api)
    play_deployment_controller(api, 3.0, T0)
    requests = daemon.start(T0)
    patches = [r for r in requests if r.method == "PATCH" and r.path == STATUS_PATH]
    # the announcement before the write, then the settled state after it
    assert len(patches) == 2
    assert patches[0].body["status"]["history"]["pendingScale"]["toReplicas"] == 2
    assert patches[1].body["status"]["history"]["pendingScale"] is None
    assert status(api)["desiredReplicas"] == 2 and APP in status(api)["reference"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _status_of(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_readyz_turns_false_within_one_pass_of_losing_the_api(api: FakeApiServer,
                                                              tmp_path: Path) -> None:
    autoscaler_cr(api)
    port = _free_port()
    daemon = DaemonProcess(api, tmp_path, *GET_READS, "--metrics-addr", f"127.0.0.1:{port}")
    try:
        play_deployment_controller(api, 1.5, T0)
        daemon.start(T0)
        assert _status_of(f"http://127.0.0.1:{port}/readyz") == 200
        api.stop()
        daemon.step(T0 + STEP)  # one pass that cannot reach the API server
        assert _status_of(f"http://127.0.0.1:{port}/readyz") == 503
        assert _status_of(f"http://127.0.0.1:{port}/healthz") == 200  # alive, not ready
        api.start()
        t = T0 + STEP
        while _status_of(f"http://127.0.0.1:{port}/readyz") != 200 and t < T0 + 6 * STEP:
            t += STEP
            daemon.step(t)
        assert _status_of(f"http://127.0.0.1:{port}/readyz") == 200
    finally:
        daemon.stop()


def test_sigterm_exits_in_bounded_time_while_the_api_hangs(api: FakeApiServer,
                                                           tmp_path: Path) -> None:
    autoscaler_cr(api)
    api.delay(None, ".*", seconds=120, times=None)  # every request hangs: caches never sync
    daemon = DaemonProcess(api, tmp_path, *GET_READS)
    daemon.launch(T0)
    _until(lambda: daemon.log_path.stat().st_size > 0, 20)  # "starting": it is connecting
    started = time.monotonic()
    assert daemon.stop() == 0
    assert time.monotonic() - started < 15  # documented bound: the pass + 10 s
