"""Malformed documents for every trace format and for policy YAML: reading one raises only
the project's input errors (TraceError, PolicyError, UsageError: all InputError) or returns
a workload the simulator can use, within a deadline per document.

Documents start valid and are then damaged: fields swapped for nasty values (NaN, 1e400,
5,000-digit numbers, full-width digits, NUL, years 0001/9999, huge minute numbers...),
lines duplicated, dropped, swapped or truncated, bytes spliced in (invalid UTF-8 too).
Limits are small (2 days, 5,000 rows) so that a document over them is refused quickly.
"""

from __future__ import annotations

import bz2
import copy
import io
import json
import tarfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoscaler.errors import InputError
from autoscaler.replay.limits import MAX_REPLICAS, TraceLimits
from autoscaler.replay.model import DemandSeries, RequestTrace, Workload
from autoscaler.replay.open_loop import compare
from autoscaler.replay.run import parse_policy, replay
from autoscaler.replay.settings import SimulationSettings
from autoscaler.replay.traces import read_trace

Draw = Callable[[st.SearchStrategy[Any]], Any]  # st.DrawFn, or DataObject.draw
LIMITS = TraceLimits().with_span(2 * 86400).with_rows(5000)
FUZZ = settings(max_examples=400, deadline=timedelta(seconds=5), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NASTY = ["", "nan", "NaN", "inf", "-inf", "-1", "-0", "0", "1e308", "1e400", "9" * 30,
         "9" * 5000, "0x10", "1_000", "１２", "٣", "²", "\x00", "\ufeff1", " ", '"', '""', ",",
         "minute_0", "minute_99999999999999999999", "minute_2", "<unknown>", "%", "5%/0%",
         "9999-12-31T23:59:59", "0001-01-01T00:00:00+01:00", "2024-02-30T00:00:00",
         "2024-01-01T00:00:00.99999999999999999999Z", "\n", "\r", "true", "[]", "{}", "null",
         "1e-320", "99999999y", "Deployment/", "/x", "a/b/c", "$ kubectl get hpa -w",
         "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE", "<unset>", "10001"]
NUMBERS = ["nan", "inf", "-1", "1e308", "1e300", "1e400", "9" * 30, "9" * 5000, "-0.5",
           "1e9", "1000000001"]
# Weighted towards what breaks arithmetic and ranges: bad numbers and small integers
# (a MINPODS of 7 above a MAXPODS of 3 needs one).
FIELD = st.one_of(st.sampled_from(NUMBERS), st.sampled_from(NASTY), st.integers(-3, 12).map(str),
                  st.integers(-5, 10**6).map(str), st.floats().map(repr), st.text(max_size=8))
EDITS = ["field", "field", "field", "duplicate", "drop", "swap", "text", "cut"]


@st.composite
def damaged(draw: st.DrawFn, lines: list[str], sep: str = ",") -> bytes:
    """`lines` (fields joined by `sep`) after a few random edits, as bytes."""
    lines = list(lines)
    for _ in range(draw(st.integers(0, 5))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(EDITS))
        if edit == "field":
            parts = lines[i].split(sep)
            parts[draw(st.integers(0, len(parts) - 1))] = draw(FIELD)
            lines[i] = sep.join(parts)
        elif edit == "duplicate":
            lines.insert(i, lines[i])
        elif edit == "drop":
            del lines[i]
        elif edit == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif edit == "text":
            lines[i] = draw(st.text(max_size=40))
        else:
            lines[i] = lines[i][:draw(st.integers(0, len(lines[i])))]
    data = ("\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))).encode(
        "utf-8", "surrogatepass")
    if draw(st.booleans()):  # raw bytes anywhere: invalid UTF-8, NUL, a stray quote
        k = draw(st.integers(0, len(data)))
        data = data[:k] + draw(st.binary(max_size=6)) + data[k:]
    return data


def field(draw: Draw, valid: st.SearchStrategy[Any]) -> str:
    """A valid field, or (one time in six) a nasty one: every row can carry the fault."""
    return str(draw(valid)) if draw(st.integers(0, 5)) else draw(FIELD)


def value_csv(draw: Draw) -> list[str]:
    times = sorted(set(draw(st.lists(st.integers(0, 100), min_size=1, max_size=6))))
    return ["timestamp,value", *(f"{field(draw, st.just(t))},"
                                 f"{field(draw, st.integers(0, 20))}" for t in times)]


def azure_llm(draw: Draw) -> list[str]:
    seconds = sorted(draw(st.lists(st.integers(0, 59), min_size=1, max_size=5)))
    return ["TIMESTAMP,ContextTokens,GeneratedTokens", *(
        f"{field(draw, st.just(f'2023-11-16 18:17:{s:02d}.5'))},"
        f"{field(draw, st.integers(0, 5000))},{field(draw, st.integers(0, 99))}"
        for s in seconds)]


def per_minute(draw: Draw) -> list[str]:
    minutes = draw(st.integers(1, 5))
    header = "HashFunction,HashApp," + ",".join(field(draw, st.just(f"minute_{m}"))
                                                for m in range(1, minutes + 1))
    return [header, *(f"f{row},a," + ",".join(field(draw, st.integers(0, 99))
                                              for _ in range(minutes))
                      for row in range(draw(st.integers(1, 3))))]


def kubectl_watch(draw: Draw) -> list[str]:
    first = draw(st.sampled_from(["$ kubectl get hpa -w", "",
                                  "NAME REFERENCE TARGETS MINPODS MAXPODS REPLICAS AGE"]))
    small = st.integers(1, 10)
    return [first, *(f"web {field(draw, st.just('Deployment/web'))} "
                     f"{field(draw, st.integers(0, 300))}%/{field(draw, st.integers(1, 90))}% "
                     f"{field(draw, small)} {field(draw, small)} {field(draw, small)} "
                     f"{field(draw, st.integers(1, 500))}s"
                     for _ in range(draw(st.integers(1, 4))))]


def rps(draw: Draw) -> list[str]:
    return [" ".join(field(draw, st.integers(0, 30)) for _ in range(draw(st.integers(1, 6))))
            for _ in range(draw(st.integers(1, 4)))]


def check_usable(workload: Workload) -> None:
    """What the simulator relies on, for a workload a reader returned."""
    if isinstance(workload, DemandSeries):
        assert len(workload.values) >= 1 and workload.step_seconds > 0
        assert np.isfinite(workload.values).all() and (workload.values >= 0).all()
        assert (workload.values <= LIMITS.max_value).all()
        # The csv grid may add the hold of the last value to the span (at most as much).
        assert workload.duration_seconds <= 2 * LIMITS.max_span_seconds + 1
    elif isinstance(workload, RequestTrace):
        arrivals = workload.arrival_seconds
        assert np.isfinite(arrivals).all() and (arrivals >= 0).all()
        assert (np.diff(arrivals) >= 0).all()
        assert workload.duration_seconds <= LIMITS.max_span_seconds
        for tokens in (workload.prompt_tokens, workload.output_tokens):
            assert ((tokens >= 0) & (tokens <= LIMITS.max_tokens)).all()
    else:
        compare(workload)  # the open-loop replay runs every row


def read_or_refuse(data: bytes, fmt: str | None, name: str = "trace.txt") -> None:
    with TemporaryDirectory() as folder:
        path = Path(folder) / name
        path.write_bytes(data)
        try:
            workload = read_trace(path, fmt, LIMITS)
        except InputError:
            return
        check_usable(workload)


TEXT_FORMATS: dict[str, Callable[[Draw], list[str]]] = {
    "csv": value_csv, "azure-llm": azure_llm, "per-minute": per_minute,
    "kubectl-watch": kubectl_watch, "rps": rps}


def _text_format_test(fmt: str) -> Callable[[], None]:
    make = TEXT_FORMATS[fmt]
    sep = " " if fmt in ("kubectl-watch", "rps") else ","

    @FUZZ
    @given(st.data())
    def test(data: st.DataObject) -> None:
        document = data.draw(damaged(make(data.draw), sep))
        read_or_refuse(document, fmt)
        read_or_refuse(document, None)  # sniffed: whatever format it seems to be

    return test


test_csv_fuzz = _text_format_test("csv")
test_azure_llm_fuzz = _text_format_test("azure-llm")
test_per_minute_fuzz = _text_format_test("per-minute")
test_kubectl_watch_fuzz = _text_format_test("kubectl-watch")
test_rps_fuzz = _text_format_test("rps")


JSON_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10**30, 10**30),
                      st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=5),
                      st.sampled_from(["1", "NaN", "-1", "+Inf", "1e308", "", "100"]))
JSON_ANY = st.recursive(JSON_LEAF, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)


def replace_a_node(draw: st.DrawFn, document: Any, values: st.SearchStrategy[Any]) -> Any:
    """`document` with one node (maybe the whole) replaced by a drawn value; the depth is
    drawn first, so deep fields (a series' `metric`) are hit as often as shallow ones."""
    parent: Any = None
    key: Any = None
    node = document
    for _ in range(draw(st.integers(0, 6))):
        if not (isinstance(node, dict | list) and node):
            break
        keys = sorted(node, key=str) if isinstance(node, dict) else list(range(len(node)))
        parent, key = node, draw(st.sampled_from(keys))
        node = node[key]
    if parent is None:
        return draw(values)
    parent[key] = draw(values)
    return document


@st.composite
def prometheus_export(draw: st.DrawFn) -> bytes:
    series = [{"metric": {"pod": draw(st.text(max_size=3))} if draw(st.integers(0, 5))
               else draw(JSON_ANY),
               "values": [[t0 + i * step, field(draw, st.integers(0, 9))]
                          for i in range(draw(st.integers(1, 5)))]}
              for t0, step in draw(st.lists(st.tuples(st.sampled_from([0, 100, 1.7e9]),
                                                      st.sampled_from([15, 0.5, 1])),
                                            min_size=1, max_size=3))]
    document: Any = {"status": "success", "data": {"resultType": "matrix", "result": series}}
    for _ in range(draw(st.integers(0, 3))):
        document = replace_a_node(draw, document, JSON_ANY)
    text = json.dumps(document, indent=draw(st.sampled_from([None, 1])))
    edit = draw(st.sampled_from(["none", "none", "cut", "splice", "nest"]))
    if edit == "cut":
        text = text[:draw(st.integers(0, len(text)))]
    elif edit == "splice":
        k = draw(st.integers(0, len(text)))
        text = text[:k] + draw(st.sampled_from(["NaN", "Infinity", "1e999", "[" * 200,
                                                "9" * 500, "\x00", '"', ",", "}"])) + text[k:]
    elif edit == "nest":
        depth = draw(st.integers(50, 5000))
        text = "[" * depth + "]" * depth
    return text.encode()


@FUZZ
@given(prometheus_export())
def test_prometheus_fuzz(document: bytes) -> None:
    read_or_refuse(document, "prometheus", "range.json")


@st.composite
def rps_archive(draw: st.DrawFn) -> tuple[str, bytes]:
    """A count file as .bz2, .tbz2 or plain, maybe with bytes overwritten (corrupt)."""
    payload = draw(st.one_of(st.binary(max_size=60), st.just(b"1 2 3\n4 5\n")))
    suffix = draw(st.sampled_from([".bz2", ".tbz2", ".txt"]))
    if suffix == ".bz2":
        data = bz2.compress(payload)
    elif suffix == ".tbz2":
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:bz2") as archive:
            info = tarfile.TarInfo("w.txt")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
        data = buffer.getvalue()
    else:
        data = payload
    if draw(st.booleans()):
        junk = draw(st.binary(min_size=1, max_size=4))
        k = draw(st.integers(0, len(data)))
        data = data[:k] + junk + data[k + len(junk):]
    return suffix, data


@FUZZ
@given(rps_archive())
def test_rps_archive_fuzz(archive: tuple[str, bytes]) -> None:
    suffix, data = archive
    read_or_refuse(data, "rps", "workload" + suffix)


SPEC: dict[str, Any] = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
    "metadata": {"name": "web"},
    "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
             "minReplicas": 1, "maxReplicas": 5,
             "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
                 "type": "Utilization", "averageUtilization": 50}}}]}}
YAML_LEAF = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12), st.floats(),
                      st.text(max_size=6), st.sampled_from(["0", "-1", "10001", "2147483648",
                                                            "50%", ".inf", "~"]))
YAML_ANY = st.recursive(YAML_LEAF, lambda inner: st.lists(inner, max_size=3)
                        | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)
ALIAS_BOMB = ("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n"
              "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
              "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
              "d: [" + ", ".join(["*c"] * 300) + "]\n")


@st.composite
def policy_file(draw: st.DrawFn) -> bytes:
    document: Any = copy.deepcopy(SPEC)
    for _ in range(draw(st.integers(0, 3))):
        document = replace_a_node(draw, document, YAML_ANY)
    text = yaml.safe_dump(document) if draw(st.booleans()) else json.dumps(document,
                                                                            default=str)
    edit = draw(st.sampled_from(["none", "none", "duplicate-key", "alias-bomb", "cut",
                                 "two-documents", "tabs"]))
    if edit == "duplicate-key":
        text += "\nkind: Other\n"
    elif edit == "alias-bomb":
        text = ALIAS_BOMB + text
    elif edit == "cut":
        text = text[:draw(st.integers(0, len(text)))]
    elif edit == "two-documents":
        text = f"{text}\n---\n{text}"
    elif edit == "tabs":
        text = text.replace("  ", "\t")
    return text.encode()


class _Nowhere:
    def on_chunk(self, *_: object) -> None:
        pass

    def on_decision(self, *_: object) -> None:
        pass

    def on_summary(self, *_: object) -> None:
        pass


@FUZZ
@given(policy_file())
def test_policy_yaml_fuzz(data: bytes) -> None:
    with TemporaryDirectory() as folder:
        path = Path(folder) / "hpa.yaml"
        path.write_bytes(data)
        try:
            policies = parse_policy(str(path))
        except InputError:  # PolicyError (safeload's errors arrive as PolicyError too)
            return
    assert all(p.spec is not None and p.spec.max_replicas <= MAX_REPLICAS for p in policies)
    # A policy that loads must run: a minute of 2 cores through each.
    replay(DemandSeries(0.0, 1.0, np.full(60, 2.0)), list(policies), SimulationSettings(),
           _Nowhere())
