"""Domain exceptions; server/errors.py maps each to one protocol error code."""

from __future__ import annotations


class DomainError(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class Invalid(DomainError):
    """Arguments of the wrong type or out of range."""


class NotAuthenticated(DomainError):
    """No valid session, wrong credentials, or a revoked/expired token."""


class NotAllowed(DomainError):
    """Authenticated, but this user may not do this."""


class Missing(DomainError):
    """No such thing, or not visible to this user."""


class Taken(DomainError):
    """Conflicts with existing state (a taken username, ...)."""


class Throttled(DomainError):
    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unsupported(DomainError):
    """A protocol op this server does not offer (yet)."""
