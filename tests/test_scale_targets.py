"""Scale reads from watched workloads (autoscaler/kube/targets.py) against the in-repo fake API
server through the official client: the cached read equals the scale GET (the fake renders
the Scale with its own selector code), steady reads make no GET, our own write is never read
back stale, a 409 re-reads with a GET, and a kind the API refuses to list keeps the GET."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.observation import ScaleObservation
from algorithms.spec import CrossVersionObjectReference
from autoscaler.kube.client import connect
from autoscaler.kube.scale import ScaleClient
from autoscaler.kube.targets import TargetCache, label_selector_string
from autoscaler.testing import FakeApiServer, write_kubeconfig
from autoscaler.testing.selectors import selector_string

KEYS = ("app", "tier", "env")
VALUES = ("a", "b", "c")


@st.composite
def label_selectors(draw: st.DrawFn) -> dict[str, Any]:
    selector: dict[str, Any] = {}
    labels = draw(st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3))
    if labels:
        selector["matchLabels"] = labels
    expressions = []
    for key in draw(st.lists(st.sampled_from(KEYS), max_size=2)):
        operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        expression: dict[str, Any] = {"key": key, "operator": operator}
        if operator in ("In", "NotIn"):
            expression["values"] = draw(st.lists(st.sampled_from(VALUES), min_size=1,
                                                 max_size=3, unique=True))
        expressions.append(expression)
    if expressions:
        selector["matchExpressions"] = expressions
    return selector


@settings(max_examples=300, deadline=None)
@given(selector=label_selectors())
def test_the_selector_string_is_the_fakes_rendering(selector: dict[str, Any]) -> None:
    """Two independent renderings of LabelSelectorAsSelector(s).String() agree."""
    assert label_selector_string(selector) == selector_string(selector)


def _ref(name: str, kind: str = "Deployment") -> CrossVersionObjectReference:
    return CrossVersionObjectReference(kind=kind, name=name, api_version="apps/v1")


def _deployment(name: str, replicas: int, selector: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"replicas": replicas, "selector": selector},
            "status": {"replicas": max(0, replicas - 1)}}


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[FakeApiServer, ScaleClient, TargetCache]]:
    with FakeApiServer() as api:
        connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
        targets = TargetCache(connection.api_client)
        try:
            yield api, ScaleClient(connection.api_client, 5.0, targets), targets
        finally:
            targets.stop()


def _until(predicate: Any, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _warm(scale: ScaleClient, targets: TargetCache, name: str) -> None:
    scale.get("ns", _ref(name))  # starts the kind's watch
    _until(lambda: targets.read("ns", _ref(name)) is not None)


@pytest.mark.parametrize("replicas, selector", [
    pytest.param(3, {"matchLabels": {"app": "web"}}, id="match-labels"),
    pytest.param(1, {"matchLabels": {"tier": "b", "app": "web"},
                     "matchExpressions": [{"key": "env", "operator": "In",
                                           "values": ["c", "a"]}]}, id="sorted-requirements"),
    pytest.param(0, {"matchExpressions": [{"key": "app", "operator": "Exists"}]},
                 id="exists-at-zero"),
])
def test_a_cached_read_equals_the_get_and_costs_no_request(
        world: tuple[FakeApiServer, ScaleClient, TargetCache], replicas: int,
        selector: dict[str, Any]) -> None:
    api, scale, targets = world
    api.create(_deployment("web", replicas, selector))
    _warm(scale, targets, "web")
    api.clear_requests()
    cached = scale.get("ns", _ref("web"))
    assert api.count("GET", "/scale") == 0
    fetched = scale.fetch("ns", _ref("web"))
    assert (cached.observation, cached.resource_version) == (fetched.observation,
                                                              fetched.resource_version)


def test_our_write_is_never_read_back_stale(
        world: tuple[FakeApiServer, ScaleClient, TargetCache]) -> None:
    api, scale, targets = world
    api.create(_deployment("web", 2, {"matchLabels": {"app": "web"}}))
    _warm(scale, targets, "web")
    for replicas in (3, 4, 5, 6):
        read = scale.get("ns", _ref("web"))
        scale.update("ns", _ref("web"), read, replicas)
        # Right after the write, before or after its watch event: never the old size.
        assert scale.get("ns", _ref("web")).observation.spec_replicas == replicas


def test_the_written_version_guard() -> None:
    """The cache still at the version our write replaced -> GET (None); a newer one -> used."""
    targets = TargetCache.__new__(TargetCache)
    TargetCache.__init__(targets, api_client=_NoClient())  # type: ignore[arg-type]
    view = (ScaleObservation(2, 2, "app=web"), "41")

    class Live:
        live = True
        last_error = None

        def __init__(self, found: tuple[ScaleObservation, str]) -> None:
            self.found = found

        def get(self, namespace: str, name: str) -> tuple[ScaleObservation, str]:
            return self.found

    targets._cache = lambda ref, namespace, discover: Live(view)  # type: ignore[assignment,method-assign,return-value]
    targets._caches[("apps/v1", "Deployment", "")] = Live(view)  # type: ignore[assignment]
    targets.wrote("ns", _ref("web"), "41")
    assert targets.read("ns", _ref("web")) is None
    newer = (ScaleObservation(4, 2, "app=web"), "42")
    targets._cache = lambda ref, namespace, discover: Live(newer)  # type: ignore[assignment,method-assign,return-value]
    assert targets.read("ns", _ref("web")) == newer


class _NoClient:
    """Enough of an ApiClient for AppsV1Api's constructor."""

    configuration = None


def test_a_conflict_re_reads_with_a_get(
        world: tuple[FakeApiServer, ScaleClient, TargetCache]) -> None:
    api, scale, targets = world
    api.create(_deployment("web", 2, {"matchLabels": {"app": "web"}}))
    _warm(scale, targets, "web")
    read = scale.get("ns", _ref("web"))
    api.conflict_next_write(r"/scale$")
    api.clear_requests()
    written = scale.update("ns", _ref("web"), read, 5)
    assert written.observation.spec_replicas == 5
    assert api.count("GET", "/scale") == 1  # the re-read after the 409, never the cache


def test_a_kind_the_api_refuses_to_list_keeps_the_get(
        world: tuple[FakeApiServer, ScaleClient, TargetCache]) -> None:
    api, scale, targets = world
    api.create(_deployment("web", 2, {"matchLabels": {"app": "web"}}))
    api.fail("GET", r"/apis/apps/v1/deployments", status=403, times=None)
    for _ in range(3):
        assert scale.get("ns", _ref("web")).observation.spec_replicas == 2
    _until(lambda: ("apps/v1", "Deployment", "") in targets._refused or not _probe(scale, targets))
    assert scale.get("ns", _ref("web")).observation.spec_replicas == 2


def _probe(scale: ScaleClient, targets: TargetCache) -> bool:
    scale.get("ns", _ref("web"))
    return ("apps/v1", "Deployment", "") not in targets._refused


def test_core_kinds_are_not_watched(
        world: tuple[FakeApiServer, ScaleClient, TargetCache]) -> None:
    """A ReplicationController (core v1) keeps the GET; custom resources: test_custom_targets."""
    api, _, targets = world
    ref = CrossVersionObjectReference(kind="ReplicationController", name="x", api_version="v1")
    api.clear_requests()
    assert targets.read("ns", ref) is None and targets._caches == {}
    assert api.requests == []


def test_the_daemon_scales_through_watched_targets_without_scale_gets(tmp_path: Path) -> None:
    """The default `--scale-reads watch`, end to end: a 2 -> 4 scale-up written with the
    Scale read from the watch, then steady passes that GET no Scale at all."""
    from daemon_harness import (  # noqa: PLC0415 - the e2e harness of the daemon tests
        SCALE_PATH,
        T0,
        DaemonProcess,
        autoscaler_cr,
        play_deployment_controller,
        replicas,
        seed_cluster,
        set_replicas,
    )

    with FakeApiServer() as api:
        seed_cluster(api)
        set_replicas(api, 2)
        autoscaler_cr(api)
        daemon = DaemonProcess(api, tmp_path)
        try:
            play_deployment_controller(api, 3.0, T0)
            daemon.start(T0)
            now = T0
            for _ in range(4):
                now += 17.0
                play_deployment_controller(api, 3.0, now)
                steady = daemon.step(now)
            assert replicas(api) > 2  # it scaled up
            assert not [r for r in steady if r.method == "GET" and r.path == SCALE_PATH]
        finally:
            daemon.stop()
