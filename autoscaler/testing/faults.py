"""Fault injection rules and the request log.

Rules match an HTTP method (None: any) and a regular expression searched in the URL path
(without the query string); the first rule with uses left wins and is used up.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from autoscaler.testing.errors import ApiError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the server saw it; `status` 0 means no response (dropped connection);
    `client` is the peer's IP address (which host or network namespace sent it)."""

    method: str
    path: str
    query: dict[str, str]
    content_type: str
    body: Any
    status: int
    client: str = ""
    user_agent: str = ""
    at: float = field(default_factory=time.time)  # when it was logged (server's clock)

    @property
    def is_write(self) -> bool:
        return self.method in WRITE_METHODS


@dataclass(slots=True)
class Fault:
    action: str  # "fail", "delay", "drop" or "conflict"
    method: str | None
    pattern: re.Pattern[str]
    remaining: int | None  # None: until cleared
    error: ApiError | None = None
    seconds: float = 0.0

    def matches(self, method: str, path: str) -> bool:
        if self.remaining == 0 or (self.method is not None and self.method != method):
            return False
        if self.action == "conflict" and method not in WRITE_METHODS:
            return False
        return self.pattern.search(path) is not None


@dataclass(slots=True)
class Faults:
    rules: list[Fault] = field(default_factory=list)
    read_only_error: ApiError | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, fault: Fault) -> None:
        with self.lock:
            self.rules.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        with self.lock:
            for rule in self.rules:
                if rule.matches(method, path):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
            return None

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()
            self.read_only_error = None


@dataclass(slots=True)
class RequestLog:
    entries: list[RecordedRequest] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, request: RecordedRequest) -> None:
        with self.lock:
            self.entries.append(request)

    def snapshot(self) -> list[RecordedRequest]:
        with self.lock:
            return list(self.entries)

    def clear(self) -> None:
        with self.lock:
            self.entries.clear()
