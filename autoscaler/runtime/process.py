"""The process lifecycle shared by the cloud daemon and the edge agent: logging, signals,
caches, the HTTP endpoints and the loop."""

from __future__ import annotations

import logging
import signal
from typing import Any, Protocol, TextIO

import structlog

from autoscaler.control.loop import Loop
from autoscaler.control.server import serve

log = structlog.get_logger("autoscaler.process")

CACHE_SYNC_SECONDS = 30.0


class Cache(Protocol):
    @property
    def synced(self) -> bool: ...

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def wait_synced(self, timeout: float) -> bool: ...


def configure_logging(fmt: str, stream: TextIO) -> None:
    console = fmt == "console" or (fmt == "auto" and stream.isatty())
    renderer: Any = structlog.dev.ConsoleRenderer() if console \
        else structlog.processors.JSONRenderer()
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True),
                    structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(stream), cache_logger_on_first_use=False)


def run_loop(loop: Loop, caches: list[Cache], metrics_addr: str | None, once: bool) -> None:
    """SIGTERM/SIGINT stop the loop after the pass in flight; caches start and sync before
    the first pass; /metrics, /healthz and /readyz are served while it runs."""
    signal.signal(signal.SIGTERM, lambda *_: loop.stop.set())
    signal.signal(signal.SIGINT, lambda *_: loop.stop.set())
    for cache in caches:
        cache.start()
    server = None
    if metrics_addr:
        server = serve(metrics_addr, loop.metrics,
                       ready=lambda: all(c.synced for c in caches))
    for cache in caches:
        if not cache.wait_synced(CACHE_SYNC_SECONDS):
            log.warning("cache not synced; starting anyway (passes report what is missing)",
                        cache=type(cache).__name__)
    try:
        loop.run(once=once)
    finally:
        for cache in caches:
            cache.stop()
        if server is not None:
            server.shutdown()
        log.info("stopped")
