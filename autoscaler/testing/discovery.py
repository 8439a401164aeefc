"""Discovery documents (`/api`, `/apis`, `/apis/{group}[/{version}]`, `/version`).

They let the official client's `DynamicClient` map a kind to its resource and subresources,
exactly as it does against a real cluster.
"""

from __future__ import annotations

from typing import Any

from autoscaler.testing.kinds import Kind, KindTable

JSON = dict[str, Any]

# Subresource kinds and verbs as the apiserver advertises them.
_SUBRESOURCES: dict[str, tuple[str, str, str, tuple[str, ...]]] = {
    # name: (group, version, kind; "" means "the parent's"), verbs
    "scale": ("autoscaling", "v1", "Scale", ("get", "patch", "update")),
    "status": ("", "", "", ("get", "patch", "update")),
}

VERSION = {"major": "1", "minor": "30", "gitVersion": "v1.30.0-fake", "gitCommit": "fake",
           "gitTreeState": "clean", "buildDate": "2024-01-01T00:00:00Z", "goVersion": "go1.22",
           "compiler": "gc", "platform": "linux/amd64"}


def api_versions(address: str) -> JSON:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}]}


def _group(name: str, versions: list[str]) -> JSON:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def _versions_by_group(table: KindTable) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for kind in sorted(table.all(), key=lambda k: (k.group, k.version)):
        if kind.group and kind.version not in groups.setdefault(kind.group, []):
            groups[kind.group].append(kind.version)
    return groups


def api_group_list(table: KindTable) -> JSON:
    groups = [_group(name, versions) for name, versions in _versions_by_group(table).items()]
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(table: KindTable, name: str) -> JSON | None:
    versions = _versions_by_group(table).get(name)
    if versions is None:
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)}


def _resource(kind: Kind) -> list[JSON]:
    entries: list[JSON] = [{"name": kind.plural, "singularName": kind.kind.lower(),
                            "namespaced": kind.namespaced, "kind": kind.kind,
                            "verbs": list(kind.verbs)}]
    for sub in kind.subresources:
        group, version, sub_kind, verbs = _SUBRESOURCES[sub]
        entry: JSON = {"name": f"{kind.plural}/{sub}", "singularName": "",
                       "namespaced": kind.namespaced, "kind": sub_kind or kind.kind,
                       "verbs": list(verbs)}
        if group:
            entry.update(group=group, version=version)
        entries.append(entry)
    return entries


def api_resource_list(table: KindTable, group: str, version: str) -> JSON | None:
    kinds = table.in_group_version(group, version)
    if not kinds:
        return None
    ordered = sorted(kinds, key=lambda k: k.plural)
    resources = [entry for kind in ordered for entry in _resource(kind)]
    group_version = f"{group}/{version}" if group else version
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version,
            "resources": resources}
