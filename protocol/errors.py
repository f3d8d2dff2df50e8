"""Stable error codes and the typed exceptions the Python client raises for them."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class ErrorCode(StrEnum):
    BAD_REQUEST = "bad_request"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    RATE_LIMITED = "rate_limited"
    TOO_LARGE = "too_large"
    UNSUPPORTED = "unsupported"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class GlintError(Exception):
    """An error reply from a Glint server; branch on `code`, never on `message`."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str = "", *, retry_after: float | None = None) -> None:
        super().__init__(message or self.code.value)
        self.message = message or self.code.value
        self.retry_after = retry_after

    def to_wire(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code.value, "message": self.message}
        if self.retry_after is not None:
            body["retry_after"] = self.retry_after
        return body


class BadRequest(GlintError):
    code = ErrorCode.BAD_REQUEST


class Unauthorized(GlintError):
    code = ErrorCode.UNAUTHORIZED


class Forbidden(GlintError):
    code = ErrorCode.FORBIDDEN


class NotFound(GlintError):
    code = ErrorCode.NOT_FOUND


class Conflict(GlintError):
    code = ErrorCode.CONFLICT


class RateLimited(GlintError):
    code = ErrorCode.RATE_LIMITED


class TooLarge(GlintError):
    code = ErrorCode.TOO_LARGE


class Unsupported(GlintError):
    code = ErrorCode.UNSUPPORTED


class Unavailable(GlintError):
    code = ErrorCode.UNAVAILABLE


class Internal(GlintError):
    code = ErrorCode.INTERNAL


ERROR_TYPES: dict[str, type[GlintError]] = {
    cls.code.value: cls
    for cls in (
        BadRequest, Unauthorized, Forbidden, NotFound, Conflict,
        RateLimited, TooLarge, Unsupported, Unavailable, Internal,
    )
}


def error_from_wire(body: Any) -> GlintError:
    """Turn an `error` map from a reply into the matching exception."""
    if not isinstance(body, dict):
        return Internal("malformed error reply")
    cls = ERROR_TYPES.get(str(body.get("code")), Internal)
    retry = body.get("retry_after")
    return cls(str(body.get("message", "")), retry_after=retry if retry is not None else None)
