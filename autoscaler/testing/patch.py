"""The three PATCH flavours the client sends.

- `application/merge-patch+json`: RFC 7386 (objects merge recursively, `null` deletes, anything
  else replaces).
- `application/strategic-merge-patch+json`: merge patch, except that a list of objects that all
  carry a `name` key merges element by element by `name` (containers, ports, conditions keyed by
  name...). Real strategic merge reads per-field patch strategies from the Go types
  (`patchMergeKey`, `$patch` / `$retainKeys` directives, `$setElementOrder`); those are not
  emulated: good enough for the objects this project writes.
- `application/json-patch+json`: RFC 6902 `add`, `replace`, `remove` and `test`.
"""

from __future__ import annotations

import copy
from typing import Any

from autoscaler.testing.errors import ApiError, unsupported_media_type

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
JSON_PATCH = "application/json-patch+json"


def apply_patch(content_type: str, target: Any, patch: Any) -> Any:
    """The patched copy of `target`; `ApiError` on a malformed or failing patch."""
    media = content_type.split(";", maxsplit=1)[0].strip().lower()
    if media == MERGE:
        return merge_patch(target, patch, by_name=False)
    if media == STRATEGIC:
        return merge_patch(target, patch, by_name=True)
    if media == JSON_PATCH:
        return json_patch(target, patch)
    raise unsupported_media_type(content_type)


def merge_patch(target: Any, patch: Any, *, by_name: bool) -> Any:
    if not isinstance(patch, dict):
        if by_name and patch and _named_list(patch) and _named_list(target):
            return _merge_by_name(target, patch)
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value, by_name=by_name)
    return result


def _named_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) and "name" in v for v in value)


def _merge_by_name(target: list[Any], patch: list[Any]) -> list[Any]:
    merged = [copy.deepcopy(item) for item in target]
    index = {item["name"]: i for i, item in enumerate(merged)}
    for item in patch:
        position = index.get(item["name"])
        if position is None:
            merged.append(copy.deepcopy(item))
        else:
            merged[position] = merge_patch(merged[position], item, by_name=True)
    return merged


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list):
        raise ApiError(400, "BadRequest", "json patch must be a list of operations")
    document = copy.deepcopy(target)
    for operation in operations:
        document = _apply_operation(document, operation)
    return document


def _apply_operation(document: Any, operation: Any) -> Any:
    if not isinstance(operation, dict) or "path" not in operation:
        raise ApiError(400, "BadRequest", f"invalid json patch operation: {operation!r}")
    op, tokens = operation.get("op"), _pointer(operation["path"])
    if not tokens:  # the whole document
        return copy.deepcopy(operation.get("value")) if op in ("add", "replace") else document
    parent = _walk(document, tokens[:-1], operation["path"])
    last = tokens[-1]
    if op == "add":
        _add(parent, last, copy.deepcopy(operation.get("value")))
    elif op == "replace":
        _check_exists(parent, last, operation["path"])
        parent[_index(parent, last)] = copy.deepcopy(operation.get("value"))
    elif op == "remove":
        _check_exists(parent, last, operation["path"])
        del parent[_index(parent, last)]
    elif op == "test":
        _check_exists(parent, last, operation["path"])
        if parent[_index(parent, last)] != operation.get("value"):
            raise _failed(f"testing value {operation['path']} failed")
    else:
        raise ApiError(400, "BadRequest", f"unsupported json patch operation {op!r}")
    return document


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise ApiError(400, "BadRequest", f"invalid json pointer {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _walk(document: Any, tokens: list[str], path: str) -> Any:
    node = document
    for token in tokens:
        _check_exists(node, token, path)
        node = node[_index(node, token)]
    return node


def _index(container: Any, token: str) -> Any:
    if isinstance(container, list):
        return len(container) if token == "-" else int(token)
    return token


def _check_exists(container: Any, token: str, path: str) -> None:
    if isinstance(container, dict) and token in container:
        return
    if isinstance(container, list) and token.isdigit() and int(token) < len(container):
        return
    raise _failed(f"path {path!r} does not exist")


def _add(parent: Any, token: str, value: Any) -> None:
    if isinstance(parent, dict):
        parent[token] = value
    elif isinstance(parent, list) and (token == "-" or (token.isdigit()
                                                       and int(token) <= len(parent))):
        parent.insert(_index(parent, token), value)
    else:
        raise _failed(f"cannot add at {token!r}")


def _failed(message: str) -> ApiError:
    # The apiserver answers 422 when a well-formed JSON patch cannot be applied.
    return ApiError(422, "Invalid", f"the server rejected our request due to an error in our "
                                    f"request: {message}")
