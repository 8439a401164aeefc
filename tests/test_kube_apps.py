"""apps/v1 calls without the generated AppsV1Api class (autoscaler.kube.core.AppsApi, ~10 MB
of RSS less), against the fake API server: the same requests and answers as the generated
methods, a 409 on a stale Scale PUT as the official client's error, and list/watch."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from autoscaler.kube.client import Connection
from autoscaler.kube.core import APPS_PLURALS, AppsApi
from autoscaler.testing import FakeApiServer

GENERATED = {"Deployment": "deployment", "StatefulSet": "stateful_set",
             "ReplicaSet": "replica_set"}


def workload(api: FakeApiServer, kind: str, name: str, namespace: str = "default") -> None:
    spec: dict[str, Any] = {"replicas": 2, "selector": {"matchLabels": {"app": name}}}
    if kind == "StatefulSet":
        spec["serviceName"] = name
    api.create({"apiVersion": "apps/v1", "kind": kind,
                "metadata": {"name": name, "namespace": namespace}, "spec": spec,
                "status": {"replicas": 2}})


@pytest.mark.parametrize("kind", [pytest.param(k, id=k) for k in APPS_PLURALS])
def test_scale_reads_and_writes_as_the_generated_methods(api: FakeApiServer,
                                                         connection: Connection,
                                                         kind: str) -> None:
    workload(api, kind, "web")
    apps = AppsApi(connection.api_client)
    generated: Any = client.AppsV1Api(connection.api_client)
    read = getattr(generated, f"read_namespaced_{GENERATED[kind]}_scale")
    theirs = json.loads(read("web", "default", _preload_content=False).data)
    ours = apps.read_scale(kind, "default", "web", 5.0)
    assert ours == theirs and ours["spec"]["replicas"] == 2
    body = {"apiVersion": "autoscaling/v1", "kind": "Scale",
            "metadata": {"name": "web", "namespace": "default",
                         "resourceVersion": ours["metadata"]["resourceVersion"]},
            "spec": {"replicas": 3}}
    written = apps.replace_scale(kind, "default", "web", body, 5.0)
    assert written["spec"]["replicas"] == 3
    assert api.get("apps/v1", kind, "default", "web")["spec"]["replicas"] == 3
    scale = [r for r in api.requests if r.path.endswith("/scale")]
    assert {(r.method, r.path) for r in scale} == {
        ("GET", f"/apis/apps/v1/namespaces/default/{APPS_PLURALS[kind]}/web/scale"),
        ("PUT", f"/apis/apps/v1/namespaces/default/{APPS_PLURALS[kind]}/web/scale")}
    with pytest.raises(ApiException) as stale:  # the same resourceVersion again
        apps.replace_scale(kind, "default", "web", body, 5.0)
    assert stale.value.status == 409


@pytest.mark.parametrize("namespaced", [pytest.param(True, id="namespaced"),
                                        pytest.param(False, id="all-namespaces")])
def test_lists_answer_what_the_generated_methods_answer(api: FakeApiServer,
                                                        connection: Connection,
                                                        namespaced: bool) -> None:
    workload(api, "Deployment", "a")
    workload(api, "Deployment", "b", "other")
    apps = AppsApi(connection.api_client)
    generated: Any = client.AppsV1Api(connection.api_client)
    if namespaced:
        ours = apps.lister("Deployment", True)("default", _preload_content=False)
        theirs = generated.list_namespaced_deployment("default", _preload_content=False)
    else:
        ours = apps.lister("Deployment", False)(_preload_content=False)
        theirs = generated.list_deployment_for_all_namespaces(_preload_content=False)
    assert json.loads(ours.data)["items"] == json.loads(theirs.data)["items"]
    assert len(json.loads(ours.data)["items"]) == (1 if namespaced else 2)
