"""When passes run: the loop sleeps until the next due autoscaler, a pass takes every
autoscaler whose period is over (jitter or not, never sooner), `wake()` and `stop` end the
sleep, and the spec sources wake it only when the set of autoscalers or a spec generation
changed (not on our own status writes). Time is data (FakeClock) except where a real sleep
being cut short is the point."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from autoscaler.clock import FakeClock, SystemClock
from autoscaler.control.loop import Loop, jitter_seconds
from autoscaler.kube.cache import WatchCache
from autoscaler.runtime.process import run_loop
from autoscaler.runtime.specsources import DirectoryWatch, reschedules
from autoscaler.specs.model import ManagedSpec
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing.fakes import FakeMetrics, FakePods, FakeScale, FakeWorld

T0 = 1_000_000.0
PERIOD = 15.0
NAMES = ("a", "b", "c", "d", "e")


def cr(name: str, generation: int = 1, status: dict[str, Any] | None = None) -> Any:
    return {"metadata": {"name": name, "namespace": "default", "generation": generation,
                         "resourceVersion": f"{name}-{generation}-{len(str(status))}"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": name},
                     "minReplicas": 1, "maxReplicas": 4,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                         "type": "Utilization", "averageUtilization": 50}}}]},
            "status": status or {}}


def loop_over(specs: list[ManagedSpec], clock: Any, **options: Any) -> Loop:
    return Loop(FakeWorld().reconciler(FakeScale(1, "app=x"), FakePods()), lambda: specs,
                FakeMetrics, clock, sync_period_seconds=PERIOD, **options)


def test_a_pass_takes_every_autoscaler_whose_period_is_over_never_sooner() -> None:
    specs = [from_custom_resource(cr(name)) for name in NAMES]
    jitters = sorted(jitter_seconds(m.key, PERIOD) for m in specs)
    assert jitters[0] < jitters[-1]  # distinct jitters: passes would drift apart
    clock = FakeClock(T0)
    loop = loop_over(specs, clock)
    try:
        assert len(loop.run_pass(wait_all=True)) == len(NAMES)
        # It sleeps until the first autoscaler's period plus jitter is over...
        assert loop.seconds_to_next() == pytest.approx(PERIOD + jitters[0])
        clock.advance(PERIOD - 0.001)
        assert loop.run_pass(wait_all=True) == []  # ...never sooner than the period
        for cycle in range(1, 6):  # ...and then every autoscaler goes, cycle after cycle
            clock.advance(loop.seconds_to_next())
            assert len(loop.run_pass(wait_all=True)) == len(NAMES), cycle
            assert loop.seconds_to_next() == pytest.approx(PERIOD + jitters[0])
    finally:
        loop.close()


def test_a_late_reconcile_does_not_make_the_loop_spin() -> None:
    """A reconcile past the pass deadline is not "due now" for the sleep: the loop sleeps
    until the others' next pass and its end wakes the loop to collect it."""
    release = threading.Event()

    class Slow(FakeScale):
        def get(self, namespace: str, ref: Any) -> Any:
            if ref.name == "a":
                release.wait(30)
            return super().get(namespace, ref)

    specs = [from_custom_resource(cr(name)) for name in ("a", "b")]
    clock = FakeClock(T0)
    loop = Loop(FakeWorld().reconciler(Slow(1, "app=x"), FakePods()), lambda: specs,
                FakeMetrics, clock, sync_period_seconds=PERIOD, workers=2,
                pass_deadline_seconds=0.05)
    try:
        assert [r.key for r in loop.run_pass()] == [specs[1].key]
        assert loop.seconds_to_next() >= PERIOD  # not 0 for the one still running
        release.set()
        assert loop._alarm.wait(10)  # its end wakes the loop
        assert [r.key for r in loop.run_pass()] == [specs[0].key]  # collected
    finally:
        release.set()
        loop.close()


def test_wake_and_stop_end_the_sleep_of_a_real_clock() -> None:
    specs: list[ManagedSpec] = []
    passes = threading.Semaphore(0)
    reconciling = threading.Event()

    def current() -> list[ManagedSpec]:
        passes.release()
        return list(specs)

    def metrics() -> FakeMetrics:  # a pass with something due
        reconciling.set()
        return FakeMetrics()

    loop = Loop(FakeWorld().reconciler(FakeScale(1, "app=x"), FakePods()), current,
                metrics, SystemClock(), sync_period_seconds=3600.0)
    runner = threading.Thread(target=loop.run)
    runner.start()
    try:
        assert passes.acquire(timeout=10)  # the first pass (nothing); then an hour's sleep
        specs.append(from_custom_resource(cr("a")))
        loop.wake()
        assert reconciling.wait(10)  # the woken pass syncs the new autoscaler
        loop.stop.set()  # a plain set, as a signal handler does: no wake() needed
        runner.join(10)
        assert not runner.is_alive()
    finally:
        loop.stop.set()
        runner.join(10)
        loop.close()


def test_time_as_data_ignores_wakes() -> None:
    """FakeClock (and FileClock) move only as the test says: a wake changes nothing."""
    clock = FakeClock(T0)
    alarm = threading.Event()
    alarm.set()
    assert clock.wait(5.0, threading.Event(), alarm) is False
    assert clock.now() == T0 + 5.0


class Listener:
    def __init__(self) -> None:
        self.calls = 0

    def __call__(self) -> None:
        self.calls += 1


def spec_cache() -> tuple[WatchCache[ManagedSpec], Listener]:
    cache: WatchCache[ManagedSpec] = WatchCache("elasticautoscalers", lambda *a, **k: None, (),
                                                from_custom_resource, significant=reschedules)
    listener = Listener()
    cache.on_change = listener
    return cache, listener


def test_spec_caches_wake_the_loop_on_what_changes_the_schedule_only() -> None:
    cache, woken = spec_cache()
    cache.apply("ADDED", cr("a"))
    assert woken.calls == 1
    cache.apply("MODIFIED", cr("a", status={"currentReplicas": 2}))  # our status write
    assert woken.calls == 1
    cache.apply("MODIFIED", cr("a", generation=2))  # the user edited the spec
    assert woken.calls == 2
    cache.apply("MODIFIED", cr("a", generation=2))  # the same resourceVersion again
    cache.apply("DELETED", cr("b"))  # never seen
    assert woken.calls == 2
    cache.apply("DELETED", cr("a", generation=2))
    assert woken.calls == 3


def test_a_relist_wakes_once_and_only_for_a_difference() -> None:
    listed: list[Any] = [cr("a"), cr("b")]

    class Answer:
        @property
        def data(self) -> bytes:
            import json  # noqa: PLC0415

            return json.dumps({"metadata": {"resourceVersion": "9"}, "items": listed}).encode()

    cache: WatchCache[ManagedSpec] = WatchCache("crs", lambda *a, **k: Answer(), (),
                                                from_custom_resource, significant=reschedules)
    woken = Listener()
    cache.on_change = woken
    cache.list_now()
    assert woken.calls == 1  # two added: one wake
    listed[1] = cr("b", status={"currentReplicas": 3})
    cache.list_now()
    assert woken.calls == 1
    listed.append(cr("c"))
    cache.list_now()
    assert woken.calls == 2


def test_a_spec_directory_is_polled_for_changes(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("kind: HorizontalPodAutoscaler\n", encoding="utf-8")
    watch = DirectoryWatch(tmp_path)
    woken = Listener()
    watch.on_change = woken
    watch.list_now()
    assert woken.calls == 0
    (tmp_path / "b.yaml").write_text("kind: HorizontalPodAutoscaler\n", encoding="utf-8")
    watch.list_now()
    assert woken.calls == 1
    (tmp_path / "b.yaml").write_text("kind: HorizontalPodAutoscaler  # edited\n",
                                     encoding="utf-8")
    watch.list_now()
    (tmp_path / "a.yaml").unlink()
    watch.list_now()
    assert woken.calls == 3
    assert watch.synced and watch.last_error is None


def test_run_loop_points_the_spec_sources_at_the_loops_wake(tmp_path: Path) -> None:
    cache, _ = spec_cache()
    directory = DirectoryWatch(tmp_path)
    cache.list_fn = lambda *a, **k: type("A", (), {"data": b'{"items": []}'})()
    loop = loop_over([], FakeClock(T0))
    run_loop(loop, [cache, directory], None, once=True)
    assert cache.on_change == loop.wake and directory.on_change == loop.wake


def test_a_parked_autoscaler_is_retried_when_its_generation_changes() -> None:
    from autoscaler.errors import PermanentError  # noqa: PLC0415

    spec = from_custom_resource(cr("a"))
    specs = [spec]
    scale = FakeScale(1, "app=x", fail_get=PermanentError("get scale: HTTP 403", 403))
    clock = FakeClock(T0)
    loop = Loop(FakeWorld().reconciler(scale, FakePods()), lambda: specs, FakeMetrics, clock,
                sync_period_seconds=PERIOD)
    try:
        assert len(loop.run_pass(wait_all=True)) == 1
        assert loop.run_pass(wait_all=True) == []
        specs[0] = replace(spec, generation=2)
        assert len(loop.run_pass(wait_all=True)) == 1
    finally:
        loop.close()
