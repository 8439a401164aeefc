"""REST semantics of the resource endpoints, independent of HTTP: verbs on routes.

`RestApi.handle` answers `(code, body)` or, for `?watch=true`, a `WatchRequest` the HTTP layer
streams. Errors are raised as `ApiError` and become `Status` responses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autoscaler.testing import discovery
from autoscaler.testing.errors import (
    ApiError,
    bad_request,
    conflict,
    method_not_allowed,
    no_route,
)
from autoscaler.testing.kinds import Kind, KindTable, kinds_from_crd
from autoscaler.testing.patch import apply_patch
from autoscaler.testing.routes import Route, group_version, resolve
from autoscaler.testing.selectors import Predicate, field_predicate, label_predicate
from autoscaler.testing.store import ObjectStore
from autoscaler.testing.subresources import apply_defaults, apply_scale, scale_of

JSON = dict[str, Any]
Reply = tuple[int, JSON]

# The apiserver closes a watch after a random 30-60 min; a fixed default is enough here.
DEFAULT_WATCH_SECONDS = 1800.0
_VERB = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@dataclass(frozen=True, slots=True)
class WatchRequest:
    kind: Kind
    namespace: str | None
    predicate: Predicate
    resource_version: str
    timeout: float
    bookmarks: bool


class RestApi:
    def __init__(self, kinds: KindTable, store: ObjectStore, address: Callable[[], str]) -> None:
        self.kinds = kinds
        self.store = store
        self._address = address

    def handle(self, method: str, path: str, query: dict[str, str], content_type: str,
               body: Any) -> Reply | WatchRequest:
        document = self._discovery(path)
        if document is not None:
            if method != "GET":
                raise method_not_allowed()
            return 200, document
        route = resolve(self.kinds, path)
        verb = _VERB.get(method, "get")
        if method not in ("GET", *_VERB) or verb not in route.kind.verbs:
            raise method_not_allowed()
        if method == "GET":
            return self._get(route, query)
        if method == "POST":
            return self._create(route, body)
        if route.name is None:
            raise method_not_allowed()  # no deletecollection, no collection-level update
        if method == "DELETE":
            return 200, self.store.delete(route.kind, route.namespace or "", route.name)
        return self._write(route, method, content_type, body)

    def conflict_for(self, path: str) -> ApiError:
        """The 409 a write to `path` would get if someone else had written first."""
        try:
            route = resolve(self.kinds, path)
        except ApiError:
            return conflict("", "", path)
        return conflict(route.kind.plural, route.kind.group, route.name or "")

    def _discovery(self, path: str) -> JSON | None:
        parts = [p for p in path.split("/") if p]
        if parts == ["version"]:
            return dict(discovery.VERSION)
        if parts == ["api"]:
            return discovery.api_versions(self._address())
        if parts == ["apis"]:
            return discovery.api_group_list(self.kinds)
        if len(parts) == 2 and parts[0] == "apis":
            return _or_404(discovery.api_group(self.kinds, parts[1]))
        found = group_version(parts)
        if found is not None and not found[2]:
            return _or_404(discovery.api_resource_list(self.kinds, found[0], found[1]))
        return None

    def _get(self, route: Route, query: dict[str, str]) -> Reply | WatchRequest:
        kind, namespace = route.kind, route.namespace
        if route.name is not None:
            obj = self.store.get(kind, namespace or "", route.name)
            return 200, scale_of(kind, obj) if route.subresource == "scale" else obj
        predicate = _predicate(query)
        if query.get("watch") in ("true", "1"):
            if "watch" not in kind.verbs:
                raise method_not_allowed()
            timeout = float(query.get("timeoutSeconds") or DEFAULT_WATCH_SECONDS)
            return WatchRequest(kind, namespace, predicate, query.get("resourceVersion", ""),
                                timeout, query.get("allowWatchBookmarks") in ("true", "1"))
        items, rv = self.store.list_objects(kind, namespace, predicate)
        return 200, {"kind": f"{kind.kind}List", "apiVersion": kind.api_version,
                     "metadata": {"resourceVersion": rv}, "items": items}

    def _create(self, route: Route, body: Any) -> Reply:
        kind = route.kind
        if route.name is not None or (kind.namespaced and route.namespace is None):
            raise method_not_allowed()
        obj = _object_body(kind, body)
        meta = obj.setdefault("metadata", {})
        if kind.namespaced:
            if meta.get("namespace", route.namespace) != route.namespace:
                raise bad_request("the namespace of the provided object does not match the "
                                  "namespace sent on the request")
            meta["namespace"] = route.namespace
        apply_defaults(kind, obj)
        created = self.store.create(kind, obj)
        if kind.kind == "CustomResourceDefinition":
            for served in kinds_from_crd(created):
                self.kinds.register(served)
        return 201, created

    def _write(self, route: Route, method: str, content_type: str, body: Any) -> Reply:
        kind, name, sub = route.kind, route.name or "", route.subresource

        def change(current: JSON) -> JSON:
            if sub == "scale":
                scale = scale_of(kind, current)
                wanted = body if method == "PUT" else apply_patch(content_type, scale, body)
                return apply_scale(kind, current, wanted)
            if method == "PATCH":
                return _named(apply_patch(content_type, current, body), name)
            return _named(_object_body(kind, body), name)

        updated = self.store.update(kind, route.namespace or "", name, change,
                                    scope="status" if sub == "status" else "main")
        return 200, scale_of(kind, updated) if sub == "scale" else updated


def _or_404(document: JSON | None) -> JSON:
    if document is None:
        raise no_route()
    return document


def _predicate(query: dict[str, str]) -> Predicate:
    labels = label_predicate(query["labelSelector"]) if query.get("labelSelector") else None
    fields = field_predicate(query["fieldSelector"]) if query.get("fieldSelector") else None

    def matches(obj: JSON) -> bool:
        return (labels is None or labels(obj)) and (fields is None or fields(obj))
    return matches


def _object_body(kind: Kind, body: Any) -> JSON:
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    if body.get("kind", kind.kind) != kind.kind:
        raise bad_request(f"the kind in the data ({body['kind']}) does not match the expected "
                          f"kind ({kind.kind})")
    return body


def _named(obj: Any, name: str) -> JSON:
    if not isinstance(obj, dict):
        raise bad_request("the patched object must be a JSON object")
    wanted = (obj.get("metadata") or {}).get("name")
    if wanted and wanted != name:
        raise bad_request(f"the name of the object ({wanted}) does not match the name on the "
                          f"URL ({name})")
    return obj
