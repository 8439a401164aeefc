"""Errors of the pure layer, under one root. Each names what is wrong and where.

`CoreError` is the root: a spec field, a quantity, a selector or a metric that cannot be
used. The pure layer never does I/O, so these are always about input; the I/O layer
(`autoscaler.errors.boundary`) reports them as `InputError` with the location.
"""

from __future__ import annotations

from dataclasses import dataclass


class CoreError(ValueError):
    """Root of the pure layer's errors."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One problem with one field, formatted like apimachinery's field.Error.

    Example: `spec.behavior.scaleUp.policies[0].periodSeconds: Invalid value: 1801:
    must be less than or equal to 1800`.
    """

    path: str
    value: object
    message: str
    kind: str = "Invalid value"

    def __str__(self) -> str:
        if self.kind in ("Required value", "Forbidden", "Too many"):
            return f"{self.path}: {self.kind}: {self.message}"
        return f"{self.path}: {self.kind}: {self.value!r}: {self.message}"


class SpecError(CoreError):
    """A spec failed to parse or validate; carries every problem found, not just the first."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = tuple(errors)
        super().__init__("; ".join(str(e) for e in errors))
