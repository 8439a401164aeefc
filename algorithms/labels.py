"""Label selector strings (`Scale.status.selector`), parsed and matched like
`k8s.io/apimachinery/pkg/labels.Parse`.

Grammar: requirements joined by ",": `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
`k notin (a,b)`, `k>5`, `k<5`. `!=` and `notin` also match pods *without* the label,
exactly as upstream.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from algorithms.errors import CoreError

_KEY = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?/)?[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?"
_VALUE = r"(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_TOKEN = re.compile(
    rf"\s*(?:(?P<not>!)\s*(?P<nkey>{_KEY})"
    rf"|(?P<key>{_KEY})\s*(?:(?P<op>==|!=|=|>|<)\s*(?P<value>{_VALUE})"
    rf"|\s+(?P<setop>in|notin)\s*\((?P<values>[^)]*)\))?)\s*(?:,|$)")


class SelectorError(CoreError):
    """The selector string does not parse; the message quotes it."""


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: str  # exists, !, =, !=, in, notin, >, <
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        value = labels.get(self.key)
        if op in ("=", "in"):  # the common case first: Deployment selectors are equalities
            return value is not None and value in self.values
        present = self.key in labels
        if op == "exists":
            return present
        if op == "!":
            return not present
        if op in ("!=", "notin"):
            return not present or value not in self.values
        if not present or value is None:
            return False
        try:
            number = int(value)
        except ValueError:
            return False
        bound = int(self.values[0])
        return number > bound if op == ">" else number < bound


@dataclass(frozen=True, slots=True)
class Selector:
    requirements: tuple[Requirement, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        # A plain loop, not all(genexpr): this runs per pod per pass and is ~2x faster.
        for requirement in self.requirements:  # noqa: SIM110
            if not requirement.matches(labels):
                return False
        return True


@lru_cache(maxsize=4096)
def parse_selector(text: str) -> Selector:
    """Parse; an empty string selects everything (callers treat "" as missing first)."""
    requirements: list[Requirement] = []
    position = 0
    stripped = text.strip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None or match.end() == position:
            raise SelectorError(f"unable to parse requirement: found {stripped[position:]!r} "
                                f"in selector {text!r}")
        requirements.append(_requirement(match, text))
        position = match.end()
        if stripped[position - 1] == "," and position == len(stripped):
            raise SelectorError(f"selector {text!r}: trailing ','")
    return Selector(tuple(requirements))


def _requirement(match: re.Match[str], text: str) -> Requirement:
    if match["not"]:
        return Requirement(match["nkey"], "!")
    key = match["key"]
    if match["op"]:
        op = "=" if match["op"] == "==" else match["op"]
        value = match["value"] or ""
        if op in (">", "<") and not re.fullmatch(r"-?[0-9]+", value):
            raise SelectorError(f"selector {text!r}: {key}{op}{value}: "
                                "for 'Gt', 'Lt' operators, the value must be an integer")
        return Requirement(key, op, (value,))
    if match["setop"]:
        values = tuple(v.strip() for v in match["values"].split(","))
        if any(not re.fullmatch(_VALUE, v) for v in values):
            raise SelectorError(f"selector {text!r}: invalid value in ({match['values']})")
        return Requirement(key, match["setop"], values)
    return Requirement(key, "exists")
