"""CaseResult of one conformance case."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CaseResult:
    passed: bool
    expected: str
    got: str
