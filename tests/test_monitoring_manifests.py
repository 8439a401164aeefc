"""deploy/monitoring, validated offline: the Grafana dashboard and the PrometheusRule parse,
every PromQL expression in them is accepted by the real `promtool check rules`, every metric
they name is one the daemon or the edge agent exports (the names come from real scrapes of
both processes, run here against the in-repo fake API server, never from a hand list), the
label names they select or group by exist on those metrics, and every alert fires when it
should and not before (`promtool test rules` on synthetic series). CI installs Debian's
prometheus package (.ci/run): a missing promtool fails, never skips.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import time
import urllib.error
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from daemon_harness import (
    METRICS_PATH,
    STEP,
    T0,
    DaemonProcess,
    autoscaler_cr,
    play_deployment_controller,
    seed_cluster,
    set_replicas,
)
from test_metrics_conventions import Samples, families, free_port, samples, scrape

from autoscaler.ownership.shards import SHARD_COUNT
from autoscaler.testing import FakeApiServer

ROOT = Path(__file__).resolve().parent.parent
MONITORING = ROOT / "deploy" / "monitoring"
DASHBOARD = MONITORING / "dashboard.json"
RULE = MONITORING / "prometheusrule.yaml"
SERVICE_MONITOR = MONITORING / "servicemonitor.yaml"
POD_MONITOR = MONITORING / "podmonitor.yaml"
KUSTOMIZATION = MONITORING / "kustomization.yaml"
OPERATOR = "monitoring.coreos.com/v1"
# Labels Prometheus adds to every scraped series (and `pod`, which the ServiceMonitor's
# targets carry: the Prometheus Operator adds it; the shard panels group by it).
TARGET_LABELS = {"job", "instance", "pod"}
# Grafana's variables in queries, replaced by a value of their kind before parsing.
GRAFANA_BUILTINS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
ALERTS = {"AutoscalerAtMaxReplicas", "AutoscalerScalingInactive",
          "AutoscalerMetricsUnavailable", "AutoscalerWriterLeaseFlapping",
          "EdgeJournalBacklogGrowing", "EdgeJournalBacklogStuck",
          "EdgeAutoscalerShardUnowned", "EdgeAutoscalerShardFlapping"}


def promtool() -> str:
    found = shutil.which("promtool")
    assert found is not None, "promtool not found: apt-get install prometheus"
    return found


def load_yaml(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(document, dict), path
    return document


def dashboard() -> dict[str, Any]:
    document = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


def panels() -> list[dict[str, Any]]:
    return [p for p in dashboard()["panels"] if p["type"] != "row"]


def rule_groups() -> list[dict[str, Any]]:
    groups = load_yaml(RULE)["spec"]["groups"]
    assert isinstance(groups, list)
    return groups


def alert_rules() -> list[dict[str, Any]]:
    return [r for g in rule_groups() for r in g["rules"] if "alert" in r]


# --- what the processes export: real scrapes --------------------------------------------------


@dataclass(frozen=True)
class Exported:
    names: frozenset[str]  # sample names usable in PromQL (histograms: _bucket, _sum, _count)
    labels: dict[str, set[str]]  # sample name -> label names seen on its samples


def _exported(texts: list[str]) -> Exported:
    names: set[str] = set()
    labels: dict[str, set[str]] = {}
    for text in texts:
        for name, kind in families(text).items():
            names |= {f"{name}_{s}" for s in ("bucket", "sum", "count")} \
                if kind == "histogram" else {name}
        found: Samples = samples(text)
        for name, key in found:
            labels.setdefault(name, set()).update(label for label, _ in key)
    return Exported(frozenset(names), labels)


def _wait_ready(port: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30  # a bounded wait for a real process, not a sleep
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            scrape(port)
            return
        except (OSError, urllib.error.URLError):
            time.sleep(0.1)
    raise AssertionError("the edge agent never served /metrics")


def _wait_for_shards(api: FakeApiServer, identity: str) -> None:
    """Until `identity` holds every shard Lease (a bounded wait for a real process)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        held = [lease for lease in api.list("coordination.k8s.io/v1", "Lease", SHARD_NS)
                if lease["metadata"]["name"].startswith("eas-shard-")
                and lease["spec"].get("holderIdentity") == identity]
        if len(held) == SHARD_COUNT:
            return
        time.sleep(0.05)
    raise AssertionError(f"{identity} never held the {SHARD_COUNT} shard Leases")


SHARD_NS = "edge-autoscaler"


@contextmanager
def sharded_scrape(tmp: Path) -> Iterator[str]:
    """A scrape of a `run --shards` daemon (in its own fake cluster: it would write the
    other daemon's target): every shard's ownership, the held shards' autoscalers, members,
    transitions. One pass after it holds every shard, so its autoscaler is counted."""
    with FakeApiServer() as api:
        seed_cluster(api)
        autoscaler_cr(api)
        port = free_port()
        daemon = DaemonProcess(api, tmp, "--metrics-addr", f"127.0.0.1:{port}", "--shards",
                               "--identity", "replica-0", "--state-namespace", SHARD_NS)
        try:
            play_deployment_controller(api, 3.0, T0)
            daemon.start(T0)
            _wait_for_shards(api, "replica-0")
            daemon.step(T0 + STEP)
            yield scrape(port)
        finally:
            daemon.stop()


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exported]:
    """Scrapes of a cloud daemon (`--writer-leases`, a scale-up, then a metrics outage:
    errors and Lease transitions have samples), of a `--shards` replica (its shard series)
    and of an edge agent (its journal)."""
    tmp = tmp_path_factory.mktemp("scrapes")
    with sharded_scrape(tmp_path_factory.mktemp("sharded")) as shard_scrape, \
            FakeApiServer() as api:
        seed_cluster(api)
        set_replicas(api, 2)
        autoscaler_cr(api)
        port = free_port()
        daemon = DaemonProcess(api, tmp, "--metrics-addr", f"127.0.0.1:{port}",
                               "--writer-leases", "--identity", "cloud-0")
        edge_port = free_port()
        edge = subprocess.Popen(
            [sys.executable, "-m", "autoscaler", "edge", "--metaserver", api.url,
             "--node-name", "edge-node-1", "--journal", str(tmp / "journal"),
             "--cgroup-root", str(tmp / "cgroup"), "--lease-namespace", "default",
             "--metrics-addr", f"127.0.0.1:{edge_port}", "--log-format", "json"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            play_deployment_controller(api, 3.0, T0)
            daemon.start(T0)
            api.fail("GET", METRICS_PATH, 503, times=None)
            daemon.step(T0 + STEP)
            daemon.step(T0 + 2 * STEP)
            _wait_ready(edge_port, edge)
            yield _exported([scrape(port), scrape(edge_port), shard_scrape])
        finally:
            daemon.stop()
            edge.terminate()
            edge.communicate(timeout=30)


# --- PromQL: the expressions, their metric and label names ------------------------------------


def dashboard_queries() -> list[tuple[str, str]]:
    """(where, PromQL) of every panel target and every query variable (label_values'
    selector), Grafana variables replaced by values of their kind."""
    out = []
    for panel in panels():
        for target in panel["targets"]:
            out.append((f"panel {panel['title']!r} {target['refId']}", target["expr"]))
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            query = variable["query"]["query"]
            match = re.fullmatch(r"label_values\((.+),\s*(\w+)\)", query)
            assert match is not None, query
            out.append((f"variable {variable['name']}", match.group(1)))
    return [(where, grafana_free(expr)) for where, expr in out]


def grafana_free(expr: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        return GRAFANA_BUILTINS.get(name, "x")
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, expr)


def rule_queries() -> list[tuple[str, str]]:
    return [(f"rule {r.get('alert') or r.get('record')}", str(r["expr"]))
            for g in rule_groups() for r in g["rules"]]


def all_queries() -> list[tuple[str, str]]:
    return dashboard_queries() + rule_queries()


_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)")
_SELECTOR = re.compile(r"([A-Za-z_:][A-Za-z0-9_:]*)\s*\{([^}]*)\}")
_MATCHER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)")
_WORD = re.compile(r"(?<![A-Za-z0-9_:.])[A-Za-z_:][A-Za-z0-9_:]*")
KEYWORDS = {"and", "or", "unless", "bool", "offset", "inf", "nan", "by", "without", "on",
            "ignoring", "group_left", "group_right"}


def metric_names(expr: str) -> set[str]:
    """The metric names of a PromQL expression: identifiers left once strings, label
    matchers, ranges and grouping clauses are gone, that are not a function or aggregation
    (followed by `(`) or a keyword."""
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    return {m.group(0) for m in _WORD.finditer(text)
            if m.group(0) not in KEYWORDS and not text[m.end():].lstrip().startswith("(")}


def selected_labels(expr: str) -> dict[str, set[str]]:
    """Metric name -> label names its selectors match on."""
    out: dict[str, set[str]] = {}
    for name, matchers in _SELECTOR.findall(_STRING.sub('""', expr)):
        out.setdefault(name, set()).update(_MATCHER.findall(matchers))
    return out


def grouping_labels(expr: str) -> set[str]:
    found: set[str] = set()
    for _, labels in _GROUPING.findall(_STRING.sub('""', expr)):
        found |= {label.strip() for label in labels.split(",") if label.strip()}
    return found


@pytest.mark.parametrize(("expr", "names", "selected", "grouped"), [
    ('sum by (job, le) (rate(x_bucket{a="1", b=~"$v"}[5m]))', {"x_bucket"}, {"x_bucket":
                                                                              {"a", "b"}},
     {"job", "le"}),
    ("histogram_quantile(0.99, x) > 1e3 and on (n) y offset 5m", {"x", "y"}, {}, {"n"}),
    ('a{l="b{c}"} unless ignoring(z) b', {"a", "b"}, {"a": {"l"}}, {"z"}),
    ("increase(c_total[1h]) > 4", {"c_total"}, {}, set()),
])
def test_the_promql_scanner(expr: str, names: set[str], selected: dict[str, set[str]],
                            grouped: set[str]) -> None:
    assert metric_names(expr) == names
    assert selected_labels(expr) == selected
    assert grouping_labels(expr) == grouped


# --- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_is_grafana_json() -> None:
    board = dashboard()
    assert board["uid"] == "edge-autoscaler" and board["title"]
    assert isinstance(board["schemaVersion"], int)
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in panels():
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()
    for _, expr in [(p["title"], t["expr"]) for p in panels() for t in p["targets"]]:
        for name in re.findall(r"\$\{?(\w+)", expr):
            assert name in variables or name in GRAFANA_BUILTINS, name


def test_the_dashboard_layout_has_no_overlap() -> None:
    taken: set[tuple[int, int]] = set()
    for panel in dashboard()["panels"]:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        cells = {(x, y) for x in range(grid["x"], grid["x"] + grid["w"])
                 for y in range(grid["y"], grid["y"] + grid["h"])}
        assert not cells & taken, panel["title"]
        taken |= cells


@pytest.mark.parametrize("metric", [
    "autoscaler_desired_replicas", "autoscaler_current_replicas", "autoscaler_min_replicas",
    "autoscaler_max_replicas", "autoscaler_metric_current_value",
    "autoscaler_metric_target_value", "autoscaler_metric_current_utilization_ratio",
    "autoscaler_metric_target_utilization_ratio", "autoscaler_condition",
    "autoscaler_condition_reason", "autoscaler_rescales_total", "autoscaler_errors_total",
    "autoscaler_reconcile_duration_seconds_bucket", "autoscaler_writer_lease_held",
    "autoscaler_writer_lease_transitions_total", "autoscaler_edge_journal_pending_decisions",
    "autoscaler_shard_owned", "autoscaler_shard_members", "autoscaler_shard_managed_autoscalers",
    "autoscaler_shard_transitions_total",
])
def test_the_dashboard_shows(metric: str) -> None:
    """What the issue asks of it: replicas, metric current vs target, conditions, rescale
    rate, errors by class, reconcile latency, the edge journal backlog; issue 13: the shards
    held per replica, members, moves."""
    used = set().union(*(metric_names(expr) for _, expr in dashboard_queries()))
    assert metric in used


def test_the_dashboard_shows_p50_and_p99_latency() -> None:
    exprs = [expr for _, expr in dashboard_queries()]
    for quantile in ("0.5", "0.99"):
        assert any(f"histogram_quantile({quantile}," in e
                   and "autoscaler_reconcile_duration_seconds_bucket" in e for e in exprs)


# --- the PrometheusRule ----------------------------------------------------------------------


def test_the_rule_is_a_prometheus_rule() -> None:
    rule = load_yaml(RULE)
    assert (rule["apiVersion"], rule["kind"]) == (OPERATOR, "PrometheusRule")
    assert rule["metadata"]["namespace"] == "edge-autoscaler"
    assert {r["alert"] for r in alert_rules()} == ALERTS
    for alert in alert_rules():
        assert set(alert) <= {"alert", "expr", "for", "labels", "annotations"}
        assert alert["labels"]["severity"] in {"info", "warning", "critical"}
        assert set(alert["annotations"]) == {"summary", "description"}
        if "for" in alert:
            assert re.fullmatch(r"\d+[smh]", alert["for"]), alert["for"]


def test_every_expression_parses(tmp_path: Path) -> None:
    """The rules as Prometheus loads them, and every dashboard query as a recording rule:
    `promtool check rules` parses each expression (and the alerts' templates)."""
    dashboard_rules = [{"record": f"dashboard:query_{index}", "expr": expr}
                       for index, (_, expr) in enumerate(dashboard_queries())]
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [*rule_groups(), {
        "name": "dashboard", "rules": dashboard_rules}]}), encoding="utf-8")
    checked = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"{len(dashboard_rules) + len(alert_rules())} rules found" in checked.stdout


def test_a_broken_expression_is_refused(tmp_path: Path) -> None:
    """The check above can fail."""
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "g", "rules": [
        {"record": "r", "expr": "sum by (x (autoscaler_passes_total)"}]}]}), encoding="utf-8")
    checked = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                             text=True, timeout=60, check=False)
    assert checked.returncode != 0


# --- names and labels against real scrapes ---------------------------------------------------


@pytest.mark.parametrize(("where", "expr"), all_queries())
def test_every_metric_is_exported(exported: Exported, where: str, expr: str) -> None:
    names = metric_names(expr)
    assert names, f"{where}: no metric found in {expr}"
    assert names <= exported.names, f"{where}: {sorted(names - exported.names)} not exported"


@pytest.mark.parametrize(("where", "expr"), all_queries())
def test_every_label_exists(exported: Exported, where: str, expr: str) -> None:
    """Selected labels exist on their metric, grouping labels on one of the expression's
    metrics (label names from the samples; a family without samples in the scrapes, the
    edge journal's errors, is checked by name only)."""
    seen = set().union(*(exported.labels.get(n, set()) for n in metric_names(expr)))
    for name, labels in selected_labels(expr).items():
        if name in exported.labels:
            assert labels <= exported.labels[name] | TARGET_LABELS, (where, name, labels)
    if seen:
        assert grouping_labels(expr) <= seen | TARGET_LABELS, where


# --- the alerts fire when they should --------------------------------------------------------


def _series(metric: str, values: str, /, **labels: str) -> dict[str, str]:
    text = ", ".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{metric}{{{text}}}", "values": values}


def _firing(alert: str, at: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"expr": f'ALERTS{{alertname="{alert}", alertstate="firing"}}', "eval_time": at,
            "exp_samples": [{"labels": "ALERTS{" + ", ".join(
                f'{k}="{v}"' for k, v in sorted({**e, "alertname": alert,
                                                   "alertstate": "firing",
                                                   "severity": "warning"}.items())) + "}",
                             "value": 1} for e in expected]}


DAEMON = {"job": "edge-autoscaler", "instance": "10.0.0.1:8080"}
EDGE = {"job": "edge-autoscaler-agent", "instance": "edge-1:8082"}
REPLICA_1 = {"job": "edge-autoscaler", "instance": "10.0.0.2:8080"}  # a second --shards replica
STAGING = {"job": "edge-autoscaler-staging", "instance": "10.0.1.1:8080"}  # another install
WEB = {"namespace": "shop", "name": "web"}
API = {"namespace": "shop", "name": "api"}


def _condition(type_: str, status: str, values: str, who: dict[str, str], /,
               **autoscaler: str) -> dict[str, str]:
    return _series("autoscaler_condition", values, **who, **autoscaler, type=type_,
                   status=status)


ALERT_TESTS: list[dict[str, Any]] = [
    {  # web wants and runs its max (10) from t=0; api runs 10 but wants 7
        "interval": "1m",
        "input_series": [
            _series("autoscaler_desired_replicas", "10x30", **DAEMON, **WEB),
            _series("autoscaler_current_replicas", "10x30", **DAEMON, **WEB),
            _series("autoscaler_max_replicas", "10x30", **DAEMON, **WEB),
            _series("autoscaler_desired_replicas", "7x30", **DAEMON, **API),
            _series("autoscaler_current_replicas", "10x30", **DAEMON, **API),
            _series("autoscaler_max_replicas", "10x30", **DAEMON, **API)],
        "promql_expr_test": [_firing("AutoscalerAtMaxReplicas", "14m"),
                             _firing("AutoscalerAtMaxReplicas", "16m", WEB)],
    },
    {  # web: the cloud and the edge agent both without metrics; api: the edge covers it;
        # "idle": scaled to 0 by hand (ScalingDisabled)
        "interval": "1m",
        "input_series": [
            _condition("ScalingActive", "false", "1x30", DAEMON, **WEB),
            _condition("ScalingActive", "false", "1x30", EDGE, **WEB),
            _condition("ScalingActive", "false", "1x30", DAEMON, **API),
            _condition("ScalingActive", "false", "0x30", EDGE, **API),
            _condition("ScalingActive", "false", "1x30", DAEMON, namespace="shop",
                       name="idle"),
            _series("autoscaler_condition_reason", "1x30", **DAEMON, namespace="shop",
                    name="idle", type="ScalingActive", reason="ScalingDisabled")],
        "promql_expr_test": [_firing("AutoscalerScalingInactive", "9m"),
                             _firing("AutoscalerScalingInactive", "11m", WEB)],
    },
    {  # the daemon cannot read web's metric from t=0; api's failed once, briefly
        "interval": "1m",
        "input_series": [
            _series("autoscaler_condition_reason", "1x30", **DAEMON, **WEB,
                    type="ScalingActive", reason="FailedGetResourceMetric"),
            _series("autoscaler_condition_reason", "1 1 0x28", **DAEMON, **API,
                    type="ScalingActive", reason="FailedGetPodsMetric"),
            _series("autoscaler_condition_reason", "1x30", **DAEMON, namespace="shop",
                    name="ok", type="ScalingActive", reason="ValidMetricFound")],
        "promql_expr_test": [
            _firing("AutoscalerMetricsUnavailable", "4m"),
            _firing("AutoscalerMetricsUnavailable", "6m",
                    {**DAEMON, **WEB, "type": "ScalingActive",
                     "reason": "FailedGetResourceMetric"})],
    },
    {  # web's Lease is acquired 6 times an hour (cloud and edge in turn); api's twice in
        # 90 minutes (a partition and its healing)
        "interval": "1m",
        "input_series": [
            _series("autoscaler_writer_lease_transitions_total", "0+0.05x90", **DAEMON,
                    **WEB, transition="acquired"),
            _series("autoscaler_writer_lease_transitions_total", "0+0.05x90", **EDGE, **WEB,
                    transition="acquired"),
            _series("autoscaler_writer_lease_transitions_total", "0x30 1x30 2x30", **DAEMON,
                    **API, transition="acquired")],
        "promql_expr_test": [_firing("AutoscalerWriterLeaseFlapping", "20m"),
                             _firing("AutoscalerWriterLeaseFlapping", "60m", WEB)],
    },
    {  # edge-1's backlog grows by a target every 10 minutes; edge-2's stays at 1
        "interval": "1m",
        "input_series": [
            _series("autoscaler_edge_journal_pending_decisions", "0x5 1x10 2x10 3x10 4x30",
                    **EDGE),
            _series("autoscaler_edge_journal_pending_decisions", "1x60",
                    job="edge-autoscaler-agent", instance="edge-2:8082")],
        "promql_expr_test": [_firing("EdgeJournalBacklogGrowing", "10m"),
                             _firing("EdgeJournalBacklogGrowing", "25m", EDGE),
                             _firing("EdgeJournalBacklogGrowing", "70m")],
    },
    {  # edge-1 has had a decision pending for 70 minutes; edge-2 wrote its own at 30m
        "interval": "1m",
        "input_series": [
            _series("autoscaler_edge_journal_pending_decisions", "1x70", **EDGE),
            _series("autoscaler_edge_journal_pending_decisions", "1x30 0x40",
                    job="edge-autoscaler-agent", instance="edge-2:8082")],
        "promql_expr_test": [_firing("EdgeJournalBacklogStuck", "59m"),
                             _firing("EdgeJournalBacklogStuck", "61m", EDGE)],
    },
    {  # two replicas: r0 holds 00, r1 holds 01; nobody holds 02 from t=0; 03 is free for
        # 2 minutes (a handover) then r1's; staging's only replica holds its 00
        "interval": "1m",
        "input_series": [
            _series("autoscaler_shard_owned", "1x30", **DAEMON, shard="00"),
            _series("autoscaler_shard_owned", "0x30", **REPLICA_1, shard="00"),
            _series("autoscaler_shard_owned", "0x30", **DAEMON, shard="01"),
            _series("autoscaler_shard_owned", "1x30", **REPLICA_1, shard="01"),
            _series("autoscaler_shard_owned", "0x30", **DAEMON, shard="02"),
            _series("autoscaler_shard_owned", "0x30", **REPLICA_1, shard="02"),
            _series("autoscaler_shard_owned", "0x30", **DAEMON, shard="03"),
            _series("autoscaler_shard_owned", "0 0 1x28", **REPLICA_1, shard="03"),
            _series("autoscaler_shard_owned", "1x30", **STAGING, shard="00")],
        "promql_expr_test": [
            _firing("EdgeAutoscalerShardUnowned", "4m"),
            _firing("EdgeAutoscalerShardUnowned", "6m", {"job": DAEMON["job"],
                                                         "shard": "02"})],
    },
    {  # 2 shards each: the daemon's acquired 12 times an hour (> 4 per shard); staging's
        # rollout moved each of its shards twice
        "interval": "1m",
        "input_series": [
            _series("autoscaler_shard_owned", "1x90", **DAEMON, shard="00"),
            _series("autoscaler_shard_owned", "1x90", **REPLICA_1, shard="01"),
            _series("autoscaler_shard_transitions_total", "0+0.1x90", **DAEMON,
                    transition="acquired"),
            _series("autoscaler_shard_transitions_total", "0+0.1x90", **REPLICA_1,
                    transition="acquired"),
            _series("autoscaler_shard_transitions_total", "0+0.2x90", **DAEMON,
                    transition="released"),
            _series("autoscaler_shard_owned", "1x90", **STAGING, shard="00"),
            _series("autoscaler_shard_owned", "1x90", **STAGING, shard="01"),
            _series("autoscaler_shard_transitions_total", "0x30 4x60", **STAGING,
                    transition="acquired")],
        "promql_expr_test": [_firing("EdgeAutoscalerShardFlapping", "30m"),
                             _firing("EdgeAutoscalerShardFlapping", "60m",
                                     {"job": DAEMON["job"]})],
    },
]


def test_every_alert_is_exercised() -> None:
    tested = {re.search(r'alertname="(\w+)"', t["expr"]).group(1)  # type: ignore[union-attr]
              for case in ALERT_TESTS for t in case["promql_expr_test"]}
    assert tested == ALERTS


def test_alerts_fire_when_they_should(tmp_path: Path) -> None:
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": rule_groups()}), encoding="utf-8")
    tests = tmp_path / "tests.yaml"
    tests.write_text(yaml.safe_dump({"rule_files": [rules.name], "evaluation_interval": "1m",
                                     "tests": ALERT_TESTS}), encoding="utf-8")
    checked = subprocess.run([promtool(), "test", "rules", str(tests)], capture_output=True,
                             text=True, timeout=120, check=False, cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_alert_series_come_from_real_scrapes(exported: Exported) -> None:
    """The synthetic series above use exported names and labels only."""
    for case in ALERT_TESTS:
        for item in case["input_series"]:
            name, _, rest = item["series"].partition("{")
            assert name in exported.names, name
            labels = set(re.findall(r"(\w+)=", rest))
            if name in exported.labels:
                assert labels <= exported.labels[name] | TARGET_LABELS, (name, labels)


# --- scraping and packaging ------------------------------------------------------------------


def test_the_monitors_scrape_the_daemon_and_the_agents_honoring_their_labels() -> None:
    service = load_yaml(ROOT / "deploy" / "base" / "service.yaml")
    daemonset = load_yaml(ROOT / "deploy" / "edge" / "daemonset.yaml")
    monitor = load_yaml(SERVICE_MONITOR)
    assert (monitor["apiVersion"], monitor["kind"]) == (OPERATOR, "ServiceMonitor")
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"]
    selected = monitor["spec"]["selector"]["matchLabels"]
    assert selected.items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["honorLabels"] is True  # the autoscaler's `namespace` label stays
    pods = load_yaml(POD_MONITOR)
    assert (pods["apiVersion"], pods["kind"]) == (OPERATOR, "PodMonitor")
    assert pods["metadata"]["namespace"] == daemonset["metadata"]["namespace"]
    template = daemonset["spec"]["template"]
    assert pods["spec"]["selector"]["matchLabels"].items() <= \
        template["metadata"]["labels"].items()
    (endpoint,) = pods["spec"]["podMetricsEndpoints"]
    ports = {p["name"] for c in template["spec"]["containers"] for p in c.get("ports", [])}
    assert endpoint["port"] in ports
    assert endpoint["honorLabels"] is True


def test_the_kustomization_ships_everything() -> None:
    kustomization = load_yaml(KUSTOMIZATION)
    assert set(kustomization["resources"]) == {RULE.name, SERVICE_MONITOR.name,
                                               POD_MONITOR.name}
    (generator,) = kustomization["configMapGenerator"]
    assert generator["files"] == [f"edge-autoscaler.json={DASHBOARD.name}"]
    assert generator["options"]["labels"]["grafana_dashboard"] == "1"
    shipped = {*kustomization["resources"], DASHBOARD.name, KUSTOMIZATION.name, "README.md"}
    assert {p.name for p in MONITORING.iterdir()} == shipped
