"""`FakeApiServer`: a small, real HTTP Kubernetes API server for tests.

    with FakeApiServer() as api:
        api.create({"apiVersion": "apps/v1", "kind": "Deployment", ...})
        write_kubeconfig(path, api.url)
        ...  # drive it with the official client, or run the daemon against it

Seed helpers (`create`, `get`, `update`, `delete`, `set_pod_metrics`) write straight into the
store (with resourceVersions and watch events, but without HTTP, faults or the request log).

`FakeApiServer(token=..., tls=TlsFiles(cert, key))` serves HTTPS with that certificate (its
key and chain as PEM files: tests generate a CA and sign one at run time) and answers 401 to
any request without `Authorization: Bearer <token>`; `set_token` rotates the accepted token.
"""

from __future__ import annotations

import builtins
import contextlib
import re
import ssl
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from autoscaler.testing.errors import ApiError
from autoscaler.testing.faults import Fault, Faults, RecordedRequest, RequestLog
from autoscaler.testing.handler import Backend, Server
from autoscaler.testing.kinds import Kind, KindTable, kinds_from_crd
from autoscaler.testing.rest import RestApi
from autoscaler.testing.store import ObjectStore, now_rfc3339
from autoscaler.testing.subresources import apply_defaults

JSON = dict[str, Any]

# How long stop() lets woken watches finish their stream before cutting the sockets.
_WATCH_DRAIN_SECONDS = 1.0


@dataclass(frozen=True)
class TlsFiles:
    """A server certificate (chain) and its private key, PEM files."""

    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)  # no client certificate asked
        context.minimum_version = ssl.TLSVersion.TLSv1_2  # as edgecore's MetaServer
        context.load_cert_chain(self.cert, self.key)
        return context


def serve_tls(server: ThreadingHTTPServer, tls: TlsFiles | None) -> None:
    """Wrap a server's listening socket: each accepted connection is TLS, its handshake done
    by the handler's thread on the first read (a client that never finishes it blocks nobody
    else; one that fails it, e.g. distrusting the certificate, just ends its connection)."""
    if tls is not None:
        server.socket = tls.server_context().wrap_socket(
            server.socket, server_side=True, do_handshake_on_connect=False)


class FakeApiServer:
    def __init__(self, *, token: str | None = None, host: str = "127.0.0.1", port: int = 0,
                 history: int = 1000, tls: TlsFiles | None = None) -> None:
        self.kinds = KindTable()
        self.store = ObjectStore(history)
        self._host, self._port = host, port
        self._tls = tls
        self._faults, self._log = Faults(), RequestLog()
        self._stopping = threading.Event()
        rest = RestApi(self.kinds, self.store, lambda: f"{self._host}:{self._port}")
        self._backend = Backend(rest, self._faults, self._log, token, self._stopping)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        for namespace in ("default", "kube-system"):
            self.create({"apiVersion": "v1", "kind": "Namespace",
                         "metadata": {"name": namespace}, "status": {"phase": "Active"}})

    # Lifecycle

    def start(self) -> Self:
        """Listen (again) on the same port: a stopped server refuses connections until then."""
        if self._server is not None:
            return self
        self._stopping.clear()
        self.store.reopen()
        self._server = Server((self._host, self._port), self._backend)
        serve_tls(self._server, self._tls)
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name=f"fake-apiserver-{self._port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        self.store.close()  # watches end their streams cleanly
        server.shutdown()
        server.wait_for_watches(_WATCH_DRAIN_SECONDS)
        server.sever_connections()
        server.server_close()
        thread.join()
        self._server = self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return f"{'https' if self._tls else 'http'}://{self._host}:{self._port}"

    def set_token(self, token: str | None) -> None:
        """Accept only this bearer token from now on (None: no authentication)."""
        self._backend.token = token

    # Seeding and inspecting objects

    def register_kind(self, group: str, version: str, kind: str, plural: str,
                      namespaced: bool = True,
                      subresources: tuple[str, ...] = ("status", "scale")) -> Kind:
        registered = Kind(group, version, kind, plural, namespaced, tuple(subresources))
        self.kinds.register(registered)
        return registered

    def create(self, obj: JSON) -> JSON:
        """Store `obj` as is (status included), with uid, timestamps and a resourceVersion."""
        kind = self._kind(obj["apiVersion"], obj["kind"])
        obj = dict(obj)
        if kind.namespaced:
            obj["metadata"] = {"namespace": "default", **obj.get("metadata", {})}
        apply_defaults(kind, obj)
        created = self.store.create(kind, obj, keep_status=True)
        if kind.kind == "CustomResourceDefinition":  # as a POST does: its kinds are served
            for served in kinds_from_crd(created):
                self.kinds.register(served)
        return created

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> JSON:
        return self.store.get(self._kind(api_version, kind), namespace, name)

    def list(self, api_version: str, kind: str,
             namespace: str | None = None) -> builtins.list[JSON]:
        return self.store.list_objects(self._kind(api_version, kind), namespace)[0]

    def update(self, obj: JSON) -> JSON:
        """Replace spec, metadata and status at once (unlike an HTTP PUT): a controller's view."""
        kind = self._kind(obj["apiVersion"], obj["kind"])
        meta = obj["metadata"]
        unconditional = {**obj, "metadata": {**meta, "resourceVersion": ""}}
        return self.store.update(kind, meta.get("namespace", ""), meta["name"],
                                 lambda _: unconditional, scope="all")

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> JSON:
        return self.store.delete(self._kind(api_version, kind), namespace, name)

    def set_pod_metrics(self, namespace: str, pod_name: str,
                        containers: Mapping[str, Mapping[str, str]], timestamp: str | None = None,
                        window: str = "30s", labels: Mapping[str, str] | None = None) -> JSON:
        """Publish a PodMetrics like metrics-server: the pod's labels are copied (unless given),
        so `labelSelector` lists on metrics.k8s.io select the same pods as on core/v1."""
        kind = self._kind("metrics.k8s.io/v1beta1", "PodMetrics")
        if labels is None:
            labels = self._pod_labels(namespace, pod_name)
        obj: JSON = {"apiVersion": kind.api_version, "kind": kind.kind,
                     "metadata": {"name": pod_name, "namespace": namespace,
                                  "labels": dict(labels)},
                     "timestamp": timestamp or now_rfc3339(), "window": window,
                     "containers": [{"name": name, "usage": dict(usage)}
                                    for name, usage in containers.items()]}
        with contextlib.suppress(ApiError):  # replace the previous sample, if any
            self.store.delete(kind, namespace, pod_name)
        return self.store.create(kind, obj, keep_status=True)

    def expire_watch_history(self) -> None:
        """Forget past changes: watches resuming from an older resourceVersion get 410."""
        self.store.expire_history()

    def _kind(self, api_version: str, kind: str) -> Kind:
        found = self.kinds.by_kind(api_version, kind)
        if found is None:
            raise KeyError(f"unknown kind {api_version} {kind}: call register_kind() first")
        return found

    def _pod_labels(self, namespace: str, name: str) -> Mapping[str, str]:
        try:
            pod = self.get("v1", "Pod", namespace, name)
        except ApiError:
            return {}
        labels: Mapping[str, str] = pod["metadata"].get("labels") or {}
        return labels

    # The request log

    @property
    def requests(self) -> builtins.list[RecordedRequest]:
        return self._log.snapshot()

    def count(self, method: str | None = None, path_contains: str | None = None) -> int:
        return sum(1 for r in self._log.snapshot()
                   if (method is None or r.method == method)
                   and (path_contains is None or path_contains in r.path))

    def writes(self) -> builtins.list[RecordedRequest]:
        return [r for r in self._log.snapshot() if r.is_write]

    def clear_requests(self) -> None:
        self._log.clear()

    # Fault injection

    def fail(self, method: str | None, path_regex: str, status: int = 500, times: int | None = 1,
             reason: str = "InternalError", message: str | None = None) -> None:
        error = ApiError(status, reason, message or f"injected {status} {reason}")
        self._add("fail", method, path_regex, times, error=error)

    def delay(self, method: str | None, path_regex: str, seconds: float,
              times: int | None = 1) -> None:
        self._add("delay", method, path_regex, times, seconds=seconds)

    def drop_connection(self, method: str | None, path_regex: str,
                        times: int | None = 1) -> None:
        self._add("drop", method, path_regex, times)

    def conflict_next_write(self, path_regex: str, times: int | None = 1) -> None:
        self._add("conflict", None, path_regex, times)

    def read_only(self, enabled: bool = True, status: int = 503,
                  reason: str = "ServiceUnavailable",
                  message: str = "the edge node is disconnected from the cloud: "
                                 "writes are unavailable") -> None:
        """Answer every write with `status` while reads are still served (KubeEdge MetaServer
        with the cloud link down)."""
        self._faults.read_only_error = ApiError(status, reason, message) if enabled else None

    def clear_faults(self) -> None:
        self._faults.clear()

    def _add(self, action: str, method: str | None, path_regex: str, times: int | None,
             error: ApiError | None = None, seconds: float = 0.0) -> None:
        self._faults.add(Fault(action, method.upper() if method else None,
                               re.compile(path_regex), times, error, seconds))
