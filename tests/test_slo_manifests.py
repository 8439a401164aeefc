"""deploy/examples/llamaedge-slo: the seed's LlamaEdge Deployment with the llm-proxy sidecar
holding the queue (`--max-concurrency 1`), scaled by the SLO recommender through the External
metric `llm_slo_replicas`. The generic checks (Kubernetes schemas, the CRD's schema, the
kustomization) are in tests/test_deploy_manifests.py; pinned here, offline:

* the ElasticAutoscaler goes through the daemon's own spec parser (checked_spec, checked_slo,
  from_custom_resource) without an error, to the SloSpec written below, and the parser
  refuses it once its wiring is broken;
* the sidecar's flags parse with the real CLI, queue in the proxy (one request upstream, as
  many as pod.slots) and agree with the ports, the Service and the inflight example;
* a pod of this Deployment, scraped by the usual `kubernetes-pods` job (its relabeling run
  here), gives series that every selector of the recommender's own queries
  (autoscaler.prometheus.slo_inputs.observe) matches, by `namespace` and `pod`;
* the README section the CRD points to exists, and its worked example is what the code says.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from test_deploy_manifests import DELETE, _set, _validator

from algorithms.slo.model import (
    ROUTING_LEAST_IN_FLIGHT,
    ROUTING_RANDOM,
    ROUTING_ROUND_ROBIN,
    SLO_METRIC_NAME,
    ForecastSpec,
    PanicSpec,
    PodModel,
    SloObservation,
    SloSpec,
)
from algorithms.slo.recommend import recommend
from autoscaler.llmproxy.cli import build_parser
from autoscaler.llmproxy.metrics import ProxyMetrics
from autoscaler.prometheus.query import Sample, Series
from autoscaler.prometheus.slo_inputs import MIN_RATE_WINDOW_SECONDS, observe
from autoscaler.specs.parse import checked_slo, checked_spec
from autoscaler.specs.sources import from_custom_resource

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "deploy" / "examples" / "llamaedge-slo"
INFLIGHT = ROOT / "deploy" / "examples" / "llamaedge-inflight"
SEED = ROOT / "deploy" / "examples" / "llamaedge"
README = ROOT / "README.md"
QWEN = "wasmedge-qwen-2-0-5b-allminilm-2"
POD_NAME = f"{QWEN}-5d8f7c9b4-x7k2p"  # what the ReplicaSet names a pod
POD_IP = "10.244.1.17"
Doc = dict[str, Any]

EXPECTED_SLO = SloSpec(
    ttft_seconds=5.0, attainment=0.95, routing=ROUTING_RANDOM, window_seconds=60.0,
    lead_time_seconds=60.0, service_scv=1.0, pod=PodModel(slots=1),
    forecast=ForecastSpec(method="holt", history_seconds=600.0, step_seconds=15.0),
    panic=PanicSpec(window_seconds=30.0, threshold=2.0))


def _load(path: Path) -> Doc:
    (doc,) = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    assert isinstance(doc, dict)
    return doc


def _autoscaler() -> Doc:
    return _load(EXAMPLE / "elasticautoscaler.yaml")


def _pod_template(directory: Path = EXAMPLE) -> Doc:
    template = _load(directory / "deployment.yaml")["spec"]["template"]
    assert isinstance(template, dict)
    return template


def _container(name: str, directory: Path = EXAMPLE) -> Doc:
    (container,) = [c for c in _pod_template(directory)["spec"]["containers"]
                    if c["name"] == name]
    assert isinstance(container, dict)
    return container


def _proxy_args() -> Any:
    args = _container("llm-proxy")["args"]
    assert args[0] == "llm-proxy"
    return build_parser().parse_args(args[1:])


def _ports(container: Doc) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for p in container["ports"]}


# --- the autoscaler through the daemon's parser ---------------------------------------------


def test_spec_and_slo_block_parse_without_errors() -> None:
    raw = _autoscaler()["spec"]
    spec, errors = checked_spec(raw)
    assert errors == ()
    assert spec is not None
    slo, slo_errors = checked_slo(raw, spec)
    assert slo_errors == ()
    assert slo == EXPECTED_SLO


def test_the_daemon_reads_the_custom_resource_as_an_slo_autoscaler() -> None:
    managed = from_custom_resource(_autoscaler())
    assert managed.errors == ()
    assert managed.spec is not None
    assert managed.slo == EXPECTED_SLO
    assert managed.metric_queries == {}  # the recommender's metric has no PromQL of its own
    assert (managed.namespace, managed.name) == ("default", QWEN)


def test_autoscaler_scales_the_deployment_on_the_slo_metric_only() -> None:
    doc = _autoscaler()
    spec = doc["spec"]
    assert doc["metadata"] == {"name": QWEN, "namespace": "default"}
    assert spec["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                      "name": QWEN}
    assert (spec["minReplicas"], spec["maxReplicas"]) == (1, 10)
    assert spec["metrics"] == [{"type": "External", "external": {
        "metric": {"name": SLO_METRIC_NAME},
        "target": {"type": "AverageValue", "averageValue": "1"}}}]


CPU_METRIC = [{"type": "Resource", "resource": {
    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]


@pytest.mark.parametrize(("mutate", "message"), [
    pytest.param(_set("spec.metrics.0.external.target.averageValue", "2"),
                 "spec.metrics[0].external.target: Invalid value: 'AverageValue 2': "
                 "llm_slo_replicas needs type AverageValue with averageValue 1",
                 id="target-2"),
    pytest.param(_set("spec.metrics.0.external.target", {"type": "Value", "value": "1"}),
                 "llm_slo_replicas needs type AverageValue with averageValue 1",
                 id="target-type-Value"),
    pytest.param(_set("spec.sloRecommender", DELETE),
                 "spec.sloRecommender: Required value: must be set: spec.metrics[0] names "
                 "llm_slo_replicas", id="metric-without-block"),
    pytest.param(_set("spec.metrics", CPU_METRIC),
                 "spec.metrics: Required value: spec.sloRecommender needs an External metric "
                 "named llm_slo_replicas", id="block-without-metric"),
    pytest.param(_set("spec.metricQueries", [{"metric": SLO_METRIC_NAME, "query": "vector(3)"}]),
                 "computed by spec.sloRecommender from the metering proxy, not by a query",
                 id="promql-for-the-slo-metric"),
    pytest.param(_set("spec.sloRecommender.panic.windowSeconds", 60),
                 "spec.sloRecommender.panic.windowSeconds: Invalid value: 60: must be shorter "
                 "than the stable window (60 s)", id="panic-window-not-shorter"),
    pytest.param(_set("spec.sloRecommender.forecast.historySeconds", 30),
                 "spec.sloRecommender.forecast.historySeconds: Invalid value: 30: must be at "
                 "least 3 x stepSeconds (45)", id="forecast-history-too-short"),
    pytest.param(_set("spec.sloRecommender.attainment", 1),
                 "spec.sloRecommender.attainment: Invalid value: 1: must be greater than 0 and "
                 "at most 0.9999", id="attainment-1"),
    pytest.param(_set("spec.sloRecommender.routing", "ipvs"),
                 "spec.sloRecommender.routing: Unsupported value: 'ipvs'", id="routing-ipvs"),
    pytest.param(_set("spec.sloRecommender.pod.slot", 1),
                 "spec.sloRecommender.pod.slot: Unsupported value: 1: unknown field",
                 id="typo-in-pod"),
])
def test_the_parser_refuses_the_example_once_broken(mutate: Callable[[Doc], None],
                                                    message: str) -> None:
    doc = _autoscaler()
    assert from_custom_resource(doc).errors == ()
    mutate(doc)
    managed = from_custom_resource(doc)
    assert managed.slo is None
    assert managed.spec is None
    assert any(message in error for error in managed.errors), managed.errors


def test_panic_window_is_one_the_daemon_reads_as_written() -> None:
    """The daemon reads no rate over less than two scrapes (30 s); a shorter panic window
    would silently be 30 s."""
    assert EXPECTED_SLO.panic is not None
    assert MIN_RATE_WINDOW_SECONDS <= EXPECTED_SLO.panic.window_seconds \
        < EXPECTED_SLO.window_seconds


def test_a_broken_block_is_also_refused_by_the_crd_schema() -> None:
    doc = _autoscaler()
    _validator().validate(doc)
    doc["spec"]["sloRecommender"]["routing"] = "ipvs"
    assert [e.message for e in _validator().iter_errors(doc)] == [
        "'ipvs' is not one of ['random', 'round-robin', 'least-in-flight']"]


# --- the Deployment, the sidecar and the Service ------------------------------------------


def test_pods_are_the_inflight_examples_but_for_the_proxy_flags() -> None:
    """The seed's LLM container, placement and the same sidecar; only its args differ."""
    ours, theirs = copy.deepcopy(_pod_template()), copy.deepcopy(_pod_template(INFLIGHT))
    for template in (ours, theirs):
        (proxy,) = [c for c in template["spec"]["containers"] if c["name"] == "llm-proxy"]
        proxy.pop("args")
    assert ours == theirs
    (seed_container,) = _pod_template(SEED)["spec"]["containers"]
    assert _container("qwen-2-0-5b-container") == seed_container
    assert seed_container["resources"]["requests"]["cpu"] == "3000m"
    deployment = _load(EXAMPLE / "deployment.yaml")
    assert deployment["metadata"] == _load(INFLIGHT / "deployment.yaml")["metadata"]
    assert "replicas" not in deployment["spec"]


def test_service_is_the_inflight_examples() -> None:
    assert _load(EXAMPLE / "service.yaml") == _load(INFLIGHT / "service.yaml")


@pytest.mark.parametrize(("flag", "expected"), [
    pytest.param("max_concurrency", 1, id="max-concurrency-1"),
    pytest.param("max_concurrency", EXPECTED_SLO.pod.slots, id="as-many-as-pod-slots"),
    pytest.param("listen", ("0.0.0.0", 8081), id="listen"),
    pytest.param("upstream", "http://127.0.0.1:8080", id="upstream"),
    pytest.param("metrics_path", "/metrics", id="metrics-path"),
])
def test_sidecar_flags(flag: str, expected: object) -> None:
    assert getattr(_proxy_args(), flag) == expected


def test_sidecar_flags_agree_with_the_ports() -> None:
    args = _proxy_args()
    assert args.listen[1] == _ports(_container("llm-proxy"))["proxy"]
    assert args.upstream == \
        f"http://127.0.0.1:{_ports(_container('qwen-2-0-5b-container'))['http']}"


def test_the_queue_is_explained_where_it_is_set() -> None:
    text = (EXAMPLE / "deployment.yaml").read_text(encoding="utf-8")
    assert "`--max-concurrency 1`" in text
    assert "pure service times" in text


# --- scraped the way the recommender's queries expect -------------------------------------

# The `kubernetes-pods` job of Prometheus's example Kubernetes configuration and of the
# prometheus-community chart, reduced to the rules that decide the target and its labels.
KUBERNETES_PODS_RELABELING = yaml.safe_load(r"""
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
  action: keep
  regex: "true"
- source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
  action: replace
  target_label: __metrics_path__
  regex: (.+)
- source_labels: [__address__, __meta_kubernetes_pod_annotation_prometheus_io_port]
  action: replace
  regex: ([^:]+)(?::\d+)?;(\d+)
  replacement: $1:$2
  target_label: __address__
- action: labelmap
  regex: __meta_kubernetes_pod_label_(.+)
- source_labels: [__meta_kubernetes_namespace]
  action: replace
  target_label: namespace
- source_labels: [__meta_kubernetes_pod_name]
  action: replace
  target_label: pod
""")


def _sanitized(name: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", name)


def _discovered(template: Doc) -> list[dict[str, str]]:
    """Prometheus's pod role: one target per declared container port, with its meta labels."""
    common = {"__meta_kubernetes_namespace": "default", "__meta_kubernetes_pod_name": POD_NAME,
              "__meta_kubernetes_pod_ip": POD_IP}
    common |= {f"__meta_kubernetes_pod_annotation_{_sanitized(k)}": v
               for k, v in template["metadata"].get("annotations", {}).items()}
    common |= {f"__meta_kubernetes_pod_label_{_sanitized(k)}": v
               for k, v in template["metadata"]["labels"].items()}
    return [common | {"__address__": f"{POD_IP}:{port['containerPort']}",
                      "__meta_kubernetes_pod_container_name": container["name"]}
            for container in template["spec"]["containers"]
            for port in container.get("ports", [])]


def _replacement(template: str, match: re.Match[str]) -> str:
    return re.sub(r"\$(\d+)", lambda m: match.group(int(m.group(1))) or "", template)


def _relabel(labels: dict[str, str], rules: Sequence[Mapping[str, Any]]
             ) -> dict[str, str] | None:
    """Prometheus relabeling (keep, replace, labelmap; regexes anchored), then the meta labels
    dropped and `instance` defaulted to the address. None: the target was dropped."""
    labels = dict(labels)
    for rule in rules:
        regex = re.compile(f"^(?:{rule.get('regex', '(.*)')})$")
        action = rule.get("action", "replace")
        if action == "labelmap":
            for name, value in list(labels.items()):
                match = regex.match(name)
                if match:
                    labels[_replacement(rule.get("replacement", "$1"), match)] = value
            continue
        value = ";".join(labels.get(name, "") for name in rule["source_labels"])
        match = regex.match(value)
        if action == "keep" and not match:
            return None
        if action == "replace" and match:
            labels[rule["target_label"]] = _replacement(rule.get("replacement", "$1"), match)
    labels.setdefault("instance", labels["__address__"])
    return {k: v for k, v in labels.items()
            if not k.startswith("__") or k in ("__address__", "__metrics_path__")}


def _targets(template: Doc) -> list[dict[str, str]]:
    relabeled = [_relabel(t, KUBERNETES_PODS_RELABELING) for t in _discovered(template)]
    unique = {tuple(sorted(t.items())) for t in relabeled if t is not None}  # Prometheus dedups
    return [dict(t) for t in sorted(unique)]


def test_relabeling_drops_pods_without_the_annotation() -> None:
    """The interpreter above is no rubber stamp: the seed's pods are not scraped."""
    assert _targets(_pod_template(SEED)) == []


def test_the_pod_is_scraped_once_on_the_proxy_port() -> None:
    args = _proxy_args()
    (target,) = _targets(_pod_template())
    assert target["__address__"] == f"{POD_IP}:{args.listen[1]}"
    assert target["__metrics_path__"] == args.metrics_path
    assert (target["namespace"], target["pod"]) == ("default", POD_NAME)


def _scraped_series() -> list[dict[str, str]]:
    """The label sets a scrape of this pod stores: the proxy's series plus the target's."""
    (target,) = _targets(_pod_template())
    labels = {k: v for k, v in target.items() if not k.startswith("__")}
    families = text_string_to_metric_families(ProxyMetrics().exposition().decode())
    return [{"__name__": s.name, **s.labels, **labels} for f in families for s in f.samples]


class RecordingPrometheus:
    """Answers the recommender's queries with one arrivals sample and keeps the queries."""

    def __init__(self) -> None:
        self.queries: list[str] = []

    def instant(self, query: str, now: float) -> list[Sample]:
        self.queries.append(query)
        return [Sample({"input": "arrivals"}, 0.5, now)]

    def range(self, query: str, start: float, end: float, step: float) -> list[Series]:
        self.queries.append(query)
        return []


SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{([^{}]*)\}")
MATCHER = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"')


def _matches(series: Mapping[str, str], name: str, matchers: str) -> bool:
    if series["__name__"] != name:
        return False
    for label, op, raw in MATCHER.findall(matchers):
        value = re.sub(r"\\(.)", r"\1", raw)  # the string's escapes (pod names have none)
        actual = series.get(label, "")
        equal = actual == value if op in ("=", "!=") else re.fullmatch(value, actual) is not None
        if equal != (op in ("=", "=~")):
            return False
    return True


def _selectors() -> list[tuple[str, str]]:
    prometheus = RecordingPrometheus()
    observation = observe(prometheus, EXPECTED_SLO, "default", [POD_NAME], now=1.8e9)
    assert observation.arrival_rate_per_second == 0.5
    assert len(prometheus.queries) == 2  # the instant inputs, the forecast's rates
    return [(m[1], m[2]) for q in prometheus.queries for m in SELECTOR.finditer(q)]


def test_the_recommenders_queries_select_on_namespace_and_pod() -> None:
    selectors = _selectors()
    assert len(selectors) >= 10
    for _, matchers in selectors:
        labels = {label for label, _, _ in MATCHER.findall(matchers)}
        assert {"namespace", "pod"} <= labels <= {"namespace", "pod", "path", "streamed"}


def test_every_selector_of_the_recommender_matches_a_scraped_series() -> None:
    """Names, the proxy's own labels (path, streamed) and the scrape's (namespace, pod) all
    line up: no input is missing because of a label the scrape does not produce."""
    series = _scraped_series()
    for name, matchers in _selectors():
        assert any(_matches(s, name, matchers) for s in series), f"{name}{{{matchers}}}"


def test_a_pod_of_another_namespace_matches_no_selector() -> None:
    series = [s | {"namespace": "other"} for s in _scraped_series()]
    for name, matchers in _selectors():
        assert not any(_matches(s, name, matchers) for s in series), f"{name}{{{matchers}}}"


# --- README -------------------------------------------------------------------------------


def _readme_section() -> str:
    text = README.read_text(encoding="utf-8")
    (start,) = [m.end() for m in re.finditer(r"^## SLO-driven scaling\n", text, re.MULTILINE)]
    end = text.find("\n## ", start)
    return text[start:end if end >= 0 else len(text)]


def test_the_readme_section_the_crd_names_exists_and_points_here() -> None:
    crd = (ROOT / "deploy" / "base" / "crd-elasticautoscalers.yaml").read_text(encoding="utf-8")
    assert '(README, "SLO-driven scaling")' in crd
    assert "deploy/examples/llamaedge-slo" in _readme_section()


# Steady 0.5 req/s (the forecast's last 10 minutes and the panic window alike) on 7 pods.
WORKED = SloObservation(arrival_rate_per_second=0.5, mean_prompt_tokens=2048,
                        mean_output_tokens=28, prefill_tokens_per_second=1100,
                        decode_tokens_per_second=76, panic_arrival_rate_per_second=0.5,
                        recent_rates_per_second=(0.5,) * 41)


@pytest.mark.parametrize(("routing", "rate", "pods"), [
    pytest.param(routing, rate, pods, id=f"{routing}-{rate:g}")
    for routing, row in ((ROUTING_RANDOM, (7, 14, 33)), (ROUTING_ROUND_ROBIN, (4, 6, 13)),
                         (ROUTING_LEAST_IN_FLIGHT, (3, 5, 9)))
    for rate, pods in zip((0.5, 1.0, 2.4), row, strict=True)
])
def test_readme_worked_example_table(routing: str, rate: float, pods: int) -> None:
    spec = SloSpec(routing=routing)
    observation = SloObservation(rate, 2048, 28, 1100, 76)
    answer = recommend(spec, observation, current_replicas=1, max_replicas=100)
    assert (answer.replicas, answer.feasible) == (pods, True)
    row = {ROUTING_RANDOM: "| random (iptables) |", ROUTING_ROUND_ROBIN: "| round-robin (IPVS) |",
           ROUTING_LEAST_IN_FLIGHT: "| least-in-flight (gateway) |"}[routing]
    (line,) = [line for line in _readme_section().splitlines() if line.startswith(row)]
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[1 + (0.5, 1.0, 2.4).index(rate)] == str(pods)


@pytest.mark.parametrize(("quoted", "value"), [
    pytest.param("2.23 s", lambda r: f"{r.service_seconds:.2f} s", id="service"),
    pytest.param("1.86 s", lambda r: f"{r.prefill_seconds:.2f} s", id="prefill"),
    pytest.param("3.14 s", lambda r: f"{r.wait_budget_seconds:.2f} s", id="budget"),
    pytest.param("0.159", lambda r: f"{r.outcome.wait_probability:.3f}", id="wait-probability"),
    pytest.param("95.1%", lambda r: f"{r.predicted_attainment:.1%}", id="attainment"),
])
def test_readme_worked_example_numbers(quoted: str, value: Callable[[Any], str]) -> None:
    """The example's own spec (as the daemon parses it) on the README's observation."""
    answer = recommend(EXPECTED_SLO, WORKED, current_replicas=7, max_replicas=10)
    assert answer.replicas == 7
    assert value(answer) == quoted
    assert quoted in " ".join(_readme_section().split())


RAMP = tuple(0.3 + 0.2 * i / 40 for i in range(41))  # 0.3 -> 0.5 req/s over 10 minutes


@pytest.mark.parametrize(("observation", "current", "message"), [
    pytest.param(WORKED, 7, "7 pods: 0.50 req/s x 2.23 s on 1 slot each, random, predicts "
                 "95.1% of requests within 5 s TTFT (target 95%); holt forecast 0.50 req/s in "
                 "60 s, not above 0.50", id="steady"),
    pytest.param(replace(WORKED, recent_rates_per_second=RAMP), 7,
                 "8 pods: 0.52 req/s x 2.23 s on 1 slot each, random, predicts 95.6% of "
                 "requests within 5 s TTFT (target 95%); holt forecast 0.52 req/s in 60 s",
                 id="forecast"),
    pytest.param(replace(WORKED, panic_arrival_rate_per_second=1.2), 3,
                 "10 pods: 1.20 req/s x 2.23 s on 1 slot each, random, predicts 90.5% of "
                 "requests within 5 s TTFT, short of the 95% target even at maxReplicas; "
                 "panic: 1.20 req/s over the last 30 s needs 10 pods >= 2 x 3 current; holt "
                 "forecast 0.50 req/s in 60 s, not above 1.20", id="panic"),
])
def test_readme_quotes_the_explanations(observation: SloObservation, current: int,
                                        message: str) -> None:
    answer = recommend(EXPECTED_SLO, observation, current_replicas=current, max_replicas=10)
    assert answer.message == message
    assert f"`{message}`" in " ".join(_readme_section().split())


@pytest.mark.parametrize(("routing", "held"), [
    pytest.param(ROUTING_RANDOM, "0.73 req/s", id="random"),
    pytest.param(ROUTING_ROUND_ROBIN, "1.85 round-robin", id="round-robin"),
    pytest.param(ROUTING_LEAST_IN_FLIGHT, "3.05 least-in-flight", id="least-in-flight"),
])
def test_readme_rate_the_example_holds_at_max_replicas(routing: str, held: str) -> None:
    """The quoted rate (rounded) meets the target at 10 pods, 0.01 req/s more does not."""
    rate = float(held.split(maxsplit=1)[0])
    for offered, feasible in ((rate - 0.005, True), (rate + 0.01, False)):
        observation = replace(WORKED, arrival_rate_per_second=offered,
                              panic_arrival_rate_per_second=None, recent_rates_per_second=())
        answer = recommend(replace(EXPECTED_SLO, routing=routing), observation,
                           current_replicas=10, max_replicas=10)
        assert answer.feasible is feasible, offered
    assert held in " ".join(_readme_section().split())
