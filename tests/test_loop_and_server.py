"""The loop's per-pass deadline and retry schedule, and the bounded HTTP endpoints."""

from __future__ import annotations

import socket
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from algorithms.observation import PodResourceUsage
from algorithms.pods import ContainerInfo, PodInfo
from autoscaler.clock import FakeClock
from autoscaler.control import server as server_module
from autoscaler.control.loop import Backoff, Loop, next_delay
from autoscaler.control.reconcile import PassResult
from autoscaler.control.server import DaemonMetrics, serve
from autoscaler.errors import PermanentError, TransientError
from autoscaler.kube.scale import ScaleRead
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing.fakes import FakeMetrics, FakePods, FakeScale, FakeWorld

T0 = 1_000_000.0
NS = "default"


def cr(name: str) -> Any:
    return from_custom_resource({"metadata": {"name": name, "namespace": NS}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 1, "maxReplicas": 4,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 50}}}]}})


class GatedScale(FakeScale):
    """The scale of `slow` blocks until released: a hung connection."""

    def __init__(self) -> None:
        super().__init__(1, "app=x")
        self.release = threading.Event()

    def get(self, namespace: str, ref: Any) -> ScaleRead:
        if ref.name == "slow":
            self.release.wait(30)
        return super().get(namespace, ref)


def test_a_slow_autoscaler_does_not_hold_the_pass() -> None:
    scale = GatedScale()
    pods = FakePods({NS: [PodInfo(name="x-0", start_time=T0 - 3600,
                                  ready_transition_time=T0 - 3500, labels={"app": "x"},
                                  containers=(ContainerInfo("c", {"cpu": 1000}),))]})
    metrics = FakeMetrics({"x-0": PodResourceUsage(T0 - 5, 30.0, {"c": {"cpu": 500}})})
    specs = [cr("slow"), cr("fast")]
    clock = FakeClock(T0)
    loop = Loop(FakeWorld().reconciler(scale, pods), lambda: specs, lambda: metrics, clock,
                workers=2, pass_deadline_seconds=0.2)
    try:
        first = loop.run_pass()
        assert [r.key for r in first] == ["crd:default/fast"]  # on time, without "slow"
        assert "crd:default/slow" in loop._in_flight
        clock.advance(20)
        second = loop.run_pass()  # "slow" is still running: not started a second time
        assert [r.key for r in second] == ["crd:default/fast"]
        scale.release.set()
        clock.advance(20)
        third = loop.run_pass()
        assert sorted(r.key for r in third) == ["crd:default/fast", "crd:default/slow"]
    finally:
        scale.release.set()
        loop.close()


@pytest.mark.parametrize(("failure", "backoff_failures", "delay"), [
    pytest.param(None, None, 15.0, id="healthy"),
    pytest.param(TransientError("x"), None, 15.0, id="transient-keeps-the-period"),
    pytest.param(TransientError("x", retry_after_seconds=40.0), None, 40.0,
                 id="retry-after-honoured"),
    pytest.param(TransientError("x", retry_after_seconds=2.0), None, 15.0,
                 id="retry-after-never-sooner-than-the-period"),
    pytest.param(PermanentError("x"), 1, 15.0, id="permanent-first"),
    pytest.param(PermanentError("x"), 3, 60.0, id="permanent-doubles"),
    pytest.param(PermanentError("x"), 20, 150.0, id="permanent-capped-at-10-periods"),
])
def test_next_delay(failure: Any, backoff_failures: int | None, delay: float) -> None:

    backoff = None if backoff_failures is None else Backoff(backoff_failures, None)
    assert next_delay(15.0, failure, backoff) == delay


def test_a_spec_change_unparks_at_once() -> None:
    scale = FakeScale(1, "app=x", fail_get=PermanentError("get scale: HTTP 403", 403))
    spec = cr("x")
    specs = [spec]
    clock = FakeClock(T0)
    loop = Loop(FakeWorld().reconciler(scale, FakePods()), lambda: specs, FakeMetrics, clock)
    try:
        assert [r.key for r in loop.run_pass()] == [spec.key]
        clock.advance(16.6)  # due again by period, but parked (2 x 15 s backoff)
        loop.run_pass()
        clock.advance(16.6)
        assert loop.run_pass() == []
        specs[0] = replace(spec, generation=2)  # the user fixed something
        assert [r.key for r in loop.run_pass()] == [spec.key]
    finally:
        loop.close()


def test_results_keep_their_type() -> None:
    assert PassResult("k").wrote_scale is False


@pytest.fixture
def endpoint(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Any]]:
    monkeypatch.setattr(server_module, "READ_TIMEOUT_SECONDS", 0.5)
    state = {"ready": True}
    httpd = serve("127.0.0.1:0", DaemonMetrics(), ready=lambda: state["ready"])
    host, port = httpd.server_address[:2]
    yield f"http://{host!s}:{port}", state
    httpd.shutdown()
    httpd.server_close()


def _get(url: str, timeout: float = 5.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_idle_connections_cannot_pin_threads(endpoint: tuple[str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = endpoint
    host, port = url.removeprefix("http://").split(":")
    before = threading.active_count()
    pause = threading.Event()
    idle = []
    try:
        for _ in range(60):  # one at a time, each accepted before the next
            idle.append(socket.create_connection((host, int(port)), timeout=5))
            pause.wait(0.01)
        peak = threading.active_count() - before
        assert 1 <= peak <= server_module.MAX_CONNECTIONS + 1  # unbounded: 60 threads
    finally:
        for sock in idle:
            sock.close()
    # the read timeout (0.5 s here) frees the slots of silent clients: answers again
    for _ in range(50):
        try:
            if _get(f"{url}/healthz", timeout=1.0) == 200:
                break
        except OSError:
            pass
        pause.wait(0.1)
    assert _get(f"{url}/healthz") == 200


def test_readyz_follows_the_ready_callback(endpoint: tuple[str, Any]) -> None:
    url, state = endpoint
    assert _get(f"{url}/readyz") == 200
    state["ready"] = False
    assert _get(f"{url}/readyz") == 503
