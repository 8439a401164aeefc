"""The core API group (/api/v1) and apps/v1 calls we make, without the generated
`CoreV1Api` and `AppsV1Api` classes.

Touching `kubernetes.client.CoreV1Api` costs about 21 MB of RSS (measured on kubernetes 37:
its ~400 methods each carry a pydantic validator and it loads ~250 model modules) for the
three calls the daemon and the edge agent make: list/watch pods, create and patch Events;
`AppsV1Api` about 10 MB more for the scale GET/PUT and the workload watches (`AppsApi`).
They still go through the official `ApiClient`: its configuration, authentication (tokens,
exec plugins and their refresh), TLS, connection pool and `ApiException`; only the request is
ours, with the path, query and headers the generated method sends. A client without
`ApiClient.param_serialize` (the generator before kubernetes 34) gets the generated class.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from kubernetes import client
from kubernetes.client.exceptions import ApiException

JSON = "application/json"


def _segment(value: str) -> str:
    return quote(value, safe="")


class CoreApi:
    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client: Any = api_client  # its generated methods are untyped
        # Older generators: the class itself (the weight is then paid, the calls are the same).
        self._generated: Any = None if hasattr(api_client, "param_serialize") \
            else client.CoreV1Api(api_client)

    def list_namespaced_pod(self, namespace: str, **options: Any) -> Any:
        if self._generated is not None:
            return self._generated.list_namespaced_pod(namespace, **options)
        return self._list(f"/api/v1/namespaces/{_segment(namespace)}/pods", **options)

    def list_pod_for_all_namespaces(self, **options: Any) -> Any:
        if self._generated is not None:
            return self._generated.list_pod_for_all_namespaces(**options)
        return self._list("/api/v1/pods", **options)

    def create_namespaced_event(self, namespace: str, body: dict[str, Any],
                                _request_timeout: Any = None) -> dict[str, Any]:
        """POST an Event; the Event as created (a dict)."""
        if self._generated is not None:
            created = self._generated.create_namespaced_event(
                namespace, body, _request_timeout=_request_timeout)
            return dict(self.api_client.sanitize_for_serialization(created))
        return self._json("POST", f"/api/v1/namespaces/{_segment(namespace)}/events", body, JSON,
                          _request_timeout)

    def patch_namespaced_event(self, name: str, namespace: str, body: dict[str, Any],
                               _content_type: str, _request_timeout: Any = None) -> None:
        if self._generated is not None:
            self._generated.patch_namespaced_event(name, namespace, body,
                                                   _content_type=_content_type,
                                                   _request_timeout=_request_timeout)
            return
        self._json("PATCH", f"/api/v1/namespaces/{_segment(namespace)}/events/{_segment(name)}",
                   body, _content_type, _request_timeout)

    def _list(self, path: str, *, field_selector: str | None = None,
              label_selector: str | None = None, watch: bool = False,
              resource_version: str | None = None, timeout_seconds: int | None = None,
              _preload_content: bool = False, _request_timeout: Any = None) -> Any:
        """A LIST (or WATCH) whose body the caller reads: the urllib3 response, as the
        generated method returns it with `_preload_content=False` (the only way we call)."""
        if _preload_content:
            raise ValueError("CoreApi lists return the raw response: _preload_content=False")
        query = [(name, value) for name, value in (
            ("fieldSelector", field_selector), ("labelSelector", label_selector),
            ("resourceVersion", resource_version),
            ("timeoutSeconds", None if timeout_seconds is None else str(timeout_seconds)),
            ("watch", "true" if watch else None)) if value is not None]
        return self._send("GET", path, query, None, None, _request_timeout).response

    def _json(self, method: str, path: str, body: dict[str, Any], content_type: str,
              timeout: Any) -> dict[str, Any]:
        response = self._send(method, path, [], body, content_type, timeout)
        answer: dict[str, Any] = json.loads(response.data or b"{}")
        return answer

    def _send(self, method: str, path: str, query: list[tuple[str, str]],
              body: dict[str, Any] | None, content_type: str | None, timeout: Any) -> Any:
        headers = {"Accept": JSON}
        if content_type is not None:
            headers["Content-Type"] = content_type
        request = self.api_client.param_serialize(
            method=method, resource_path=path, query_params=query, header_params=headers,
            body=body, auth_settings=["BearerToken"])
        response = self.api_client.call_api(*request, _request_timeout=timeout)
        if not 200 <= response.status <= 299:
            response.read()
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        if method != "GET":
            response.read()
        return response


APPS_PLURALS = {"Deployment": "deployments", "StatefulSet": "statefulsets",
                "ReplicaSet": "replicasets"}
# The generated methods' names for each kind, for clients without `param_serialize`.
_GENERATED = {"Deployment": "deployment", "StatefulSet": "stateful_set",
              "ReplicaSet": "replica_set"}


class AppsApi(CoreApi):
    """apps/v1: the Scale subresource of Deployments, StatefulSets and ReplicaSets, and
    their list/watch, as raw JSON."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.api_client = api_client
        self._generated = None if hasattr(api_client, "param_serialize") \
            else client.AppsV1Api(api_client)

    def read_scale(self, kind: str, namespace: str, name: str,
                   _request_timeout: Any = None) -> dict[str, Any]:
        if self._generated is not None:
            method = getattr(self._generated, f"read_namespaced_{_GENERATED[kind]}_scale")
            response = method(name, namespace, _preload_content=False,
                              _request_timeout=_request_timeout)
            answer: dict[str, Any] = json.loads(response.data)
            return answer
        response = self._send("GET", self._scale_path(kind, namespace, name), [], None, None,
                              _request_timeout)
        response.read()  # `_send` leaves a GET's body unread (a list may be a watch stream)
        found: dict[str, Any] = json.loads(response.data)
        return found

    def replace_scale(self, kind: str, namespace: str, name: str, body: dict[str, Any],
                      _request_timeout: Any = None) -> dict[str, Any]:
        if self._generated is not None:
            method = getattr(self._generated, f"replace_namespaced_{_GENERATED[kind]}_scale")
            response = method(name, namespace, body, _preload_content=False,
                              _request_timeout=_request_timeout)
            answer: dict[str, Any] = json.loads(response.data)
            return answer
        return self._json("PUT", self._scale_path(kind, namespace, name), body, JSON,
                          _request_timeout)

    def lister(self, kind: str, namespaced: bool) -> Any:
        """The list/watch call of `kind` for `WatchCache`: f(namespace, **options) or
        f(**options), returning the raw response like the generated methods."""
        if self._generated is not None:
            plural = _GENERATED[kind]
            return getattr(self._generated, f"list_namespaced_{plural}" if namespaced
                           else f"list_{plural}_for_all_namespaces")
        plural = APPS_PLURALS[kind]
        if namespaced:
            return lambda namespace, **options: self._list(
                f"/apis/apps/v1/namespaces/{_segment(namespace)}/{plural}", **options)
        return lambda **options: self._list(f"/apis/apps/v1/{plural}", **options)

    @staticmethod
    def _scale_path(kind: str, namespace: str, name: str) -> str:
        return (f"/apis/apps/v1/namespaces/{_segment(namespace)}/{APPS_PLURALS[kind]}/"
                f"{_segment(name)}/scale")
