"""The process lifecycle shared by the cloud daemon and the edge agent: logging, signals,
caches, the HTTP endpoints and the loop."""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

import structlog

from autoscaler.control.loop import Loop
from autoscaler.control.server import serve
from autoscaler.errors import AutoscalerError
from autoscaler.runtime.logs import configure_logging

__all__ = ["Cache", "Notifier", "configure_logging", "once_failure", "run_loop", "stop_on_signals"]

log = structlog.get_logger("autoscaler.process")

CACHE_SYNC_SECONDS = 30.0
SHUTDOWN_SECONDS = 10.0


class Cache(Protocol):
    @property
    def synced(self) -> bool: ...

    @property
    def last_error(self) -> AutoscalerError | None: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wait_synced(self, timeout: float) -> bool: ...


@runtime_checkable
class Notifier(Protocol):
    """A cache that says when the set of autoscalers changed (the spec sources)."""

    on_change: Callable[[], None] | None


def stop_on_signals() -> threading.Event:
    """SIGTERM/SIGINT set the returned event: installed first thing, so a signal during
    start-up (connecting, syncing caches) is a clean stop too."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    return stop


def run_loop(loop: Loop, caches: list[Cache], metrics_addr: str | None, once: bool) -> None:
    """SIGTERM/SIGINT stop the loop after the pass in flight; caches start and sync before
    the first pass (at most CACHE_SYNC_SECONDS in all, cut short by SIGTERM); /metrics,
    /healthz and /readyz are served while it runs. /readyz is ready when every cache has
    listed and the last pass reached the API server.

    Shutdown is bounded: after SIGTERM the pass in flight finishes (each API call has its
    own timeout), reconciles still running get SHUTDOWN_SECONDS, watches are abandoned.

    Between passes the loop sleeps until the next autoscaler is due; the caches that say
    when the set of autoscalers changed (the spec sources: `Notifier`) wake it."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: loop.stop.set())
        signal.signal(signal.SIGINT, lambda *_: loop.stop.set())
    for cache in caches:
        if isinstance(cache, Notifier):
            cache.on_change = loop.wake
        cache.start()
    server = None
    if metrics_addr:
        server = serve(metrics_addr, loop.metrics,
                       ready=lambda: all(c.synced for c in caches) and loop.api_reachable)
    deadline = time.monotonic() + CACHE_SYNC_SECONDS
    for cache in caches:
        while not loop.stop.is_set() and not cache.wait_synced(0.2):
            if once and cache.last_error is not None:
                break  # one pass: do not wait out a failure the pass will report
            if time.monotonic() >= deadline:
                log.warning("cache not synced; starting anyway (passes report what is "
                            "missing)", cache=type(cache).__name__)
                break
    try:
        if not loop.stop.is_set():
            loop.run(once=once)
    finally:
        loop.close(SHUTDOWN_SECONDS)
        for cache in caches:
            cache.stop()
        if server is not None:
            server.shutdown()
            server.server_close()
        log.info("stopped")


def once_failure(loop: Loop, caches: list[Cache]) -> str:
    """Why a single pass (`--once`) did not do its job, or "": a cache that never listed
    (the specs or pods are unknown), or no reconcile that reached the API server."""
    for cache in caches:
        if not cache.synced:
            error = cache.last_error
            return str(error) if error is not None else "a watch cache never listed"
    if not loop.api_reachable:
        return f"the API server could not be reached: {loop.last_failure}"
    return ""
