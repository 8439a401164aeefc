"""control/selectors.py: the index hands decide's AmbiguousSelector check a superset of the
matching selectors, so the check's answer is the same as with every selector of the
namespace (what the reconciler passed before), for random selectors, pods, changes and
deletions."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from algorithms.observation import Observation
from algorithms.pods import PodInfo
from algorithms.proposals import other_owners
from autoscaler.control.selectors import SelectorIndex

KEYS = ("app", "tier", "env")
VALUES = ("a", "b", "c")


@st.composite
def selectors(draw: st.DrawFn) -> str:
    parts = []
    for key in draw(st.lists(st.sampled_from(KEYS), min_size=0, max_size=3, unique=True)):
        kind = draw(st.sampled_from(["=", "==", "!=", "in", "notin", "exists", "!"]))
        value = draw(st.sampled_from(VALUES))
        values = ",".join(draw(st.lists(st.sampled_from(VALUES), min_size=1, max_size=3,
                                        unique=True)))
        parts.append({"=": f"{key}={value}", "==": f"{key}=={value}",
                      "!=": f"{key}!={value}", "in": f"{key} in ({values})",
                      "notin": f"{key} notin ({values})", "exists": key,
                      "!": f"!{key}"}[kind])
    return ",".join(parts) if parts else draw(st.sampled_from(["", "app=(", "x!=a"]))


labels = st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=3)


def pod(i: int, pod_labels: dict[str, str]) -> PodInfo:
    return PodInfo(name=f"p{i}", phase="Running", ready="True", labels=pod_labels)


@settings(max_examples=300, deadline=None)
@given(others=st.lists(st.tuples(st.sampled_from(["ns", "other"]), selectors()),
                       max_size=8),
       changes=st.lists(st.tuples(st.integers(0, 7), selectors()), max_size=4),
       gone=st.sets(st.integers(0, 7), max_size=3),
       pods=st.lists(labels, min_size=1, max_size=5))
def test_the_check_gives_the_same_owners_as_with_every_selector(
        others: list[tuple[str, str]], changes: list[tuple[int, str]], gone: set[int],
        pods: list[dict[str, str]]) -> None:
    index = SelectorIndex()
    current: dict[str, tuple[str, str]] = {}  # key -> (namespace, selector)
    for i, (namespace, selector) in enumerate(others):
        key = f"crd:{namespace}/hpa-{i}"
        index.register(key, namespace, selector)
        current[key] = (namespace, selector)
    for i, selector in changes:  # selectors change between passes
        for changed in [k for k in current if k.endswith(f"/hpa-{i}")]:
            index.register(changed, current[changed][0], selector)
            current[changed] = (current[changed][0], selector)
    for i in gone:  # autoscalers deleted
        for key in [k for k in current if k.endswith(f"/hpa-{i}")]:
            index.forget(key)
            del current[key]
    me = "crd:ns/me"
    infos = tuple(pod(i, p) for i, p in enumerate(pods))
    everyone = tuple((key.split(":", 1)[-1], selector) for key, (namespace, selector)
                     in current.items() if namespace == "ns" and selector)
    offered = index.candidates(me, "ns", (p.labels for p in infos))
    assert set(offered) <= set(everyone)
    assert sorted(other_owners(infos, Observation(None, other_selectors=offered))) == sorted(
        other_owners(infos, Observation(None, other_selectors=everyone)))


@pytest.mark.parametrize("selector, pod_labels, offered", [
    pytest.param("app=web", {"app": "web"}, True, id="equality-filed-and-found"),
    pytest.param("app=api", {"app": "web"}, False, id="other-value-never-looked-at"),
    pytest.param("app in (web,api)", {"app": "api"}, True, id="each-in-value-filed"),
    pytest.param("tier!=db", {"app": "web"}, True, id="no-equality-always-offered"),
    pytest.param("app=(", {"app": "web"}, False, id="unparsable-selects-nothing"),
    pytest.param("", {"app": "web"}, False, id="empty-is-missing"),
])
def test_what_is_offered(selector: str, pod_labels: dict[str, str], offered: bool) -> None:
    index = SelectorIndex()
    index.register("crd:ns/other", "ns", selector)
    index.register("crd:elsewhere/x", "elsewhere", "app=web")
    got = index.candidates("crd:ns/me", "ns", [pod_labels])
    assert got == ((("ns/other", selector),) if offered else ())


def test_a_changed_selector_is_refiled_and_a_forgotten_one_gone() -> None:
    index = SelectorIndex()
    index.register("crd:ns/o", "ns", "app=web")
    index.register("crd:ns/o", "ns", "app=api")
    assert index.candidates("crd:ns/me", "ns", [{"app": "web"}]) == ()
    assert index.candidates("crd:ns/me", "ns", [{"app": "api"}]) == (("ns/o", "app=api"),)
    index.forget("crd:ns/o")
    assert index.candidates("crd:ns/me", "ns", [{"app": "api"}]) == ()


# --- the pod cache's label index ---------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(pods=st.lists(st.tuples(st.sampled_from(["ns", "other"]), labels), max_size=12),
       selector=selectors(), namespace=st.sampled_from(["ns", "other", "empty"]))
def test_the_pod_index_selects_what_a_scan_selects_in_the_same_order(
        pods: list[tuple[str, dict[str, str]]], selector: str, namespace: str) -> None:
    from algorithms.labels import SelectorError, parse_selector  # noqa: PLC0415
    from autoscaler.kube.pods import PodIndex  # noqa: PLC0415

    items = [(ns, pod(i, p)) for i, (ns, p) in enumerate(pods)]
    try:
        parsed = parse_selector(selector)
    except SelectorError:
        return
    index = PodIndex.of(7, items)
    got = tuple(p for p in index.candidates(namespace, parsed) if parsed.matches(p.labels))
    scan = tuple(p for ns, p in items if ns == namespace and parsed.matches(p.labels))
    assert got == scan
    assert index.candidates(namespace, None) == tuple(p for ns, p in items if ns == namespace)
