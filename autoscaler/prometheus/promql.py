"""PromQL built from untrusted strings, safely.

Namespaces, pod names and selector values come from the cluster (anyone who can create a pod
chooses its name) and from specs, so they are escaped before they enter a query:

* inside a double-quoted label value, `\\` and `"` are backslash-escaped and control
  characters are written as escapes (PromQL strings follow Go's escaping rules), so a value
  can never close its quotes and add matchers: `a", namespace=~".+` stays one literal value;
* inside a regex matcher (`=~`), the value is first made literal for RE2 (every regex
  metacharacter backslash-escaped, like Go's `regexp.QuoteMeta`), then string-escaped: a pod
  named `.*` matches only a pod named `.*`.

User templates may use only the placeholders listed in PLACEHOLDERS; anything else in
double braces is an error naming the template.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from autoscaler.errors import InputError

_RE2_META = set("\\.+*?()|[]{}^$")
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
PLACEHOLDERS = ("namespace", "pods", "selector", "name", "window")


class QueryError(InputError):
    """A template or value cannot become a safe query; the message names it."""


def escape_string(value: str) -> str:
    """Body of a double-quoted PromQL string literal."""
    out = []
    for char in value:
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\x{ord(char):02x}")
        else:
            out.append(char)
    return "".join(out)


def quote_meta(value: str) -> str:
    """RE2 literal (Go's regexp.QuoteMeta)."""
    return "".join(f"\\{c}" if c in _RE2_META else c for c in value)


def regex_alternation(values: Iterable[str]) -> str:
    """`a|b|c` matching exactly these literals (PromQL anchors regex matchers), escaped for
    use inside a double-quoted string. Empty input matches nothing (`(?!)` is not RE2, so an
    impossible literal is used)."""
    literal = sorted(set(values))
    if not literal:
        return escape_string("\\x00__no_pod__")
    return escape_string("|".join(quote_meta(v) for v in literal))


def matcher(label: str, value: str) -> str:
    if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", label):
        raise QueryError(f"label name {label!r} is not a valid Prometheus label name")
    return f'{label}="{escape_string(value)}"'


def render(template: str, values: Mapping[str, str], where: str) -> str:
    """Fill `{{placeholder}}`s with values already escaped for string context."""
    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            allowed = ", ".join(f"{{{{{p}}}}}" for p in PLACEHOLDERS)
            raise QueryError(f"{where}: unknown placeholder {{{{{name}}}}} in {template!r}; "
                             f"use {allowed}")
        return values[name]

    return _PLACEHOLDER.sub(replace, template)


def cpu_query(namespace: str, pods: Iterable[str], window_seconds: float) -> str:
    """Per pod and container CPU cores, like metrics.k8s.io: cAdvisor's counter as a rate
    over the window, without the pause container (container="POD") and cgroup totals
    (container="")."""
    return (f'sum by (pod, container) (rate(container_cpu_usage_seconds_total{{'
            f'{matcher("namespace", namespace)}, pod=~"{regex_alternation(pods)}", '
            f'container!="", container!="POD"}}[{int(window_seconds)}s]))')


def memory_query(namespace: str, pods: Iterable[str]) -> str:
    return (f'sum by (pod, container) (container_memory_working_set_bytes{{'
            f'{matcher("namespace", namespace)}, pod=~"{regex_alternation(pods)}", '
            f'container!="", container!="POD"}})')


# Words that are not metric names where a selector could stand (PromQL keywords, aggregation
# modifiers, set operators, literals).
_KEYWORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
    "unless", "offset", "atan2", "inf", "nan", "sum", "min", "max", "avg", "group", "stddev",
    "stdvar", "count", "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio"})
_LABEL_LISTS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right"})
_IDENT = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def _skip_string(query: str, start: int) -> int:
    quote = query[start]
    index = start + 1
    while index < len(query):
        if query[index] == "\\" and quote != "`":
            index += 2
            continue
        if query[index] == quote:
            return index + 1
        index += 1
    return index


def _skip_group(query: str, start: int, opening: str, closing: str) -> int:
    """Index just past the group opened at `start` (strings inside are skipped)."""
    depth, index = 0, start
    while index < len(query):
        char = query[index]
        if char in "\"'`":
            index = _skip_string(query, index)
            continue
        if char == opening:
            depth += 1
        elif char == closing:
            depth -= 1
            if depth == 0:
                return index + 1
        index += 1
    return index


def _next_char(query: str, index: int) -> str:
    while index < len(query) and query[index].isspace():
        index += 1
    return query[index] if index < len(query) else ""


def instant_selectors(query: str) -> list[str]:
    """The instant-vector selectors of a query (`name{matchers}`, `name`, `{matchers}`),
    for checking the age of the raw series under any aggregation. Range selectors
    (`x[5m]`) are left out: their range already bounds their age."""
    found: list[str] = []
    index = 0
    while index < len(query):
        char = query[index]
        if char in "\"'`":
            index = _skip_string(query, index)
        elif char == "#":
            newline = query.find("\n", index)
            index = len(query) if newline < 0 else newline
        elif char == "[":
            index = _skip_group(query, index, "[", "]")
        elif char == "{" or (_IDENT.match(query, index) and not (
                index and (query[index - 1].isalnum() or query[index - 1] in "_."))):
            index = _selector_at(query, index, found)
        else:
            index += 1
    return found


def _selector_at(query: str, index: int, found: list[str]) -> int:
    match = _IDENT.match(query, index)
    name = match.group(0) if match is not None and query[index] != "{" else ""
    end = index + len(name)
    after = _next_char(query, end)
    if name in _LABEL_LISTS:
        skip = end + (len(query[end:]) - len(query[end:].lstrip()))
        return _skip_group(query, skip, "(", ")") if after == "(" else end
    if name and (name in _KEYWORDS or after == "("):
        return end  # a function or a keyword, not a metric
    if name and name[0].isdigit():
        return end
    if after == "{":
        brace = query.index("{", end)
        end = _skip_group(query, brace, "{", "}")
    if _next_char(query, end) != "[":
        found.append(query[index:end].strip())
    return end
