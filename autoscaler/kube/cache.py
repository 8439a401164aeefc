"""A list+watch cache of one kind of object, like client-go's informer (without the queue).

One LIST, then a WATCH from its resourceVersion; events update the map; a 410 Gone (the
server's event history expired), an ERROR event or a broken stream relists after a short
pause. `synced` turns true after the first successful LIST (what /readyz reports).
Objects are kept as the raw JSON dicts the server sent, optionally converted once per
resourceVersion by `convert` (a conversion error logs and skips that object).

`on_change`, when set, is called (on the watch thread, outside the lock) after an event or a
relist changed an object in a way `significant(before, after)` accepts (None: any change;
`before`/`after` None for an object added/removed): the spec caches wake the loop with it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

import structlog
from kubernetes.watch.watch import iter_resp_lines

from autoscaler.errors import (
    AutoscalerError,
    PermanentError,
    TransientError,
    boundary,
    classify,
)

log = structlog.get_logger("autoscaler.cache")

WATCH_TIMEOUT_SECONDS = 300
RETRY_SECONDS = 2.0

T = TypeVar("T")
Lister = Callable[..., Any]  # a typed-API list function: list_namespaced_pod, ...


class WatchCache(Generic[T]):
    def __init__(self, what: str, list_fn: Lister, list_args: tuple[Any, ...],
                 convert: Callable[[Mapping[str, Any]], T], timeout_seconds: float = 30.0,
                 list_kwargs: Mapping[str, Any] | None = None, not_found: str = "",
                 significant: Callable[[T | None, T | None], bool] | None = None) -> None:
        self.what = what
        self.list_fn = list_fn
        self.list_args = list_args
        self.list_kwargs = dict(list_kwargs or {})  # e.g. field_selector="spec.nodeName=n"
        self.not_found = not_found  # what a 404 on the LIST means, e.g. a CRD missing
        self.convert = convert
        self.timeout = timeout_seconds
        self._lock = threading.Lock()
        self._items: dict[tuple[str, str], tuple[str, T]] = {}  # (ns, name) -> (rv, value)
        self._synced = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.relists = 0
        self.last_error: AutoscalerError | None = None  # of the last failed LIST or watch
        self.generation = 0  # +1 on every change of the contents (indexes rebuild on it)
        self._live = False  # listed and watching: events arrive as they happen
        self.significant = significant
        self.on_change: Callable[[], None] | None = None

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    def wait_synced(self, timeout: float) -> bool:
        return self._synced.wait(timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True, name=f"watch-{self.what}")
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._live = False  # a stopped watch's contents only age

    def require_synced(self) -> None:
        """Raise why the cache holds nothing trustworthy yet (never read an empty cache as
        "no objects")."""
        if not self._synced.is_set():
            raise self.last_error or TransientError(f"{self.what}: not listed yet")

    def items(self, namespace: str | None = None) -> list[T]:
        with self._lock:
            return [value for (ns, _name), (_rv, value) in self._items.items()
                    if namespace is None or ns == namespace]

    @property
    def live(self) -> bool:
        """Listed and watching now (False before the first LIST and while re-listing after
        the watch ended or failed): reads that must not be stale check it."""
        return self._live

    def get(self, namespace: str, name: str) -> T | None:
        with self._lock:
            found = self._items.get((namespace, name))
        return None if found is None else found[1]

    def snapshot(self) -> tuple[int, list[tuple[str, T]]]:
        """(generation, [(namespace, value)]) read together, for indexes."""
        with self._lock:
            return self.generation, [(ns, value) for (ns, _name), (_rv, value)
                                     in self._items.items()]

    def list_now(self) -> str:
        """LIST and replace the contents; returns the list's resourceVersion. Failures are
        the error tree's (a 404 with `not_found` set says what to install)."""
        try:
            with boundary(f"list {self.what}"):
                response = self.list_fn(*self.list_args, **self.list_kwargs,
                                         _preload_content=False,
                                         _request_timeout=self.timeout)
                document = json.loads(response.data)
                if not isinstance(document, dict):
                    raise ValueError(f"a LIST answered {str(document)[:60]}")
        except AutoscalerError as exc:
            if exc.status == 404 and self.not_found:
                raise PermanentError(self.not_found, 404) from exc
            raise
        fresh: dict[tuple[str, str], tuple[str, T]] = {}
        for item in document.get("items") or []:
            self._put(fresh, item)
        with self._lock:
            before, self._items = self._items, fresh
            self.generation += 1
            self._live = True
        self.relists += 1
        self._synced.set()
        if self.on_change is not None:
            self._notify((before.get(key), fresh.get(key)) for key in before.keys() | fresh)
        return str((document.get("metadata") or {}).get("resourceVersion", ""))

    def _notify(self, changes: Iterable[tuple[tuple[str, T] | None, tuple[str, T] | None]]
                ) -> None:
        """Call on_change once if any (before, after) entry changed significantly."""
        listener = self.on_change
        if listener is None:
            return
        for before, after in changes:
            if before is after or (before is not None and after is not None
                                   and before[0] == after[0]):
                continue  # the same resourceVersion: unchanged
            old = None if before is None else before[1]
            new = None if after is None else after[1]
            if self.significant is None or self.significant(old, new):
                listener()
                return

    def _put(self, target: dict[tuple[str, str], tuple[str, T]], item: Mapping[str, Any]
             ) -> None:
        metadata = item.get("metadata") or {}
        key = (str(metadata.get("namespace", "")), str(metadata.get("name", "")))
        version = str(metadata.get("resourceVersion", ""))
        previous = target.get(key)
        if previous is not None and previous[0] == version:
            return
        try:
            target[key] = (version, self.convert(item))
        except Exception as exc:
            log.warning("object skipped: malformed", kind=self.what, object="/".join(key),
                        error=f"{type(exc).__name__}: {exc}"[:500])
            target.pop(key, None)

    def apply(self, event_type: str, item: Mapping[str, Any]) -> None:
        metadata = item.get("metadata") or {}
        key = (str(metadata.get("namespace", "")), str(metadata.get("name", "")))
        with self._lock:
            before = self._items.get(key)
            if event_type == "DELETED":
                self._items.pop(key, None)
            elif event_type in ("ADDED", "MODIFIED"):
                self._put(self._items, item)
            after = self._items.get(key)
            if after is not before:
                self.generation += 1
        if after is not before:
            self._notify([(before, after)])

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._watch(self.list_now())
                self._live = False  # the watch ended: stale until the next LIST
            except Exception as exc:
                self._live = False
                self.last_error = classify(exc, f"list/watch {self.what}")
                if self.last_error.status == 404 and self.not_found:
                    self.last_error = PermanentError(self.not_found, 404)
                log.warning("watch restarting", kind=self.what, error=str(self.last_error))
                self._stop.wait(RETRY_SECONDS)

    def _watch(self, version: str) -> None:
        """Stream watch events ourselves: the client's `Watch(deserialize=False)` yields
        events without `raw_object` and then fails on ERROR events with a KeyError."""
        response = self.list_fn(*self.list_args, **self.list_kwargs, watch=True,
                                resource_version=version,
                                timeout_seconds=WATCH_TIMEOUT_SECONDS, _preload_content=False,
                                _request_timeout=(self.timeout, WATCH_TIMEOUT_SECONDS + 30))
        try:
            for line in iter_resp_lines(response):  # type: ignore[no-untyped-call]
                if self._stop.is_set():
                    return
                if not line or not line.strip():
                    continue
                event = json.loads(line)
                if event.get("type") == "ERROR":
                    return  # typically 410 Gone: relist
                self.apply(str(event.get("type")), event.get("object") or {})
        finally:
            response.release_conn()
