"""The object store: plain JSON dicts, one global resourceVersion, a bounded change history.

Like etcd behind the apiserver, every write bumps one cluster-wide counter that becomes the
object's `metadata.resourceVersion`; watches replay the history after a given version, and a
version older than the retained history is `410 Expired`.
"""

from __future__ import annotations

import copy
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from autoscaler.testing.errors import already_exists, conflict, expired, invalid, not_found
from autoscaler.testing.kinds import Kind

JSON = dict[str, Any]
Key = tuple[str, str, str, str, str]  # group, version, plural, namespace ("" if none), name
Predicate = Callable[[JSON], bool]
Scope = Literal["main", "status", "all"]

# The alphabet apimachinery uses for generateName suffixes (no vowels, no confusable digits).
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


@dataclass(frozen=True, slots=True)
class Change:
    """One committed write; `old` lets a filtered watch turn it into ADDED/DELETED."""

    rv: int
    type: str  # ADDED, MODIFIED or DELETED
    kind: Kind
    obj: JSON
    old: JSON | None


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def key_of(kind: Kind, namespace: str, name: str) -> Key:
    return (kind.group, kind.version, kind.plural, namespace if kind.namespaced else "", name)


class ObjectStore:
    def __init__(self, history: int = 1000) -> None:
        self._cond = threading.Condition()
        self._objects: dict[Key, JSON] = {}
        self._rv = 0
        self._changes: deque[Change] = deque()
        self._history = history
        self._floor = 0  # every change with rv > floor is still in _changes
        self._closed = False

    def resource_version(self) -> str:
        with self._cond:
            return str(self._rv)

    def create(self, kind: Kind, obj: JSON, *, keep_status: bool = False) -> JSON:
        new = copy.deepcopy(obj)
        new["apiVersion"], new["kind"] = kind.api_version, kind.kind
        meta = new.setdefault("metadata", {})
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(kind.kind, kind.group, "", "metadata.name: Required value: name "
                              "or generateName is required")
            meta["name"] = meta["generateName"] + "".join(
                random.choices(_SUFFIX_ALPHABET, k=5))
        if not kind.namespaced:
            meta.pop("namespace", None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now_rfc3339())
        if "spec" in new:
            meta["generation"] = 1
        if not keep_status and "status" in kind.subresources:
            new.pop("status", None)  # the apiserver drops status on create
        key = key_of(kind, meta.get("namespace", ""), meta["name"])
        with self._cond:
            if key in self._objects:
                raise already_exists(kind.plural, kind.group, meta["name"])
            return self._commit("ADDED", kind, key, new, None)

    def get(self, kind: Kind, namespace: str, name: str) -> JSON:
        with self._cond:
            obj = self._objects.get(key_of(kind, namespace, name))
            if obj is None:
                raise not_found(kind.plural, kind.group, name)
            return copy.deepcopy(obj)

    def list_objects(self, kind: Kind, namespace: str | None,
             predicate: Predicate = lambda _: True) -> tuple[list[JSON], str]:
        """Matching objects in etcd key order, and the list's resourceVersion."""
        with self._cond:
            items = [copy.deepcopy(obj) for key, obj in sorted(self._objects.items())
                     if key[:3] == key_of(kind, "", "")[:3]
                     and (namespace is None or key[3] == namespace) and predicate(obj)]
            return items, str(self._rv)

    def update(self, kind: Kind, namespace: str, name: str, change: Callable[[JSON], JSON],
               *, scope: Scope = "main") -> JSON:
        """Apply `change` to a copy; a stale `metadata.resourceVersion` in its result is 409.

        Main-resource writes keep the stored status when a status subresource exists, status
        writes keep everything but the status: the apiserver's split of spec and status.
        Scope "all" (seeding only) takes both.
        """
        key = key_of(kind, namespace, name)
        with self._cond:
            current = self._objects.get(key)
            if current is None:
                raise not_found(kind.plural, kind.group, name)
            proposed = change(copy.deepcopy(current))
            wanted = (proposed.get("metadata") or {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                raise conflict(kind.plural, kind.group, name)
            new = _merged(kind, current, proposed, scope)
            if new == current:  # a no-op write: no new resourceVersion, no watch event
                return copy.deepcopy(current)
            if new.get("spec") != current.get("spec"):
                new["metadata"]["generation"] = current["metadata"].get("generation", 0) + 1
            return self._commit("MODIFIED", kind, key, new, current)

    def delete(self, kind: Kind, namespace: str, name: str) -> JSON:
        key = key_of(kind, namespace, name)
        with self._cond:
            current = self._objects.get(key)
            if current is None:
                raise not_found(kind.plural, kind.group, name)
            return self._commit("DELETED", kind, key, copy.deepcopy(current), current)

    def _commit(self, kind_of_change: str, kind: Kind, key: Key, obj: JSON,
                old: JSON | None) -> JSON:
        self._rv += 1
        obj["metadata"]["resourceVersion"] = str(self._rv)
        if kind_of_change == "DELETED":
            del self._objects[key]
        else:
            self._objects[key] = obj
        self._changes.append(Change(self._rv, kind_of_change, kind, copy.deepcopy(obj), old))
        while len(self._changes) > self._history:
            self._floor = self._changes.popleft().rv
        self._cond.notify_all()
        return copy.deepcopy(obj)

    def expire_history(self) -> None:
        """Forget every change so far: a watch resuming from an older version gets 410."""
        with self._cond:
            self._changes.clear()
            self._floor = self._rv

    def changes_after(self, rv: int, timeout: float) -> tuple[list[Change], int, bool]:
        """Wait up to `timeout` for changes after `rv`: (changes, newest rv, store closed)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            if rv < self._floor:
                raise expired(rv, self._floor + 1)
            while self._rv <= rv and not self._closed:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            changes = [c for c in self._changes if c.rv > rv]
            return changes, max(rv, self._rv), self._closed

    def close(self) -> None:
        """Wake every watch so its stream ends (the server is stopping)."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


def _merged(kind: Kind, current: JSON, proposed: JSON, scope: Scope) -> JSON:
    if scope == "status":
        new = copy.deepcopy(current)
        if proposed.get("status") is None:
            new.pop("status", None)
        else:
            new["status"] = proposed["status"]
        return new
    new = copy.deepcopy(proposed)
    new["apiVersion"], new["kind"] = kind.api_version, kind.kind
    meta = new.setdefault("metadata", {})
    for field in ("name", "namespace", "uid", "creationTimestamp", "generation",
                  "resourceVersion"):
        if field in current["metadata"]:
            meta[field] = current["metadata"][field]
        else:
            meta.pop(field, None)
    if scope == "main" and "status" in kind.subresources:
        if "status" in current:
            new["status"] = copy.deepcopy(current["status"])
        else:
            new.pop("status", None)
    return new
