"""The autoscalers a process manages: ElasticAutoscaler and Sedna JointInferenceService
watch caches, and a directory of YAML files, assembled into one list per pass.

Each source tells the loop when its set of autoscalers changes (`on_change`, which
`run_loop` points at `Loop.wake`): the watch caches when an autoscaler is added, removed or
its spec's generation changes (not on our own status writes), the directory, which has no
watch, when a poll every DIRECTORY_POLL_SECONDS finds its entries changed.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client

from autoscaler.errors import AutoscalerError
from autoscaler.kube.cache import WatchCache
from autoscaler.specs import sources
from autoscaler.specs.model import ManagedSpec

DIRECTORY_POLL_SECONDS = 3.0


@dataclass(frozen=True)
class SpecSourceOptions:
    namespaces: tuple[str, ...] = ()
    spec_dir: Path | None = None
    crd: bool = True
    sedna: bool = False


def _schedule(value: ManagedSpec | list[ManagedSpec] | None) -> frozenset[tuple[str, Any]]:
    """What the loop's schedule depends on: the keys and their spec generations."""
    specs = [] if value is None else value if isinstance(value, list) else [value]
    return frozenset((m.key, m.generation) for m in specs)


def reschedules(before: Any, after: Any) -> bool:
    """A change the loop must see now: an autoscaler added or removed, or a new spec
    generation (which unparks a failing autoscaler). A status write is none of these."""
    return _schedule(before) != _schedule(after)


def _custom_cache(custom: client.CustomObjectsApi, group: str, version: str, plural: str,
                  namespaces: tuple[str, ...], convert: Any, install: str
                  ) -> list[WatchCache[Any]]:
    missing = f"CRD {plural}.{group} not installed: {install}"
    if namespaces:
        return [WatchCache(f"{plural}/{ns}", custom.list_namespaced_custom_object,
                           (group, version, ns, plural), convert, not_found=missing,
                           significant=reschedules)
                for ns in namespaces]
    return [WatchCache(plural, custom.list_cluster_custom_object, (group, version, plural),
                       convert, not_found=missing, significant=reschedules)]


class DirectoryWatch:
    """A spec directory has no watch: every `poll_seconds` the names, sizes, mtimes and inodes
    of its entries (symlinks followed: a mounted ConfigMap swaps its `..data` link) are
    compared with the last ones, and a difference calls `on_change`. The files themselves are
    read by each pass (`SpecSources.collect`). Shaped like a watch cache for `run_loop`."""

    def __init__(self, path: Path, poll_seconds: float = DIRECTORY_POLL_SECONDS) -> None:
        self.path = path
        self.poll_seconds = poll_seconds
        self.on_change: Callable[[], None] | None = None
        self.last_error: AutoscalerError | None = None  # collect() reports what is wrong
        self._stop = threading.Event()
        self._seen = self._fingerprint()

    @property
    def synced(self) -> bool:
        return True

    def wait_synced(self, timeout: float) -> bool:
        return True

    def start(self) -> None:
        threading.Thread(target=self._run, daemon=True, name="watch-spec-dir").start()

    def stop(self) -> None:
        self._stop.set()

    def list_now(self) -> str:
        """Look now (a change calls on_change); "" (a directory has no resourceVersion)."""
        seen = self._fingerprint()
        if seen != self._seen:
            self._seen = seen
            if self.on_change is not None:
                self.on_change()
        return ""

    def _run(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            self.list_now()

    def _fingerprint(self) -> tuple[tuple[str, int, int, int], ...]:
        try:
            with os.scandir(self.path) as entries:
                names = sorted(entry.name for entry in entries)
        except OSError as exc:
            return ((f"error: {exc}", 0, 0, 0),)
        found = []
        for name in names:
            try:
                info = os.stat(self.path / name)
            except OSError:
                info = None  # a dangling link, or gone meanwhile
            found.append((name, info.st_size, info.st_mtime_ns, info.st_ino) if info
                         else (name, -1, -1, -1))
        return tuple(found)


class SpecSources:
    def __init__(self, api_client: client.ApiClient, options: SpecSourceOptions) -> None:
        custom = client.CustomObjectsApi(api_client)
        self.options = options
        self.crds = _custom_cache(custom, sources.GROUP, sources.VERSION, sources.PLURAL,
                                  options.namespaces, sources.from_custom_resource,
                                  "kubectl apply -k deploy/base (or run with --no-crd)") \
            if options.crd else []
        self.sedna = _custom_cache(custom, sources.SEDNA_GROUP, sources.SEDNA_VERSION,
                                   sources.SEDNA_PLURAL, options.namespaces,
                                   sources.from_joint_inference_service,
                                   "install Sedna, or run without --sedna") \
            if options.sedna else []

        self.directory = DirectoryWatch(options.spec_dir) \
            if options.spec_dir is not None else None

    @property
    def caches(self) -> list[WatchCache[Any] | DirectoryWatch]:
        return [*self.crds, *self.sedna, *([self.directory] if self.directory else [])]

    def collect(self) -> list[ManagedSpec]:
        found: list[ManagedSpec] = []
        for cache in self.crds:
            found.extend(cache.items())
        for cache in self.sedna:
            for specs in cache.items():
                found.extend(specs)
        if self.options.spec_dir is not None:
            found.extend(sources.from_directory(self.options.spec_dir))
        if self.options.namespaces:
            found = [m for m in found if m.namespace in self.options.namespaces]
        return found
