"""The core API calls without the generated CoreV1Api class (autoscaler.kube.core), against
the fake API server: the same requests and answers as the generated methods, the official
client's errors, and `run`/`edge` never loading the class (it costs ~21 MB of RSS)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from autoscaler.errors import PermanentError
from autoscaler.kube.client import Connection, connect
from autoscaler.kube.core import CoreApi
from autoscaler.kube.writer import EventRecorder, EventTarget
from autoscaler.testing import FakeApiServer, write_kubeconfig

T0 = 1_800_000_000.0


def _pod(name: str, node: str, namespace: str = "default") -> dict[str, object]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": {"app": "x"}},
            "spec": {"nodeName": node, "containers": [{"name": "c"}]}}


def test_pod_lists_answer_what_the_generated_methods_answer(api: FakeApiServer,
                                                            connection: Connection) -> None:
    api.create(_pod("a", "n1"))
    api.create(_pod("b", "n2"))
    api.create(_pod("c", "n1", "other"))
    core = CoreApi(connection.api_client)
    generated: Any = client.CoreV1Api(connection.api_client)  # raw answers: untyped
    for ours, theirs in [
        (core.list_namespaced_pod("default", _preload_content=False),
         generated.list_namespaced_pod("default", _preload_content=False)),
        (core.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1",
                                          _preload_content=False),
         generated.list_pod_for_all_namespaces(field_selector="spec.nodeName=n1",
                                               _preload_content=False)),
    ]:
        assert json.loads(ours.data)["items"] == json.loads(theirs.data)["items"]
    listed = json.loads(core.list_pod_for_all_namespaces(
        field_selector="spec.nodeName=n1", _preload_content=False).data)
    assert sorted(p["metadata"]["name"] for p in listed["items"]) == ["a", "c"]
    requests = [r for r in api.requests if r.path.endswith("/pods")]
    # 5 requests, 2 shapes: each of ours is the generated method's (path, query, agent)
    assert len(requests) == 5
    assert len({(r.path, tuple(sorted(r.query.items())), r.user_agent)
                for r in requests}) == 2


def test_a_watch_streams_events_from_the_given_version(api: FakeApiServer,
                                                        connection: Connection) -> None:
    core = CoreApi(connection.api_client)
    version = json.loads(core.list_namespaced_pod("default", _preload_content=False).data)[
        "metadata"]["resourceVersion"]
    api.create(_pod("a", "n1"))
    stream = core.list_namespaced_pod("default", watch=True, resource_version=version,
                                      timeout_seconds=1, _preload_content=False)
    try:
        first = json.loads(next(stream.stream()).splitlines()[0])
    finally:
        stream.release_conn()
    assert (first["type"], first["object"]["metadata"]["name"]) == ("ADDED", "a")


def test_events_are_created_then_counted_by_merge_patch(api: FakeApiServer,
                                                        connection: Connection) -> None:
    recorder = EventRecorder(connection.api_client)
    target = EventTarget("crd:default/web", "default", "web", "ElasticAutoscaler",
                         "edgeautoscaler.io/v1alpha1")
    recorder.record(target, "Normal", "SuccessfulRescale", "New size: 2", T0)
    recorder.record(target, "Normal", "SuccessfulRescale", "New size: 2", T0 + 30)
    (event,) = api.list("v1", "Event", "default")
    assert event["metadata"]["name"].startswith("web.")
    assert (event["count"], event["reason"], event["involvedObject"]["name"]) == (
        2, "SuccessfulRescale", "web")
    patches = [r for r in api.requests if r.method == "PATCH"]
    assert [r.content_type for r in patches] == ["application/merge-patch+json"]


def test_errors_are_the_official_clients(api: FakeApiServer, tmp_path: Path) -> None:
    api.fail("POST", r"/events$", status=403, times=None, reason="Forbidden")
    connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)), in_cluster=False)
    target = EventTarget("crd:default/web", "default", "web", "ElasticAutoscaler",
                         "edgeautoscaler.io/v1alpha1")
    with pytest.raises(PermanentError) as caught:
        EventRecorder(connection.api_client).record(target, "Normal", "R", "m", T0)
    assert caught.value.status == 403


def test_the_daemon_and_the_agent_never_load_the_generated_core_class() -> None:
    code = ("import sys; import autoscaler.daemon.app, autoscaler.edge.app, "
            "autoscaler.kube.core, autoscaler.kube.pods, autoscaler.kube.writer; "
            "print('kubernetes.client.api.core_v1_api' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, check=True)
    assert done.stdout.strip() == "False"
