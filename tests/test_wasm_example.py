"""deploy/examples/llamaedge-wasm: the seed's ToDo, LlamaEdge run by a Wasm runtime. Beside
the generic checks of tests/test_deploy_manifests.py (schemas, kustomization, Service): the
pods ask for the RuntimeClass and carry the Wasm annotation crun looks for, keep the seed's
resources (so utilization means the same), land only on nodes the RuntimeClass allows, and
the autoscaler is the seed's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
WASM = ROOT / "deploy" / "examples" / "llamaedge-wasm"
SEED = ROOT / "deploy" / "examples" / "llamaedge"


def _one(path: Path) -> dict[str, Any]:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]
    assert isinstance(doc, dict)
    return doc


def _pod(path: Path) -> dict[str, Any]:
    pod = _one(path)["spec"]["template"]["spec"]
    assert isinstance(pod, dict)
    return pod


def test_pods_use_the_runtime_class() -> None:
    runtime = _one(WASM / "runtimeclass.yaml")
    assert (runtime["apiVersion"], runtime["kind"]) == ("node.k8s.io/v1", "RuntimeClass")
    assert runtime["handler"] == "crun"
    assert _pod(WASM / "deployment.yaml")["runtimeClassName"] == runtime["metadata"]["name"]


def test_the_wasm_annotation_is_on_the_pod_template() -> None:
    """crun runs a container as Wasm when the OCI config carries this annotation (from the pod
    or the image); compat-smart keeps other containers of the pod Linux containers."""
    template = _one(WASM / "deployment.yaml")["spec"]["template"]
    assert template["metadata"]["annotations"] == {"module.wasm.image/variant": "compat-smart"}


@pytest.mark.parametrize("field", [
    pytest.param("resources", id="same-cpu-request-and-limit"),
    pytest.param("ports", id="same-port"),
    pytest.param("name", id="same-container-name"),
])
def test_the_container_keeps_the_seeds(field: str) -> None:
    (wasm,) = _pod(WASM / "deployment.yaml")["containers"]
    (seed,) = _pod(SEED / "deployment.yaml")["containers"]
    assert wasm[field] == seed[field]


@pytest.mark.parametrize("field", ["affinity", "tolerations"])
def test_placement_keeps_the_seeds(field: str) -> None:
    assert _pod(WASM / "deployment.yaml")[field] == _pod(SEED / "deployment.yaml")[field]


def test_the_runtime_class_schedules_onto_runtime_nodes_and_tolerates_the_edge() -> None:
    scheduling = _one(WASM / "runtimeclass.yaml")["scheduling"]
    assert scheduling["nodeSelector"] == {"wasm.edgeautoscaler.io/runtime": "crun-wasmedge"}
    assert scheduling["tolerations"] == _pod(SEED / "deployment.yaml")["tolerations"]


def test_the_entrypoint_is_the_wasm_module_and_the_model_is_preloaded_read_only() -> None:
    pod = _pod(WASM / "deployment.yaml")
    (container,) = pod["containers"]
    assert container["command"][0].endswith(".wasm")
    env = {e["name"]: e["value"] for e in container["env"]}
    backend, engine, device, model = env["WASMEDGE_WASINN_PRELOAD"].split(":")
    assert (backend, engine, device) == ("default", "GGML", "AUTO")
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert model.startswith(mounts["models"]["mountPath"] + "/") and mounts["models"]["readOnly"]
    assert mounts["wasmedge-plugins"]["mountPath"] == env["WASMEDGE_PLUGIN_PATH"]
    assert all(m["readOnly"] for m in mounts.values())
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert set(volumes) == set(mounts)
    assert all(v["hostPath"]["type"] == "Directory" for v in volumes.values())


def test_the_autoscaler_is_the_seeds() -> None:
    assert _one(WASM / "elasticautoscaler.yaml") == _one(SEED / "elasticautoscaler.yaml")


def test_the_readme_explains_cpu_accounting() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text[text.index("### The Wasm runtime variant"):]
    assert "deploy/examples/llamaedge-wasm" in section
    for word in ("cgroup", "runwasi", "edge agent"):
        assert word in section[:4000], word
