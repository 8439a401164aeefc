"""Parsing untrusted YAML and JSON: a value or an `InputError` naming where, never a crash.

Every document the project reads from outside (spec files, policy files, trace files,
API and Prometheus answers, conformance cases) goes through here, with explicit limits:

| limit | default | why |
|---|---|---|
| `max_bytes` | 8 MiB | a spec or an answer is kilobytes; a runaway file must not fill memory |
| `max_depth` | 100 | objects nest ~15 deep; 20,000-deep input breaks recursive parsers |
| `max_nodes` | 200,000 | YAML aliases can expand a 1 KiB file ("billion laughs") past any memory |
| `max_int_digits` | 100 | a 5,001-digit integer is not a replica count |

YAML: duplicate keys are refused (a silent last-one-wins hides mistakes), aliases are
allowed only while the expanded document stays under `max_nodes`, and the depth is measured
on the event stream before anything recursive runs. JSON: `NaN` and `Infinity` are refused
(not JSON), as are integers longer than `max_int_digits`. Text must be UTF-8.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

from autoscaler.errors import InputError


@dataclass(frozen=True, slots=True)
class Limits:
    max_bytes: int = 8 * 1024 * 1024
    max_depth: int = 100
    max_nodes: int = 200_000
    max_int_digits: int = 100


DEFAULT = Limits()


def decode(data: bytes | str, where: str, limits: Limits = DEFAULT) -> str:
    """UTF-8 text within the size limit (a str is only size-checked)."""
    size = len(data)
    if size > limits.max_bytes:
        raise InputError(f"{where}: {size} bytes, over the {limits.max_bytes}-byte limit")
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}: not UTF-8 (byte {exc.start}: "
                         f"{data[exc.start:exc.start + 1]!r})") from exc


# ----------------------------------------------------------------------------- YAML


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate mapping keys."""


def _mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
             ) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            duplicate = key in seen
        except TypeError:  # an unhashable key: let the constructor report it
            break
        if duplicate:
            mark = key_node.start_mark
            raise InputError(f"{mark.line + 1}: duplicate key {str(key)[:60]!r}")
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _yaml_depth(text: str, where: str, limits: Limits) -> None:
    """Measure nesting on the (iterative) event stream before composing (recursive)."""
    depth = 0
    try:
        for event in yaml.parse(text, Loader=yaml.SafeLoader):
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > limits.max_depth:
                    line = event.start_mark.line + 1 if event.start_mark else "?"
                    raise InputError(f"{where}:{line}: nested deeper than "
                                     f"{limits.max_depth} levels")
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.YAMLError as exc:
        raise InputError(f"{where}:{_yaml_problem(exc)}") from exc


def _expanded_size(node: yaml.Node, sizes: dict[int, int], limit: int) -> int:
    """Nodes of the document once aliases are expanded (shared nodes counted per use)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    total = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            total += _expanded_size(child, sizes, limit)
            if total > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            total += _expanded_size(key, sizes, limit) + _expanded_size(value, sizes, limit)
            if total > limit:
                break
    sizes[id(node)] = total
    return total


def load_yaml_documents(data: bytes | str, where: str, limits: Limits = DEFAULT
                        ) -> list[Any]:
    """Every document of a YAML stream (None documents dropped)."""
    text = decode(data, where, limits)
    _yaml_depth(text, where, limits)
    loader = _UniqueKeyLoader(text)
    documents = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            size = _expanded_size(node, {}, limits.max_nodes)
            if size > limits.max_nodes:
                raise InputError(f"{where}:{node.start_mark.line + 1}: expands to more than "
                                 f"{limits.max_nodes} nodes (aliases)")
            document = loader.construct_document(node)
            if document is not None:
                _check_ints(document, where, limits)
                documents.append(document)
    except InputError as exc:
        raise InputError(exc.message if exc.message.startswith(where)
                         else f"{where}:{exc.message}") from exc
    except yaml.YAMLError as exc:
        raise InputError(f"{where}:{_yaml_problem(exc)}") from exc
    except ValueError as exc:  # e.g. an integer longer than Python converts
        raise InputError(f"{where}: {exc}") from exc
    except RecursionError as exc:  # belt and braces: the depth check should prevent it
        raise InputError(f"{where}: nested too deeply") from exc
    finally:
        loader.dispose()
    return documents


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """"<line>:<column>: problem" (or " problem" when the error has no position)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is not None:
        return f"{mark.line + 1}:{mark.column + 1}: {problem}"
    return f" {problem}"


# ----------------------------------------------------------------------------- JSON


def _json_depth(text: str, where: str, limits: Limits) -> None:
    depth = 0
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > limits.max_depth:
                raise InputError(f"{where}: nested deeper than {limits.max_depth} levels "
                                 f"(at character {index})")
        elif char in "]}":
            depth -= 1


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def load_json(data: bytes | str, where: str, limits: Limits = DEFAULT) -> Any:
    text = decode(data, where, limits)
    _json_depth(text, where, limits)

    def parse_int(digits: str) -> int:
        if len(digits.lstrip("-")) > limits.max_int_digits:
            raise ValueError(f"an integer of {len(digits)} digits")
        return int(digits)

    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_int=parse_int)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{where}: {exc}") from exc


def _check_ints(value: Any, where: str, limits: Limits) -> None:
    """YAML integers: bounded digits (iteratively: the document is already depth-checked)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, bool):
            continue
        if isinstance(item, int) and item.bit_length() > limits.max_int_digits * 4:
            raise InputError(f"{where}: an integer of more than {limits.max_int_digits} digits")
        if isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
        elif isinstance(item, list):
            stack.extend(item)
