"""deploy/edge: the edge agent's DaemonSet, its RBAC and namespace, validated offline.

Like tests/test_deploy_manifests.py: kubernetes-validate (strict) for every document, nothing
skipped, no network. Pinned as tables: placement on edge nodes only, the read-only cgroup
mount, the writable journal matching `--journal`, the container's arguments parsed by the real
CLI, probes, security settings, the RBAC (exact verbs, no metrics.k8s.io, no wildcards) and the
kustomization listing every file.
"""

from __future__ import annotations

import argparse
import socket
from pathlib import Path, PurePosixPath
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import pytest
import yaml
from test_deploy_manifests import (
    K8S_VERSIONS,
    KUSTOMIZATION,
    _no_network,  # noqa: F401  (autouse: the network is closed)
)

from autoscaler.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
EDGE = ROOT / "deploy" / "edge"
BASE = ROOT / "deploy" / "base"
Doc = dict[str, Any]

AGENT_NAMESPACE = "edge-autoscaler-agent"
LEASE_NAMESPACE = "edge-autoscaler"  # the cloud daemon's (deploy/base), where the Leases live
SERVICE_ACCOUNT = {"kind": "ServiceAccount", "name": "edge-autoscaler-agent",
                   "namespace": AGENT_NAMESPACE}
EDGE_TOLERATION = {"key": "node-role.kubernetes.io/edge", "operator": "Exists",
                   "effect": "NoSchedule"}


def _load_all(path: Path) -> list[Doc]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert all(isinstance(d, dict) for d in docs), path
    return docs


def _load(path: Path) -> Doc:
    (doc,) = _load_all(path)
    return doc


def _manifests() -> list[Path]:
    return sorted(p for p in EDGE.glob("*.yaml") if p.name != "kustomization.yaml")


def _documents() -> list[Any]:
    return [pytest.param(doc, id=f"{path.name}:{doc.get('kind')}/{doc['metadata']['name']}")
            for path in _manifests() for doc in _load_all(path)]


def _kinds(kind: str) -> list[Doc]:
    return [doc for path in _manifests() for doc in _load_all(path) if doc["kind"] == kind]


def _daemonset() -> Doc:
    return _load(EDGE / "daemonset.yaml")


def _pod() -> Doc:
    pod = _daemonset()["spec"]["template"]["spec"]
    assert isinstance(pod, dict)
    return pod


def _container(name: str = "agent") -> Doc:
    (container,) = [c for c in _pod()["containers"] if c["name"] == name]
    assert isinstance(container, dict)
    return container


def _init_container() -> Doc:
    (container,) = _pod()["initContainers"]
    assert isinstance(container, dict)
    return container


def _volume(name: str) -> Doc:
    (volume,) = [v for v in _pod()["volumes"] if v["name"] == name]
    assert isinstance(volume, dict)
    return volume


def _mount(container: Doc, name: str) -> Doc:
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == name]
    assert isinstance(mount, dict)
    return mount


def _args() -> list[str]:
    args = _container()["args"]
    assert isinstance(args, list) and all(isinstance(a, str) for a in args)
    return args


def _flag(name: str) -> str:
    args = _args()
    assert args.count(name) == 1, name
    return args[args.index(name) + 1]


def _parsed() -> argparse.Namespace:
    """The container's args through the real parser, with $(VAR) expanded as the kubelet
    would (NODE_NAME from the downward API)."""
    args = [a.replace("$(NODE_NAME)", "edge-node-1") for a in _args()]
    assert args[0] == "edge"
    return build_parser().parse_args(args)


# --- every document against the Kubernetes schemas ----------------------------------------


def test_the_network_is_closed() -> None:
    with pytest.raises(AssertionError, match="network access attempted"):
        socket.create_connection(("example.com", 443), timeout=1)


def test_documents_were_found() -> None:
    kinds = {(doc["apiVersion"], doc["kind"]) for path in _manifests() for doc in _load_all(path)}
    assert kinds == {
        ("v1", "Namespace"), ("v1", "ServiceAccount"), ("apps/v1", "DaemonSet"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    }


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("doc", _documents())
def test_document_validates(doc: Doc, version: str) -> None:
    kubernetes_validate.validate(doc, version, strict=True)


@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_validator_rejects_a_typo(version: str) -> None:
    doc = _daemonset()
    doc["spec"]["template"]["spec"]["hostNetwrok"] = True
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, version, strict=True)


# --- namespaces ---------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "kind", "namespace"), [
    pytest.param("daemonset.yaml", "DaemonSet", AGENT_NAMESPACE, id="daemonset"),
    pytest.param("serviceaccount.yaml", "ServiceAccount", AGENT_NAMESPACE, id="serviceaccount"),
    pytest.param("role-leases.yaml", "Role", LEASE_NAMESPACE, id="role-leases"),
    pytest.param("rolebinding-leases.yaml", "RoleBinding", LEASE_NAMESPACE,
                 id="rolebinding-leases"),
    pytest.param("namespace.yaml", "Namespace", None, id="namespace-is-cluster-scoped"),
    pytest.param("clusterrole.yaml", "ClusterRole", None, id="clusterrole"),
    pytest.param("clusterrolebinding.yaml", "ClusterRoleBinding", None,
                 id="clusterrolebinding"),
    pytest.param("clusterrole-writer.yaml", "ClusterRole", None, id="clusterrole-writer"),
    pytest.param("rolebinding-writer-default.yaml", "RoleBinding", "default",
                 id="rolebinding-writer-default"),
])
def test_document_namespace(path: str, kind: str, namespace: str | None) -> None:
    doc = _load(EDGE / path)
    assert doc["kind"] == kind
    assert doc["metadata"].get("namespace") == namespace


def test_the_lease_namespace_is_the_base_namespace() -> None:
    assert _load(BASE / "namespace.yaml")["metadata"]["name"] == LEASE_NAMESPACE
    assert _load(EDGE / "namespace.yaml")["metadata"]["name"] == AGENT_NAMESPACE


@pytest.mark.parametrize(("label", "value"), [
    pytest.param("pod-security.kubernetes.io/enforce", "privileged", id="enforce"),
    pytest.param("pod-security.kubernetes.io/warn", "restricted", id="warn"),
    pytest.param("pod-security.kubernetes.io/audit", "restricted", id="audit"),
])
def test_agent_namespace_pod_security(label: str, value: str) -> None:
    """hostNetwork and hostPath are refused by baseline and restricted: the base namespace
    (restricted) could not run the agent, so it has its own."""
    assert _load(EDGE / "namespace.yaml")["metadata"]["labels"][label] == value


def test_base_namespace_would_refuse_the_agent() -> None:
    labels = _load(BASE / "namespace.yaml")["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] in {"baseline", "restricted"}
    assert _daemonset()["metadata"]["namespace"] != LEASE_NAMESPACE


# --- placement ----------------------------------------------------------------------------


def test_daemonset_requires_edge_nodes() -> None:
    affinity = _pod()["affinity"]["nodeAffinity"]
    assert set(affinity) == {"requiredDuringSchedulingIgnoredDuringExecution"}
    (term,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    assert term == {"matchExpressions": [{"key": "node-role.kubernetes.io/edge",
                                          "operator": "Exists"}]}
    assert _pod()["nodeSelector"] == {"kubernetes.io/os": "linux"}


def test_daemonset_tolerates_only_the_edge_taint() -> None:
    assert _pod()["tolerations"] == [EDGE_TOLERATION]


def test_daemonset_toleration_is_the_seeds() -> None:
    seed = _load(ROOT / "deploy" / "examples" / "llamaedge" / "deployment.yaml")
    assert EDGE_TOLERATION in seed["spec"]["template"]["spec"]["tolerations"]


def test_daemonset_never_runs_two_agents_on_a_node() -> None:
    assert _daemonset()["spec"]["updateStrategy"] == {
        "type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}


def test_daemonset_selector_matches_its_pods() -> None:
    spec = _daemonset()["spec"]
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize(("field", "expected"), [
    pytest.param("hostNetwork", True, id="hostNetwork-for-the-metaserver"),
    pytest.param("dnsPolicy", "ClusterFirstWithHostNet", id="dnsPolicy"),
    pytest.param("serviceAccountName", "edge-autoscaler-agent", id="service-account"),
    pytest.param("automountServiceAccountToken", True, id="token-mounted"),
    pytest.param("hostPID", None, id="no-hostPID"),
    pytest.param("hostIPC", None, id="no-hostIPC"),
])
def test_pod_spec(field: str, expected: object) -> None:
    assert _pod().get(field) == expected


def test_host_network_is_explained() -> None:
    text = (EDGE / "daemonset.yaml").read_text(encoding="utf-8")
    assert "REQUIRED" in text and "127.0.0.1:10550" in text


def test_service_account() -> None:
    account = _load(EDGE / "serviceaccount.yaml")
    assert {"kind": "ServiceAccount", **account["metadata"]}.items() >= SERVICE_ACCOUNT.items()
    assert account["automountServiceAccountToken"] is True


# --- the container's arguments ------------------------------------------------------------

EXPECTED_ARGS = ["edge", "--metaserver", "http://127.0.0.1:10550", "--node-name", "$(NODE_NAME)",
                 "--cgroup-root", "/host/sys/fs/cgroup", "--journal",
                 "/var/lib/edge-autoscaler/journal", "--metrics-addr", ":8082",
                 "--lease-namespace", LEASE_NAMESPACE]


def test_container_args() -> None:
    assert _args() == EXPECTED_ARGS


@pytest.mark.parametrize(("attribute", "expected"), [
    pytest.param("metaserver", "http://127.0.0.1:10550", id="metaserver"),
    pytest.param("node_name", "edge-node-1", id="node-name-from-downward-api"),
    pytest.param("cgroup_root", Path("/host/sys/fs/cgroup"), id="cgroup-root"),
    pytest.param("journal", Path("/var/lib/edge-autoscaler/journal"), id="journal"),
    pytest.param("metrics_addr", ":8082", id="metrics-addr"),
    pytest.param("lease_namespace", LEASE_NAMESPACE, id="lease-namespace"),
    pytest.param("identity", "", id="identity-defaults-to-node-name"),
])
def test_container_args_parse(attribute: str, expected: object) -> None:
    assert getattr(_parsed(), attribute) == expected


def test_lease_namespace_does_not_depend_on_the_pod_namespace(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """POD_NAMESPACE would be edge-autoscaler-agent; the explicit flag wins over it."""
    monkeypatch.setenv("POD_NAMESPACE", AGENT_NAMESPACE)
    assert _parsed().lease_namespace == LEASE_NAMESPACE


@pytest.mark.parametrize(("name", "source"), [
    pytest.param("NODE_NAME", {"fieldRef": {"fieldPath": "spec.nodeName"}}, id="NODE_NAME"),
    pytest.param("POD_NAMESPACE", {"fieldRef": {"fieldPath": "metadata.namespace"}},
                 id="POD_NAMESPACE"),
])
def test_downward_api_env(name: str, source: Doc) -> None:
    env = {e["name"]: e for e in _container()["env"]}
    assert env[name] == {"name": name, "valueFrom": source}


def test_node_name_is_defined_for_the_args() -> None:
    names = [e["name"] for e in _container()["env"]]
    assert "NODE_NAME" in names and "$(NODE_NAME)" in _args()


@pytest.mark.parametrize("container", [pytest.param("agent", id="agent"),
                                       pytest.param("journal-owner", id="init")])
def test_image_is_the_daemons(container: str) -> None:
    (daemon,) = _load(BASE / "deployment.yaml")["spec"]["template"]["spec"]["containers"]
    image = _container()["image"] if container == "agent" else _init_container()["image"]
    assert image == daemon["image"]


# --- volumes ------------------------------------------------------------------------------


def test_cgroup_mount_is_read_only() -> None:
    assert _volume("cgroup") == {"name": "cgroup",
                                 "hostPath": {"path": "/sys/fs/cgroup", "type": "Directory"}}
    assert _mount(_container(), "cgroup") == {"name": "cgroup", "mountPath": "/host/sys/fs/cgroup",
                                              "readOnly": True}


def test_cgroup_mount_is_the_cgroup_root_arg() -> None:
    assert _mount(_container(), "cgroup")["mountPath"] == _flag("--cgroup-root")


def test_journal_mount_is_writable() -> None:
    assert _volume("journal") == {"name": "journal", "hostPath": {
        "path": "/var/lib/edge-autoscaler", "type": "DirectoryOrCreate"}}
    mount = _mount(_container(), "journal")
    assert mount.get("readOnly", False) is False
    assert mount["mountPath"] == "/var/lib/edge-autoscaler"


def test_journal_arg_is_inside_the_journal_mount() -> None:
    """The journal file, its lock file and compaction's temp file all live in its directory:
    the directory itself must be the writable mount."""
    journal = PurePosixPath(_flag("--journal"))
    assert str(journal.parent) == _mount(_container(), "journal")["mountPath"]
    assert journal.name == "journal"


def test_no_other_host_paths() -> None:
    host_paths = {v["name"]: v["hostPath"]["path"] for v in _pod()["volumes"] if "hostPath" in v}
    assert host_paths == {"cgroup": "/sys/fs/cgroup", "journal": "/var/lib/edge-autoscaler"}


def test_writable_paths_of_the_agent() -> None:
    writable = {m["mountPath"] for m in _container()["volumeMounts"] if not m.get("readOnly")}
    assert writable == {"/var/lib/edge-autoscaler", "/tmp"}
    assert set(_volume("tmp")) == {"name", "emptyDir"}


def test_journal_owner_chowns_the_journal_directory_only() -> None:
    init = _init_container()
    assert init["name"] == "journal-owner"
    assert init["command"] == ["sh", "-c", "chown 65532:65532 /var/lib/edge-autoscaler && "
                               "chmod 0700 /var/lib/edge-autoscaler"]
    assert "-R" not in init["command"][2]
    assert init["volumeMounts"] == [{"name": "journal", "mountPath": "/var/lib/edge-autoscaler"}]


def test_journal_owner_is_the_agents_user() -> None:
    owner = _init_container()["command"][2].split()[1]
    security = _container()["securityContext"]
    assert owner == f"{security['runAsUser']}:{security['runAsGroup']}"


# --- security -----------------------------------------------------------------------------


@pytest.mark.parametrize(("field", "expected"), [
    pytest.param("runAsNonRoot", True, id="runAsNonRoot"),
    pytest.param("runAsUser", 65532, id="runAsUser"),
    pytest.param("runAsGroup", 65532, id="runAsGroup"),
    pytest.param("readOnlyRootFilesystem", True, id="readOnlyRootFilesystem"),
    pytest.param("allowPrivilegeEscalation", False, id="allowPrivilegeEscalation"),
    pytest.param("privileged", False, id="not-privileged"),
    pytest.param("capabilities", {"drop": ["ALL"]}, id="capabilities"),
    pytest.param("seccompProfile", {"type": "RuntimeDefault"}, id="seccompProfile"),
])
def test_agent_security_context(field: str, expected: object) -> None:
    assert _container()["securityContext"][field] == expected


@pytest.mark.parametrize(("field", "expected"), [
    pytest.param("runAsUser", 0, id="root-to-chown"),
    pytest.param("readOnlyRootFilesystem", True, id="readOnlyRootFilesystem"),
    pytest.param("allowPrivilegeEscalation", False, id="allowPrivilegeEscalation"),
    pytest.param("privileged", False, id="not-privileged"),
    pytest.param("capabilities", {"drop": ["ALL"], "add": ["CHOWN", "FOWNER"]},
                 id="only-chown-and-fowner"),
    pytest.param("seccompProfile", {"type": "RuntimeDefault"}, id="seccompProfile"),
])
def test_init_security_context(field: str, expected: object) -> None:
    assert _init_container()["securityContext"][field] == expected


def test_pod_seccomp() -> None:
    assert _pod()["securityContext"] == {"seccompProfile": {"type": "RuntimeDefault"}}


@pytest.mark.parametrize(("container", "expected"), [
    pytest.param("agent", {"requests": {"cpu": "20m", "memory": "96Mi"},
                           "limits": {"memory": "192Mi"}}, id="agent-no-cpu-limit"),
    pytest.param("journal-owner", {"requests": {"cpu": "10m", "memory": "16Mi"},
                                   "limits": {"memory": "32Mi"}}, id="init"),
])
def test_resources(container: str, expected: Doc) -> None:
    node = _container() if container == "agent" else _init_container()
    assert node["resources"] == expected


# --- probes and port ----------------------------------------------------------------------


@pytest.mark.parametrize(("probe", "path"), [
    pytest.param("livenessProbe", "/healthz", id="liveness"),
    pytest.param("readinessProbe", "/readyz", id="readiness"),
])
def test_probes(probe: str, path: str) -> None:
    get = _container()[probe]["httpGet"]
    assert get["path"] == path
    ports = {p["name"]: p["containerPort"] for p in _container()["ports"]}
    assert ports.get(get["port"], get["port"]) == 8082
    assert get.get("scheme", "HTTP") == "HTTP"
    assert "host" not in get


def test_metrics_port_is_the_metrics_addr() -> None:
    assert _container()["ports"] == [{"name": "metrics", "containerPort": 8082, "protocol": "TCP"}]
    assert _flag("--metrics-addr") == ":8082"


# --- RBAC ---------------------------------------------------------------------------------

# (role, apiGroup, resource) -> verbs, exactly. READ: the cluster-wide read-only ClusterRole;
# WRITER: the ClusterRole bound per application namespace only; LEASES: the Leases Role.
READ, WRITER, LEASES = ("edge-autoscaler-agent", "edge-autoscaler-agent-writer",
                        "edge-autoscaler-agent-leases")
RBAC_TABLE: dict[tuple[str, str, str], set[str]] = {
    (READ, "", "pods"): {"get", "list", "watch"},
    (READ, "edgeautoscaler.io", "elasticautoscalers"): {"get", "list", "watch"},
    (READ, "sedna.io", "jointinferenceservices"): {"get", "list", "watch"},
    (WRITER, "apps", "deployments/scale"): {"get", "update", "patch"},
    (WRITER, "apps", "statefulsets/scale"): {"get", "update", "patch"},
    (WRITER, "apps", "replicasets/scale"): {"get", "update", "patch"},
    (WRITER, "edgeautoscaler.io", "elasticautoscalers/status"): {"get", "update", "patch"},
    (WRITER, "", "events"): {"create", "patch"},
    (LEASES, "coordination.k8s.io", "leases"): {"get", "create", "update", "patch"},
}


def _roles() -> list[Doc]:
    return _kinds("ClusterRole") + _kinds("Role")


def _grants() -> dict[tuple[str, str, str], set[str]]:
    grants: dict[tuple[str, str, str], set[str]] = {}
    for role in _roles():
        for rule in role["rules"]:
            assert set(rule) == {"apiGroups", "resources", "verbs"}, rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.setdefault((role["metadata"]["name"], group, resource),
                                      set()).update(rule["verbs"])
    return grants


@pytest.mark.parametrize(("key", "verbs"), [
    pytest.param(key, verbs, id=f"{key[0]}:{key[1] or 'core'}/{key[2]}")
    for key, verbs in RBAC_TABLE.items()
])
def test_rbac_grants(key: tuple[str, str, str], verbs: set[str]) -> None:
    assert _grants().get(key) == verbs


def test_cluster_wide_rights_are_read_only() -> None:
    """No write is bound cluster-wide: an edge node scales only in opted-in namespaces."""
    bound = {b["roleRef"]["name"] for b in _kinds("ClusterRoleBinding")}
    assert bound == {READ}
    for (role, _, _), verbs in _grants().items():
        if role in bound:
            assert verbs <= {"get", "list", "watch"}, role


def test_the_writer_role_is_bound_per_namespace_only() -> None:
    writers = [b for b in _kinds("RoleBinding") if b["roleRef"]["name"] == WRITER]
    assert writers and all(b["roleRef"]["kind"] == "ClusterRole" for b in writers)
    assert all(b["metadata"].get("namespace") for b in writers)
    assert all(b["subjects"] == [SERVICE_ACCOUNT] for b in writers)


def test_every_example_namespace_is_opted_in() -> None:
    """Each namespace holding an ElasticAutoscaler of deploy/examples has a writer binding."""
    examples = ROOT / "deploy" / "examples"
    used = {d["metadata"].get("namespace", "default") for p in examples.rglob("*.yaml")
            for d in _load_all(p) if d.get("kind") == "ElasticAutoscaler"}
    bound = {b["metadata"]["namespace"] for b in _kinds("RoleBinding")
             if b["roleRef"]["name"] == WRITER}
    assert used and used <= bound


def test_what_rbac_cannot_express_is_said() -> None:
    text = (EDGE / "clusterrole-writer.yaml").read_text(encoding="utf-8")
    assert "What RBAC cannot express" in text and "NodeLocalSpecs" in text


def test_rbac_grants_nothing_else() -> None:
    assert set(_grants()) == set(RBAC_TABLE)


def test_rbac_has_no_metrics_api() -> None:
    """The agent reads pod CPU from cgroups, never from metrics-server."""
    assert not any(group.endswith("metrics.k8s.io") for _, group, _ in _grants())


def test_rbac_has_no_wildcards() -> None:
    for role in _roles():
        for rule in role["rules"]:
            for field in ("apiGroups", "resources", "verbs"):
                assert not any("*" in item for item in rule[field]), (role["kind"], rule)


def test_rbac_never_deletes() -> None:
    for verbs in _grants().values():
        assert not verbs & {"delete", "deletecollection", "escalate", "bind", "impersonate"}


def test_the_roles() -> None:
    assert sorted(r["metadata"]["name"] for r in _kinds("ClusterRole")) == [READ, WRITER]
    assert [r["metadata"]["name"] for r in _kinds("Role")] == [LEASES]


@pytest.mark.parametrize(("kind", "role_kind", "role"), [
    pytest.param("ClusterRoleBinding", "ClusterRole", READ, id="read-cluster-wide"),
    pytest.param("RoleBinding", "Role", LEASES, id="leases"),
])
def test_bindings_bind_the_agent_service_account(kind: str, role_kind: str, role: str) -> None:
    (binding,) = [b for b in _kinds(kind) if b["roleRef"]["name"] == role]
    (target,) = [r for r in _kinds(role_kind) if r["metadata"]["name"] == role]
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io",
                                  "kind": role_kind, "name": role}
    assert binding["subjects"] == [SERVICE_ACCOUNT]
    assert binding["metadata"].get("namespace") == target["metadata"].get("namespace")


def test_names_do_not_collide_with_the_base() -> None:
    """Applying deploy/edge must not overwrite the cloud daemon's objects."""
    def names(paths: list[Path]) -> set[tuple[str, str | None, str]]:
        return {(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"])
                for p in paths for d in _load_all(p)}
    base = [p for p in BASE.glob("*.yaml") if p.name != "kustomization.yaml"]
    assert not names(base) & names(_manifests())


# --- kustomization and README -------------------------------------------------------------


def test_kustomization_lists_every_file() -> None:
    kustomization = _load(EDGE / "kustomization.yaml")
    assert (kustomization["apiVersion"], kustomization["kind"]) == KUSTOMIZATION
    resources = kustomization["resources"]
    assert len(resources) == len(set(resources))
    assert set(resources) == {p.name for p in _manifests()}
    assert resources[0] == "namespace.yaml"


def test_kustomization_does_not_force_one_namespace() -> None:
    """Its documents span two namespaces; a kustomize `namespace:` would move the Leases Role."""
    kustomization = _load(EDGE / "kustomization.yaml")
    assert "namespace" not in kustomization
    assert not any(r.startswith("../") for r in kustomization["resources"])


def test_kustomization_says_to_apply_the_base_first() -> None:
    assert "Apply the base first" in (EDGE / "kustomization.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize("phrase", [
    pytest.param("kubectl apply -k deploy/base", id="base-first"),
    pytest.param("edgeautoscaler.io/preferred-holder", id="handback-annotation"),
    pytest.param("renewDeadline + 2 * maxClockSkew < leaseDuration", id="assumption"),
    pytest.param("autoscaler/ownership/rules.py", id="protocol-reference"),
    pytest.param("fsync'd journal", id="journal"),
    pytest.param("NOT implemented", id="static-pods"),
    pytest.param("duplicates", id="static-pod-risk"),
    pytest.param("hostNetwork: true", id="host-network"),
])
def test_readme_covers(phrase: str) -> None:
    assert phrase in (EDGE / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_file() -> None:
    text = (EDGE / "README.md").read_text(encoding="utf-8")
    for path in [*_manifests(), EDGE / "kustomization.yaml"]:
        assert f"  {path.name}" in text, path.name
