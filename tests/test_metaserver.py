"""The fake MetaServer's contract, in process (no namespaces): online it forwards, watch
streams included; offline it answers GETs from the last answer per URL, and refuses
watches, unknown GETs and writes with 503, ending the watches it was forwarding."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

import pytest
from partition_harness import wait_until

from autoscaler.testing import FakeApiServer
from autoscaler.testing.metaserver import OFFLINE_MESSAGE, MetaServer

NAMESPACE = "/api/v1/namespaces/default"


def call(meta: MetaServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    host, port = meta.url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        payload = json.dumps(body).encode() if body is not None else None
        connection.request(method, path, body=payload,
                           headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_forwards_online_serves_the_cache_offline(tmp_path: Path) -> None:
    state = tmp_path / "state"
    with FakeApiServer() as api, MetaServer(api.url, state_path=state,
                                            heartbeat_seconds=0.05) as meta:
        assert state.read_text() == "online\n"
        status, live = call(meta, "GET", NAMESPACE)
        assert status == 200
        host, port = meta.url.removeprefix("http://").split(":")
        watch = http.client.HTTPConnection(host, int(port), timeout=5)
        try:
            watch.request("GET", "/api/v1/namespaces?watch=true&timeoutSeconds=60")
            stream = watch.getresponse()
            assert json.loads(stream.readline())["type"] == "ADDED"  # forwarded, streaming
            # Connections dropped: the heartbeat fails, the open watch upstream does not.
            api.drop_connection(None, ".*", times=None)
            wait_until("offline", lambda: state.read_text() == "offline\n")
            with pytest.raises(http.client.IncompleteRead):
                stream.read()  # going offline severed the forwarded watch
        finally:
            watch.close()
        assert call(meta, "GET", NAMESPACE) == (200, live)  # the last answer for the URL
        assert call(meta, "GET", "/api/v1/namespaces/kube-system")[0] == 503  # never seen
        assert call(meta, "GET", f"{NAMESPACE}/pods?watch=true")[0] == 503
        status, refusal = call(meta, "PUT", NAMESPACE, live)
        assert (status, refusal["message"], refusal["reason"]) == (
            503, OFFLINE_MESSAGE, "ServiceUnavailable")
        assert api.count("PUT") == 0  # nothing reached the API server
        api.clear_faults()
        wait_until("online", lambda: state.read_text() == "online\n")
        assert call(meta, "PUT", NAMESPACE, live)[0] == 200
        assert api.count("PUT") == 1
    modes = [(r["method"], r["mode"], r["status"]) for r in meta.records]
    assert modes == [("GET", "forwarded", 200), ("GET", "watch", 200), ("GET", "cache", 200),
                     ("GET", "refused", 503), ("GET", "refused", 503),
                     ("PUT", "refused", 503), ("PUT", "forwarded", 200)]
