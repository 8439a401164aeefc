# The client's models type every field Optional and its watch, dynamic and config modules are
# untyped; asserting on responses is the point of these tests, so those two checks are off here.
# mypy: disable-error-code="union-attr, no-untyped-call"
"""The fake API server, driven only through the official `kubernetes` client.

Each test talks HTTP to a real `FakeApiServer` on 127.0.0.1 through a kubeconfig written by
`write_kubeconfig`, so what passes here is what the client would see from a real apiserver.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import urllib3
from kubernetes import client, config, dynamic, watch
from kubernetes.client.exceptions import ApiException

from autoscaler.testing import FakeApiServer, write_kubeconfig

JSON = dict[str, Any]
NS = "default"
EA_GROUP, EA_VERSION, EA_PLURAL = "edgeautoscaler.io", "v1alpha1", "elasticautoscalers"


# Objects


def deployment(name: str = "web", replicas: int = 2, selector: JSON | None = None) -> JSON:
    selector = selector or {"matchLabels": {"app": name}}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
            "spec": {"replicas": replicas, "selector": selector,
                     "template": {"metadata": {"labels": {"app": name}},
                                  "spec": {"containers": [{"name": "llm", "image": "llm:1"},
                                                          {"name": "proxy", "image": "p:1"}]}}},
            "status": {"replicas": replicas}}


def pod(name: str, labels: dict[str, str], node: str = "edge-1", namespace: str = NS) -> JSON:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "llm:1"}]},
            "status": {"phase": "Running"}}


def elastic_autoscaler(name: str = "qwen") -> JSON:
    return {"apiVersion": f"{EA_GROUP}/{EA_VERSION}", "kind": "ElasticAutoscaler",
            "metadata": {"name": name},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": "web"}, "maxReplicas": 4}}


# Fixtures


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.register_kind(EA_GROUP, EA_VERSION, "ElasticAutoscaler", EA_PLURAL,
                             subresources=("status",))
        yield server


def connect(api: FakeApiServer, tmp_path: Path, token: str | None = None) -> client.ApiClient:
    path = write_kubeconfig(tmp_path / "kubeconfig", api.url, token=token)
    configuration = client.Configuration()
    config.load_kube_config(config_file=str(path), client_configuration=configuration)
    return client.ApiClient(configuration)


@pytest.fixture
def kube(api: FakeApiServer, tmp_path: Path) -> Iterator[client.ApiClient]:
    with connect(api, tmp_path) as api_client:
        yield api_client


def status_of(error: ApiException) -> JSON:
    return as_json(json.loads(error.body or "{}"))


def as_json(value: object) -> JSON:
    """CustomObjectsApi answers untyped JSON (`object`): the test expects a dict."""
    assert isinstance(value, dict)
    return value


# Scale subresource


def _read(apps: client.AppsV1Api) -> client.V1Scale:
    return apps.read_namespaced_deployment_scale("web", NS)


def _patch(apps: client.AppsV1Api) -> client.V1Scale:
    return apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 5}})


def _replace_fresh(apps: client.AppsV1Api) -> client.V1Scale:
    scale = _read(apps)
    scale.spec.replicas = 4
    return apps.replace_namespaced_deployment_scale("web", NS, scale)


def _replace_stale(apps: client.AppsV1Api) -> client.V1Scale:
    scale = _read(apps)
    _patch(apps)  # someone else scales in between
    scale.spec.replicas = 4
    return apps.replace_namespaced_deployment_scale("web", NS, scale)


@pytest.mark.parametrize(("operation", "replicas", "generation", "code"), [
    pytest.param(_read, 2, 1, None, id="read"),
    pytest.param(_patch, 5, 2, None, id="patch"),
    pytest.param(_replace_fresh, 4, 2, None, id="replace-fresh-resourceVersion"),
    pytest.param(_replace_stale, 5, 2, 409, id="replace-stale-resourceVersion-409"),
])
def test_scale_subresource(api: FakeApiServer, kube: client.ApiClient,
                           operation: Callable[[client.AppsV1Api], client.V1Scale],
                           replicas: int, generation: int, code: int | None) -> None:
    api.create(deployment())
    apps = client.AppsV1Api(kube)
    if code is None:
        scale = operation(apps)
        assert (scale.spec.replicas, scale.status.selector) == (replicas, "app=web")
    else:
        with pytest.raises(ApiException) as info:
            operation(apps)
        assert info.value.status == code
        assert status_of(info.value)["message"] == (
            'Operation cannot be fulfilled on deployments.apps "web": the object has been '
            'modified; please apply your changes to the latest version and try again')
    stored = apps.read_namespaced_deployment("web", NS)
    assert stored.spec.replicas == replicas
    assert stored.metadata.generation == generation


@pytest.mark.parametrize(("selector", "expected"), [
    pytest.param({"matchLabels": {"app": "web", "tier": "edge"}}, "app=web,tier=edge",
                 id="match-labels"),
    pytest.param({"matchLabels": {"app": "web"},
                  "matchExpressions": [{"key": "tier", "operator": "In",
                                        "values": ["edge", "cloud"]},
                                       {"key": "gpu", "operator": "DoesNotExist"},
                                       {"key": "zone", "operator": "NotIn", "values": ["b"]},
                                       {"key": "arch", "operator": "Exists"}]},
                 "app=web,arch,!gpu,tier in (cloud,edge),zone notin (b)",
                 id="match-expressions-sorted-by-key"),
])
def test_scale_status_selector_string(api: FakeApiServer, kube: client.ApiClient,
                                      selector: JSON, expected: str) -> None:
    api.create(deployment(selector=selector))
    assert client.AppsV1Api(kube).read_namespaced_deployment_scale(
        "web", NS).status.selector == expected


# Lists, selectors, patches


@pytest.mark.parametrize(("label_selector", "field_selector", "all_namespaces", "names"), [
    pytest.param("app=web", None, False, ["web-a", "web-b"], id="equality"),
    pytest.param("app in (web,db)", None, False, ["db-a", "web-a", "web-b"], id="set-in"),
    pytest.param("app!=web", None, False, ["db-a"], id="not-equal"),
    pytest.param("app=web,tier notin (cloud)", None, False, ["web-a"], id="and-notin"),
    pytest.param(None, "spec.nodeName=edge-2", False, ["web-b"], id="field-node-name"),
    pytest.param(None, "metadata.name!=web-a", False, ["db-a", "web-b"], id="field-not-name"),
    pytest.param("app=web", None, True, ["web-a", "web-b", "web-x"], id="all-namespaces"),
])
def test_pod_lists(api: FakeApiServer, kube: client.ApiClient, label_selector: str | None,
                   field_selector: str | None, all_namespaces: bool, names: list[str]) -> None:
    api.create(pod("web-a", {"app": "web", "tier": "edge"}))
    api.create(pod("web-b", {"app": "web", "tier": "cloud"}, node="edge-2"))
    api.create(pod("db-a", {"app": "db"}))
    api.create(pod("web-x", {"app": "web"}, namespace="kube-system"))
    core = client.CoreV1Api(kube)
    if all_namespaces:
        listed = core.list_pod_for_all_namespaces(label_selector=label_selector)
    else:
        listed = core.list_namespaced_pod(NS, label_selector=label_selector,
                                          field_selector=field_selector)
    assert sorted(str(p.metadata.name) for p in listed.items) == names
    assert int(str(listed.metadata.resource_version)) >= 4


@pytest.mark.parametrize(("content_type", "patch", "containers", "replicas"), [
    pytest.param("application/strategic-merge-patch+json",
                 {"spec": {"template": {"spec": {"containers": [
                     {"name": "proxy", "image": "p:2"}]}}}},
                 [("llm", "llm:1"), ("proxy", "p:2")], 2, id="strategic-merges-by-name"),
    pytest.param("application/merge-patch+json",
                 {"spec": {"template": {"spec": {"containers": [
                     {"name": "proxy", "image": "p:2"}]}}}},
                 [("proxy", "p:2")], 2, id="merge-replaces-lists"),
    pytest.param("application/json-patch+json",
                 [{"op": "replace", "path": "/spec/replicas", "value": 7},
                  {"op": "remove", "path": "/spec/template/spec/containers/1"}],
                 [("llm", "llm:1")], 7, id="json-patch"),
])
def test_deployment_patches(api: FakeApiServer, kube: client.ApiClient, content_type: str,
                            patch: Any, containers: list[tuple[str, str]],
                            replicas: int) -> None:
    api.create(deployment())
    patched = client.AppsV1Api(kube).patch_namespaced_deployment(
        "web", NS, patch, _content_type=content_type)
    assert [(c.name, c.image) for c in patched.spec.template.spec.containers] == containers
    assert (patched.spec.replicas, patched.metadata.generation) == (replicas, 2)


def test_pod_metrics_follow_pod_labels(api: FakeApiServer, kube: client.ApiClient) -> None:
    for name, app in (("web-a", "web"), ("web-b", "web"), ("db-a", "db")):
        api.create(pod(name, {"app": app}))
        api.set_pod_metrics(NS, name, {"c": {"cpu": "250m", "memory": "64Mi"}})
    api.set_pod_metrics(NS, "web-a", {"c": {"cpu": "900m", "memory": "64Mi"}})  # a newer sample
    listed = as_json(client.CustomObjectsApi(kube).list_namespaced_custom_object(
        "metrics.k8s.io", "v1beta1", NS, "pods", label_selector="app=web"))
    usage = {item["metadata"]["name"]: item["containers"][0]["usage"]["cpu"]
             for item in listed["items"]}
    assert usage == {"web-a": "900m", "web-b": "250m"}
    assert listed["kind"] == "PodMetricsList"
    assert listed["items"][0]["window"] == "30s"


# Custom resources and events


def _status_patch(custom: client.CustomObjectsApi) -> JSON:
    return as_json(custom.patch_namespaced_custom_object_status(
        EA_GROUP, EA_VERSION, NS, EA_PLURAL, "qwen", {"status": {"desiredReplicas": 3}}))


def _main_patch_ignores_status(custom: client.CustomObjectsApi) -> JSON:
    return as_json(custom.patch_namespaced_custom_object(
        EA_GROUP, EA_VERSION, NS, EA_PLURAL, "qwen",
        {"spec": {"maxReplicas": 6}, "status": {"desiredReplicas": 9}}))


def _stale_replace(custom: client.CustomObjectsApi) -> JSON:
    current = as_json(custom.get_namespaced_custom_object(EA_GROUP, EA_VERSION, NS, EA_PLURAL,
                                                          "qwen"))
    _status_patch(custom)
    return as_json(custom.replace_namespaced_custom_object(EA_GROUP, EA_VERSION, NS, EA_PLURAL,
                                                           "qwen", current))


@pytest.mark.parametrize(("operation", "max_replicas", "status", "generation", "code"), [
    pytest.param(_status_patch, 4, {"desiredReplicas": 3}, 1, None,
                 id="status-patch-keeps-generation"),
    pytest.param(_main_patch_ignores_status, 6, None, 2, None,
                 id="main-patch-ignores-status"),
    pytest.param(_stale_replace, 4, {"desiredReplicas": 3}, 1, 409, id="stale-replace-409"),
])
def test_custom_resource_and_status(kube: client.ApiClient,
                                    operation: Callable[[client.CustomObjectsApi], JSON],
                                    max_replicas: int, status: JSON | None, generation: int,
                                    code: int | None) -> None:
    custom = client.CustomObjectsApi(kube)
    created = as_json(custom.create_namespaced_custom_object(
        EA_GROUP, EA_VERSION, NS, EA_PLURAL, {**elastic_autoscaler(), "status": {"x": 1}}))
    assert "status" not in created  # the apiserver drops status on create
    if code is None:
        operation(custom)
    else:
        with pytest.raises(ApiException) as info:
            operation(custom)
        assert status_of(info.value)["reason"] == "Conflict"
    stored = as_json(custom.get_namespaced_custom_object(EA_GROUP, EA_VERSION, NS, EA_PLURAL,
                                                         "qwen"))
    assert stored["spec"]["maxReplicas"] == max_replicas
    assert stored.get("status") == status
    assert stored["metadata"]["generation"] == generation


def test_custom_resource_definition_makes_its_kind_routable(kube: client.ApiClient) -> None:
    crd: JSON = {"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
           "metadata": {"name": "jointinferenceservices.sedna.io"},
           "spec": {"group": "sedna.io", "scope": "Namespaced",
                    "names": {"kind": "JointInferenceService",
                              "plural": "jointinferenceservices"},
                    "versions": [{"name": "v1alpha1", "served": True, "storage": True,
                                  "subresources": {"status": {}}}]}}
    client.ApiextensionsV1Api(kube).create_custom_resource_definition(
        client.V1CustomResourceDefinition.model_validate(crd))
    custom = client.CustomObjectsApi(kube)
    custom.create_namespaced_custom_object(
        "sedna.io", "v1alpha1", NS, "jointinferenceservices",
        {"apiVersion": "sedna.io/v1alpha1", "kind": "JointInferenceService",
         "metadata": {"name": "llm"}, "spec": {}})
    listed = as_json(custom.list_namespaced_custom_object("sedna.io", "v1alpha1", NS,
                                                          "jointinferenceservices"))
    assert [i["metadata"]["name"] for i in listed["items"]] == ["llm"]


def test_events_create_and_already_exists(kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    event = client.CoreV1Event(
        metadata=client.V1ObjectMeta(name="web.rescale"), reason="SuccessfulRescale",
        message="New size: 3; reason: cpu resource utilization above target", type="Normal",
        involved_object=client.V1ObjectReference(kind="Deployment", name="web", namespace=NS))
    created = core.create_namespaced_event(NS, event)
    assert created.metadata.uid and created.metadata.resource_version
    with pytest.raises(ApiException) as info:
        core.create_namespaced_event(NS, event)
    assert (info.value.status, status_of(info.value)["reason"]) == (409, "AlreadyExists")
    modern = client.EventsV1Api(kube).create_namespaced_event(NS, client.EventsV1Event(
        metadata=client.V1ObjectMeta(generate_name="web."),
        event_time=datetime(2024, 1, 1, tzinfo=UTC),
        reason="SuccessfulRescale", action="Scale", type="Normal",
        regarding=client.V1ObjectReference(kind="Deployment", name="web", namespace=NS)))
    assert re.fullmatch(r"web\.[a-z0-9]{5}", str(modern.metadata.name))


def test_lease_replace_with_stale_resource_version(kube: client.ApiClient) -> None:
    leases = client.CoordinationV1Api(kube)
    lease = leases.create_namespaced_lease(NS, client.V1Lease(
        metadata=client.V1ObjectMeta(name="autoscaler"),
        spec=client.V1LeaseSpec(holder_identity="a", lease_duration_seconds=15)))
    lease.spec.holder_identity = "b"
    leases.replace_namespaced_lease("autoscaler", NS, lease)
    lease.spec.holder_identity = "c"  # still carries the first resourceVersion
    with pytest.raises(ApiException) as info:
        leases.replace_namespaced_lease("autoscaler", NS, lease)
    assert info.value.status == 409
    assert leases.read_namespaced_lease("autoscaler", NS).spec.holder_identity == "b"


# Watch


def test_watch_replays_then_follows_live_writes(api: FakeApiServer,
                                                kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    start = core.list_namespaced_pod(NS).metadata.resource_version
    api.create(pod("web-a", {"app": "web"}))  # before the watch: replayed from history
    seen: list[tuple[str, str]] = []
    stream = watch.Watch()
    for event in stream.stream(core.list_namespaced_pod, NS, resource_version=start,
                               timeout_seconds=5):
        seen.append((event["type"], event["object"].metadata.name))
        if event["type"] == "ADDED":  # answered live, on the open stream
            core.patch_namespaced_pod("web-a", NS, {"metadata": {"labels": {"v": "2"}}})
        elif event["type"] == "MODIFIED":
            core.delete_namespaced_pod("web-a", NS)
        else:
            stream.stop()
    assert seen == [("ADDED", "web-a"), ("MODIFIED", "web-a"), ("DELETED", "web-a")]
    resumed = watch.Watch().stream(core.list_namespaced_pod, NS, timeout_seconds=5,
                                   resource_version=stream.resource_version)
    api.create(pod("web-b", {"app": "web"}))
    assert next(resumed)["object"].metadata.name == "web-b"
    resumed.close()


@pytest.mark.parametrize(("label_selector", "expected"), [
    pytest.param("tier=edge", ["ADDED", "DELETED"], id="leaving-the-selection-is-deleted"),
    pytest.param("app=web", ["ADDED", "MODIFIED"], id="staying-is-modified"),
])
def test_watch_with_label_selector(api: FakeApiServer, kube: client.ApiClient,
                                   label_selector: str, expected: list[str]) -> None:
    core = client.CoreV1Api(kube)
    start = core.list_namespaced_pod(NS).metadata.resource_version
    api.create(pod("web-a", {"app": "web", "tier": "edge"}))
    api.create(pod("db-a", {"app": "db", "tier": "cloud"}))
    core.patch_namespaced_pod("web-a", NS, {"metadata": {"labels": {"tier": "cloud"}}})
    stream = watch.Watch()
    events = stream.stream(core.list_namespaced_pod, NS, resource_version=start,
                           label_selector=label_selector, timeout_seconds=5)
    assert [next(events)["type"] for _ in expected] == expected
    events.close()


def test_watch_from_expired_resource_version_is_410(api: FakeApiServer,
                                                    kube: client.ApiClient) -> None:
    core = client.CoreV1Api(kube)
    old = api.create(pod("web-a", {"app": "web"}))["metadata"]["resourceVersion"]
    api.create(pod("web-b", {"app": "web"}))
    api.expire_watch_history()
    with pytest.raises(ApiException) as info:
        list(watch.Watch().stream(core.list_namespaced_pod, NS, resource_version=old,
                                  timeout_seconds=5))
    assert info.value.status == 410
    assert "Expired: too old resource version" in info.value.reason


def test_watch_ends_cleanly_when_the_server_stops(api: FakeApiServer,
                                                  kube: client.ApiClient) -> None:
    api.create(pod("web-a", {"app": "web"}))
    seen = []
    # No resourceVersion: the stream starts with a synthetic ADDED per existing pod.
    for event in watch.Watch().stream(client.CoreV1Api(kube).list_namespaced_pod, NS,
                                      timeout_seconds=30):
        seen.append(event["type"])
        api.stop()
    assert seen == ["ADDED"]


# Faults


def _read_pod(kube: client.ApiClient, timeout: float | None = None) -> object:
    return client.CoreV1Api(kube).read_namespaced_pod("web-a", NS, _request_timeout=timeout)


def _patch_pod(kube: client.ApiClient, timeout: float | None = None) -> object:
    return client.CoreV1Api(kube).patch_namespaced_pod(
        "web-a", NS, {"metadata": {"labels": {"v": "2"}}}, _request_timeout=timeout)


def _fail(api: FakeApiServer) -> None:
    api.fail("GET", r"/pods/web-a$", status=500)


def _read_only(api: FakeApiServer) -> None:
    api.read_only(True)


def _conflict(api: FakeApiServer) -> None:
    api.conflict_next_write(r"/pods/web-a$")


def _delay_write(api: FakeApiServer) -> None:
    api.delay("PATCH", r"/pods/web-a$", seconds=1.5)


def _drop_write(api: FakeApiServer) -> None:
    api.drop_connection("PATCH", r"/pods/web-a$")


def _delay_every_read(api: FakeApiServer) -> None:
    api.delay("GET", r"/pods/web-a$", seconds=1.5, times=None)


def _stopped(api: FakeApiServer) -> None:
    api.stop()


@pytest.mark.parametrize(("inject", "request_", "error", "code"), [
    pytest.param(_fail, _read_pod, ApiException, 500, id="5xx"),
    pytest.param(_read_only, _patch_pod, ApiException, 503, id="read-only-write"),
    pytest.param(_conflict, _patch_pod, ApiException, 409, id="conflict-on-fresh-write"),
    pytest.param(_delay_write, _patch_pod, urllib3.exceptions.ReadTimeoutError, None,
                 id="write-timeout"),
    pytest.param(_delay_every_read, _read_pod, urllib3.exceptions.MaxRetryError, None,
                 id="read-timeout-after-urllib3-retries"),
    pytest.param(_drop_write, _patch_pod, urllib3.exceptions.ProtocolError, None,
                 id="dropped-connection"),
    pytest.param(_stopped, _read_pod, urllib3.exceptions.MaxRetryError, None,
                 id="connection-refused"),
])
def test_faults_surface_as_real_client_errors(
        api: FakeApiServer, kube: client.ApiClient, inject: Callable[[FakeApiServer], None],
        request_: Callable[[client.ApiClient, float], object], error: type[Exception],
        code: int | None) -> None:
    api.create(pod("web-a", {"app": "web"}))
    inject(api)
    with pytest.raises(error) as info:
        request_(kube, 0.2)
    if code is not None:
        assert isinstance(info.value, ApiException) and info.value.status == code
    api.clear_faults()
    api.start()  # a no-op unless stopped: recovery on the same port
    request_(kube, 0.2)


def test_idempotent_read_survives_one_dropped_connection(api: FakeApiServer,
                                                         kube: client.ApiClient) -> None:
    api.create(pod("web-a", {"app": "web"}))
    api.drop_connection("GET", r"/pods/web-a$")
    assert _read_pod(kube) is not None  # urllib3 retries GETs once the connection breaks
    assert [r.status for r in api.requests if r.method == "GET"] == [0, 200]


def test_restart_keeps_the_port_and_the_objects(api: FakeApiServer,
                                                kube: client.ApiClient) -> None:
    api.create(pod("web-a", {"app": "web"}))
    url = api.url
    api.stop()
    api.start()
    assert api.url == url
    assert client.CoreV1Api(kube).read_namespaced_pod("web-a", NS).metadata.name == "web-a"


@pytest.mark.parametrize(("token", "code"), [
    pytest.param(None, 401, id="missing-token"),
    pytest.param("wrong", 401, id="wrong-token"),
    pytest.param("s3cret", None, id="right-token"),
])
def test_bearer_token(tmp_path: Path, token: str | None, code: int | None) -> None:
    with FakeApiServer(token="s3cret") as api, connect(api, tmp_path, token) as kube:
        core = client.CoreV1Api(kube)
        if code is None:
            assert core.list_namespace().items
        else:
            with pytest.raises(ApiException) as info:
                core.list_namespace()
            assert status_of(info.value)["reason"] == "Unauthorized"


# The request log


def test_request_log_counts_writes(api: FakeApiServer, kube: client.ApiClient) -> None:
    api.create(deployment())  # seeding is not a request
    apps = client.AppsV1Api(kube)
    apps.read_namespaced_deployment_scale("web", NS)
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})
    apps.patch_namespaced_deployment_scale("web", NS, {"spec": {"replicas": 3}})  # a no-op
    apps.delete_namespaced_deployment("web", NS)
    assert [(r.method, r.status) for r in api.writes()] == [
        ("PATCH", 200), ("PATCH", 200), ("DELETE", 200)]
    assert api.writes()[0].body == {"spec": {"replicas": 3}}
    assert api.count("GET", "/scale") == 1
    assert api.count(path_contains="/deployments/web") == 4


# Discovery and the kubeconfig


@pytest.mark.parametrize(("api_version", "kind", "plural", "subresources"), [
    pytest.param("apps/v1", "Deployment", "deployments", {"scale", "status"}, id="deployment"),
    pytest.param("v1", "Pod", "pods", {"status"}, id="pod"),
    pytest.param("coordination.k8s.io/v1", "Lease", "leases", set(), id="lease"),
    pytest.param(f"{EA_GROUP}/{EA_VERSION}", "ElasticAutoscaler", EA_PLURAL, {"status"},
                 id="custom-resource"),
])
def test_dynamic_client_discovers_resources(api: FakeApiServer, kube: client.ApiClient,
                                            tmp_path: Path, api_version: str, kind: str,
                                            plural: str, subresources: set[str]) -> None:
    dynamic_client = dynamic.DynamicClient(kube, cache_file=str(tmp_path / "discovery.json"))
    resource = dynamic_client.resources.get(api_version=api_version, kind=kind)
    assert resource.name == plural
    assert set(resource.subresources) == subresources
    assert dynamic_client.get(resource, namespace=NS).items == []


def test_dynamic_client_reads_a_scale_subresource(api: FakeApiServer, kube: client.ApiClient,
                                                  tmp_path: Path) -> None:
    api.create(deployment())
    dynamic_client = dynamic.DynamicClient(kube, cache_file=str(tmp_path / "discovery.json"))
    deployments = dynamic_client.resources.get(api_version="apps/v1", kind="Deployment")
    scale = deployments.subresources["scale"].get(name="web", namespace=NS)
    assert (scale.kind, scale.spec.replicas) == ("Scale", 2)
    assert client.VersionApi(kube).get_code().git_version == "v1.30.0-fake"


def test_kubeconfig_works_from_a_subprocess(api: FakeApiServer, tmp_path: Path) -> None:
    api.create(pod("web-a", {"app": "web"}))
    path = write_kubeconfig(tmp_path / "kubeconfig", api.url, namespace=NS)
    script = ("from kubernetes import client, config\n"
              f"config.load_kube_config(config_file={str(path)!r})\n"
              "print(client.CoreV1Api().read_namespaced_pod('web-a', 'default').metadata.uid)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, check=True)
    assert done.stdout.strip() == api.get("v1", "Pod", NS, "web-a")["metadata"]["uid"]


def test_custom_resource_scale_via_dynamic_client(api: FakeApiServer, kube: client.ApiClient,
                                                  tmp_path: Path) -> None:
    api.register_kind("sedna.io", "v1alpha1", "JointInferenceService", "jointinferenceservices")
    api.create({"apiVersion": "sedna.io/v1alpha1", "kind": "JointInferenceService",
                "metadata": {"name": "llm"}, "spec": {"replicas": 2},
                "status": {"replicas": 2, "selector": "app=llm"}})
    dynamic_client = dynamic.DynamicClient(kube, cache_file=str(tmp_path / "discovery.json"))
    scale = dynamic_client.resources.get(api_version="sedna.io/v1alpha1",
                                         kind="JointInferenceService").subresources["scale"]
    read = scale.get(name="llm", namespace=NS)
    assert (read.spec.replicas, read.status.selector) == (2, "app=llm")
    body = {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "llm", "namespace": NS,
                         "resourceVersion": read.metadata.resourceVersion},
            "spec": {"replicas": 3}}
    assert scale.replace(body=body, name="llm", namespace=NS).spec.replicas == 3
    with pytest.raises(ApiException) as info:  # the same, now stale, resourceVersion
        scale.replace(body={**body, "spec": {"replicas": 4}}, name="llm", namespace=NS)
    assert info.value.status == 409
    assert api.get("sedna.io/v1alpha1", "JointInferenceService", NS, "llm")["spec"] == {
        "replicas": 3}
