"""Kubernetes adapters against the fake API server, through the official client: the scale
of a custom resource (dynamic client), history Leases for file/Sedna autoscalers, and the
watch cache surviving an expired watch history."""

from __future__ import annotations

import time

from algorithms.history import ScaleEvent, TimestampedRecommendation
from algorithms.spec import CrossVersionObjectReference
from algorithms.state import ControllerState, PendingScale, RescaleEffects
from algorithms.status import Condition, HPAStatus
from autoscaler.control.stores import LeaseStateStore
from autoscaler.kube.client import Connection
from autoscaler.kube.lease_store import LeaseAnnotationStore
from autoscaler.kube.pods import PodCache
from autoscaler.kube.scale import ScaleClient
from autoscaler.specs.sources import from_hpa_document
from autoscaler.testing import FakeApiServer


def test_scale_of_a_custom_resource(api: FakeApiServer, connection: Connection) -> None:
    api.register_kind("serving.example.io", "v1", "InferencePool", "inferencepools")
    api.create({"apiVersion": "serving.example.io/v1", "kind": "InferencePool",
                "metadata": {"name": "qwen", "namespace": "default"},
                "spec": {"replicas": 3}, "status": {"replicas": 3, "selector": "pool=qwen"}})
    scale = ScaleClient(connection.api_client)
    ref = CrossVersionObjectReference("InferencePool", "qwen", "serving.example.io/v1")
    read = scale.get("default", ref)
    assert (read.observation.spec_replicas, read.observation.selector) == (3, "pool=qwen")
    scale.update("default", ref, read, 5)
    obj = api.get("serving.example.io/v1", "InferencePool", "default", "qwen")
    assert obj["spec"]["replicas"] == 5


def test_state_lease_round_trip(api: FakeApiServer, connection: Connection) -> None:
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "edge-autoscaler"}})
    store = LeaseStateStore(LeaseAnnotationStore(connection.api_client, "edge-autoscaler"))
    managed = from_hpa_document({"metadata": {"name": "hpa"}, "spec": {
        "scaleTargetRef": {"kind": "Deployment", "name": "web"}, "maxReplicas": 4}}, "f.yaml")
    assert store.load(managed) is None
    state = ControllerState(
        (TimestampedRecommendation(4, 1_800_000_000.5),), (ScaleEvent(2, 1_800_000_000.0),),
        (ScaleEvent(1, 1_799_999_990.0, True),),
        HPAStatus(2, 4, 3, 1_800_000_000.0, (), (
            Condition("ScaledToZero", "True", "ScaledToZero", "scaled", 1_799_999_000.25),)),
        observed_at=1_800_000_000.5,
        pending_scale=PendingScale(2, 4, 1_800_000_000.5, RescaleEffects(15, False)))
    store.save(managed, state, {})
    store.save(managed, state, {})  # the second save updates the same Lease
    assert store.load(managed) == state
    assert len(api.list("coordination.k8s.io/v1", "Lease", "edge-autoscaler")) == 1


def test_pod_cache_relists_after_the_watch_history_expires(api: FakeApiServer,
                                                           connection: Connection) -> None:
    cache = PodCache(connection.api_client, ("default",))
    cache.start()
    try:
        assert cache.wait_synced(10)
        api.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p1", "namespace": "default", "labels": {"a": "b"}}})
        assert _eventually(lambda: [p.name for p in cache.pods("default")] == ["p1"])
        api.expire_watch_history()
        api.stop()  # the watch breaks; it must come back and relist
        api.create({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "p2", "namespace": "default"}})
        api.start()
        assert _eventually(lambda: sorted(p.name for p in cache.pods("default"))
                           == ["p1", "p2"], seconds=15)
    finally:
        cache.stop()


def _eventually(check: object, seconds: float = 5.0) -> bool:
    """A bounded wait for a watch thread (real sockets), polling; never a fixed sleep."""
    assert callable(check)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return bool(check())
