"""One error tree: the class says what to do.

```
AutoscalerError                 every error the I/O layer raises on purpose
├── StandbyError                another controller is the target's writer: do not write
├── TransientError              retry later: after `retry_after_seconds` when the server said
│   │                           so (Retry-After), else with the loop's backoff
│   └── ConflictError           a write raced another writer (409): re-read, then retry
└── PermanentError              the same request cannot succeed (403, 404, 422): report it,
    │                           back off, wait for a change; `hint` says what a person can do
    └── InputError              untrusted input is malformed (a file, an answer, a flag): the
        │                       message names where; also a ValueError
        └── UsageError          the invocation must change (flags, kubeconfig): exit 2
```

The pure layer (`algorithms`) has its own root, `algorithms.errors.CoreError`, and never
does I/O; the adapters translate. `boundary(what)` is the one place where client failures
become this tree: every adapter wraps its calls in it, so no urllib3, socket, JSON or
ApiException error reaches the controller.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException

from algorithms.errors import CoreError


class AutoscalerError(Exception):
    """Base of every error the autoscaler raises on purpose; `str()` is the whole message."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status  # the HTTP status, when one was answered

    def __str__(self) -> str:
        return self.message


class TransientError(AutoscalerError):
    def __init__(self, message: str, retry_after_seconds: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(message, status)
        self.retry_after_seconds = retry_after_seconds


class ConflictError(TransientError):
    """409 on a write: the object changed since we read it; re-read and retry."""


class StandbyError(AutoscalerError):
    """Not a failure: another controller holds the target's writer Lease, so this one must
    not write (an edge agent while the cloud daemon is healthy). Nothing to report."""


class PermanentError(AutoscalerError):
    def __init__(self, message: str, status: int | None = None, hint: str = "") -> None:
        super().__init__(f"{message}: {hint}" if hint else message, status)
        self.hint = hint


class InputError(PermanentError, ValueError):
    """Malformed input; the message names where (file:line, object and field)."""


class UsageError(InputError):
    """The command line or its configuration must change (the CLI exits with status 2)."""


_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}
_HINTS = {
    401: "check the credentials (kubeconfig or service-account token)",
    403: "check the RBAC in deploy/base (or deploy/edge)",
    404: "check that the object exists (and its CRD is installed)",
}


def classify(exc: BaseException, what: str) -> AutoscalerError:
    """Map any client-side failure to the tree, with `what` (the operation) in the message
    and the underlying error's text after it, e.g.
    `get scale of Deployment/default/web: connection failed: ... Connection refused`."""
    if isinstance(exc, AutoscalerError):
        return exc
    if isinstance(exc, ApiException):
        return _from_status(exc, what)
    if isinstance(exc, socket.timeout | TimeoutError | urllib3.exceptions.TimeoutError):
        return TransientError(f"{what}: timed out: {_text(exc)}")
    if isinstance(exc, urllib3.exceptions.HTTPError | http.client.HTTPException
                  | ConnectionError | OSError):
        # MaxRetryError, ProtocolError (reset or dropped mid-answer), refused connections.
        return TransientError(f"{what}: connection failed: {_text(exc)}")
    if isinstance(exc, json.JSONDecodeError | UnicodeDecodeError):
        return TransientError(f"{what}: undecodable answer: {_text(exc)}")
    if isinstance(exc, CoreError | ValueError | KeyError | TypeError | AttributeError):
        return InputError(f"{what}: malformed answer: {_text(exc)}")
    return PermanentError(f"{what}: {_text(exc)}")


@contextmanager
def boundary(what: str) -> Iterator[None]:
    """Every call to a client happens inside one: whatever it raises leaves as the tree."""
    try:
        yield
    except AutoscalerError:
        raise
    except Exception as exc:
        raise classify(exc, what) from exc


def _from_status(exc: ApiException, what: str) -> AutoscalerError:
    status = int(exc.status or 0)
    reason = str(exc.reason or "").strip()
    text = f"{what}: HTTP {status} {reason}".rstrip()
    if status == 409:
        return ConflictError(text, retry_after_seconds=0.0, status=status)
    if status == 0:  # the client's own failure wrapped in an ApiException
        return TransientError(f"{what}: {reason or 'no answer'}")
    if status in _TRANSIENT_STATUS:
        return TransientError(text, _retry_after(exc), status)
    return PermanentError(text, status, _HINTS.get(status, ""))


def _text(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # urllib3 nests the cause: "HTTPConnectionPool(...): Max retries exceeded ... (Caused by
    # NewConnectionError(...: [Errno 111] Connection refused'))"; keep it whole but bounded.
    return f"{type(exc).__name__}: {text}"[:500]


def _retry_after(exc: ApiException) -> float | None:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date, or garbage: the loop's backoff decides
    if seconds is None or not 0 <= seconds <= 3600:
        return None
    return seconds
