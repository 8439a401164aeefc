"""`labelSelector` / `fieldSelector` query parameters, and the selector string of a Scale.

Label selectors reuse the pure parser of `algorithms.labels` (equality and set-based, like
`k8s.io/apimachinery/pkg/labels`). Field selectors accept `=`, `==` and `!=` on any dotted
field path (the apiserver only allows a per-kind list such as `metadata.name`,
`metadata.namespace`, `spec.nodeName`, `status.phase`; the fake is more permissive).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from algorithms.labels import SelectorError, parse_selector
from autoscaler.testing.errors import bad_request

Predicate = Callable[[dict[str, Any]], bool]


def label_predicate(text: str) -> Predicate:
    try:
        selector = parse_selector(text)
    except SelectorError as error:
        raise bad_request(str(error)) from error

    def matches(obj: dict[str, Any]) -> bool:
        return selector.matches(obj.get("metadata", {}).get("labels") or {})
    return matches


def field_predicate(text: str) -> Predicate:
    requirements = [_field_requirement(part) for part in text.split(",") if part.strip()]

    def matches(obj: dict[str, Any]) -> bool:
        return all((_field(obj, path) == value) == equal for path, equal, value in requirements)
    return matches


def _field_requirement(part: str) -> tuple[str, bool, str]:
    for operator, equal in (("!=", False), ("==", True), ("=", True)):
        if operator in part:
            path, value = part.split(operator, 1)
            return path.strip(), equal, value.strip()
    raise bad_request(f'invalid selector: \'{part}\'; can\'t understand \'{part}\'')


def _field(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for key in path.split("."):
        node = node.get(key) if isinstance(node, dict) else None
    return "" if node is None else str(node)


def selector_string(label_selector: dict[str, Any] | None) -> str:
    """`metav1.LabelSelectorAsSelector(s).String()`: requirements sorted by key, values sorted."""
    if not label_selector:
        return ""
    parts: list[tuple[str, str]] = [
        (key, f"{key}={value}") for key, value in (label_selector.get("matchLabels") or {}).items()]
    for expression in label_selector.get("matchExpressions") or []:
        key, values = expression["key"], ",".join(sorted(expression.get("values") or []))
        operator = expression["operator"]
        text = {"In": f"{key} in ({values})", "NotIn": f"{key} notin ({values})",
                "Exists": key, "DoesNotExist": f"!{key}"}[operator]
        parts.append((key, text))
    return ",".join(text for _, text in sorted(parts, key=lambda p: p[0]))
