"""URL paths to resources: `/api/v1/...` for the core group, `/apis/{group}/{version}/...`."""

from __future__ import annotations

from dataclasses import dataclass

from autoscaler.testing.errors import no_route
from autoscaler.testing.kinds import Kind, KindTable


@dataclass(frozen=True, slots=True)
class Route:
    kind: Kind
    namespace: str | None  # None: cluster-scoped kind, or a list across all namespaces
    name: str | None  # None: the collection
    subresource: str | None


def group_version(parts: list[str]) -> tuple[str, str, list[str]] | None:
    """(group, version, rest) for `/api/v1/...` and `/apis/g/v/...`, None for shorter paths."""
    if len(parts) >= 2 and parts[0] == "api":
        return "", parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "apis":
        return parts[1], parts[2], parts[3:]
    return None


def resolve(table: KindTable, path: str) -> Route:
    parts = [p for p in path.split("/") if p]
    found = group_version(parts)
    if found is None or not found[2]:
        raise no_route()
    group, version, rest = found
    if len(rest) >= 3 and rest[0] == "namespaces":
        kind = table.by_plural(group, version, rest[2])
        # `/api/v1/namespaces/x/status` is the Namespace's subresource, not a collection.
        if kind is not None and kind.namespaced:
            return _route(kind, rest[1], rest[3:])
    kind = table.by_plural(group, version, rest[0])
    if kind is None or (kind.namespaced and len(rest) > 1):
        raise no_route()
    return _route(kind, None, rest[1:])


def _route(kind: Kind, namespace: str | None, rest: list[str]) -> Route:
    if len(rest) > 2 or (len(rest) == 2 and rest[1] not in kind.subresources):
        raise no_route()
    name = rest[0] if rest else None
    return Route(kind, namespace, name, rest[1] if len(rest) == 2 else None)
