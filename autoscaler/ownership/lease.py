"""The Lease of `autoscaler.ownership.rules` on a real apiserver, through the official client.

`LeaseClient` reads a coordination.k8s.io/v1 Lease as raw JSON (404: None) and writes it
with the resourceVersion it read: a PUT (or, for a lease not yet created, a POST) that the
apiserver refuses with 409 if anyone wrote in between. A 409 means someone else won the
race: `LeaseKeeper` re-reads and never overwrites. The PUT carries the object as read,
with only our fields changed, so labels, owner references and others' annotations survive.

On the wire: `spec.holderIdentity`, `spec.acquireTime` and `spec.renewTime` as RFC 3339
MicroTime (`2026-11-28T16:06:00.000000Z`, truncated to the microsecond, never rounded up:
a stamp must not be later than the write), `spec.leaseDurationSeconds` (an integer,
rounded up: a longer duration only makes others wait longer), `spec.leaseTransitions`;
the holder's role and the handback request as annotations (`HOLDER_ROLE`,
`PREFERRED_HOLDER`). Errors are classified by `autoscaler.errors.classify`:
`ConflictError` (409), `TransientError` (5xx, 429, timeouts, connection errors, KubeEdge's
MetaServer refusing writes while the cloud link is down), `PermanentError` (403, 422, ...).

Reads go through `CoordinationV1Api.read_namespaced_lease(_preload_content=False)`; writes
send our JSON through the same client's `param_serialize`/`call_api` (see `_send`: the
generated write methods would re-encode the MicroTimes). A 404 on a PUT (the lease was
deleted since read) is a `ConflictError` like a 409. A write the transport retried after a
lost connection may find its own first attempt committed and get 409: the keeper then
re-reads and has no grant until its next acknowledged renew, which is only conservative.

`LeaseKeeper.step(now, healthy)`: one read, at most one write (plus a re-read after a
409); no threads, the caller's loop calls it with a fresh `now` every retry period
(well below the renew deadline). `may_write(now)` says whether the caller may act as the
target's writer, from the keeper's last acknowledged acquire or renew only.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import urllib3.exceptions
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from autoscaler.errors import ConflictError, classify
from autoscaler.ownership.rules import (
    Action,
    Candidate,
    LeaseState,
    grant_after_ack,
    grant_after_read,
    grant_after_send,
    may_write,
    next_action,
)

JSON = dict[str, Any]
PREFERRED_HOLDER = "edgeautoscaler.io/preferred-holder"
HOLDER_ROLE = "edgeautoscaler.io/holder-role"
_CLIENT_ERRORS = (ApiException, urllib3.exceptions.HTTPError, OSError, ValueError)


def format_micro_time(seconds: float) -> str:
    """RFC 3339 with exactly six fractional digits and `Z`, truncated to the microsecond."""
    whole = math.floor(seconds)
    micros = min(999_999, math.floor(round((seconds - whole) * 1_000_000, 3)))
    return f"{datetime.fromtimestamp(whole, UTC):%Y-%m-%dT%H:%M:%S}.{micros:06d}Z"


def parse_micro_time(text: str | None) -> float | None:
    """RFC 3339 (MicroTime or Time, `Z` or an offset) to epoch seconds; None if absent."""
    if not text:
        return None
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.timestamp()


def state_from_body(body: Mapping[str, Any]) -> LeaseState:
    """A Lease object as data. A missing renewTime falls back to acquireTime, then to the
    epoch; a missing duration to 0: such a lease is expired (our writers set both). A field
    of the wrong type raises ValueError (see `readable_state`)."""
    spec = _mapping(body.get("spec"), "spec")
    meta = _mapping(body.get("metadata"), "metadata")
    notes = _mapping(meta.get("annotations"), "metadata.annotations")
    acquired = parse_micro_time(_text(spec.get("acquireTime"), "spec.acquireTime"))
    renewed = parse_micro_time(_text(spec.get("renewTime"), "spec.renewTime"))
    return LeaseState(
        holder=str(spec.get("holderIdentity") or ""),
        acquire_time=acquired if acquired is not None else 0.0,
        renew_time=renewed if renewed is not None else (acquired or 0.0),
        duration_seconds=float(spec.get("leaseDurationSeconds") or 0),
        transitions=int(spec.get("leaseTransitions") or 0),
        resource_version=str(meta.get("resourceVersion") or ""),
        preferred_holder=str(notes.get(PREFERRED_HOLDER) or ""),
        holder_role=str(notes.get(HOLDER_ROLE) or ""))


def readable_state(body: Mapping[str, Any]) -> LeaseState:
    """`state_from_body`, or for an object no writer of ours could have written (a lenient
    server: a real apiserver validates Leases) a free lease that expired at the epoch, with
    the object's resourceVersion: it names no holder, and the next acquire replaces it
    with a compare-and-swap PUT (a create would get 409 AlreadyExists forever)."""
    try:
        return state_from_body(body)
    except (KeyError, TypeError, ValueError, OverflowError, AttributeError):
        meta = body.get("metadata")
        version = meta.get("resourceVersion") if isinstance(meta, Mapping) else None
        return LeaseState("", 0.0, 0.0, 0.0, 0, str(version or ""))


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected an object, got {type(value).__name__}")
    return value


def _text(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise ValueError(f"{where}: expected a string, got {type(value).__name__}")


def body_for(state: LeaseState, namespace: str, name: str,
             base: Mapping[str, Any] | None = None) -> JSON:
    """The object to write: `base` (the object as read) with our fields set to `state`."""
    body: JSON = json.loads(json.dumps(base)) if base is not None else {}
    body.update(apiVersion="coordination.k8s.io/v1", kind="Lease")
    for part in ("metadata", "spec"):  # an object as read may carry anything there
        if not isinstance(body.get(part), dict):
            body[part] = {}
    meta = body["metadata"]
    if not isinstance(meta.get("annotations"), dict):
        meta["annotations"] = {}
    meta.update(name=name, namespace=namespace)
    if state.resource_version:
        meta["resourceVersion"] = state.resource_version
    else:
        meta.pop("resourceVersion", None)
    notes = {key: value for key, value in (meta.get("annotations") or {}).items()
             if key not in (PREFERRED_HOLDER, HOLDER_ROLE)}
    notes.update({key: value for key, value in ((PREFERRED_HOLDER, state.preferred_holder),
                                                (HOLDER_ROLE, state.holder_role)) if value})
    meta["annotations"] = notes
    spec = body["spec"]
    spec.update(holderIdentity=state.holder or None,
                acquireTime=format_micro_time(state.acquire_time),
                renewTime=format_micro_time(state.renew_time),
                leaseDurationSeconds=max(1, math.ceil(state.duration_seconds)),
                leaseTransitions=state.transitions)
    if spec["holderIdentity"] is None:
        del spec["holderIdentity"]
    return body


@dataclass(frozen=True)
class ObservedLease:
    """A Lease as read or written: the decision's view, and the object for the next PUT."""

    state: LeaseState
    body: Mapping[str, Any]


class LeaseClient:
    def __init__(self, api_client: client.ApiClient, namespace: str, name: str,
                 timeout_seconds: float = 10.0, labels: Mapping[str, str] | None = None,
                 annotations: Mapping[str, str] | None = None) -> None:
        self.coordination = client.CoordinationV1Api(api_client)
        self.namespace = namespace
        self.name = name
        self.timeout = timeout_seconds
        self.labels = dict(labels or {})  # set on create (a LIST selects them)
        self.annotations = dict(annotations or {})  # set on every write

    @property
    def key(self) -> str:
        return f"lease {self.namespace}/{self.name}"

    def read(self) -> ObservedLease | None:
        try:
            response: Any = self.coordination.read_namespaced_lease(
                self.name, self.namespace, _preload_content=False,
                _request_timeout=self.timeout)
            return _observed(json.loads(response.data))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise classify(exc, f"read {self.key}") from exc
        except _CLIENT_ERRORS as exc:
            raise classify(exc, f"read {self.key}") from exc

    def write(self, state: LeaseState, base: ObservedLease | None) -> ObservedLease:
        """Create (resource_version "") or replace with compare-and-swap on the version."""
        body = body_for(state, self.namespace, self.name,
                        base.body if base is not None and state.resource_version else None)
        if not state.resource_version and self.labels:
            body["metadata"]["labels"] = dict(self.labels)
        body["metadata"]["annotations"].update(self.annotations)
        collection = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        if state.resource_version:
            what, method, path = f"replace {self.key}", "PUT", collection + "/{name}"
        else:
            what, method, path = f"create {self.key}", "POST", collection
        try:
            return _observed(self._send(method, path, body))
        except ApiException as exc:
            if exc.status == 404 and method == "PUT":  # deleted since read: a lost race too
                raise ConflictError(f"{what}: HTTP 404: deleted since read",
                                    retry_after_seconds=0.0, status=404) from exc
            raise classify(exc, what) from exc
        except _CLIENT_ERRORS as exc:
            raise classify(exc, what) from exc

    def _send(self, method: str, path: str, body: JSON) -> JSON:
        """The JSON as built, through the official client's transport (auth, TLS, proxies).
        Not `create/replace_namespaced_lease`: those validate a dict body into a `V1Lease`
        and serialize its times with `datetime.isoformat()` (no fraction at whole seconds,
        `+00:00`), which the apiserver's MicroTime parser rejects."""
        api = self.coordination.api_client
        request = api.param_serialize(
            method, path, path_params={"namespace": self.namespace, "name": self.name},
            header_params={"Accept": "application/json", "Content-Type": "application/json"},
            body=body, auth_settings=["BearerToken"])
        response = api.call_api(*request, _request_timeout=self.timeout)
        response.read()
        if not 200 <= response.status <= 299:
            raise ApiException.from_response(http_resp=response, body=None, data=None)
        data: JSON = json.loads(response.data)
        return data


def _observed(body: JSON) -> ObservedLease:
    return ObservedLease(state_from_body(body), body)


def _readable(body: JSON) -> ObservedLease:
    return ObservedLease(readable_state(body), body)


def list_leases(api_client: client.ApiClient, namespace: str, label_selector: str,
                timeout_seconds: float = 10.0) -> dict[str, ObservedLease]:
    """The namespace's Leases matching `label_selector`, by name, in one LIST. An item that
    is not a Lease as we write them (a time that does not parse, a non-numeric duration, a
    spec that is not an object) reads as a free, long expired lease (`readable_state`):
    it names no live holder, and an acquire replaces it with compare-and-swap. An item
    without a name is left out."""
    what = f"list leases in {namespace} ({label_selector})"
    try:
        response: Any = client.CoordinationV1Api(api_client).list_namespaced_lease(
            namespace, label_selector=label_selector, _preload_content=False,
            _request_timeout=timeout_seconds)
        items = json.loads(response.data).get("items") or []
    except ApiException as exc:
        raise classify(exc, what) from exc
    except (*_CLIENT_ERRORS, AttributeError) as exc:
        raise classify(exc, what) from exc
    found: dict[str, ObservedLease] = {}
    for item in items if isinstance(items, list) else []:
        meta = item.get("metadata") if isinstance(item, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        if isinstance(name, str) and name:
            found[name] = _readable(item)
    return found


class LeaseKeeper:
    """One candidate's side of one target's Lease. Not thread-safe: one loop drives it."""

    def __init__(self, leases: LeaseClient, me: Candidate) -> None:
        self.leases = leases
        self.me = me
        self.observed: ObservedLease | None = None
        self.granted: LeaseState | None = None

    @property
    def lease(self) -> LeaseState | None:
        """The lease as last read or written."""
        return self.observed.state if self.observed is not None else None

    def may_write(self, now: float) -> bool:
        return may_write(self.me, self.granted, now)

    def step(self, now: float, healthy: bool) -> Action:
        """Read, decide, maybe write. A lost race (409) re-reads and answers "wait"; other
        failures raise the classified error with the grant left as it was (so it runs out
        at the renew deadline)."""
        self._read()
        action = next_action(self.me, self.lease, now, healthy)
        if action.lease is None:
            return action
        self.granted = grant_after_send(action, self.granted)
        try:
            written = self.leases.write(action.lease, self.observed)
        except ConflictError as exc:
            self._read()
            return Action("wait", f"lost the race to {action.kind} ({exc}): re-read, "
                                  f"now held by {self._holder()}")
        self.observed = written
        self.granted = grant_after_ack(action, written.state, self.granted)
        return action

    def _read(self) -> None:
        self.observed = self.leases.read()
        self.granted = grant_after_read(self.me, self.granted, self.lease)

    def _holder(self) -> str:
        lease = self.lease
        if lease is None:
            return "nobody (no lease)"
        return lease.holder or "nobody"
