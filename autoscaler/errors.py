"""Errors whose class says what to do.

`TransientError`: retry later (`retry_after_seconds` says when); the server was busy, the
network blinked, a watch expired, a write conflicted. `PermanentError`: retrying the same
request cannot help (forbidden, not found, invalid); report it and wait for a change.
"""

from __future__ import annotations

import http.client
import socket
from dataclasses import dataclass

import urllib3.exceptions
from kubernetes.client.exceptions import ApiException


class AutoscalerError(Exception):
    """Base of every error the autoscaler raises on purpose."""


@dataclass
class TransientError(AutoscalerError):
    message: str
    retry_after_seconds: float = 5.0
    status: int | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class PermanentError(AutoscalerError):
    message: str
    status: int | None = None
    reason: str = ""

    def __str__(self) -> str:
        return self.message


@dataclass
class ConflictError(TransientError):
    """409 on a write: the object changed since we read it; re-read and retry."""


_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504}


def classify(exc: BaseException, what: str) -> AutoscalerError:
    """Map a client-side failure to transient or permanent, with `what` in the message."""
    if isinstance(exc, AutoscalerError):
        return exc
    if isinstance(exc, ApiException):
        status = int(exc.status or 0)
        reason = str(exc.reason or "")
        text = f"{what}: HTTP {status} {reason}".rstrip()
        if status == 409:
            return ConflictError(text, retry_after_seconds=0.0, status=status)
        if status in _TRANSIENT_STATUS or status == 0:
            return TransientError(text, _retry_after(exc), status)
        return PermanentError(text, status, reason)
    if isinstance(exc, urllib3.exceptions.HTTPError | http.client.HTTPException
                  | ConnectionError | socket.timeout | TimeoutError | OSError):
        return TransientError(f"{what}: {type(exc).__name__}: {exc}")
    return PermanentError(f"{what}: {type(exc).__name__}: {exc}")


def _retry_after(exc: ApiException) -> float:
    headers = exc.headers or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else 5.0
    except ValueError:
        return 5.0
