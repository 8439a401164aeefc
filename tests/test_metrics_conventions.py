"""The daemon's /metrics follow Prometheus conventions and answer an HPA user's questions.

End to end: a real `autoscaler run` (subprocess, official client, the in-repo fake API server,
time as data through `--clock-file`, `--writer-leases`) is scraped over HTTP after a scale-up,
during a metrics outage and after one autoscaler's spec is deleted: names, label sets and
values are compared with tables, `promtool check metrics` lints every scrape, and the deleted
autoscaler's series are gone while the other's stay. In process: every operation's failure
counted once under the project's error class, the reason bounding and error classification
as tables, the writer Lease's transitions and failures, series replaced when a spec changes.
"""

from __future__ import annotations

import errno
import json
import shutil
import socket
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import urllib3.exceptions
from daemon_harness import (
    APP,
    METRICS_PATH,
    NS,
    STEP,
    T0,
    DaemonProcess,
    autoscaler_cr,
    play_deployment_controller,
    seed_cluster,
    set_replicas,
)
from kubernetes.client.exceptions import ApiException
from prometheus_client import generate_latest

from algorithms.observation import MetricUnavailable, PodResourceUsage
from algorithms.pods import ContainerInfo, PodInfo
from autoscaler.clock import FakeClock
from autoscaler.control.loop import Loop
from autoscaler.control.metric_labels import (
    CONDITION_REASONS,
    OPERATIONS,
    OTHER,
    bounded_reason,
    error_class,
    metric_failures,
    unavailable_class,
)
from autoscaler.control.metric_sources import fetch
from autoscaler.control.server import DaemonMetrics
from autoscaler.edge.journal_format import JournalError
from autoscaler.errors import (
    AutoscalerError,
    ConflictError,
    InputError,
    PermanentError,
    StandbyError,
    TransientError,
    UsageError,
    classify,
)
from autoscaler.kube.client import connect
from autoscaler.kube.convert import ConversionError
from autoscaler.kube.metrics_api import MetricsApiPass
from autoscaler.ownership.gate import WriterGate
from autoscaler.ownership.lease import LeaseClient
from autoscaler.ownership.rules import Candidate
from autoscaler.prometheus.promql import QueryError
from autoscaler.prometheus.query import PrometheusUnavailableError
from autoscaler.runtime.wiring import step_leases
from autoscaler.specs.model import FILE, ManagedSpec
from autoscaler.specs.sources import from_custom_resource
from autoscaler.testing import FakeApiServer, write_kubeconfig
from autoscaler.testing.fakes import FakeMetrics, FakePods, FakeScale, FakeWorld

TREE = {c.__name__ for c in (AutoscalerError, ConflictError, TransientError, StandbyError,
                             InputError, PermanentError)}
OTHER_APP = "other"
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


# --- scraping --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text: str = answer.read().decode()
        return text


def families(text: str) -> dict[str, str]:
    """Name -> type, from the `# TYPE` lines: what a scrape declares."""
    out = {}
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            out[name] = kind
    return out


def samples(text: str) -> Samples:
    """(sample name, labels) -> value, from the exposition lines (label values here never
    contain `",` or `}`: names, reasons and classes)."""
    out: Samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        head, _, value = line.rpartition(" ")
        name, _, rest = head.partition("{")
        pairs = (p.replace('"', "").partition("=") for p in rest.rstrip("}").split('",') if p)
        labels = frozenset((key, text) for key, _, text in pairs)
        out[(name, labels)] = float(value)
    return out


def series(found: Samples, metric: str, /, **labels: str
           ) -> dict[frozenset[tuple[str, str]], float]:
    """The samples of `metric` whose labels include `labels`."""
    wanted = set(labels.items())
    return {key: value for (sample, key), value in found.items()
            if sample == metric and wanted <= key}


def value(found: Samples, metric: str, /, **labels: str) -> float | None:
    """The sample of `metric` with exactly `labels`, or None."""
    matches = [v for (sample, key), v in found.items()
               if sample == metric and key == frozenset(labels.items())]
    assert len(matches) <= 1
    return matches[0] if matches else None


def lint(text: str) -> None:
    """`promtool check metrics`: suffixes (_total, base units), names, HELP. CI installs
    Debian's prometheus (.ci/run): a missing promtool fails, never skips."""
    promtool = shutil.which("promtool")
    assert promtool is not None, "promtool not found: apt-get install prometheus"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, text=True,
                             capture_output=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def bounded(found: Samples) -> None:
    """Every bounded label takes only its fixed values."""
    for (_, labels), _value in found.items():
        for label, text in labels:
            if label == "reason":
                assert text in CONDITION_REASONS | {OTHER}, text
            elif label == "error_class":
                assert text in TREE, text
            elif label == "operation":
                assert text in OPERATIONS, text


# --- end to end: a real daemon -----------------------------------------------------------------


PER_AUTOSCALER = {"namespace", "name"}
PER_METRIC = PER_AUTOSCALER | {"metric_type", "metric_name", "target_type"}
# Declared by every daemon, with the label names of their samples.
EXPECTED_FAMILIES = {
    "autoscaler_desired_replicas": ("gauge", PER_AUTOSCALER),
    "autoscaler_current_replicas": ("gauge", PER_AUTOSCALER),
    "autoscaler_min_replicas": ("gauge", PER_AUTOSCALER),
    "autoscaler_max_replicas": ("gauge", PER_AUTOSCALER),
    "autoscaler_metric_current_value": ("gauge", PER_METRIC),
    "autoscaler_metric_target_value": ("gauge", PER_METRIC),
    "autoscaler_metric_current_utilization_ratio": ("gauge", PER_METRIC),
    "autoscaler_metric_target_utilization_ratio": ("gauge", PER_METRIC),
    "autoscaler_condition": ("gauge", PER_AUTOSCALER | {"type", "status"}),
    "autoscaler_condition_reason": ("gauge", PER_AUTOSCALER | {"type", "reason"}),
    "autoscaler_rescales_total": ("counter", PER_AUTOSCALER | {"direction", "reason"}),
    "autoscaler_errors_total": ("counter", PER_AUTOSCALER | {"operation", "error_class"}),
    "autoscaler_writer_lease_held": ("gauge", PER_AUTOSCALER),
    "autoscaler_writer_lease_transitions_total": ("counter", PER_AUTOSCALER | {"transition"}),
    "autoscaler_reconcile_duration_seconds": ("histogram", set()),
    "autoscaler_passes_total": ("counter", set()),
    "autoscaler_managed_autoscalers": ("gauge", set()),
    "autoscaler_parked_autoscalers": ("gauge", set()),
    "autoscaler_invalid_specs": ("gauge", set()),
    "autoscaler_build_info": ("gauge", {"version", "python"}),
}


def other_autoscaler(api: FakeApiServer) -> None:
    """A second autoscaler whose target has no pods: it must outlive APP's deletion."""
    api.create({"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": OTHER_APP, "namespace": NS},
                "spec": {"replicas": 1, "selector": {"matchLabels": {"app": OTHER_APP}},
                         "template": {"metadata": {"labels": {"app": OTHER_APP}}}}})
    api.create({"apiVersion": "edgeautoscaler.io/v1alpha1", "kind": "ElasticAutoscaler",
                "metadata": {"name": OTHER_APP, "namespace": NS},
                "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                            "name": OTHER_APP},
                         "minReplicas": 1, "maxReplicas": 3,
                         "metrics": [{"type": "Resource", "resource": {"name": "memory",
                                      "target": {"type": "AverageValue",
                                                 "averageValue": "512Mi"}}}]}})


@pytest.fixture
def api() -> Iterator[FakeApiServer]:
    with FakeApiServer() as server:
        seed_cluster(server)
        yield server


ME = {"namespace": NS, "name": APP}
CPU = {**ME, "metric_type": "Resource", "metric_name": "cpu", "target_type": "Utilization"}


def checked_scrape(port: int) -> tuple[str, Samples]:
    """A scrape, linted by promtool, its bounded labels checked."""
    text = scrape(port)
    lint(text)
    found = samples(text)
    bounded(found)
    return text, found


def after_scale_up(text: str, found: Samples) -> None:
    declared = families(text)
    for name, (kind, labels) in EXPECTED_FAMILIES.items():
        assert declared.get(name) == kind, name
        sample_name = f"{name}_count" if kind == "histogram" else name
        for key in series(found, sample_name):
            assert {label for label, _ in key} == labels, (name, key)
    assert value(found, "autoscaler_desired_replicas", **ME) == 4
    assert value(found, "autoscaler_current_replicas", **ME) == 2
    assert value(found, "autoscaler_min_replicas", **ME) == 1
    assert value(found, "autoscaler_max_replicas", **ME) == 10
    assert value(found, "autoscaler_metric_current_utilization_ratio", **CPU) == 1.0
    assert value(found, "autoscaler_metric_target_utilization_ratio", **CPU) == 0.5
    memory = {"namespace": NS, "name": OTHER_APP, "metric_type": "Resource",
              "metric_name": "memory", "target_type": "AverageValue"}
    assert value(found, "autoscaler_metric_target_value", **memory) == 512 * 2**20
    assert value(found, "autoscaler_metric_current_value", **memory) is None  # no pods
    conditions = {(dict(k)["type"], dict(k)["status"]): v
                  for k, v in series(found, "autoscaler_condition", **ME).items()}
    assert conditions[("AbleToScale", "true")] == 1
    assert conditions[("AbleToScale", "false")] == 0
    assert conditions[("AbleToScale", "unknown")] == 0
    assert conditions[("ScalingActive", "true")] == 1
    assert conditions[("ScalingLimited", "false")] == 1
    assert value(found, "autoscaler_condition_reason", **ME, type="AbleToScale",
                 reason="SucceededRescale") == 1
    assert value(found, "autoscaler_rescales_total", **ME, direction="up",
                 reason="SucceededRescale") == 1
    assert value(found, "autoscaler_writer_lease_held", **ME) == 1
    assert value(found, "autoscaler_writer_lease_transitions_total", **ME,
                 transition="acquired") == 1
    assert series(found, "autoscaler_errors_total") == {}
    assert value(found, "autoscaler_reconcile_duration_seconds_count") == 2
    assert value(found, "autoscaler_managed_autoscalers") == 2
    (build,) = series(found, "autoscaler_build_info")
    assert dict(build)["version"] and dict(build)["python"].count(".") == 2


def during_the_outage(found: Samples) -> None:
    """metrics-server answers 503: ScalingActive=False FailedGetResourceMetric, no current
    value, a TransientError of operation "metrics"; the next pass hands the Lease over."""
    assert value(found, "autoscaler_metric_current_utilization_ratio", **CPU) is None
    assert value(found, "autoscaler_metric_target_utilization_ratio", **CPU) == 0.5
    assert value(found, "autoscaler_condition", **ME, type="ScalingActive",
                 status="false") == 1
    assert value(found, "autoscaler_condition_reason", **ME, type="ScalingActive",
                 reason="FailedGetResourceMetric") == 1
    assert value(found, "autoscaler_condition_reason", **ME, type="ScalingActive",
                 reason="ValidMetricFound") is None  # replaced, not kept at 0
    assert value(found, "autoscaler_errors_total", **ME, operation="metrics",
                 error_class="TransientError") == 2
    assert value(found, "autoscaler_writer_lease_held", **ME) == 0
    assert value(found, "autoscaler_writer_lease_transitions_total", **ME,
                 transition="released") == 1


def test_a_real_daemon_scrape(api: FakeApiServer, tmp_path: Path) -> None:
    set_replicas(api, 2)
    autoscaler_cr(api)  # cpu Utilization 50 %, 1..10
    other_autoscaler(api)
    port = free_port()
    daemon = DaemonProcess(api, tmp_path, "--metrics-addr", f"127.0.0.1:{port}",
                           "--writer-leases", "--identity", "cloud-0")
    try:
        play_deployment_controller(api, 3.0, T0)  # 2 pods at 100 %: 2 -> 4
        daemon.start(T0)
        first, found = checked_scrape(port)
        after_scale_up(first, found)

        api.fail("GET", METRICS_PATH, 503, times=None)
        for k in (1, 2):
            play_deployment_controller(api, 1.5, T0 + STEP * k)
            daemon.step(T0 + STEP * k)
        during_the_outage(checked_scrape(port)[1])
        api.clear_faults()

        # APP's spec deleted: every series naming it goes; the other autoscaler's stay.
        # The deletion reaches the daemon by its watch: passes until it has (a few at most).
        api.delete("edgeautoscaler.io/v1alpha1", "ElasticAutoscaler", NS, APP)
        for k in range(3, 10):
            daemon.step(T0 + STEP * k)
            text, found = checked_scrape(port)
            if value(found, "autoscaler_managed_autoscalers") == 1:
                break
        assert [s for (s, labels) in found if ("name", APP) in labels] == []
        assert series(found, "autoscaler_max_replicas", name=OTHER_APP)
        assert series(found, "autoscaler_condition", name=OTHER_APP)
        assert value(found, "autoscaler_managed_autoscalers") == 1
        # Families stay declared (`_created`: prometheus_client's per-child timestamps).
        assert {n for n in families(text) if not n.endswith("_created")} == \
            {n for n in families(first) if not n.endswith("_created")}
    finally:
        assert daemon.stop() == 0


# --- in process: every operation's failure, counted once ---------------------------------------


def cr(name: str = "web", extra: dict[str, Any] | None = None) -> ManagedSpec:
    return from_custom_resource({"metadata": {"name": name, "namespace": NS}, "spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
        "minReplicas": 1, "maxReplicas": 4,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
            "type": "Utilization", "averageUtilization": 50}}}], **(extra or {})}})


def busy_pods() -> FakePods:
    """One ready pod at 100 % of its request: the autoscaler wants 2."""
    return FakePods({NS: [PodInfo(name="web-0", start_time=T0 - 3600,
                                  ready_transition_time=T0 - 3500, labels={"app": "web"},
                                  containers=(ContainerInfo("c", {"cpu": 1000}),))]})


def busy_metrics() -> FakeMetrics:
    return FakeMetrics({"web-0": PodResourceUsage(T0 - 5, 30.0, {"c": {"cpu": 1000}})})


def errors(metrics: DaemonMetrics) -> dict[tuple[str, str], float]:
    found = samples(generate_latest(metrics.registry).decode())
    return {(dict(k)["operation"], dict(k)["error_class"]): v
            for k, v in series(found, "autoscaler_errors_total").items()}


METRICS_503 = str(classify(ApiException(status=503, reason="Service Unavailable"),
                           f"list metrics.k8s.io pods in {NS}"))

Setup = Callable[[FakeWorld, FakeScale, FakePods, FakeMetrics], None]
Expected = dict[tuple[str, str], float]


def _set(target: object, field: str, error: AutoscalerError) -> Setup:
    def apply(world: FakeWorld, scale: FakeScale, pods: FakePods, metrics: FakeMetrics
              ) -> None:
        owner = {"world": world, "events": world.events, "statuses": world.statuses,
                 "annotations": world.annotations, "scale": scale, "pods": pods}[str(target)]
        setattr(owner, field, error)
    return apply


def _unavailable(world: FakeWorld, scale: FakeScale, pods: FakePods, metrics: FakeMetrics
                 ) -> None:
    metrics.unavailable = METRICS_503


@pytest.mark.parametrize(("setup", "source", "expected"), [
    pytest.param(_set("scale", "fail_get", TransientError("get scale: timed out")), "crd",
                 {("get_scale", "TransientError"): 1}, id="get-scale-timeout"),
    pytest.param(_set("scale", "fail_get", PermanentError("get scale: HTTP 403", 403)), "crd",
                 {("get_scale", "PermanentError"): 1}, id="get-scale-forbidden"),
    pytest.param(_set("scale", "fail_update", ConflictError("update scale: HTTP 409")), "crd",
                 {("update_scale", "ConflictError"): 1}, id="update-scale-conflict"),
    pytest.param(_set("pods", "fail", PermanentError("pods: HTTP 403", 403)), "crd",
                 {("list_pods", "PermanentError"): 1}, id="list-pods-forbidden"),
    pytest.param(_unavailable, "crd", {("metrics", "TransientError"): 1}, id="metrics-503"),
    # Two writes fail: the write-ahead announcement and the save after the scale write.
    pytest.param(_set("statuses", "fail", TransientError("patch status: HTTP 503")), "crd",
                 {("save_state", "TransientError"): 2}, id="status-write-503"),
    pytest.param(_set("annotations", "fail_load", TransientError("lease: HTTP 503")), FILE,
                 {("load_state", "TransientError"): 1}, id="state-load-503"),
    pytest.param(_set("events", "fail", InputError("event: malformed answer: x")), "crd",
                 {("event", "InputError"): 1}, id="event-malformed-answer"),
])
def test_each_failure_is_counted_by_operation_and_class(
        setup: Setup, source: str, expected: Expected) -> None:
    world, scale, pods, metrics = FakeWorld(), FakeScale(1, "app=web"), busy_pods(), \
        busy_metrics()
    setup(world, scale, pods, metrics)
    spec = replace(cr(), source=source)
    loop = Loop(world.reconciler(scale, pods), lambda: [spec], lambda: metrics, FakeClock(T0))
    try:
        loop.run_pass(wait_all=True)
    finally:
        loop.close()
    assert errors(loop.metrics) == expected


def test_a_crashed_reconcile_is_a_permanent_error_never_the_python_class() -> None:
    world = FakeWorld()
    reconciler = world.reconciler(FakeScale(1, "app=web"), busy_pods())

    def crash(*args: object) -> None:
        raise ZeroDivisionError("a bug")

    reconciler.reconcile = crash  # type: ignore[method-assign,assignment]
    spec = cr()
    loop = Loop(reconciler, lambda: [spec], busy_metrics, FakeClock(T0))
    try:
        loop.run_pass(wait_all=True)
    finally:
        loop.close()
    assert errors(loop.metrics) == {("reconcile", "PermanentError"): 1}


def test_metric_series_follow_the_spec_and_the_autoscaler() -> None:
    """A spec change replaces the per-metric series; an invalid spec keeps only what its
    status says (ScalingActive=False InvalidSpec); a spec gone removes everything."""
    clock = FakeClock(T0)
    specs = [cr()]
    loop = Loop(FakeWorld().reconciler(FakeScale(1, "app=web"), busy_pods()), lambda: specs,
                busy_metrics, clock)

    def run() -> Samples:
        clock.advance(20)
        loop.run_pass(wait_all=True)
        return samples(generate_latest(loop.metrics.registry).decode())

    try:
        found = run()
        assert series(found, "autoscaler_metric_target_utilization_ratio", metric_name="cpu")
        specs[0] = cr(extra={"metrics": [{"type": "Resource", "resource": {
            "name": "cpu", "target": {"type": "AverageValue", "averageValue": "500m"}}}]})
        specs[0] = replace(specs[0], generation=2)
        found = run()
        assert series(found, "autoscaler_metric_target_utilization_ratio") == {}
        assert series(found, "autoscaler_metric_current_utilization_ratio") == {}
        assert value(found, "autoscaler_metric_target_value", namespace=NS, name="web",
                     metric_type="Resource", metric_name="cpu",
                     target_type="AverageValue") == 0.5
        assert value(found, "autoscaler_metric_current_value", namespace=NS, name="web",
                     metric_type="Resource", metric_name="cpu",
                     target_type="AverageValue") == 1.0
        specs[0] = cr(extra={"maxReplicas": "many"})
        assert specs[0].spec is None
        found = run()
        assert value(found, "autoscaler_condition_reason", namespace=NS, name="web",
                     type="ScalingActive", reason="InvalidSpec") == 1
        assert series(found, "autoscaler_max_replicas") == {}
        assert series(found, "autoscaler_metric_target_value") == {}
        assert value(found, "autoscaler_invalid_specs") == 1
        specs.clear()
        found = run()
        assert [name for (name, labels) in found if ("name", "web") in labels] == []
    finally:
        loop.close()


# --- the writer Lease -------------------------------------------------------------------------


def test_writer_lease_transitions_and_failures(tmp_path: Path) -> None:
    with FakeApiServer() as api:
        connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)),
                             in_cluster=False)
        gate = WriterGate(lambda name: LeaseClient(connection.api_client, NS, name, 5.0),
                          Candidate("cloud-0", "cloud"))
        world = FakeWorld()
        reconciler = world.reconciler(FakeScale(1, "app=web"), busy_pods())
        metrics = reconciler.telemetry = DaemonMetrics()
        spec = cr()
        found: Samples = {}

        def step(now: float, healthy: bool) -> None:
            nonlocal found
            reconciler.remember(spec.key).healthy = healthy
            step_leases(gate, reconciler, [spec], now)
            found = samples(generate_latest(metrics.registry).decode())

        me = {"namespace": NS, "name": "web"}
        step(T0, True)  # no Lease: created holding it
        assert value(found, "autoscaler_writer_lease_held", **me) == 1
        assert value(found, "autoscaler_writer_lease_transitions_total", **me,
                     transition="acquired") == 1
        step(T0 + 5, True)  # renewed: no transition
        assert value(found, "autoscaler_writer_lease_transitions_total", **me,
                     transition="acquired") == 1
        step(T0 + 10, False)  # no valid metrics: handed back
        assert value(found, "autoscaler_writer_lease_held", **me) == 0
        assert value(found, "autoscaler_writer_lease_transitions_total", **me,
                     transition="released") == 1
        api.fail("GET", r"/leases/", 503)
        step(T0 + 15, True)
        api.fail("GET", r"/leases/", 403)
        step(T0 + 20, True)
        assert errors(metrics) == {("lease", "TransientError"): 1,
                                   ("lease", "PermanentError"): 1}
        assert value(found, "autoscaler_writer_lease_held", **me) == 0


# --- tables: reason bounding and error classification ------------------------------------------


@pytest.mark.parametrize("reason", sorted(CONDITION_REASONS))
def test_condition_reasons_are_kept(reason: str) -> None:
    assert bounded_reason(reason) == reason


@pytest.mark.parametrize("reason", [
    "",
    "cpu resource utilization (percentage of request) above target",  # a rescale's reason
    "All metrics below target",
    "Current number of replicas above Spec.MaxReplicas",
    "SuccessfulRescale",  # an Event reason, not a condition's
    "failedgetscale",
    "FailedGetScale ",
    "FailedGetScale\n",
    "x" * 10_000,
])
def test_anything_else_is_other(reason: str) -> None:
    assert bounded_reason(reason) == OTHER


def test_every_upstream_reason_of_the_conformance_cases_is_known() -> None:
    """The shared conformance cases carry upstream's conditions: none may become Other."""
    seen: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("reason"), str) and "type" in node and "status" in node:
                seen.add(node["reason"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for path in (Path(__file__).parent / "data" / "conformance").glob("*.json"):
        walk(json.loads(path.read_text(encoding="utf-8")))
    assert len(seen) >= 10
    assert seen <= CONDITION_REASONS


@pytest.mark.parametrize(("error", "expected"), [
    pytest.param(ApiException(status=503), "TransientError", id="api-503"),
    pytest.param(ApiException(status=429), "TransientError", id="api-429"),
    pytest.param(ApiException(status=409), "ConflictError", id="api-409"),
    pytest.param(ApiException(status=403), "PermanentError", id="api-403"),
    pytest.param(ApiException(status=404), "PermanentError", id="api-404"),
    pytest.param(ApiException(status=422), "PermanentError", id="api-422"),
    pytest.param(TimeoutError("timed out"), "TransientError", id="socket-timeout"),
    pytest.param(ConnectionRefusedError(errno.ECONNREFUSED, "refused"), "TransientError",
                 id="refused"),
    pytest.param(urllib3.exceptions.ProtocolError("Connection aborted"), "TransientError",
                 id="urllib3-protocol"),
    pytest.param(json.JSONDecodeError("Expecting value", "<html>", 0), "TransientError",
                 id="json"),
    pytest.param(ValueError("bad"), "InputError", id="value-error"),
    pytest.param(KeyError("items"), "InputError", id="key-error"),
    pytest.param(RuntimeError("?"), "PermanentError", id="runtime-error"),
    pytest.param(RecursionError("a bug"), "PermanentError", id="recursion-error"),
    pytest.param(StandbyError("another controller"), "StandbyError", id="standby"),
    pytest.param(ConflictError("409"), "ConflictError", id="conflict"),
    pytest.param(UsageError("--flag"), "InputError", id="usage-is-input"),
    pytest.param(ConversionError("field"), "InputError", id="conversion-is-input"),
    pytest.param(QueryError("placeholder"), "InputError", id="query-is-input"),
    pytest.param(PrometheusUnavailableError("HTTP 503"), "TransientError",
                 id="prometheus-is-transient"),
    pytest.param(JournalError("ENOSPC"), "PermanentError", id="journal-is-permanent"),
    pytest.param(AutoscalerError("root"), "AutoscalerError", id="root"),
])
def test_error_class_is_of_the_project_tree(error: BaseException, expected: str) -> None:
    assert error_class(error) == expected
    assert expected in TREE


@pytest.mark.parametrize("error", [
    ApiException(status=503), ApiException(status=504), ApiException(status=429),
    ApiException(status=409), ApiException(status=403), ApiException(status=401),
    ApiException(status=404), ApiException(status=0, reason="no answer"),
    TimeoutError("timed out"), ConnectionResetError(errno.ECONNRESET, "reset"),
    urllib3.exceptions.ReadTimeoutError(None, "/", "read timed out"),  # type: ignore[arg-type]
    json.JSONDecodeError("Expecting value", "", 0), UnicodeDecodeError("utf-8", b"\xff", 0, 1,
                                                                        "invalid"),
    ValueError("expected a PodMetricsList"), TypeError("x"),
])
def test_a_metrics_api_message_keeps_its_class(error: BaseException) -> None:
    """metrics.k8s.io failures reach the reconciler as `MetricUnavailable(str(error))`:
    the class recovered from the message is the class the adapter had."""
    classified = classify(error, f"list metrics.k8s.io pods in {NS}")
    assert unavailable_class("metrics", str(classified)) == error_class(classified)


def test_an_unmarked_metric_message_is_transient() -> None:
    """The one case the message cannot tell: `classify`'s last resort (an unexpected
    exception, a PermanentError) carries no mark, like the node's cgroup messages."""
    classified = classify(RuntimeError("?"), f"list metrics.k8s.io pods in {NS}")
    assert error_class(classified) == "PermanentError"
    assert unavailable_class("metrics", str(classified)) == "TransientError"


@pytest.mark.parametrize(("status", "expected"), [
    (503, "TransientError"), (500, "TransientError"), (429, "TransientError"),
    (403, "PermanentError"), (404, "PermanentError"), (401, "PermanentError"),
])
def test_the_metrics_api_adapter_end_to_end(tmp_path: Path, status: int,
                                            expected: str) -> None:
    with FakeApiServer() as api:
        connection = connect(str(write_kubeconfig(tmp_path / "kc", api.url)),
                             in_cluster=False)
        api.fail("GET", METRICS_PATH, status, times=None)
        answer = MetricsApiPass(connection.api_client, 5.0).for_pods(NS, {"web-0"})
        assert isinstance(answer, MetricUnavailable)
        assert unavailable_class("metrics", answer.message) == expected
        api.clear_faults()
        api.drop_connection("GET", METRICS_PATH, times=None)
        dropped = MetricsApiPass(connection.api_client, 5.0).for_pods(NS, {"web-0"})
        assert isinstance(dropped, MetricUnavailable)
        assert unavailable_class("metrics", dropped.message) == "TransientError"


@pytest.mark.parametrize(("source", "message", "expected"), [
    pytest.param("prometheus", f"prometheus: {PrometheusUnavailableError('HTTP 403 for q')}",
                 [("prometheus", "TransientError")], id="prometheus-http"),
    pytest.param("prometheus", "prometheus (rps): empty result for sum(x)",
                 [("prometheus", "TransientError")], id="prometheus-empty"),
    pytest.param("prometheus", f"prometheus (rps): {QueryError('unknown placeholder {{x}}')}",
                 [("prometheus", "InputError")], id="prometheus-template"),
    pytest.param("slo-recommender (prometheus)", "llm_slo_replicas: prometheus: timed out",
                 [("prometheus", "TransientError")], id="slo-recommender"),
    pytest.param(f"prometheus (fallback: {METRICS_503})", None,
                 [("metrics", "TransientError")], id="fallback-covered-the-outage"),
    pytest.param(f"prometheus (fallback: {METRICS_503})", "prometheus: query failed: x",
                 [("metrics", "TransientError"), ("prometheus", "TransientError")],
                 id="fallback-failed-too"),
    pytest.param("node cgroups", "no CPU samples yet", [("metrics", "TransientError")],
                 id="edge-cgroups"),
    pytest.param("metrics.k8s.io", None, [], id="healthy"),
])
def test_metric_failures_by_source(source: str, message: str | None,
                                   expected: list[tuple[str, str]]) -> None:
    assert [(op, unavailable_class(op, text)) for op, text in
            metric_failures(source, message)] == expected


def test_a_metric_without_a_source_is_permanent() -> None:
    """The real messages of `fetch` when the spec or the flags leave a metric unreadable."""
    pods_metric = cr(extra={"metrics": [{"type": "Pods", "pods": {
        "metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": "1"}}}]})
    prometheus_only = replace(cr(), metrics_source="prometheus")
    for managed in (pods_metric, prometheus_only):
        assert managed.spec is not None
        fetched = fetch(managed.spec.metrics[0], managed, ["web-0"], "app=web",
                        busy_metrics(), None, T0)
        assert isinstance(fetched.data, MetricUnavailable)
        failures = metric_failures(fetched.source, fetched.data.message)
        assert [(op, unavailable_class(op, text)) for op, text in failures] == [
            ("metrics", "PermanentError")]
