"""API errors as the apiserver writes them: a `Status` object with a reason and an HTTP code.

Messages copy `k8s.io/apimachinery/pkg/api/errors` so client code that inspects them (or a
human reading a test failure) sees what a real cluster would say.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

_CONFLICT_TAIL = ("the object has been modified; please apply your changes to the latest "
                  "version and try again")


class ApiError(Exception):
    """Raised inside the fake; the HTTP handler turns it into a `Status` response."""

    def __init__(self, code: int, reason: str, message: str, details: JSON | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> JSON:
        body: JSON = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                      "status": "Failure", "message": self.message, "reason": self.reason,
                      "code": self.code}
        if self.details is not None:
            body["details"] = self.details
        return body


def _details(resource: str, group: str, name: str) -> JSON:
    details: JSON = {"name": name, "kind": resource}
    if group:
        details["group"] = group
    return details


def qualified(resource: str, group: str) -> str:
    """`deployments.apps`, or `pods` for the core group, as in apiserver messages."""
    return f"{resource}.{group}" if group else resource


def not_found(resource: str, group: str, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{qualified(resource, group)} "{name}" not found',
                    _details(resource, group, name))


def already_exists(resource: str, group: str, name: str) -> ApiError:
    return ApiError(409, "AlreadyExists", f'{qualified(resource, group)} "{name}" already exists',
                    _details(resource, group, name))


def conflict(resource: str, group: str, name: str) -> ApiError:
    message = f'Operation cannot be fulfilled on {qualified(resource, group)} "{name}": '
    return ApiError(409, "Conflict", message + _CONFLICT_TAIL, _details(resource, group, name))


def invalid(kind: str, group: str, name: str, cause: str) -> ApiError:
    return ApiError(422, "Invalid", f'{qualified(kind, group)} "{name}" is invalid: {cause}',
                    _details(kind, group, name))


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def no_route() -> ApiError:
    return ApiError(404, "NotFound", "the server could not find the requested resource")


def method_not_allowed() -> ApiError:
    return ApiError(405, "MethodNotAllowed",
                    "the server does not allow this method on the requested resource")


def unsupported_media_type(content_type: str) -> ApiError:
    return ApiError(415, "UnsupportedMediaType",
                    f'the body of the request was in an unknown format - accepted media types '
                    f'include: application/json-patch+json, application/merge-patch+json, '
                    f'application/strategic-merge-patch+json (got "{content_type}")')


def expired(requested: int, oldest: int) -> ApiError:
    return ApiError(410, "Expired", f"too old resource version: {requested} ({oldest})")


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", "Unauthorized")
