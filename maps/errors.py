"""Errors the web app answers with: each one becomes a 4xx JSON body `{"error": ..., "detail": ...}`.

    ApiError                 status 400 unless a subclass says otherwise
    ├── BadRequest   400     a query parameter is missing or malformed
    ├── Unauthorized 401     no valid credentials, and the request needs them
    ├── Forbidden    403     the user's role (or assignment) does not allow it
    ├── NotFound     404     no such cell, device, case or route
    ├── Conflict     409     the resource already exists; the action is not allowed in the case's status
    ├── UnsupportedMedia 415 a write with a session cookie that is not JSON
    ├── Unprocessable 422    a request body is well-formed JSON but invalid
    └── TooManyRequests 429  too many failed logins; `Retry-After` says when to try again

Twin errors (DeviceError, OutsideGrid, ...) are translated into these at the
handler that calls the twin, so the message a user reads is the twin's own.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """An error answered as JSON. `message` says what is wrong and how to fix it;
    `detail` carries machine-readable specifics (the parameter, the list of problems)."""

    status = 400

    def __init__(self, message: str, detail: Any = None):
        super().__init__(message)
        self.message = message
        self.detail = detail

    def body(self) -> dict:
        return {"error": self.message, "detail": self.detail}

    def headers(self) -> dict[str, str] | None:
        return None


class BadRequest(ApiError):
    status = 400


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Unprocessable(ApiError):
    status = 422


class Unauthorized(ApiError):
    status = 401

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="gridtwin"'}


class Forbidden(ApiError):
    status = 403


class UnsupportedMedia(ApiError):
    status = 415


class TooManyRequests(ApiError):
    status = 429

    def __init__(self, message: str, retry_after: int, detail: Any = None):
        super().__init__(message, detail)
        self.retry_after = retry_after

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}
