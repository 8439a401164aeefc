"""Label selectors: ``labels.Parse`` and ``metav1.LabelSelectorAsSelector``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

_NAME = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_SPECIAL = "=!(),<>"
_WHITESPACE = " \t\r\n"
_SYMBOLS = ("!=", "==", "=", "!", "(", ")", ",", "<", ">")


class SelectorError(ValueError):
    """The selector does not parse or does not validate."""


@dataclass(frozen=True)
class Requirement:
    key: str
    operator: str  # in notin = == != exists !  gt lt
    values: tuple[str, ...]

    def matches(self, labels: Mapping[str, str]) -> bool:
        op = self.operator
        if op in ("in", "=", "=="):
            return self.key in labels and labels[self.key] in self.values
        if op in ("notin", "!="):
            return self.key not in labels or labels[self.key] not in self.values
        if op == "exists":
            return self.key in labels
        if op == "!":
            return self.key not in labels
        if self.key not in labels:
            return False
        try:
            have = _parse_int64(labels[self.key])
        except SelectorError:
            return False
        want = _parse_int64(self.values[0])
        return have > want if op == "gt" else have < want


@dataclass(frozen=True)
class Selector:
    requirements: tuple[Requirement, ...]
    nothing: bool = False

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.nothing:
            return False
        return all(r.matches(labels) for r in self.requirements)


EVERYTHING = Selector(())
NOTHING = Selector((), nothing=True)


def _parse_int64(text: str) -> int:
    if not re.fullmatch(r"[+-]?\d+", text):
        raise SelectorError(f"invalid integer {text!r}")
    value = int(text)
    if not -(1 << 63) <= value < (1 << 63):
        raise SelectorError(f"integer out of range {text!r}")
    return value


def _validate_key(key: str) -> None:
    prefix, _, name = key.rpartition("/")
    if "/" in key and (not prefix or len(prefix) > 253 or not _DNS_SUBDOMAIN.match(prefix)):
        raise SelectorError(f"invalid label key {key!r}: prefix part must be a DNS subdomain")
    if not name or len(name) > 63 or not _NAME.match(name):
        raise SelectorError(f"invalid label key {key!r}: name part must be a qualified name")


def _validate_value(value: str) -> None:
    if value and (len(value) > 63 or not _NAME.match(value)):
        raise SelectorError(f"invalid label value: {value!r}")


def new_requirement(key: str, operator: str, values: list[str]) -> Requirement:
    """``labels.NewRequirement`` (values are sorted, as sets.String.List() gives them)."""
    _validate_key(key)
    if operator in ("in", "notin") and not values:
        raise SelectorError("for 'in', 'notin' operators, values set can't be empty")
    if operator in ("=", "==", "!=") and len(values) != 1:
        raise SelectorError("exact-match compatibility requires one single value")
    if operator in ("exists", "!") and values:
        raise SelectorError("values set must be empty for exists and does not exist")
    if operator in ("gt", "lt"):
        if len(values) != 1:
            raise SelectorError("for 'Gt', 'Lt' operators, exactly one value is required")
        _parse_int64(values[0])
    for value in values:
        _validate_value(value)
    return Requirement(key, operator, tuple(sorted(set(values))))


def _lex(text: str) -> list[tuple[str, str]]:
    """Tokens as (kind, literal); kind is 'id', 'in', 'notin', a symbol, or 'end'."""
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        char = text[pos]
        if char in _WHITESPACE:
            pos += 1
        elif char in _SPECIAL:
            symbol = next((s for s in _SYMBOLS if text.startswith(s, pos)), None)
            if symbol is None:
                raise SelectorError(f"error lexing '{char}'")
            tokens.append((symbol, symbol))
            pos += len(symbol)
        else:
            start = pos
            while pos < len(text) and text[pos] not in _WHITESPACE + _SPECIAL:
                pos += 1
            word = text[start:pos]
            tokens.append((word if word in ("in", "notin") else "id", word))
    tokens.append(("end", ""))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _lex(text)
        self.pos = 0

    def peek(self, values: bool = True) -> tuple[str, str]:
        kind, lit = self.tokens[self.pos]
        return ("id", lit) if values and kind in ("in", "notin") else (kind, lit)

    def take(self, values: bool = True) -> tuple[str, str]:
        token = self.peek(values)
        self.pos = min(self.pos + 1, len(self.tokens) - 1)
        return token

    def parse(self) -> list[Requirement]:
        requirements: list[Requirement] = []
        while True:
            kind, lit = self.peek()
            if kind == "end":
                return requirements
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: !, identifier, or 'end of string'")
            requirements.append(self.requirement())
            kind, lit = self.take()
            if kind == "end":
                return requirements
            if kind != ",":
                raise SelectorError(f"found '{lit}', expected: ',' or 'end of string'")
            kind, lit = self.peek()
            if kind not in ("id", "!"):
                raise SelectorError(f"found '{lit}', expected: identifier after ','")

    def requirement(self) -> Requirement:
        operator = ""
        kind, lit = self.take()
        if kind == "!":
            operator = "!"
            kind, lit = self.take()
        if kind != "id":
            raise SelectorError(f"unable to parse requirement: found '{lit}', expected: identifier")
        key = lit
        if self.peek()[0] in ("end", ","):
            return new_requirement(key, operator or "exists", [])
        if operator:
            raise SelectorError(f"unable to parse requirement: found '{self.peek()[1]}'")
        kind, lit = self.take(values=False)
        if kind not in ("in", "notin", "=", "==", "!=", ">", "<"):
            expected = "in, notin, =, ==, !=, gt, lt"
            raise SelectorError(f"unable to parse requirement: found '{lit}', expected: {expected}")
        if kind in ("in", "notin"):
            return new_requirement(key, kind, self.set_values())
        op = {">": "gt", "<": "lt"}.get(kind, kind)
        next_kind, _ = self.peek()
        if next_kind in ("end", ","):
            return new_requirement(key, op, [""])
        kind, lit = self.take()
        if kind != "id":
            raise SelectorError(f"unable to parse requirement: found '{lit}', expected: identifier")
        return new_requirement(key, op, [lit])

    def set_values(self) -> list[str]:
        kind, lit = self.take()
        if kind != "(":
            raise SelectorError(f"found '{lit}' expected: '('")
        kind, lit = self.peek()
        if kind == ")":
            self.take()
            return [""]
        if kind not in ("id", ","):
            raise SelectorError(f"found '{lit}', expected: ',', ')' or identifier")
        values: set[str] = set()
        while True:
            kind, lit = self.take()
            if kind == "id":
                values.add(lit)
                nxt, nlit = self.peek()
                if nxt == ")":
                    break
                if nxt != ",":
                    raise SelectorError(f"found '{nlit}', expected: ',' or ')'")
            elif kind == ",":
                if not values:
                    values.add("")
                nxt, _ = self.peek()
                if nxt == ")":
                    values.add("")
                    break
                if nxt == ",":
                    self.take()
                    values.add("")
            else:
                raise SelectorError(f"found '{lit}', expected: ',', or identifier")
        kind, lit = self.take()
        if kind != ")":
            raise SelectorError(f"found '{lit}', expected: ')'")
        return sorted(values)


def parse_selector(text: str) -> Selector:
    """``labels.Parse``: requirements sorted by key."""
    requirements = _Parser(text).parse()
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


_LABEL_SELECTOR_OPS = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}


def from_label_selector(obj: Mapping[str, Any] | None) -> Selector:
    """``metav1.LabelSelectorAsSelector``: nil selects nothing, empty selects everything."""
    if obj is None:
        return NOTHING
    match_labels: Mapping[str, str] = obj.get("matchLabels") or {}
    expressions: list[Mapping[str, Any]] = obj.get("matchExpressions") or []
    if not match_labels and not expressions:
        return EVERYTHING
    requirements = [new_requirement(k, "=", [v]) for k, v in match_labels.items()]
    for expr in expressions:
        operator = _LABEL_SELECTOR_OPS.get(str(expr.get("operator")))
        if operator is None:
            raise SelectorError(f'"{expr.get("operator")}" is not a valid label selector operator')
        values = [str(v) for v in expr.get("values") or []]
        requirements.append(new_requirement(str(expr.get("key", "")), operator, values))
    return Selector(tuple(sorted(requirements, key=lambda r: r.key)))


def describe_label_selector(obj: Mapping[str, Any] | None) -> str:
    """``fmt.Sprintf("%+v", *metav1.LabelSelector)`` (the gogo-protobuf String())."""
    if obj is None:
        return "nil"
    labels: Mapping[str, str] = obj.get("matchLabels") or {}
    label_text = "".join(f"{k}: {labels[k]}," for k in sorted(labels))
    exprs = "".join(
        f"LabelSelectorRequirement{{Key:{e.get('key', '')},Operator:{e.get('operator', '')},"
        f"Values:[{' '.join(str(v) for v in e.get('values') or [])}],}},"
        for e in obj.get("matchExpressions") or []
    )
    return (
        f"&LabelSelector{{MatchLabels:map[string]string{{{label_text}}},"
        f"MatchExpressions:[]LabelSelectorRequirement{{{exprs}}},}}"
    )
