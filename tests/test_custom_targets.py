"""Custom resources' Scale read from a watch (autoscaler/kube/custom_targets.py through
autoscaler/kube/targets.py) against the in-repo fake API server through the official client.

The fake serves a CRD-defined kind's /scale through the CRD's `subresources.scale` paths the
way the apiextensions-apiserver does (`scaleFromCustomResource`), independently of the code
under test: every row compares the cached read with the fake's own scale GET of the same
object (or, where the apiserver answers an error, checks that the cache says "GET it" and the
GET fails the same way through `ScaleClient.get`). Then: steady reads make no request, our own
write is never read back stale, a 409 re-reads with a GET, and every refusal (list/watch,
CRD read, discovery, no scale subresource) keeps the GET with one warning, once per kind."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from algorithms.observation import ScaleObservation
from algorithms.spec import CrossVersionObjectReference
from autoscaler.errors import AutoscalerError
from autoscaler.kube.client import connect
from autoscaler.kube.custom_targets import RETRY_SECONDS, ScaleMappings
from autoscaler.kube.scale import ScaleClient
from autoscaler.kube.targets import TargetCache
from autoscaler.testing import FakeApiServer, write_kubeconfig

GROUP, VERSION = "serving.example.io", "v1"
API_VERSION = f"{GROUP}/{VERSION}"
NS = "ns"

# kind -> (plural, subresources.scale of its CRD; None: no scale subresource)
KINDS: dict[str, tuple[str, dict[str, str] | None]] = {
    "Model": ("models", {"specReplicasPath": ".spec.replicas",
                         "statusReplicasPath": ".status.replicas",
                         "labelSelectorPath": ".status.selector"}),
    "Pool": ("pools", {"specReplicasPath": ".spec.workers.count",
                       "statusReplicasPath": ".status.workers.ready",
                       "labelSelectorPath": ".status.scale.podSelector"}),
    "Batch": ("batches", {"specReplicasPath": ".spec.parallelism",
                          "statusReplicasPath": ".status.active"}),  # no labelSelectorPath
    "Job": ("jobs", None),
}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _crd(kind: str, scope: str = "Namespaced") -> dict[str, Any]:
    plural, scale = KINDS[kind]
    subresources: dict[str, Any] = {"status": {}}
    if scale is not None:
        subresources["scale"] = scale
    return {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "metadata": {"name": f"{plural}.{GROUP}"},
            "spec": {"group": GROUP, "scope": scope,
                     "names": {"kind": kind, "plural": plural},
                     "versions": [{"name": VERSION, "served": True, "storage": True,
                                   "subresources": subresources}]}}


def _renamed(crd: dict[str, Any], kind: str, plural: str) -> dict[str, Any]:
    """The CRD for another kind with the same scale paths."""
    crd["metadata"]["name"] = f"{plural}.{GROUP}"
    crd["spec"]["names"] = {"kind": kind, "plural": plural}
    return crd


def _cr(kind: str, name: str, spec: dict[str, Any], status: dict[str, Any] | None = None
        ) -> dict[str, Any]:
    obj: dict[str, Any] = {"apiVersion": API_VERSION, "kind": kind,
                           "metadata": {"name": name, "namespace": NS}, "spec": spec}
    if status is not None:
        obj["status"] = status
    return obj


def _ref(kind: str, name: str) -> CrossVersionObjectReference:
    return CrossVersionObjectReference(kind=kind, name=name, api_version=API_VERSION)


World = tuple[FakeApiServer, ScaleClient, TargetCache, Clock]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    with FakeApiServer() as api:
        for kind in KINDS:
            api.create(_crd(kind))
        connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
        clock = Clock()
        targets = TargetCache(connection.api_client, clock=clock)
        try:
            yield api, ScaleClient(connection.api_client, 5.0, targets), targets, clock
        finally:
            targets.stop()


def _until(predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.02)


def _live(targets: TargetCache, kind: str) -> bool:
    cache = targets._caches.get((API_VERSION, kind, ""))
    return cache is not None and cache.live


def _calls(api: FakeApiServer) -> list[str]:
    """The requests logged since the last clear, but the watch streams (a watch opened just
    after its LIST may be logged after a test cleared the log)."""
    return [f"{r.method} {r.path}" for r in api.requests if r.query.get("watch") != "true"]


def _warm(targets: TargetCache, kind: str, name: str) -> None:
    """Resolve the kind and wait until its watch has listed (the objects created before)."""
    targets.read(NS, _ref(kind, name))
    _until(lambda: _live(targets, kind))


ROWS = [
    pytest.param("Model", {"replicas": 3}, {"replicas": 2, "selector": "app=a,tier in (x,y)"},
                 ScaleObservation(3, 2, "app=a,tier in (x,y)"), id="conventional-paths"),
    pytest.param("Pool", {"workers": {"count": 5, "image": "q"}},
                 {"workers": {"ready": 4}, "scale": {"podSelector": "pool=qwen"}},
                 ScaleObservation(5, 4, "pool=qwen"), id="nested-paths"),
    pytest.param("Pool", {"workers": {"count": 2}}, {"scale": {"podSelector": "pool=q"}},
                 ScaleObservation(2, 0, "pool=q"), id="missing-status-value-is-0"),
    pytest.param("Pool", {"workers": {"count": 2}}, None,
                 ScaleObservation(2, 0, ""), id="no-status-at-all"),
    pytest.param("Pool", {"workers": {"count": 2}}, {"workers": None},
                 ScaleObservation(2, 0, ""), id="null-on-the-status-path-is-missing"),
    pytest.param("Model", {"replicas": 1}, {"replicas": 1},
                 ScaleObservation(1, 1, ""), id="missing-selector-value-is-empty"),
    pytest.param("Model", {"replicas": 0}, {"replicas": 0, "selector": ""},
                 ScaleObservation(0, 0, ""), id="zero-and-empty-selector"),
    pytest.param("Batch", {"parallelism": 4}, {"active": 3, "selector": "ignored=yes"},
                 ScaleObservation(4, 3, ""), id="no-label-selector-path"),
    pytest.param("Model", {"replicas": 3}, {"replicas": 2, "selector": "a b ,, c"},
                 ScaleObservation(3, 2, "a b ,, c"), id="selector-string-taken-as-is"),
    pytest.param("Model", {"replicas": 2**32 + 3}, {"replicas": 2},
                 ScaleObservation(3, 2, ""), id="int64-truncated-to-int32"),
    # The apiserver answers an error: the cache says "GET it", the GET gives the error.
    pytest.param("Model", {"other": 1}, {"replicas": 1}, None, id="missing-spec-value"),
    pytest.param("Pool", {"workers": None}, None, None, id="null-on-the-spec-path"),
    pytest.param("Pool", {"workers": 3}, None, None, id="non-object-on-the-spec-path"),
    pytest.param("Model", {"replicas": 3.0}, None, None, id="float-spec-value"),
    pytest.param("Model", {"replicas": "3"}, None, None, id="string-spec-value"),
    pytest.param("Model", {"replicas": None}, None, None, id="null-spec-value"),
    pytest.param("Model", {"replicas": True}, None, None, id="boolean-spec-value"),
    pytest.param("Model", {"replicas": 2}, {"replicas": "2"}, None, id="string-status-value"),
    pytest.param("Pool", {"workers": {"count": 2}}, {"workers": [1]}, None,
                 id="non-object-on-the-status-path"),
    pytest.param("Model", {"replicas": 2}, {"replicas": 2,
                                            "selector": {"matchLabels": {"app": "a"}}},
                 None, id="non-string-selector"),
    pytest.param("Model", {"replicas": -1}, None, None, id="negative-spec-value"),
]


@pytest.mark.parametrize("kind, spec, status, expected", ROWS)
def test_the_cached_scale_is_the_apiservers(
        world: World, kind: str, spec: dict[str, Any], status: dict[str, Any] | None,
        expected: ScaleObservation | None) -> None:
    api, scale, targets, _ = world
    created = api.create(_cr(kind, "x", spec, status))
    _warm(targets, kind, "x")
    cached = targets.read(NS, _ref(kind, "x"))
    if expected is None:
        assert cached is None
        with pytest.raises(AutoscalerError) as fetched:
            scale.fetch(NS, _ref(kind, "x"))
        with pytest.raises(type(fetched.value)):
            scale.get(NS, _ref(kind, "x"))
        return
    fetched_read = scale.fetch(NS, _ref(kind, "x"))
    assert cached == (fetched_read.observation, fetched_read.resource_version)
    assert cached == (expected, created["metadata"]["resourceVersion"])


def test_steady_reads_of_many_targets_make_no_request(world: World) -> None:
    """N custom-resource targets: N scale GETs per pass without the watch, none with it."""
    api, scale, targets, _ = world
    names = [f"m{i}" for i in range(20)]
    for i, name in enumerate(names):
        api.create(_cr("Model", name, {"replicas": i % 5 + 1},
                       {"replicas": i % 5, "selector": f"app={name}"}))
    uncached = ScaleClient(scale.api_client, 5.0)  # as with --scale-reads get
    api.clear_requests()
    for name in names:
        uncached.get(NS, _ref("Model", name))
    assert api.count("GET", "/scale") == len(names)
    _warm(targets, "Model", names[0])
    api.clear_requests()
    for _ in range(3):  # three passes
        reads = [scale.get(NS, _ref("Model", name)) for name in names]
    assert _calls(api) == []
    assert [r.observation.selector for r in reads] == [f"app={name}" for name in names]


def test_discovery_and_the_crd_are_read_once_per_kind(world: World) -> None:
    api, _, targets, _ = world
    for name in ("a", "b"):
        api.create(_cr("Model", name, {"replicas": 1}))
    api.clear_requests()
    for _ in range(3):
        for name in ("a", "b", "missing"):
            targets.read(NS, _ref("Model", name))
    assert _calls(api).count(f"GET /apis/{GROUP}/{VERSION}") == 1
    assert _calls(api).count(f"GET /apis/apiextensions.k8s.io/v1/customresourcedefinitions/"
                             f"models.{GROUP}") == 1


def test_our_write_is_never_read_back_stale(world: World) -> None:
    api, scale, targets, _ = world
    api.create(_cr("Pool", "p", {"workers": {"count": 2}}, {"workers": {"ready": 2}}))
    _warm(targets, "Pool", "p")
    for replicas in (3, 4, 5, 6, 1):
        read = scale.get(NS, _ref("Pool", "p"))
        scale.update(NS, _ref("Pool", "p"), read, replicas)
        # Right after the write, before or after its watch event: never the old size.
        assert scale.get(NS, _ref("Pool", "p")).observation.spec_replicas == replicas
    stored = api.get(API_VERSION, "Pool", NS, "p")
    assert stored["spec"]["workers"]["count"] == 1  # written at the CRD's specReplicasPath


def test_the_written_version_guard_covers_custom_resources(world: World) -> None:
    """The cache still at the version our write replaced -> GET (None); a newer one -> used."""
    api, scale, targets, _ = world
    api.create(_cr("Model", "m", {"replicas": 2}, {"replicas": 2}))
    _warm(targets, "Model", "m")
    cache = targets._caches[(API_VERSION, "Model", "")]
    before = targets.read(NS, _ref("Model", "m"))
    assert before is not None
    cache.stop()  # frozen: our write's event ends its watch instead of reaching it
    scale.update(NS, _ref("Model", "m"), scale.get(NS, _ref("Model", "m")), 4)
    assert cache._thread is not None
    cache._thread.join(10)
    cache._live = True  # ... while the cache still claims to be live
    api.clear_requests()
    assert scale.get(NS, _ref("Model", "m")).observation.spec_replicas == 4
    assert api.count("GET", "/scale") == 1  # the cache was at the replaced version: GET
    cache.apply("MODIFIED", api.get(API_VERSION, "Model", NS, "m"))  # the event, late
    api.clear_requests()
    assert scale.get(NS, _ref("Model", "m")).observation.spec_replicas == 4
    assert _calls(api) == []


def test_a_conflict_re_reads_with_a_get(world: World) -> None:
    api, scale, targets, _ = world
    api.create(_cr("Model", "m", {"replicas": 2}, {"replicas": 2}))
    _warm(targets, "Model", "m")
    read = scale.get(NS, _ref("Model", "m"))
    api.conflict_next_write(r"/scale$")
    api.clear_requests()
    written = scale.update(NS, _ref("Model", "m"), read, 5)
    assert written.observation.spec_replicas == 5
    assert api.count("GET", "/scale") == 1  # the re-read after the 409, never the cache


def _warnings(logs: list[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [entry for entry in logs if entry["log_level"] == "warning"
            and "scale reads use GET" in entry["event"]]


def _reads_keep_working(scale: ScaleClient, kind: str, name: str, replicas: int,
                        times: int = 5) -> None:
    for _ in range(times):
        assert scale.get(NS, _ref(kind, name)).observation.spec_replicas == replicas


def test_a_refused_list_keeps_the_get_with_one_warning(world: World) -> None:
    api, scale, targets, _ = world
    api.create(_cr("Model", "m", {"replicas": 2}, {"replicas": 2}))
    api.fail("GET", rf"^/apis/{GROUP}/{VERSION}/models$", status=403, times=None)
    key = (API_VERSION, "Model", "")

    def refused() -> bool:
        assert scale.get(NS, _ref("Model", "m")).observation.spec_replicas == 2
        return key in targets._refused

    with capture_logs() as logs:
        _until(refused)
        _reads_keep_working(scale, "Model", "m", 2)
    (warning,) = _warnings(logs)
    assert warning["kind"] == "Model" and "list, watch on models" in warning["grant"]
    api.clear_requests()
    _reads_keep_working(scale, "Model", "m", 2, times=3)
    assert _calls(api) == [f"GET /apis/{GROUP}/{VERSION}/namespaces/{NS}/models/m/scale"] * 3


@pytest.mark.parametrize("fail_path, status, times, why", [
    pytest.param(rf"/customresourcedefinitions/models\.{GROUP}$", 403, None,
                 "customresourcedefinitions", id="crd-read-refused"),
    pytest.param(rf"/customresourcedefinitions/models\.{GROUP}$", 404, None, "not a Custom",
                 id="not-a-crd"),
    # Once: the dynamic client of the GET discovers the same document (refused for good,
    # its GET would fail too).
    pytest.param(rf"^/apis/{GROUP}/{VERSION}$", 403, 1, "/apis/", id="discovery-refused"),
])
def test_a_refused_mapping_keeps_the_get_for_good(world: World, fail_path: str, status: int,
                                                  times: int | None, why: str) -> None:
    api, scale, targets, _ = world
    api.create(_cr("Model", "m", {"replicas": 2}, {"replicas": 2}))
    api.fail("GET", fail_path, status=status, times=times)
    with capture_logs() as logs:
        _reads_keep_working(scale, "Model", "m", 2)
    (warning,) = _warnings(logs)
    assert warning["kind"] == "Model" and why in warning["error"]
    api.clear_requests()
    _reads_keep_working(scale, "Model", "m", 2, times=3)
    assert _calls(api) == [f"GET /apis/{GROUP}/{VERSION}/namespaces/{NS}/models/m/scale"] * 3
    assert targets._caches == {}


@pytest.mark.parametrize("kind, scope, why", [
    pytest.param("Job", "Namespaced", "no scale subresource", id="no-scale-subresource"),
    pytest.param("Cluster", "Cluster", "cluster-scoped", id="cluster-scoped"),
])
def test_a_kind_that_cannot_be_mirrored_keeps_the_get(world: World, kind: str, scope: str,
                                                      why: str) -> None:
    api, _, targets, _ = world
    if kind == "Cluster":
        api.create(_renamed(_crd("Model", scope), "Cluster", "clusters"))
    with capture_logs() as logs:
        for _ in range(3):
            assert targets.read(NS, _ref(kind, "x")) is None
    (warning,) = _warnings(logs)
    assert why in warning["error"]
    assert targets.mappings.refused(API_VERSION, kind) and targets._caches == {}


class _Answer:
    def __init__(self, document: Any) -> None:
        self.data = json.dumps(document).encode()


class _StubCustomObjects:
    """Discovery and CRD documents as given, for malformed ones the fake would not store."""

    def __init__(self, crd: Any) -> None:
        self.crd = crd

    def get_api_resources(self, group: str, version: str, **_: Any) -> _Answer:
        return _Answer({"resources": [
            {"name": "models", "kind": "Model", "namespaced": True},
            {"name": "models/scale", "kind": "Scale", "namespaced": True}]})

    def get_cluster_custom_object(self, *args: str, **_: Any) -> _Answer:
        return _Answer(self.crd)


@pytest.mark.parametrize("crd", [
    pytest.param({"spec": {"versions": [{"name": VERSION, "subresources": ["scale"]}]}},
                 id="subresources-not-an-object"),
    pytest.param({"spec": {"versions": [{"name": VERSION, "subresources": {"scale": {}}}]}},
                 id="no-spec-replicas-path"),
    pytest.param({"spec": {"versions": [{"name": "v2"}]}}, id="no-such-version"),
    pytest.param([], id="not-an-object"),
])
def test_a_malformed_crd_keeps_the_get(crd: Any) -> None:
    mappings = ScaleMappings(_StubCustomObjects(crd), 1.0)  # type: ignore[arg-type]
    with capture_logs() as logs:
        assert mappings.resolve(API_VERSION, "Model") is None
        assert mappings.resolve(API_VERSION, "Model") is None
    assert mappings.refused(API_VERSION, "Model") and len(_warnings(logs)) == 1


def test_a_transient_failure_is_retried_later_and_bounded(world: World) -> None:
    api, scale, targets, clock = world
    api.create(_cr("Model", "m", {"replicas": 2}, {"replicas": 2}))
    api.fail("GET", r"/customresourcedefinitions/", status=503, times=1)
    assert targets.read(NS, _ref("Model", "m")) is None  # failed: GET meanwhile
    api.clear_requests()
    _reads_keep_working(scale, "Model", "m", 2, times=2)
    assert api.count("GET", "/customresourcedefinitions/") == 0  # not before the retry time
    clock.now += RETRY_SECONDS[0]
    _warm(targets, "Model", "m")
    assert targets.read(NS, _ref("Model", "m")) is not None
    # A group that never appears: retried len(RETRY_SECONDS) more times, then given up.
    ref = CrossVersionObjectReference("Thing", "t", "absent.example.io/v1")
    api.clear_requests()
    with capture_logs() as logs:
        for delay in (0.0, *RETRY_SECONDS, 10_000.0, 10_000.0):
            clock.now += delay
            assert targets.read(NS, ref) is None
    assert api.count("GET", "/apis/absent.example.io/v1") == len(RETRY_SECONDS) + 1
    assert len(_warnings(logs)) == 1


def test_a_kind_listed_later_than_the_daemon_started(world: World) -> None:
    """Discovery does not show the kind yet (its CRD is installed later): retried."""
    api, _, targets, clock = world
    ref = _ref("Late", "l")
    assert targets.read(NS, ref) is None
    api.create(_renamed(_crd("Model"), "Late", "lates"))
    api.create(_cr("Late", "l", {"replicas": 7}, {"replicas": 7}))
    clock.now += RETRY_SECONDS[0]
    _warm(targets, "Late", "l")
    assert targets.read(NS, ref) == (ScaleObservation(7, 7, ""),
                                     api.get(API_VERSION, "Late", NS, "l")["metadata"][
                                         "resourceVersion"])


def test_selector_never_reads_the_api(world: World) -> None:
    api, _, targets, _ = world
    api.create(_cr("Model", "m", {"replicas": 2}, {"replicas": 2, "selector": "app=m"}))
    api.clear_requests()
    assert targets.selector(NS, _ref("Model", "m")) is None  # not resolved: no discovery
    assert api.requests == []
    _warm(targets, "Model", "m")
    assert targets.selector(NS, _ref("Model", "m")) == "app=m"


def test_namespaced_watches(tmp_path: Path) -> None:
    """With --namespace, one watch per namespace; other namespaces keep the GET."""
    with FakeApiServer() as api:
        api.create(_crd("Model"))
        api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
        api.create(_cr("Model", "m", {"replicas": 3}, {"replicas": 1}))
        connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
        targets = TargetCache(connection.api_client, namespaces=(NS,))
        try:
            targets.read(NS, _ref("Model", "m"))
            _until(lambda: (cache := targets._caches.get((API_VERSION, "Model", NS)))
                   is not None and cache.live)
            assert targets.read(NS, _ref("Model", "m")) is not None
            assert targets.read("other", _ref("Model", "m")) is None
            assert api.count("GET", f"/apis/{GROUP}/{VERSION}/namespaces/{NS}/models") >= 1
        finally:
            targets.stop()


def test_the_daemon_scales_a_custom_resource_without_scale_gets(tmp_path: Path) -> None:
    """End to end (`autoscaler run`, default `--scale-reads watch`): an ElasticAutoscaler on a
    custom resource scales it 2 -> more with the Scale read from the watch; the steady passes
    GET no Scale at all (the first pass did, while the kind's watch was starting)."""
    import daemon_harness as harness  # noqa: PLC0415 - the e2e harness of the daemon tests

    app, app_ns, t0 = harness.APP, harness.NS, harness.T0
    scale_path = f"/apis/{GROUP}/{VERSION}/namespaces/{app_ns}/pools/{app}/scale"

    def play_pool_controller(api: FakeApiServer, now: float) -> int:
        """The pool's pods follow its .spec.workers.count (through the seed Deployment's
        pod helper), its status reports them."""
        pool = api.get(API_VERSION, "Pool", app_ns, app)
        wanted = int(pool["spec"]["workers"]["count"])
        harness.set_replicas(api, wanted)
        harness.play_deployment_controller(api, 3.0, now)
        api.update({**pool, "status": {"workers": {"ready": wanted},
                                       "scale": {"podSelector": f"app={app}"}}})
        return wanted

    with FakeApiServer() as api:
        harness.seed_cluster(api)
        api.create(_crd("Pool"))
        api.create({**_cr("Pool", app, {"workers": {"count": 2}}),
                    "metadata": {"name": app, "namespace": app_ns}})
        harness.autoscaler_cr(api, {"scaleTargetRef": {"apiVersion": API_VERSION,
                                                       "kind": "Pool", "name": app}})
        daemon = harness.DaemonProcess(api, tmp_path)
        try:
            play_pool_controller(api, t0)
            first = daemon.start(t0)
            assert [r for r in first if r.method == "GET" and r.path == scale_path]
            now, sizes, steady = t0, [], []
            for _ in range(4):
                now += 17.0
                sizes.append(play_pool_controller(api, now))
                steady.append(daemon.step(now))
            assert sizes[-1] > 2  # it scaled up
            assert [r for r in api.writes() if r.path == scale_path]
            for requests in steady[1:]:
                assert not [r for r in requests if r.method == "GET" and r.path == scale_path]
        finally:
            daemon.stop()
