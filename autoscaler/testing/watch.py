"""Watch streams: replay the change history after a resourceVersion, then follow live writes.

Like the apiserver's watch cache: no resourceVersion (or "0") starts with a synthetic ADDED per
existing object; a version older than the retained history is an in-stream ERROR event with a
410 Expired Status; an object that starts or stops matching the selectors is ADDED or DELETED.
BOOKMARKs (when `allowWatchBookmarks=true`) are sent once, when the stream times out.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from autoscaler.testing.errors import ApiError, bad_request
from autoscaler.testing.rest import WatchRequest
from autoscaler.testing.store import Change, ObjectStore

JSON = dict[str, Any]
Send = Callable[[JSON], None]


def initial_events(store: ObjectStore, request: WatchRequest) -> tuple[list[JSON], int]:
    """Events to send first and the version to follow from; 400 on a malformed version."""
    if request.resource_version in ("", "0"):
        items, rv = store.list_objects(request.kind, request.namespace, request.predicate)
        return [{"type": "ADDED", "object": item} for item in items], int(rv)
    try:
        return [], int(request.resource_version)
    except ValueError as error:
        raise bad_request(f"invalid resource version: {request.resource_version!r}") from error


def follow(store: ObjectStore, request: WatchRequest, after: int, send: Send) -> None:
    """Send matching changes until the timeout or the server stops."""
    deadline = time.monotonic() + request.timeout
    while (remaining := deadline - time.monotonic()) > 0:
        try:
            changes, after, closed = store.changes_after(after, remaining)
        except ApiError as error:  # too old: the client must list again
            send({"type": "ERROR", "object": error.status()})
            return
        for change in changes:
            event = _event(request, change)
            if event is not None:
                send(event)
        if closed:
            return
    if request.bookmarks:
        kind = request.kind
        send({"type": "BOOKMARK", "object": {"kind": kind.kind, "apiVersion": kind.api_version,
                                             "metadata": {"resourceVersion": str(after)}}})


def _event(request: WatchRequest, change: Change) -> JSON | None:
    if change.kind != request.kind:
        return None
    namespace = change.obj["metadata"].get("namespace", "")
    if request.namespace is not None and namespace != request.namespace:
        return None
    now = change.type != "DELETED" and request.predicate(change.obj)
    before = change.old is not None and request.predicate(change.old)
    if change.type == "MODIFIED" and now != before:
        # Entering or leaving the selection is an add or a delete for this watcher.
        return {"type": "ADDED" if now else "DELETED", "object": change.obj}
    if now or (change.type == "DELETED" and before):
        return {"type": change.type, "object": change.obj}
    return None
