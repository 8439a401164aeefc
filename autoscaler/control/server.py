"""The daemon's HTTP side: Prometheus `/metrics`, `/healthz` (alive) and `/readyz` (caches
synced and a pass completed recently)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST


class DaemonMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        labels = ("namespace", "name")
        self.desired = Gauge("autoscaler_desired_replicas", "Replicas the last decision wants",
                             labels, registry=self.registry)
        self.current = Gauge("autoscaler_current_replicas", "Replicas of the scale target",
                             labels, registry=self.registry)
        self.decisions = Counter("autoscaler_decisions_total", "Decisions by outcome reason",
                                 ("reason",), registry=self.registry)
        self.reconcile_seconds = Histogram(
            "autoscaler_reconcile_duration_seconds", "One autoscaler's pass",
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5), registry=self.registry)
        self.api_errors = Counter("autoscaler_api_errors_total", "Failed API calls by kind",
                                  ("kind",), registry=self.registry)
        self.passes = Counter("autoscaler_passes_total", "Controller passes",
                              registry=self.registry)
        self.parked = Gauge("autoscaler_parked_autoscalers",
                            "Autoscalers backing off after permanent failures",
                            registry=self.registry)
        self.invalid = Gauge("autoscaler_invalid_specs", "Specs rejected by validation",
                             registry=self.registry)


MAX_CONNECTIONS = 16
READ_TIMEOUT_SECONDS = 5.0


class BoundedServer(ThreadingHTTPServer):
    """At most MAX_CONNECTIONS handled at once (more are closed at once: probes and scrapes
    retry), each with a read timeout, so idle or slow clients cannot pin threads."""

    daemon_threads = True
    request_queue_size = 64

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]
                 ) -> None:
        super().__init__(address, handler)
        self.slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self.slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self.slots.release()


def serve(address: str, metrics: DaemonMetrics, ready: Callable[[], bool]
          ) -> ThreadingHTTPServer:
    """Start serving on `host:port` (":8080" = all interfaces) in a daemon thread."""
    host, _, port = address.rpartition(":")

    class Handler(BaseHTTPRequestHandler):
        timeout = READ_TIMEOUT_SECONDS  # the socket's: a silent client is dropped
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._send(200, generate_latest(metrics.registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._send(200, b"ok\n", "text/plain")
            elif self.path == "/readyz":
                ok = ready()
                self._send(200 if ok else 503, b"ok\n" if ok else b"not ready\n",
                           "text/plain")
            else:
                self._send(404, b"not found\n", "text/plain")

        def _send(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # probes every few seconds would drown the decision log

    server = BoundedServer((host or "0.0.0.0", int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True, name="http").start()
    return server
