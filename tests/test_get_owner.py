"""`autoscaler get` shows which replica owns each autoscaler (issue 13): one LIST of the
shard Leases in the state namespace, `shard` and `owner` in -o wide/json/yaml, an OWNER
column in the default table only when shard Leases exist, `?` and one warning when the
Leases cannot be read. Through the real console script against the in-repo fake API
server; the watch loop in process, with the Lease reads as data.

`get` reads the wall clock, so the Leases are written relative to it: renewTime = now for a
live holder, now - 3600 for an expired one (duration 15 s: expired by an hour either way).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from autoscaler.daemon.table import GetOptions, Owners, show
from autoscaler.ownership.shards import (
    KIND_LABEL,
    SHARD_COUNT,
    member_lease_name,
    shard_lease_name,
    shard_of,
)
from autoscaler.specs.model import ManagedSpec
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing import FakeApiServer, write_kubeconfig

SCRIPT = shutil.which("autoscaler", path=str(Path(sys.executable).parent))
NS = "apps"
STATE_NS = "eas-state"
LEASES = f"/apis/coordination.k8s.io/v1/namespaces/{STATE_NS}/leases"
BROKEN_HPA = """\
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: broken, namespace: default}
spec:
  maxReplicas: 0
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: nowhere}
"""
BROKEN_KEY = "file:default/broken"  # an invalid spec's shard goes by its autoscaler key
ROLES = ("held", "expired", "free", "unleased")  # what each autoscaler's shard Lease is


def _names() -> dict[str, str]:
    """An autoscaler name per role, each in its own shard (and none in the broken spec's)."""
    taken = {shard_of(BROKEN_KEY)}
    names: dict[str, str] = {}
    for index in range(1000):
        name = f"app-{index}"
        shard = shard_of(f"{NS}/Deployment/{name}")
        if shard not in taken:
            taken.add(shard)
            names[ROLES[len(names)]] = name
            if len(names) == len(ROLES):
                return names
    raise AssertionError("no distinct shards")


NAMES = _names()
SHARDS = {role: shard_of(f"{NS}/Deployment/{name}") for role, name in NAMES.items()}


def micro(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def lease(name: str, holder: str | None, renewed: float, kind: str = "shard",
          namespace: str = STATE_NS) -> dict[str, Any]:
    spec: dict[str, Any] = {"acquireTime": micro(renewed - 60), "renewTime": micro(renewed),
                            "leaseDurationSeconds": 15, "leaseTransitions": 1}
    if holder is not None:
        spec["holderIdentity"] = holder
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
            "metadata": {"name": name, "namespace": namespace, "labels": {KIND_LABEL: kind}},
            "spec": spec}


def shard_leases(api: FakeApiServer, namespace: str = STATE_NS) -> None:
    """held: live, replica-a; expired: replica-b an hour ago; free: released (no holder);
    unleased: no Lease. Plus a live member Lease (not a shard: ignored)."""
    now = time.time()
    api.create(lease(shard_lease_name(SHARDS["held"]), "replica-a", now, namespace=namespace))
    api.create(lease(shard_lease_name(SHARDS["expired"]), "replica-b", now - 3600,
                     namespace=namespace))
    api.create(lease(shard_lease_name(SHARDS["free"]), None, now, namespace=namespace))
    api.create(lease(member_lease_name("replica-a"), "replica-a", now, kind="member",
                     namespace=namespace))


def get(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    assert SCRIPT is not None, "the console script is not installed: pip install -e ."
    environment = {k: v for k, v in os.environ.items() if k != "POD_NAMESPACE"}
    return subprocess.run([SCRIPT, "get", *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**environment, **(env or {})})


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        server.register_kind("edgeautoscaler.io", "v1alpha1", "ElasticAutoscaler",
                             "elasticautoscalers", subresources=("status",))
        for name in NAMES.values():
            server.create({"apiVersion": "edgeautoscaler.io/v1alpha1",
                           "kind": "ElasticAutoscaler",
                           "metadata": {"name": name, "namespace": NS},
                           "spec": {"scaleTargetRef": {"apiVersion": "apps/v1",
                                                       "kind": "Deployment", "name": name},
                                    "minReplicas": 1, "maxReplicas": 4}})
        yield server


@pytest.fixture
def cluster(api: FakeApiServer, tmp_path: Path) -> list[str]:
    """The connection and source flags of `get` (the autoscalers plus an invalid file spec)."""
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "broken.yaml").write_text(BROKEN_HPA)
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", api.url)
    return ["--kubeconfig", str(kubeconfig), "--spec-dir", str(tmp_path / "specs")]


def rows(out: str) -> tuple[list[str], dict[str, dict[str, str]]]:
    """The header, and each row by NAME as {header: cell}."""
    lines = [[cell.strip() for cell in line.split("   ") if cell.strip()]
             for line in out.splitlines()]
    header, *body = lines
    by_name = {}
    for cells in body:
        by_name[cells[1]] = dict(zip(header[:-1], cells[:len(header) - 1], strict=True)) | {
            "STATUS": "   ".join(cells[len(header) - 1:])}
    return header, by_name


def by_name(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in objects}


# --- sharded daemons: OWNER in the default table, shard and owner everywhere -------------

def test_default_table_has_an_owner_column_when_shard_leases_exist(
        api: FakeApiServer, cluster: list[str]) -> None:
    shard_leases(api)
    api.clear_requests()
    proc = get(*cluster, "--state-namespace", STATE_NS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    header, found = rows(proc.stdout)
    assert header == ["NAMESPACE", "NAME", "SOURCE", "REFERENCE", "TARGETS", "MINPODS",
                      "MAXPODS", "REPLICAS", "OWNER", "STATUS"]
    assert {role: found[NAMES[role]]["OWNER"] for role in ROLES} == {
        "held": "replica-a", "expired": "-", "free": "-", "unleased": "-"}
    assert found["broken"]["OWNER"] == "-" and found["broken"]["STATUS"].startswith("invalid")
    lease_reads = [r for r in api.requests if "/leases" in r.path]
    assert [(r.method, r.path, r.query.get("labelSelector")) for r in lease_reads] == [
        ("GET", LEASES, f"{KIND_LABEL}=shard")]  # one LIST, of the shard Leases only
    assert api.writes() == []


@pytest.mark.parametrize("output", ["json", "yaml"])
def test_json_and_yaml_say_the_shard_and_its_live_owner(
        api: FakeApiServer, cluster: list[str], output: str) -> None:
    shard_leases(api)
    proc = get(*cluster, "--state-namespace", STATE_NS, "-o", output)
    assert proc.returncode == 0, proc.stderr
    objects = by_name(json.loads(proc.stdout) if output == "json"
                      else yaml.safe_load(proc.stdout))
    assert {role: (objects[NAMES[role]]["shard"], objects[NAMES[role]]["owner"])
            for role in ROLES} == {
        "held": (SHARDS["held"], "replica-a"),
        "expired": (SHARDS["expired"], None),  # expired: nobody holds it now
        "free": (SHARDS["free"], None),
        "unleased": (SHARDS["unleased"], None)}
    assert (objects["broken"]["shard"], objects["broken"]["owner"]) == (
        shard_of(BROKEN_KEY), None)


def test_wide_shows_shard_and_owner(api: FakeApiServer, cluster: list[str]) -> None:
    shard_leases(api)
    proc = get(*cluster, "--state-namespace", STATE_NS, "-o", "wide")
    assert proc.returncode == 0, proc.stderr
    header, found = rows(proc.stdout)
    assert header[-3:] == ["SHARD", "OWNER", "STATUS"]
    held = found[NAMES["held"]]
    assert (held["SHARD"], held["OWNER"]) == (str(SHARDS["held"]), "replica-a")
    assert found[NAMES["expired"]]["OWNER"] == "-"


def test_state_namespace_defaults_to_pod_namespace(api: FakeApiServer,
                                                   cluster: list[str]) -> None:
    shard_leases(api)
    proc = get(*cluster, "-o", "json", env={"POD_NAMESPACE": STATE_NS})
    assert proc.returncode == 0, proc.stderr
    assert by_name(json.loads(proc.stdout))[NAMES["held"]]["owner"] == "replica-a"


def test_owner_is_the_holder_of_the_autoscalers_shard_as_the_daemon_computes_it(
        api: FakeApiServer, cluster: list[str]) -> None:
    """Every shard Lease held by its own replica: each autoscaler's owner names its shard."""
    now = time.time()
    for shard in range(SHARD_COUNT):
        api.create(lease(shard_lease_name(shard), f"replica-{shard}", now))
    proc = get(*cluster, "--state-namespace", STATE_NS, "-o", "json")
    assert proc.returncode == 0, proc.stderr
    objects = json.loads(proc.stdout)
    assert len(objects) == len(ROLES) + 1
    assert all(o["owner"] == f"replica-{o['shard']}" for o in objects)


# --- unsharded daemons: the table is unchanged ---------------------------------------------

@pytest.mark.parametrize("where", [
    pytest.param(None, id="no-leases"),
    pytest.param("edge-autoscaler", id="shard-leases-in-another-namespace"),
    pytest.param("member-only", id="only-a-member-lease"),
])
def test_unsharded_default_table_has_no_owner_column(
        api: FakeApiServer, cluster: list[str], where: str | None) -> None:
    if where == "member-only":
        api.create(lease(member_lease_name("x"), "x", time.time(), kind="member"))
    elif where is not None:
        shard_leases(api, namespace=where)
    proc = get(*cluster, "--state-namespace", STATE_NS)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    header, _ = rows(proc.stdout)
    assert header == ["NAMESPACE", "NAME", "SOURCE", "REFERENCE", "TARGETS", "MINPODS",
                      "MAXPODS", "REPLICAS", "STATUS"]
    objects = json.loads(get(*cluster, "--state-namespace", STATE_NS, "-o", "json").stdout)
    assert all(o["shard"] is None and o["owner"] is None for o in objects)


# --- the Leases cannot be read: `?` and one warning, get still succeeds --------------------

@pytest.mark.parametrize("status", [403, 500])
def test_a_failed_lease_list_is_a_question_mark_and_one_warning(
        api: FakeApiServer, cluster: list[str], status: int) -> None:
    shard_leases(api)
    api.fail("GET", r"/leases$", status=status, times=None,
             reason="Forbidden" if status == 403 else "InternalError")
    proc = get(*cluster, "--state-namespace", STATE_NS)
    assert proc.returncode == 0, proc.stderr
    warnings = proc.stderr.splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("warning: cannot read the shard "
                                                         "Leases"), proc.stderr
    assert f"HTTP {status}" in warnings[0] and warnings[0].endswith("(OWNER shows ?)")
    header, found = rows(proc.stdout)
    assert "OWNER" in header
    assert {row["OWNER"] for row in found.values()} == {"?"}
    objects = by_name(json.loads(get(*cluster, "--state-namespace", STATE_NS,
                                     "-o", "json").stdout))
    assert {o["owner"] for o in objects.values()} == {"?"}
    assert objects[NAMES["held"]]["shard"] == SHARDS["held"]


# --- --watch: an owner change is a change line; a failing LIST warns once ------------------

def _managed(name: str) -> ManagedSpec:
    return from_custom_resource({
        "apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                    "name": name}, "maxReplicas": 4}})


class Reads:
    """Scripted Lease reads: one answer per call, then the last."""

    def __init__(self, *answers: Owners) -> None:
        self.answers = list(answers)
        self.calls = 0

    def __call__(self) -> Owners:
        self.calls += 1
        return self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]


def test_watch_prints_a_line_when_the_owner_changes() -> None:
    held = SHARDS["held"]
    reads = Reads(Owners(sharded=True, holders={held: "replica-a"}),
                  Owners(sharded=True, holders={held: "replica-a"}),
                  Owners(sharded=True, holders={}),  # expired: a line
                  Owners(sharded=True, holders={held: "replica-b"}))  # taken over: a line
    out = io.StringIO()
    code = show(lambda: [_managed(NAMES["held"])],
                GetOptions(watch=True, interval_seconds=0, count=2), out, io.StringIO(),
                read_owners=reads)
    assert code == 0
    header, *lines = out.getvalue().splitlines()
    assert header.split()[-2:] == ["OWNER", "STATUS"]
    assert [line.split()[-2] for line in lines] == ["replica-a", "-", "replica-b"]


def test_watch_warns_once_while_the_lease_list_keeps_failing() -> None:
    failed = Owners(error="cannot read the shard Leases: HTTP 403")
    reads = Reads(failed, failed, failed, Owners(sharded=True, holders={}), failed)
    out, err = io.StringIO(), io.StringIO()
    show(lambda: [_managed(NAMES["held"])],
         GetOptions(output="json", watch=True, interval_seconds=0, count=2), out, err,
         read_owners=reads)
    assert [json.loads(line)["owner"] for line in out.getvalue().splitlines()] == [
        "?", None, "?"]
    # said when it starts failing, and again when it fails anew after a success
    assert err.getvalue().count("warning: cannot read the shard Leases: HTTP 403") == 2
