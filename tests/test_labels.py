"""Label selector strings, as `labels.Parse` reads them."""

from __future__ import annotations

import pytest

from algorithms.labels import SelectorError, parse_selector


@pytest.mark.parametrize(("selector", "labels", "matches"), [
    pytest.param("app=qwen", {"app": "qwen"}, True, id="equals"),
    pytest.param("app==qwen", {"app": "qwen"}, True, id="double-equals"),
    pytest.param("app=qwen", {"app": "other"}, False, id="equals-mismatch"),
    pytest.param("app=qwen", {}, False, id="equals-absent"),
    pytest.param("tier!=edge", {}, True, id="not-equals-matches-absent"),
    pytest.param("tier!=edge", {"tier": "edge"}, False, id="not-equals"),
    pytest.param("tier in (edge, cloud)", {"tier": "cloud"}, True, id="in"),
    pytest.param("tier notin (edge)", {}, True, id="notin-matches-absent"),
    pytest.param("gpu", {"gpu": ""}, True, id="exists"),
    pytest.param("!gpu", {"gpu": "1"}, False, id="does-not-exist"),
    pytest.param("rank>2", {"rank": "3"}, True, id="greater-than"),
    pytest.param("rank<2", {"rank": "x"}, False, id="less-than-non-integer"),
    pytest.param("a=b,c=d", {"a": "b", "c": "d"}, True, id="and"),
    pytest.param("a=b,c=d", {"a": "b"}, False, id="and-partial"),
    pytest.param("sedna.io/worker-type=edge", {"sedna.io/worker-type": "edge"}, True,
                 id="prefixed-key"),
])
def test_matching(selector: str, labels: dict[str, str], matches: bool) -> None:
    assert parse_selector(selector).matches(labels) is matches


@pytest.mark.parametrize("selector", [
    pytest.param("cheddar cheese", id="space-separated-words"),
    pytest.param("a in (x", id="unclosed-set"),
    pytest.param("=b", id="no-key"),
    pytest.param("a>b", id="gt-needs-integer"),
    pytest.param("a=b,", id="trailing-comma"),
])
def test_malformed_selector_is_quoted(selector: str) -> None:
    with pytest.raises(SelectorError) as info:
        parse_selector(selector)
    assert repr(selector) in str(info.value)
